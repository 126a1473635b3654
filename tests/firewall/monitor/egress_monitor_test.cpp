#include "firewall/monitor/egress_monitor.hpp"

#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include <cstring>
#include <vector>

#include "gateway/core/clock.hpp"
#include "gateway/core/control/api_monitor.hpp"
#include "gateway/core/net/prefix.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall::monitor {
namespace {

using namespace std::chrono_literals;

std::vector<std::uint8_t> syn(std::array<std::uint8_t, 4> src, std::array<std::uint8_t, 4> dst) {
  std::vector<std::uint8_t> p(40, 0);
  p[0] = 0x45;
  p[3] = 40;
  p[9] = 6;
  std::memcpy(&p[12], src.data(), 4);
  std::memcpy(&p[16], dst.data(), 4);
  p[20 + 3] = 25;
  p[20 + 12] = 0x50;
  p[20 + 13] = 0x02;
  return p;
}

std::shared_ptr<const tenants::TenantDirectory> directory() {
  store::Tenant t;
  t.id = "acme";
  t.plan = "standard";
  t.subnets.push_back(net::Prefix::parse("198.18.1.0/24").value());
  return std::make_shared<const tenants::TenantDirectory>(std::vector<store::Tenant>{t});
}

struct Fixture : ::testing::Test {
  FakeClock clock;
  tenants::TenantRegistry registry{directory()};
  EgressBus bus;
  std::vector<EgressObservation> seen;
  MonitorSettings settings;
  Fixture() {
    bus.subscribe([this](const EgressObservation& o) { seen.push_back(o); });
  }
};

using EgressMonitorTest = Fixture;

TEST_F(EgressMonitorTest, CountsPerHostAndTenantAndPublishes) {
  EgressMonitor m(settings, clock, registry, &bus);
  for (std::uint8_t i = 0; i < 20; ++i) {
    m.handle_frame(DLT_RAW,
                   syn({198, 18, 1, 10}, {198, 18, 2, static_cast<std::uint8_t>(100 + i)}));
  }
  for (std::uint8_t i = 0; i < 5; ++i) {
    m.handle_frame(DLT_RAW, syn({198, 18, 1, 11}, {198, 18, 2, 100}));
  }
  m.handle_frame(DLT_RAW, syn({198, 18, 3, 10}, {198, 18, 2, 100}));  // in no tenant
  m.handle_frame(DLT_RAW, std::vector<std::uint8_t>{0x45, 0});        // malformed

  auto top = m.top(10);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].host, "198.18.1.10");
  EXPECT_EQ(top[0].tenant_id, "acme");
  EXPECT_EQ(top[0].attempts, 20u);
  EXPECT_EQ(top[0].distinct_destinations, 20u);
  EXPECT_EQ(top[0].time, clock.unix_now());
  EXPECT_EQ(top[2].tenant_id, "");

  auto tenants = m.top_tenants(10);
  ASSERT_EQ(tenants.size(), 2u);
  EXPECT_EQ(tenants[0].tenant_id, "acme");
  EXPECT_EQ(tenants[0].hosts, 2u);
  EXPECT_EQ(tenants[0].attempts, 25u);
  EXPECT_EQ(tenants[0].distinct_destinations, 20u);  // 198.18.2.100 is shared
  EXPECT_EQ(tenants[1].tenant_id, "");

  auto stats = m.stats();
  EXPECT_EQ(stats.packets, 27u);
  EXPECT_EQ(stats.syns, 26u);
  EXPECT_EQ(stats.malformed, 1u);
  EXPECT_EQ(stats.hosts, 3u);

  clock.advance(1s);
  m.publish();
  ASSERT_EQ(seen.size(), 3u);
  m.publish();  // nothing new since
  EXPECT_EQ(seen.size(), 3u);
  clock.advance(1s);
  m.handle_frame(DLT_RAW, syn({198, 18, 1, 10}, {198, 18, 2, 200}));
  clock.advance(1s);
  m.publish();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3].host, "198.18.1.10");
  EXPECT_EQ(seen[3].tenant_id, "acme");
  EXPECT_EQ(seen[3].attempts, 21u);
  EXPECT_EQ(seen[3].distinct_destinations, 21u);
}

TEST_F(EgressMonitorTest, TenantChangesApplyAtReportTime) {
  EgressMonitor m(settings, clock, registry, nullptr);
  m.handle_frame(DLT_RAW, syn({198, 18, 1, 10}, {198, 18, 2, 1}));
  EXPECT_EQ(m.top(1)[0].tenant_id, "acme");
  registry.publish(nullptr);
  EXPECT_EQ(m.top(1)[0].tenant_id, "");
}

TEST_F(EgressMonitorTest, ApiRoute) {
  EgressMonitor m(settings, clock, registry, nullptr);
  m.handle_frame(DLT_RAW, syn({198, 18, 1, 10}, {198, 18, 2, 1}));
  control::Router router;
  control::register_monitor_routes(router, &m);
  auto r = router.route("GET", "/v1/monitor/top?limit=5", "");
  ASSERT_EQ(r.status, 200);
  const auto& hosts = r.body.at("hosts").as_array();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].at("host").as_string(), "198.18.1.10");
  EXPECT_EQ(hosts[0].at("tenant_id").as_string(), "acme");
  EXPECT_EQ(hosts[0].at("attempts").as_uint64(), 1u);
  EXPECT_EQ(r.body.at("tenants").as_array().size(), 1u);
  EXPECT_EQ(r.body.at("stats").at("syns").as_uint64(), 1u);
  EXPECT_EQ(router.route("GET", "/v1/monitor/top?limit=0", "").status, 400);
  EXPECT_EQ(router.route("GET", "/v1/monitor/top?limit=abc", "").status, 400);
  EXPECT_EQ(router.route("GET", "/v1/monitor/top?limit=1001", "").status, 400);

  control::Router none;
  control::register_monitor_routes(none, nullptr);
  EXPECT_EQ(none.route("GET", "/v1/monitor/top", "").status, 503);
}

}  // namespace
}  // namespace portcullis::firewall::monitor
