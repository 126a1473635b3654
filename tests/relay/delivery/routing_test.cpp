#include "relay/delivery/routing.hpp"

#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "gateway/core/dns/resolver.hpp"
#include "tests/support/dnsmasq_server.hpp"

namespace portcullis::relay::delivery {
namespace {

using namespace std::chrono_literals;
using dns::DnsError;
using dns::DnsErrorKind;
using dns::DnsResult;
using dns::MxRecord;
using Addresses = std::vector<asio::ip::address>;

asio::ip::address ip(const char* text) {
  return asio::ip::make_address(text);
}

// Canned DNS: answers from maps; a name missing from every map is NXDOMAIN,
// one present in another map is NODATA. Counts the questions asked.
class FakeLookup : public dns::Lookup {
 public:
  std::map<std::string, DnsResult<std::vector<MxRecord>>> mx_answers;
  std::map<std::string, DnsResult<Addresses>> a_answers;
  std::map<std::string, DnsResult<Addresses>> aaaa_answers;
  std::vector<std::string> asked;

  asio::awaitable<DnsResult<std::vector<MxRecord>>> mx(std::string name) override {
    asked.push_back("MX " + name);
    co_return answer(mx_answers, name);
  }
  asio::awaitable<DnsResult<Addresses>> a(std::string name) override {
    asked.push_back("A " + name);
    co_return answer(a_answers, name);
  }
  asio::awaitable<DnsResult<Addresses>> aaaa(std::string name) override {
    asked.push_back("AAAA " + name);
    co_return answer(aaaa_answers, name);
  }
  asio::awaitable<DnsResult<std::vector<std::string>>> txt(std::string name) override {
    asked.push_back("TXT " + name);
    co_return DnsError{DnsErrorKind::nodata, "TXT " + name + ": no such record"};
  }

  static DnsError temporary(const std::string& name) {
    return DnsError{DnsErrorKind::temporary, name + ": Timeout while contacting DNS servers"};
  }

 private:
  bool exists(const std::string& name) const {
    return mx_answers.contains(name) || a_answers.contains(name) || aaaa_answers.contains(name);
  }
  template <class Map>
  typename Map::mapped_type answer(const Map& map, const std::string& name) const {
    if (auto it = map.find(name); it != map.end()) {
      return it->second;
    }
    if (exists(name)) {
      return DnsError{DnsErrorKind::nodata, name + ": no such record"};
    }
    return DnsError{DnsErrorKind::nxdomain, name + ": domain does not exist (NXDOMAIN)"};
  }
};

// Returns the values in order, then repeats the last: a scripted "random" source.
Router::Random sequence(std::vector<std::uint32_t> values) {
  auto state = std::make_shared<std::pair<std::vector<std::uint32_t>, std::size_t>>(values, 0);
  return [state]() {
    auto& [v, i] = *state;
    return v[std::min(i++, v.size() - 1)];
  };
}

class RoutingTest : public ::testing::Test {
 protected:
  Route route(const std::string& domain, Router::Random random = sequence({0})) {
    Router router(dns_, config_, std::move(random));
    std::optional<Route> out;
    asio::co_spawn(io_, router.route(domain), [&](std::exception_ptr e, Route r) {
      if (e) {
        std::rethrow_exception(e);
      }
      out = std::move(r);
    });
    io_.run_for(10s);
    io_.restart();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Route{});
  }

  static std::vector<std::string> hosts(const Route& r) {
    std::vector<std::string> out;
    for (const auto& t : r.targets) {
      out.push_back(t.host + " " + t.address.to_string() + ":" + std::to_string(t.port) + " " +
                    std::to_string(t.preference));
    }
    return out;
  }

  asio::io_context io_;
  FakeLookup dns_;
  config::DeliveryConfig config_;
};

TEST_F(RoutingTest, MxHostsByPreferenceIpv6First) {
  dns_.mx_answers["example.test"] =
      std::vector<MxRecord>{{20, "mx2.example.test"}, {10, "mx1.example.test"}};
  dns_.a_answers["mx1.example.test"] = Addresses{ip("198.18.2.10")};
  dns_.aaaa_answers["mx1.example.test"] = Addresses{ip("fd00:2::10")};
  dns_.a_answers["mx2.example.test"] = Addresses{ip("198.18.2.11"), ip("198.18.2.12")};
  auto r = route("Example.TEST.");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r),
            (std::vector<std::string>{
                "mx1.example.test fd00:2::10:25 10", "mx1.example.test 198.18.2.10:25 10",
                "mx2.example.test 198.18.2.11:25 20", "mx2.example.test 198.18.2.12:25 20"}));
  EXPECT_TRUE(r.reason.empty());
}

TEST_F(RoutingTest, EqualPreferencesAreShuffledWithTheInjectedRandom) {
  dns_.mx_answers["example.test"] = std::vector<MxRecord>{{10, "a.example.test"},
                                                          {10, "b.example.test"},
                                                          {10, "c.example.test"},
                                                          {5, "first.example.test"}};
  for (const char* h :
       {"a.example.test", "b.example.test", "c.example.test", "first.example.test"}) {
    dns_.a_answers[h] = Addresses{ip(std::string(h) == "first.example.test" ? "198.18.2.1"
                                     : std::string(h) == "a.example.test"   ? "198.18.2.2"
                                     : std::string(h) == "b.example.test"   ? "198.18.2.3"
                                                                            : "198.18.2.4")};
  }
  auto order = [&](Router::Random random) {
    std::vector<std::string> out;
    for (const auto& t : route("example.test", std::move(random)).targets) {
      out.push_back(t.host);
    }
    return out;
  };
  // Fisher-Yates over [a, b, c]: n=3 swaps index 2 with random%3, n=2 swaps 1 with random%2.
  EXPECT_EQ(order(sequence({2, 1})),
            (std::vector<std::string>{"first.example.test", "a.example.test", "b.example.test",
                                      "c.example.test"}));
  EXPECT_EQ(order(sequence({0, 0})),
            (std::vector<std::string>{"first.example.test", "b.example.test", "c.example.test",
                                      "a.example.test"}));
  EXPECT_EQ(order(sequence({1, 0})),
            (std::vector<std::string>{"first.example.test", "c.example.test", "a.example.test",
                                      "b.example.test"}));
  // The single host of preference 5 consumes no random numbers and stays first.
  std::map<std::string, int> first_of_three;
  for (std::uint32_t x = 0; x < 6; ++x) {
    first_of_three[order(sequence({x, x / 3}))[1]]++;
  }
  EXPECT_EQ(first_of_three.size(), 3u);
}

TEST_F(RoutingTest, NoMxFallsBackToTheDomainsAddresses) {
  dns_.a_answers["plain.test"] = Addresses{ip("198.18.2.20")};
  dns_.aaaa_answers["plain.test"] = Addresses{ip("fd00:2::20")};
  auto r = route("plain.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"plain.test fd00:2::20:25 0",
                                                "plain.test 198.18.2.20:25 0"}));
}

TEST_F(RoutingTest, NoMxAndNoAddressIsPermanent) {
  dns_.mx_answers["empty.test"] = DnsError{DnsErrorKind::nodata, "MX empty.test: no such record"};
  auto r = route("empty.test");
  EXPECT_EQ(r.kind, Route::Kind::permanent);
  EXPECT_TRUE(r.reason.starts_with("5.4.4 ")) << r.reason;
}

TEST_F(RoutingTest, NoMxAndAddressLookupTemporaryIsTemporary) {
  dns_.mx_answers["flaky.test"] = DnsError{DnsErrorKind::nodata, "no MX"};
  dns_.a_answers["flaky.test"] = FakeLookup::temporary("A flaky.test");
  auto r = route("flaky.test");
  EXPECT_EQ(r.kind, Route::Kind::temporary);
  EXPECT_TRUE(r.reason.starts_with("4.4.3 ")) << r.reason;
}

TEST_F(RoutingTest, NullMxIsPermanent5110) {
  dns_.mx_answers["nullmx.test"] = std::vector<MxRecord>{{0, ""}};
  auto r = route("nullmx.test");
  EXPECT_EQ(r.kind, Route::Kind::permanent);
  EXPECT_EQ(r.reason, "5.1.10 domain nullmx.test does not accept mail (null MX, RFC 7505)");
  EXPECT_TRUE(r.targets.empty());
  EXPECT_EQ(dns_.asked, std::vector<std::string>{"MX nullmx.test"});
}

TEST_F(RoutingTest, NullMxBesideRealHostsIsIgnored) {
  dns_.mx_answers["mixed.test"] = std::vector<MxRecord>{{0, ""}, {10, "mx.mixed.test"}};
  dns_.a_answers["mx.mixed.test"] = Addresses{ip("198.18.2.30")};
  auto r = route("mixed.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"mx.mixed.test 198.18.2.30:25 10"});
}

TEST_F(RoutingTest, NxdomainIsPermanent) {
  auto r = route("nowhere.test");
  EXPECT_EQ(r.kind, Route::Kind::permanent);
  EXPECT_EQ(r.reason, "5.1.2 domain nowhere.test does not exist");
}

TEST_F(RoutingTest, TemporaryMxFailureIsTemporary) {
  dns_.mx_answers["slow.test"] = FakeLookup::temporary("MX slow.test");
  auto r = route("slow.test");
  EXPECT_EQ(r.kind, Route::Kind::temporary);
  EXPECT_TRUE(r.reason.starts_with("4.4.3 DNS lookup failed: MX slow.test")) << r.reason;
}

TEST_F(RoutingTest, MxHostWithoutAddressesIsSkipped) {
  dns_.mx_answers["example.test"] = std::vector<MxRecord>{
      {10, "gone.example.test"}, {20, "noaddr.example.test"}, {30, "mx3.example.test"}};
  dns_.mx_answers["noaddr.example.test"] = std::vector<MxRecord>{};  // exists, no A/AAAA
  dns_.a_answers["mx3.example.test"] = Addresses{ip("198.18.2.13")};
  auto r = route("example.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"mx3.example.test 198.18.2.13:25 30"});
}

TEST_F(RoutingTest, MxHostWithTemporaryFailureIsSkippedWhenOthersResolve) {
  dns_.mx_answers["example.test"] =
      std::vector<MxRecord>{{10, "slow.example.test"}, {20, "mx2.example.test"}};
  dns_.a_answers["slow.example.test"] = FakeLookup::temporary("A slow.example.test");
  dns_.aaaa_answers["slow.example.test"] = FakeLookup::temporary("AAAA slow.example.test");
  dns_.a_answers["mx2.example.test"] = Addresses{ip("198.18.2.11")};
  auto r = route("example.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"mx2.example.test 198.18.2.11:25 20"});
}

TEST_F(RoutingTest, AllMxHostsTemporaryIsTemporary) {
  dns_.mx_answers["example.test"] =
      std::vector<MxRecord>{{10, "slow.example.test"}, {20, "gone.example.test"}};
  dns_.a_answers["slow.example.test"] = FakeLookup::temporary("A slow.example.test");
  dns_.aaaa_answers["slow.example.test"] = FakeLookup::temporary("AAAA slow.example.test");
  auto r = route("example.test");
  EXPECT_EQ(r.kind, Route::Kind::temporary);
  EXPECT_TRUE(r.reason.starts_with("4.4.3 ")) << r.reason;
}

TEST_F(RoutingTest, NoMxHostHasAnAddressIsPermanent) {
  dns_.mx_answers["example.test"] =
      std::vector<MxRecord>{{10, "gone1.example.test"}, {20, "gone2.example.test"}};
  auto r = route("example.test");
  EXPECT_EQ(r.kind, Route::Kind::permanent);
  EXPECT_TRUE(r.reason.starts_with("5.4.4 no MX host of example.test has an address")) << r.reason;
}

TEST_F(RoutingTest, MxHostsAndAddressesAreCapped) {
  std::vector<MxRecord> many;
  for (int i = 0; i < 30; ++i) {
    const std::string host = "mx" + std::to_string(i) + ".big.test";
    many.push_back({static_cast<std::uint16_t>(i), host});
    Addresses addresses;
    for (int j = 0; j < 10; ++j) {
      addresses.push_back(
          ip(("198.18." + std::to_string(i) + "." + std::to_string(j + 1)).c_str()));
    }
    dns_.a_answers[host] = addresses;
  }
  dns_.mx_answers["big.test"] = many;
  auto r = route("big.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  ASSERT_EQ(r.targets.size(), Router::kMaxTargets);
  EXPECT_EQ(r.targets[0].host, "mx0.big.test");
  EXPECT_EQ(r.targets[Router::kMaxAddressesPerHost].host, "mx1.big.test");
  // 20 targets at 4 per host: 5 hosts asked, not 30.
  const auto a_queries = std::count_if(dns_.asked.begin(), dns_.asked.end(),
                                       [](const std::string& q) { return q.starts_with("A "); });
  EXPECT_EQ(a_queries, 5);
}

TEST_F(RoutingTest, OnlyTheFirstTenMxHostsAreTried) {
  std::vector<MxRecord> many;
  for (int i = 0; i < 15; ++i) {
    many.push_back({static_cast<std::uint16_t>(i), "mx" + std::to_string(i) + ".many.test"});
  }
  dns_.mx_answers["many.test"] = many;
  dns_.a_answers["mx14.many.test"] = Addresses{ip("198.18.2.14")};
  auto r = route("many.test");
  EXPECT_EQ(r.kind, Route::Kind::permanent) << "the 15th host is beyond the cap";
}

TEST_F(RoutingTest, DuplicateAndUnusableAddressesAreDropped) {
  dns_.mx_answers["example.test"] =
      std::vector<MxRecord>{{10, "a.example.test"}, {20, "b.example.test"}};
  dns_.a_answers["a.example.test"] = Addresses{ip("0.0.0.0"), ip("198.18.2.10")};
  dns_.a_answers["b.example.test"] = Addresses{ip("198.18.2.10"), ip("224.0.0.1")};
  auto r = route("example.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"a.example.test 198.18.2.10:25 10"});
}

TEST_F(RoutingTest, StaticRouteForTheDomainOverridesMx) {
  config_.routes = {{"example.test", "198.18.9.1", 2525}, {"*", "198.18.9.2", 25}};
  dns_.mx_answers["example.test"] = std::vector<MxRecord>{{10, "mx1.example.test"}};
  auto r = route("EXAMPLE.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"198.18.9.1 198.18.9.1:2525 0"});
  EXPECT_TRUE(dns_.asked.empty());
}

TEST_F(RoutingTest, WildcardRouteCatchesOtherDomains) {
  config_.routes = {{"example.test", "198.18.9.1", 2525}, {"*", "198.18.9.2", 587}};
  auto r = route("other.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"198.18.9.2 198.18.9.2:587 0"});
}

TEST_F(RoutingTest, StaticRouteHostNameIsResolved) {
  config_.routes = {{"*", "relay.upstream.test", 2525}};
  dns_.aaaa_answers["relay.upstream.test"] = Addresses{ip("fd00:9::1")};
  dns_.a_answers["relay.upstream.test"] = Addresses{ip("198.18.9.1")};
  auto r = route("example.test");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), (std::vector<std::string>{"relay.upstream.test fd00:9::1:2525 0",
                                                "relay.upstream.test 198.18.9.1:2525 0"}));
  EXPECT_EQ(std::count_if(dns_.asked.begin(), dns_.asked.end(),
                          [](const std::string& q) { return q.starts_with("MX"); }),
            0);
}

TEST_F(RoutingTest, UnresolvableStaticRouteHostIsTemporaryNeverABounce) {
  config_.routes = {{"*", "relay.missing.test", 25}};
  auto r = route("example.test");
  EXPECT_EQ(r.kind, Route::Kind::temporary);
  EXPECT_TRUE(r.reason.starts_with("4.4.3 static route host relay.missing.test")) << r.reason;
}

TEST_F(RoutingTest, DomainLiteralsRouteToTheirAddress) {
  auto v4 = route("[198.18.2.10]");
  ASSERT_EQ(v4.kind, Route::Kind::ok) << v4.reason;
  EXPECT_EQ(hosts(v4), std::vector<std::string>{"198.18.2.10 198.18.2.10:25 0"});
  auto v6 = route("[IPv6:fd00:2::10]");
  ASSERT_EQ(v6.kind, Route::Kind::ok) << v6.reason;
  EXPECT_EQ(hosts(v6), std::vector<std::string>{"fd00:2::10 fd00:2::10:25 0"});
  EXPECT_TRUE(dns_.asked.empty());
  for (const char* bad : {"[198.18.2]", "[fd00::1]", "[IPv6:198.18.2.10]", "[0.0.0.0]", "[]"}) {
    auto r = route(bad);
    EXPECT_EQ(r.kind, Route::Kind::permanent) << bad;
    EXPECT_TRUE(r.reason.starts_with("5.1.2 ")) << r.reason;
  }
}

TEST_F(RoutingTest, WildcardRouteAlsoTakesDomainLiterals) {
  config_.routes = {{"*", "198.18.9.2", 25}};
  auto r = route("[198.18.2.10]");
  ASSERT_EQ(r.kind, Route::Kind::ok) << r.reason;
  EXPECT_EQ(hosts(r), std::vector<std::string>{"198.18.9.2 198.18.9.2:25 0"});
}

TEST_F(RoutingTest, InvalidDomainsArePermanentWithoutAQuery) {
  for (std::string bad : {std::string("bad domain.test"), std::string("a..test"),
                          std::string(300, 'a'), std::string("evil\r\n.test"), std::string("")}) {
    auto r = route(bad);
    EXPECT_EQ(r.kind, Route::Kind::permanent) << bad;
    EXPECT_TRUE(r.reason.starts_with("5.1.2 ")) << r.reason;
    EXPECT_EQ(r.reason.find('\n'), std::string::npos);
  }
  EXPECT_TRUE(dns_.asked.empty());
}

// The same rules against the real resolver and a dnsmasq.
TEST(RoutingWithDnsmasq, RoutesThroughTheRealResolver) {
  testing::DnsmasqServer server({
      "--local=/test/",
      "--mx-host=example.test,mx1.example.test,10",
      "--mx-host=example.test,mx2.example.test,20",
      "--address=/mx1.example.test/198.18.2.10",
      "--host-record=mx2.example.test,198.18.2.11,fd00:2::11",
      "--host-record=plain.test,198.18.2.20",
      "--mx-host=nullmx.test,.,0",
  });
  asio::io_context io;
  dns::Resolver resolver(io.get_executor(), config::Endpoint{"127.0.0.1", server.port()});
  Router router(resolver, config::DeliveryConfig{});
  std::map<std::string, Route> routes;
  for (const char* domain : {"example.test", "plain.test", "nullmx.test", "nowhere.test"}) {
    asio::co_spawn(io, router.route(domain),
                   [&routes, domain](std::exception_ptr, Route r) { routes[domain] = r; });
  }
  io.run_for(20s);
  ASSERT_EQ(routes.size(), 4u);
  const Route& example = routes["example.test"];
  ASSERT_EQ(example.kind, Route::Kind::ok) << example.reason;
  ASSERT_EQ(example.targets.size(), 3u);
  EXPECT_EQ(example.targets[0].address, ip("198.18.2.10"));
  EXPECT_EQ(example.targets[1].address, ip("fd00:2::11"));
  EXPECT_EQ(example.targets[2].address, ip("198.18.2.11"));
  EXPECT_EQ(example.targets[2].preference, 20);
  ASSERT_EQ(routes["plain.test"].kind, Route::Kind::ok) << routes["plain.test"].reason;
  EXPECT_EQ(routes["plain.test"].targets[0].address, ip("198.18.2.20"));
  EXPECT_EQ(routes["nullmx.test"].kind, Route::Kind::permanent);
  EXPECT_TRUE(routes["nullmx.test"].reason.starts_with("5.1.10 ")) << routes["nullmx.test"].reason;
  EXPECT_EQ(routes["nowhere.test"].kind, Route::Kind::permanent);
  EXPECT_TRUE(routes["nowhere.test"].reason.starts_with("5.1.2 ")) << routes["nowhere.test"].reason;
}

}  // namespace
}  // namespace portcullis::relay::delivery
