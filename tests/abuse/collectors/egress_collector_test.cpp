#include "abuse/collectors/egress_collector.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/core/config/config.hpp"

namespace portcullis::abuse {
namespace {

class RecordingSink final : public SignalSink {
 public:
  void record_signal(store::Signal signal) override { signals.push_back(std::move(signal)); }
  std::vector<store::Signal> signals;
};

config::Config egress_config() {
  config::Config c;
  c.abuse.egress.min_attempts = 100;
  c.abuse.egress.min_destinations = 20;
  c.firewall.monitor_window = std::chrono::seconds(600);
  return c;
}

struct Step {
  std::int64_t time;
  const char* tenant;
  const char* host;
  std::uint64_t attempts;
  std::uint32_t destinations;
  bool signal;  // expected: this observation records one
};

struct Case {
  const char* name;
  std::vector<Step> steps;
};

// Observations as the monitor publishes them: one a minute per busy host, each over the
// sliding 10-minute window.
const std::vector<Case> kCases = {
    {"below both thresholds", {{1000, "acme", "198.18.1.10", 99, 19, false}}},
    {"attempts alone", {{1000, "acme", "198.18.1.10", 100, 1, true}}},
    {"destinations alone", {{1000, "acme", "198.18.1.10", 5, 20, true}}},
    {"host in no tenant", {{1000, "", "198.18.9.9", 5000, 500, false}}},
    {"once while it stays above",
     {{1000, "acme", "198.18.1.10", 150, 5, true},
      {1060, "acme", "198.18.1.10", 400, 5, false},
      {1120, "acme", "198.18.1.10", 900, 90, false}}},
    {"re-armed by an observation below both",
     {{1000, "acme", "198.18.1.10", 150, 5, true},
      {1060, "acme", "198.18.1.10", 60, 19, false},
      {1120, "acme", "198.18.1.10", 150, 5, true},
      {1180, "acme", "198.18.1.10", 150, 5, false}}},
    {"re-armed by silence longer than window and publish interval",
     {{1000, "acme", "198.18.1.10", 150, 5, true},
      {1000 + 661, "acme", "198.18.1.10", 150, 5, true},
      {1000 + 661 + 60, "acme", "198.18.1.10", 150, 5, false}}},
    {"not re-armed by a shorter silence",
     {{1000, "acme", "198.18.1.10", 150, 5, true},
      {1000 + 660, "acme", "198.18.1.10", 150, 5, false}}},
    {"hosts are independent",
     {{1000, "acme", "198.18.1.10", 150, 5, true},
      {1000, "acme", "198.18.1.11", 150, 5, true},
      {1060, "acme", "198.18.1.10", 150, 5, false},
      {1060, "acme", "198.18.1.11", 50, 5, false},
      {1120, "acme", "198.18.1.11", 150, 5, true}}},
    {"tenants are independent",
     {{1000, "acme", "198.18.1.10", 150, 5, true}, {1000, "beta", "198.18.1.10", 150, 5, true}}},
};

TEST(EgressCollectorTest, OncePerCrossingTable) {
  for (const auto& c : kCases) {
    RecordingSink sink;
    EgressCollector collector(egress_config(), sink);
    for (std::size_t i = 0; i < c.steps.size(); ++i) {
      const auto& s = c.steps[i];
      const auto before = sink.signals.size();
      collector.on_egress({s.time, s.tenant, s.host, s.attempts, s.destinations, 1.0});
      EXPECT_EQ(sink.signals.size() - before, s.signal ? 1U : 0U) << c.name << ", step " << i;
      if (s.signal && sink.signals.size() > before) {
        EXPECT_EQ(sink.signals.back().tenant_id, s.tenant) << c.name;
        EXPECT_EQ(sink.signals.back().host, s.host) << c.name;
        EXPECT_EQ(sink.signals.back().kind, store::SignalKind::egress) << c.name;
      }
    }
  }
}

TEST(EgressCollectorTest, StrengthAndEvidence) {
  auto config = egress_config();
  config.abuse.egress.min_attempts = 24;
  RecordingSink sink;
  EgressCollector collector(config, sink);
  collector.on_egress({1'700'000'000, "acme", "198.18.1.10", 48, 24, 31.0});
  ASSERT_EQ(sink.signals.size(), 1U);
  const auto& s = sink.signals[0];
  EXPECT_EQ(s.strength, 2.0);  // max(48/24, 24/20)
  EXPECT_EQ(s.time, 1'700'000'000);
  EXPECT_EQ(s.evidence,
            "198.18.1.10 made 48 direct port-25 attempts to 24 distinct destinations within the "
            "monitor window of 10m (31.0 per minute in the last minute)");

  collector.on_egress({1'700'000'000, "acme", "fd00:1::10", 10, 300, 12.25});
  ASSERT_EQ(sink.signals.size(), 2U);
  EXPECT_EQ(sink.signals[1].strength, 15.0);
  EXPECT_NE(sink.signals[1].evidence.find("10 direct port-25 attempts to about 300 distinct"),
            std::string::npos)
      << sink.signals[1].evidence;
}

TEST(EgressCollectorTest, RemembersAtMostMonitorMaxHosts) {
  auto config = egress_config();
  config.firewall.monitor_max_hosts = 2;
  RecordingSink sink;
  EgressCollector collector(config, sink);
  collector.on_egress({1000, "acme", "198.18.1.1", 150, 5, 1});
  collector.on_egress({1010, "acme", "198.18.1.2", 150, 5, 1});
  collector.on_egress({1020, "acme", "198.18.1.3", 150, 5, 1});  // forgets .1
  ASSERT_EQ(sink.signals.size(), 3U);
  collector.on_egress({1030, "acme", "198.18.1.3", 150, 5, 1});
  EXPECT_EQ(sink.signals.size(), 3U);
  collector.on_egress({1040, "acme", "198.18.1.1", 150, 5, 1});
  EXPECT_EQ(sink.signals.size(), 4U);
}

}  // namespace
}  // namespace portcullis::abuse
