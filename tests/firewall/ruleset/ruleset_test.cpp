#include "firewall/ruleset/ruleset.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall {
namespace {

using store::Port25Mode;
using store::Tenant;

net::Prefix prefix(std::string_view text) {
  return net::Prefix::parse(text).value();
}

Tenant tenant(std::string id, std::vector<std::string_view> subnets, Port25Mode mode) {
  Tenant t;
  t.id = std::move(id);
  t.plan = "standard";
  for (auto s : subnets) {
    t.subnets.push_back(prefix(s));
  }
  t.port25_mode = mode;
  return t;
}

RulesetSettings settings() {
  RulesetSettings s;
  s.intercept_port = 2525;
  return s;
}

bool contains(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

std::size_t count(const std::string& text, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) {
    ++n;
  }
  return n;
}

TEST(CounterName, RoundTrips) {
  EXPECT_EQ(counter_name("acme", Port25Mode::block, false), "t.acme.block");
  EXPECT_EQ(counter_name("1x-new", Port25Mode::exempt, true), "t.1x-new.exempt.new");
  EXPECT_EQ(counter_name("", Port25Mode::redirect, false), "default.redirect");
  auto k = parse_counter_name("t.1x-new.exempt.new").value();
  EXPECT_EQ(k.tenant_id, "1x-new");
  EXPECT_EQ(k.mode, Port25Mode::exempt);
  EXPECT_TRUE(k.attempts);
  auto d = parse_counter_name("default.block").value();
  EXPECT_EQ(d.tenant_id, "");
  EXPECT_FALSE(d.attempts);
  EXPECT_FALSE(parse_counter_name("other"));
  EXPECT_FALSE(parse_counter_name("t..block"));
  EXPECT_FALSE(parse_counter_name("t.acme.open"));
}

TEST(Ruleset, RendersEveryModeAndFamily) {
  tenants::TenantDirectory dir(
      {tenant("blk", {"198.18.1.0/24", "fd00:1::/64"}, Port25Mode::block),
       tenant("red", {"198.18.4.0/24", "fd00:4::/64"}, Port25Mode::redirect),
       tenant("ex", {"198.18.5.0/24"}, Port25Mode::exempt)});
  const auto r = Ruleset::build(dir, settings());
  const auto text = r.render_table();
  EXPECT_TRUE(contains(text, "table inet portcullis {\n"));
  EXPECT_TRUE(contains(text, "198.18.1.0/24 : goto port25_block"));
  EXPECT_TRUE(contains(text, "fd00:1::/64 : goto port25_block"));
  EXPECT_TRUE(contains(text, "198.18.4.0/24 : goto port25_leak"));
  EXPECT_TRUE(contains(text, "198.18.5.0/24 : accept"));
  EXPECT_TRUE(contains(text, "198.18.4.0/24 : \"t.red.redirect\""));
  EXPECT_TRUE(contains(text, "fd00:4::/64 : \"t.red.redirect.new\""));
  EXPECT_TRUE(contains(text, "redirect to :2525"));
  EXPECT_TRUE(contains(text, "log group 25 drop"));
  EXPECT_TRUE(contains(text, "counter name \"default.block\" goto port25_block"));
  EXPECT_FALSE(contains(text, "flags owner"));
  // 3 tenants x 3 modes x 2 + the default's two.
  EXPECT_EQ(r.counter_names().size(), 20u);
}

TEST(Ruleset, SuspendedTenantsAndMissingInterceptListenerFailClosed) {
  auto t = tenant("ex", {"198.18.5.0/24"}, Port25Mode::exempt);
  t.status = store::TenantStatus::suspended;
  tenants::TenantDirectory dir({t, tenant("red", {"198.18.4.0/24"}, Port25Mode::redirect)});
  RulesetSettings no_listener;
  no_listener.default_mode = Port25Mode::redirect;
  const auto text = Ruleset::build(dir, no_listener).render_table();
  EXPECT_TRUE(contains(text, "198.18.5.0/24 : goto port25_block"));
  EXPECT_TRUE(contains(text, "198.18.4.0/24 : goto port25_block"));
  EXPECT_FALSE(contains(text, "redirect to"));
  EXPECT_TRUE(contains(text, "counter name \"default.block\" goto port25_block"));
}

TEST(Ruleset, OptionsChangeTheBlockChain) {
  auto s = settings();
  s.reject_with_reset = true;
  s.nflog_group = 7;
  s.table = "pc_test";
  s.default_mode = Port25Mode::exempt;
  const auto text = Ruleset::build(tenants::TenantDirectory(), s).render_table();
  EXPECT_TRUE(contains(text, "table inet pc_test {"));
  EXPECT_TRUE(contains(text, "log group 7 reject with tcp reset"));
  EXPECT_TRUE(contains(text, "counter name \"default.exempt\" accept"));
}

TEST(Ruleset, HostOverridesInsideTheSubnetOnly) {
  auto t = tenant("acme", {"198.18.1.0/24", "fd00:1::/64"}, Port25Mode::block);
  t.host_overrides.push_back({prefix("198.18.1.10"), Port25Mode::exempt, "", 0});
  t.host_overrides.push_back({prefix("fd00:1::10"), Port25Mode::redirect, "", 0});
  t.host_overrides.push_back(
      {prefix("198.18.9.9"), Port25Mode::exempt, "", 0});  // outside: ignored
  const auto r = Ruleset::build(tenants::TenantDirectory({t}), settings());
  const auto text = r.render_table();
  EXPECT_TRUE(contains(text, "198.18.1.10 : accept") || contains(text, "198.18.1.10/32 : accept"));
  EXPECT_TRUE(contains(text, "fd00:1::10/128 : goto port25_leak"));
  EXPECT_FALSE(contains(text, "198.18.9.9"));
  // The redirect set holds the one v6 host.
  EXPECT_EQ(count(text, "fd00:1::10/128"), 5u);  // verdict, traffic, attempts, tenants, redirect
}

TEST(Ruleset, AnOverrideOfTheWholeSubnetIsItsMode) {
  // A tenant of one host: the override names the same /32 as the subnet.
  auto t = tenant("beta", {"198.18.1.11/32"}, Port25Mode::block);
  t.host_overrides.push_back({prefix("198.18.1.11"), Port25Mode::exempt, "exception #2", 0});
  auto text = Ruleset::build(tenants::TenantDirectory({t}), settings()).render_table();
  EXPECT_TRUE(contains(text, "198.18.1.11 : accept") || contains(text, "198.18.1.11/32 : accept"))
      << text;
  EXPECT_FALSE(contains(text, "198.18.1.11 : goto port25_block") ||
               contains(text, "198.18.1.11/32 : goto port25_block"));
  // A suspended tenant stays blocked whatever its overrides say.
  t.status = store::TenantStatus::suspended;
  text = Ruleset::build(tenants::TenantDirectory({t}), settings()).render_table();
  EXPECT_FALSE(contains(text, "198.18.1.11 : accept") || contains(text, "198.18.1.11/32 : accept"));
}

TEST(Ruleset, ReplaceIsOneScriptThatCreatesBeforeDeleting) {
  tenants::TenantDirectory dir({tenant("a", {"198.18.1.0/24"}, Port25Mode::block)});
  const auto script = Ruleset::build(dir, settings()).render_replace();
  EXPECT_EQ(script.rfind("add table inet portcullis\ndelete table inet portcullis\ntable inet", 0),
            0u);
  EXPECT_TRUE(contains(script,
                       "add element inet portcullis verdict4 { 198.18.1.0/24 : goto "
                       "port25_block }\n"));
  EXPECT_FALSE(contains(script, "flush"));
}

TEST(Ruleset, UpdateChangesOnlyTheElementsThatDiffer) {
  auto before =
      Ruleset::build(tenants::TenantDirectory({tenant("a", {"198.18.1.0/24"}, Port25Mode::block),
                                               tenant("b", {"198.18.2.0/24"}, Port25Mode::block)}),
                     settings());
  auto after =
      Ruleset::build(tenants::TenantDirectory({tenant("a", {"198.18.1.0/24"}, Port25Mode::redirect),
                                               tenant("c", {"fd00:3::/64"}, Port25Mode::exempt)}),
                     settings());
  const auto script = Ruleset::render_update(before, after);
  EXPECT_EQ(Ruleset::render_update(after, after), "");
  // a: mode change, still a tenant address.
  EXPECT_TRUE(contains(script,
                       "delete element inet portcullis verdict4 { 198.18.1.0/24, "
                       "198.18.2.0/24 }"));
  EXPECT_TRUE(contains(script,
                       "add element inet portcullis verdict4 { 198.18.1.0/24 : goto "
                       "port25_leak }"));
  EXPECT_TRUE(contains(script, "add element inet portcullis redirect4 { 198.18.1.0/24 }"));
  EXPECT_TRUE(contains(script, "delete element inet portcullis tenants4 { 198.18.2.0/24 }"));
  EXPECT_FALSE(contains(script, "tenants4 { 198.18.1.0/24"));
  // b removed, c added, with their counters.
  EXPECT_TRUE(contains(script, "add counter inet portcullis t.c.exempt\n"));
  EXPECT_TRUE(contains(script, "delete counter inet portcullis t.b.block.new\n"));
  EXPECT_FALSE(contains(script, "t.a.block\n"));
  EXPECT_TRUE(contains(script, "add element inet portcullis tenants6 { fd00:3::/64 }"));
  // Deletions come before additions, counters are deleted last.
  EXPECT_LT(script.find("delete element"), script.find("add element"));
  EXPECT_GT(script.find("delete counter"), script.rfind("add element"));
}

TEST(Ruleset, HundredThousandPrefixesRenderFastAndInChunks) {
  std::vector<Tenant> tenants;
  for (int t = 0; t < 1000; ++t) {
    std::vector<std::string> nets;
    Tenant x = tenant("t" + std::to_string(t), {}, static_cast<Port25Mode>(t % 3));
    for (int i = 0; i < 100; ++i) {
      const int n = t * 100 + i;  // 0..99999
      if (n % 2 == 0) {
        const int host = n;  // every other host of 198.18.0.0/15: no two adjacent
        x.subnets.push_back(prefix("198." + std::to_string(18 + host / 65536) + "." +
                                   std::to_string((host / 256) % 256) + "." +
                                   std::to_string(host % 256)));
      } else {
        char v6[64];
        std::snprintf(v6, sizeof v6, "fd00:%x:%x::/64", n / 65536, n % 65536);
        x.subnets.push_back(prefix(v6));
      }
    }
    tenants.push_back(std::move(x));
  }
  const auto started = std::chrono::steady_clock::now();
  tenants::TenantDirectory dir(std::move(tenants));
  const auto r = Ruleset::build(dir, settings());
  const auto script = r.render_replace(4096);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.elements().size(), 100000u);
  EXPECT_LT(took, std::chrono::seconds(5));
  // 50,000 v4 and v6 elements each: 13 chunks per map, and every chunk bounded.
  EXPECT_EQ(count(script, "add element inet portcullis verdict4 {"), 13u);
  std::size_t line_start = 0;
  std::size_t longest = 0;
  for (auto nl = script.find('\n'); nl != std::string::npos; nl = script.find('\n', nl + 1)) {
    longest = std::max(longest, nl - line_start);
    line_start = nl + 1;
  }
  EXPECT_LT(longest, 4096u * 64);
  std::printf(
      "[ info ] 100k prefixes: build+render %lld ms, script %zu bytes\n",
      static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()),
      script.size());
}

}  // namespace
}  // namespace portcullis::firewall

namespace portcullis::firewall {
namespace {

TEST(RulesetUpdate, AModeChangeTouchesOnlyTheTenantsElements) {
  std::vector<store::Tenant> before_tenants;
  store::Tenant t;
  t.id = "big";
  t.plan = "standard";
  for (int i = 0; i < 40; ++i) {
    t.subnets.push_back(net::Prefix::parse("198.18." + std::to_string(i * 2) + ".0/24").value());
  }
  before_tenants.push_back(t);
  RulesetSettings s;
  s.intercept_port = 2525;
  const auto before = Ruleset::build(tenants::TenantDirectory(before_tenants), s);
  t.port25_mode = store::Port25Mode::exempt;
  const auto after = Ruleset::build(tenants::TenantDirectory({t}), s);
  const auto diff = Ruleset::diff(before, after);
  auto in_set = [](const std::vector<ElementChange>& changes, std::string_view set) {
    return std::count_if(changes.begin(), changes.end(),
                         [&](const ElementChange& c) { return c.set == set; });
  };
  for (auto set : {"verdict4", "traffic4", "attempts4"}) {
    EXPECT_EQ(in_set(diff.removals, set), 40) << set;
    EXPECT_EQ(in_set(diff.additions, set), 40) << set;
  }
  // Still tenant addresses, never redirected: tenants4 and redirect4 untouched.
  EXPECT_EQ(in_set(diff.removals, "tenants4") + in_set(diff.additions, "tenants4"), 0);
  EXPECT_EQ(in_set(diff.removals, "redirect4") + in_set(diff.additions, "redirect4"), 0);
  EXPECT_EQ(diff.additions.front().value, (ElementValue{ElementValue::Kind::accept, ""}));
  EXPECT_TRUE(diff.counters_added.empty());
  EXPECT_TRUE(Ruleset::diff(after, after).empty());
  // Rendered, every set's elements share one command per chunk.
  const auto script = Ruleset::render_update(diff, "portcullis", 4096);
  EXPECT_EQ(script.find("flush"), std::string::npos);
  EXPECT_EQ(count(script, "delete element inet portcullis verdict4 {"), 1u);
}

}  // namespace
}  // namespace portcullis::firewall
