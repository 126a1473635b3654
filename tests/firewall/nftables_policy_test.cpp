// Kernel tests: each runs in a network namespace of its own (unshare), so the
// host's ruleset is never touched. Skipped when not root.
#include "firewall/nftables_policy.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall {
namespace {

using store::Port25Mode;
using store::Tenant;

Tenant tenant(std::string id, std::vector<std::string_view> subnets, Port25Mode mode) {
  Tenant t;
  t.id = std::move(id);
  t.plan = "standard";
  for (auto s : subnets) {
    t.subnets.push_back(net::Prefix::parse(s).value());
  }
  t.port25_mode = mode;
  return t;
}

std::string shell(const std::string& command) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  if (!pipe) {
    return out;
  }
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe.get()) != nullptr) {
    out += buffer.data();
  }
  return out;
}

std::set<std::string> counter_names(const std::string& table) {
  std::set<std::string> names;
  for (auto at = table.find("\tcounter "); at != std::string::npos;
       at = table.find("\tcounter ", at + 1)) {
    const auto start = at + 9;
    names.insert(table.substr(start, table.find(' ', start) - start));
  }
  return names;
}

class NftablesPolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) {
      GTEST_SKIP() << "needs root (a private network namespace and CAP_NET_ADMIN)";
    }
    // A fresh namespace per test: the host's ruleset is never seen or changed.
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0);
    settings_.intercept_port = 2525;
  }

  RulesetSettings settings_;
};

TEST_F(NftablesPolicyTest, AppliesAndLeavesOtherTablesAlone) {
  ASSERT_EQ(std::system("nft 'add table inet other; add chain inet other c; add rule inet other c "
                        "tcp dport 22 accept'"),
            0);
  NftablesPolicy policy(settings_);
  tenants::TenantDirectory dir({tenant("a", {"198.18.1.0/24", "fd00:1::/64"}, Port25Mode::block)});
  auto applied = policy.apply(dir);
  ASSERT_TRUE(applied) << applied.error().message;
  auto live = policy.live_table();
  ASSERT_TRUE(live);
  EXPECT_NE(live->find("198.18.1.0/24 : goto port25_block"), std::string::npos) << *live;
  EXPECT_NE(shell("nft list table inet other").find("tcp dport 22 accept"), std::string::npos);
  // Applying again replaces the table (still one table, same content).
  ASSERT_TRUE(policy.apply(dir));
  EXPECT_EQ(*policy.live_table(), *live);
}

TEST_F(NftablesPolicyTest, RefusedRulesetLeavesTheOldOneInForce) {
  NftablesPolicy policy(settings_);
  ASSERT_TRUE(
      policy.apply(tenants::TenantDirectory({tenant("a", {"198.18.1.0/24"}, Port25Mode::block)})));
  const auto before = policy.live_table().value();
  bool refuse = true;
  policy.set_refusal_for_test([&refuse] { return refuse; });
  tenants::TenantDirectory open({tenant("a", {"198.18.1.0/24"}, Port25Mode::exempt)});
  auto refused = policy.apply(open);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("No such file or directory"), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(policy.live_table().value(), before);
  auto not_updated = policy.update(open);  // the update and its fallback are both refused
  ASSERT_FALSE(not_updated);
  EXPECT_EQ(policy.live_table().value(), before);
  refuse = false;
  ASSERT_TRUE(policy.update(open));
  EXPECT_NE(policy.live_table()->find("198.18.1.0/24 : accept"), std::string::npos);
}

TEST_F(NftablesPolicyTest, UpdatesKeepTheTableHandleAndCounters) {
  NftablesPolicy policy(settings_);
  tenants::TenantDirectory one({tenant("a", {"198.18.1.0/24"}, Port25Mode::block),
                                tenant("b", {"198.18.2.0/24"}, Port25Mode::block)});
  ASSERT_TRUE(policy.apply(one));
  const auto handle = shell("nft -a list table inet portcullis | head -1");
  // Give b's counter a value to see it survive a's changes.
  ASSERT_EQ(std::system("nft reset counter inet portcullis t.b.block >/dev/null"), 0);
  auto t = tenant("a", {"198.18.1.0/24"}, Port25Mode::exempt);
  t.host_overrides.push_back(
      {net::Prefix::parse("198.18.1.10").value(), Port25Mode::redirect, "", 0});
  for (auto mode : {Port25Mode::exempt, Port25Mode::redirect, Port25Mode::block}) {
    t.port25_mode = mode;
    auto updated = policy.update(
        tenants::TenantDirectory({t, tenant("b", {"198.18.2.0/24"}, Port25Mode::block),
                                  tenant("c", {"fd00:3::/64"}, Port25Mode::exempt)}));
    ASSERT_TRUE(updated) << updated.error().message;
    EXPECT_EQ(shell("nft -a list table inet portcullis | head -1"), handle);
  }
  const auto live = policy.live_table().value();
  EXPECT_NE(live.find("198.18.1.10 : goto port25_leak"), std::string::npos) << live;
  auto counters = policy.counters();
  ASSERT_TRUE(counters) << counters.error().message;
  int tenants_seen = 0;
  for (const auto& c : *counters) {
    tenants_seen += c.mode == Port25Mode::block && !c.tenant_id.empty() ? 1 : 0;
  }
  EXPECT_EQ(tenants_seen, 3);  // a, b, c each have a block row
  // Removing c deletes its counters with its elements.
  ASSERT_TRUE(policy.update(
      tenants::TenantDirectory({t, tenant("b", {"198.18.2.0/24"}, Port25Mode::block)})));
  EXPECT_EQ(policy.live_table()->find("t.c."), std::string::npos);
}

TEST_F(NftablesPolicyTest, ATableChangedBehindOurBackIsRebuilt) {
  NftablesPolicy policy(settings_);
  ASSERT_TRUE(
      policy.apply(tenants::TenantDirectory({tenant("a", {"198.18.1.0/24"}, Port25Mode::block)})));
  ASSERT_EQ(std::system("nft delete table inet portcullis"), 0);
  ASSERT_TRUE(policy.update(
      tenants::TenantDirectory({tenant("a", {"198.18.1.0/24"}, Port25Mode::exempt)})));
  EXPECT_NE(policy.live_table()->find("198.18.1.0/24 : accept"), std::string::npos);
}

TEST_F(NftablesPolicyTest, UpdatesLeaveTheTableAFullApplyWouldBuild) {
  // Adjacent blocks, nested overrides, both families and blocks that end at
  // the top of the address space (no end element): the kernel's view after a
  // chain of element updates must read back exactly as a fresh full apply.
  auto a = tenant("a", {"198.18.1.0/24", "198.18.2.0/24", "fd00:1::/64"}, Port25Mode::block);
  auto top = tenant("top", {"255.255.255.0/24", "ffff::/16"}, Port25Mode::exempt);
  auto b = tenant("b", {"198.18.3.0/24"}, Port25Mode::redirect);
  NftablesPolicy policy(settings_);
  ASSERT_TRUE(policy.apply(tenants::TenantDirectory({a})));
  a.host_overrides.push_back({net::Prefix::parse("198.18.1.7").value(), Port25Mode::exempt, "", 0});
  a.port25_mode = Port25Mode::redirect;
  std::vector<std::vector<Tenant>> steps = {{a, top}, {a, top, b}, {top, b}, {a, b}};
  for (const auto& step : steps) {
    auto updated = policy.update(tenants::TenantDirectory(step));
    ASSERT_TRUE(updated) << updated.error().message;
    const auto live = policy.live_table().value();
    NftablesPolicy fresh(settings_);
    ASSERT_TRUE(fresh.apply(tenants::TenantDirectory(step)));
    // Same elements and chains; counters are listed in creation order, so
    // only their set is compared.
    const auto rebuilt = fresh.live_table().value();
    EXPECT_EQ(live.substr(live.find("\tset ")), rebuilt.substr(rebuilt.find("\tset ")));
    EXPECT_EQ(counter_names(live), counter_names(rebuilt));
    // The replace above re-created the table: continue from its state.
    ASSERT_TRUE(policy.apply(tenants::TenantDirectory(step)));
  }
}

TEST_F(NftablesPolicyTest, ARefusedElementUpdateChangesNothing) {
  NftablesPolicy policy(settings_);
  tenants::TenantDirectory before({tenant("a", {"198.18.1.0/24"}, Port25Mode::block)});
  ASSERT_TRUE(policy.apply(before));
  const auto table = policy.live_table().value();
  bool refuse = true;
  policy.set_refusal_for_test([&refuse] { return refuse; });
  auto refused =
      policy.update(tenants::TenantDirectory({tenant("a", {"198.18.1.0/24"}, Port25Mode::exempt),
                                              tenant("b", {"fd00:2::/64"}, Port25Mode::exempt)}));
  ASSERT_FALSE(refused);
  EXPECT_EQ(policy.live_table().value(), table);
  refuse = false;
  ASSERT_TRUE(policy.update(before));  // still what the kernel holds: nothing to do
  EXPECT_EQ(policy.live_table().value(), table);
}

}  // namespace
}  // namespace portcullis::firewall
