#include "gateway/core/tenants/tenant_directory.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace portcullis::tenants {
namespace {

using boost::asio::ip::make_address;

store::Tenant tenant(std::string id, std::initializer_list<const char*> subnets) {
  store::Tenant t;
  t.id = std::move(id);
  t.plan = "standard";
  for (const auto* subnet : subnets) {
    t.subnets.push_back(net::Prefix::parse(subnet).value());
  }
  return t;
}

// Nested prefixes cannot come from the store for different tenants, but the
// directory must still pick the most specific one (e.g. a host carved out).
TenantDirectory sample() {
  auto suspended = tenant("host", {"198.18.5.7/32"});
  suspended.status = store::TenantStatus::suspended;
  return TenantDirectory({
      tenant("wide", {"198.18.0.0/15", "fd00::/8"}),
      tenant("narrow", {"198.18.5.0/24", "fd00:1::/48"}),
      suspended,
      tenant("six", {"fd00:1:0:2::/64", "2001:db8::1/128"}),
      tenant("nobody-home", {}),
  });
}

const char* id_at(const TenantDirectory& d, const char* address) {
  const auto* t = d.find_by_address(make_address(address));
  return t ? t->id.c_str() : "";
}

TEST(TenantDirectoryTest, LongestPrefixWins) {
  const auto d = sample();
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"198.18.0.1", "wide"},
      {"198.19.255.255", "wide"},
      {"198.18.5.1", "narrow"},
      {"198.18.5.255", "narrow"},
      {"198.18.5.7", "host"},  // suspended tenants are found: the relay decides
      {"198.18.6.7", "wide"},
      {"198.20.0.1", ""},
      {"203.0.113.9", ""},
      {"fd00::1", "wide"},
      {"fd00:1::1", "narrow"},
      {"fd00:1:0:2::5", "six"},
      {"fd00:1:0:3::5", "narrow"},
      {"fd00:1:2::5", "wide"},
      {"fe80::1", ""},
      {"2001:db8::1", "six"},
      {"2001:db8::2", ""},
      {"::ffff:198.18.5.7", "host"},  // v4-mapped as seen on dual-stack sockets
      {"::ffff:198.18.5.8", "narrow"},
      {"::ffff:198.19.0.1", "wide"},
      {"::ffff:203.0.113.9", ""},
  };
  for (const auto& [address, expected] : cases) {
    SCOPED_TRACE(address);
    EXPECT_STREQ(id_at(d, address), expected);
  }
}

TEST(TenantDirectoryTest, FindById) {
  const auto d = sample();
  ASSERT_NE(d.find("narrow"), nullptr);
  EXPECT_EQ(d.find("narrow")->subnets.size(), 2u);
  EXPECT_NE(d.find("nobody-home"), nullptr);
  EXPECT_EQ(d.find("missing"), nullptr);
  EXPECT_EQ(d.find(""), nullptr);
  EXPECT_EQ(d.tenants().size(), 5u);
}

TEST(TenantDirectoryTest, EmptyAndDefaultRoute) {
  const TenantDirectory empty;
  EXPECT_EQ(empty.find_by_address(make_address("198.18.0.1")), nullptr);
  EXPECT_EQ(empty.find_by_address(make_address("fd00::1")), nullptr);

  const TenantDirectory everything({tenant("all", {"0.0.0.0/0"}), tenant("v6", {"::/0"})});
  EXPECT_STREQ(id_at(everything, "203.0.113.1"), "all");
  EXPECT_STREQ(id_at(everything, "::ffff:203.0.113.1"), "all");
  EXPECT_STREQ(id_at(everything, "2001:db8::1"), "v6");
}

TEST(TenantDirectoryTest, HandBuiltV4MappedPrefixIsTreatedAsV4) {
  auto t = tenant("mapped", {});
  t.subnets.push_back(net::Prefix{make_address("::ffff:198.18.9.0"), 120});
  const TenantDirectory d({t});
  EXPECT_STREQ(id_at(d, "198.18.9.77"), "mapped");
  EXPECT_STREQ(id_at(d, "198.18.8.77"), "");
}

TEST(TenantDirectoryTest, RegistrySwapsSnapshots) {
  TenantRegistry registry;
  const auto before = registry.snapshot();
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->find_by_address(make_address("198.18.5.1")), nullptr);

  registry.publish(std::make_shared<const TenantDirectory>(sample()));
  EXPECT_STREQ(id_at(*registry.snapshot(), "198.18.5.1"), "narrow");
  EXPECT_EQ(before->find("narrow"), nullptr);  // old snapshots stay valid and unchanged

  registry.publish(nullptr);
  ASSERT_NE(registry.snapshot(), nullptr);
  EXPECT_EQ(registry.snapshot()->find("narrow"), nullptr);
}

TEST(TenantDirectoryTest, RegistryConcurrentReadersAndWriter) {
  TenantRegistry registry(std::make_shared<const TenantDirectory>(sample()));
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  std::atomic<int> lookups{0};
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      while (!stop) {
        const auto snapshot = registry.snapshot();
        const auto* t = snapshot->find_by_address(make_address("198.18.5.1"));
        EXPECT_TRUE(t == nullptr || t->id == "narrow");
        ++lookups;
      }
    });
  }
  for (int i = 0; i < 200 || lookups < 1000; ++i) {
    registry.publish(i % 2 ? std::make_shared<const TenantDirectory>(sample())
                           : std::make_shared<const TenantDirectory>());
  }
  stop = true;
  for (auto& r : readers) {
    r.join();
  }
  EXPECT_GT(lookups.load(), 0);
}

}  // namespace
}  // namespace portcullis::tenants
