#include "abuse/collectors/dnsbl_collector.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/dns/lookup.hpp"

namespace portcullis::abuse {
namespace {

using namespace std::chrono_literals;
using dns::DnsError;
using dns::DnsErrorKind;
using dns::DnsResult;
using Addresses = std::vector<asio::ip::address>;
using Steady = std::chrono::steady_clock;

// Canned DNS: A and TXT answers from maps, NXDOMAIN / NODATA otherwise. Records every question
// with the time it was asked; a() can be slowed down to keep a query in flight.
class FakeLookup : public dns::Lookup {
 public:
  struct Question {
    std::string text;  // "A 1.2.18.198.bl.test"
    Steady::time_point at;
  };
  std::map<std::string, DnsResult<Addresses>> a_answers;
  std::map<std::string, std::vector<std::string>> txt_answers;
  std::vector<Question> asked;
  std::function<void(const std::string&)> on_ask;
  Steady::duration delay{};

  asio::awaitable<DnsResult<std::vector<dns::MxRecord>>> mx(std::string name) override {
    co_return DnsError{DnsErrorKind::nodata, name + " MX: no such record"};
  }
  asio::awaitable<DnsResult<Addresses>> a(std::string name) override {
    record("A " + name);
    if (delay != Steady::duration{}) {
      asio::steady_timer timer(co_await asio::this_coro::executor, delay);
      co_await timer.async_wait(asio_nothrow);
    }
    if (auto it = a_answers.find(name); it != a_answers.end()) {
      co_return it->second;
    }
    co_return DnsError{DnsErrorKind::nxdomain, name + " A: domain does not exist (NXDOMAIN)"};
  }
  asio::awaitable<DnsResult<Addresses>> aaaa(std::string name) override {
    co_return DnsError{DnsErrorKind::nodata, name + " AAAA: no such record"};
  }
  asio::awaitable<DnsResult<std::vector<std::string>>> txt(std::string name) override {
    record("TXT " + name);
    if (auto it = txt_answers.find(name); it != txt_answers.end()) {
      co_return it->second;
    }
    co_return DnsError{DnsErrorKind::nodata, name + " TXT: no such record"};
  }

  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const auto& q : asked) {
      out.push_back(q.text);
    }
    return out;
  }

 private:
  void record(std::string text) {
    asked.push_back({text, Steady::now()});
    if (on_ask) {
      on_ask(text);
    }
  }
};

class RecordingSink final : public SignalSink {
 public:
  void record_signal(store::Signal signal) override { signals.push_back(std::move(signal)); }
  std::vector<store::Signal> signals;
};

DnsResult<Addresses> answer(std::initializer_list<const char*> list) {
  Addresses out;
  for (const char* a : list) {
    out.push_back(asio::ip::make_address(a));
  }
  return out;
}

DnsblTarget target(const char* address, const char* tenant) {
  return {asio::ip::make_address(address), tenant};
}

class DnsblCollectorTest : public testing::Test {
 protected:
  DnsblCollectorTest() {
    config_.abuse.dnsbl.zones = {config::DnsblZone{"bl.test", {}, {}, 2.0}};
    config_.abuse.dnsbl.queries_per_second = 1000;
  }

  DnsblCollector& make() {
    collector_.emplace(
        io_.get_executor(), lookup_, config_, [this] { return targets_; }, sink_, clock_);
    return *collector_;
  }

  // Runs the collector until `done`, then stops it and lets the round end: io_.run() only
  // returns once the collector's coroutine has finished.
  void run_until(const std::function<bool()>& done) {
    const auto deadline = Steady::now() + 20s;
    while (!done() && Steady::now() < deadline) {
      io_.run_one_for(50ms);
    }
    ASSERT_TRUE(done()) << "timed out";
    collector_->stop();
    io_.restart();
    io_.run();
  }
  void run_queries(std::size_t n) {
    run_until([&] { return lookup_.asked.size() >= n; });
  }

  config::Config config_;
  asio::io_context io_;
  FakeLookup lookup_;
  RecordingSink sink_;
  FakeClock clock_;
  std::vector<DnsblTarget> targets_;
  std::optional<DnsblCollector> collector_;
};

TEST_F(DnsblCollectorTest, ListedWithTxtGivesOneSignalWithEvidence) {
  targets_ = {target("198.18.2.1", "acme")};
  lookup_.a_answers["1.2.18.198.bl.test"] = answer({"127.0.0.2"});
  lookup_.txt_answers["1.2.18.198.bl.test"] = {
      "Listed by bl.test: see http://bl.test/q?198.18.2.1"};
  make().start();
  run_queries(2);

  EXPECT_EQ(lookup_.texts(),
            (std::vector<std::string>{"A 1.2.18.198.bl.test", "TXT 1.2.18.198.bl.test"}));
  ASSERT_EQ(sink_.signals.size(), 1U);
  const auto& s = sink_.signals[0];
  EXPECT_EQ(s.kind, store::SignalKind::dnsbl);
  EXPECT_EQ(s.tenant_id, "acme");
  EXPECT_EQ(s.host, "198.18.2.1");
  EXPECT_EQ(s.strength, 2.0);
  EXPECT_EQ(s.time, clock_.unix_now());
  EXPECT_EQ(s.evidence,
            "198.18.2.1 is listed in bl.test (127.0.0.2): Listed by bl.test: see "
            "http://bl.test/q?198.18.2.1");
}

TEST_F(DnsblCollectorTest, TxtIsSanitisedAndMeaningsNamed) {
  config_.abuse.dnsbl.zones = {
      config::DnsblZone{"zen.test", {"127.0.0.2-127.0.0.3", "127.0.0.4"}, {}, 1.0}};
  targets_ = {target("198.18.2.1", "")};
  lookup_.a_answers["1.2.18.198.zen.test"] = answer({"127.0.0.4", "127.0.0.2"});
  lookup_.txt_answers["1.2.18.198.zen.test"] = {"bad\r\nreason\x07\xff"};
  make().start();
  run_queries(2);

  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_EQ(sink_.signals[0].tenant_id, "");
  EXPECT_EQ(sink_.signals[0].evidence,
            "198.18.2.1 is listed in zen.test (127.0.0.2, 127.0.0.4): bad reason??");
}

TEST_F(DnsblCollectorTest, RefusalCodeIsLoggedAndNeverASignal) {
  targets_ = {target("198.18.2.1", "acme")};
  lookup_.a_answers["1.2.18.198.bl.test"] = answer({"127.255.255.254"});
  testing::internal::CaptureStderr();
  make().start();
  run_queries(1);
  const std::string log = testing::internal::GetCapturedStderr();

  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_EQ(lookup_.texts(), std::vector<std::string>{"A 1.2.18.198.bl.test"});  // no TXT
  EXPECT_NE(log.find("level=warning event=dnsbl_lookup_error zone=bl.test address=198.18.2.1"),
            std::string::npos)
      << log;
}

TEST_F(DnsblCollectorTest, ServfailIsLoggedAndNeverASignal) {
  targets_ = {target("198.18.2.1", "acme")};
  lookup_.a_answers["1.2.18.198.bl.test"] =
      DnsError{DnsErrorKind::temporary, "1.2.18.198.bl.test A: SERVFAIL"};
  testing::internal::CaptureStderr();
  make().start();
  run_queries(1);
  const std::string log = testing::internal::GetCapturedStderr();

  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_EQ(lookup_.asked.size(), 1U);
  EXPECT_NE(log.find("dnsbl_lookup_error zone=bl.test"), std::string::npos) << log;
  EXPECT_NE(log.find("SERVFAIL"), std::string::npos) << log;
}

TEST_F(DnsblCollectorTest, NxdomainGivesNothing) {
  targets_ = {target("198.18.2.1", "acme"), target("198.18.2.2", "acme")};
  make().start();
  run_queries(2);
  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_EQ(lookup_.texts(),
            (std::vector<std::string>{"A 1.2.18.198.bl.test", "A 2.2.18.198.bl.test"}));
}

TEST_F(DnsblCollectorTest, Ipv6TargetIsAskedByNibbles) {
  const std::string name =
      "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test";
  targets_ = {target("2001:db8::1", "acme")};
  lookup_.a_answers[name] = answer({"127.0.0.3"});
  make().start();
  run_queries(2);

  EXPECT_EQ(lookup_.texts(), (std::vector<std::string>{"A " + name, "TXT " + name}));
  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_EQ(sink_.signals[0].host, "2001:db8::1");
  EXPECT_EQ(sink_.signals[0].evidence, "2001:db8::1 is listed in bl.test (127.0.0.3)");
}

TEST_F(DnsblCollectorTest, EveryTargetAgainstEveryZoneSharedAddressAskedOnce) {
  config_.abuse.dnsbl.zones = {config::DnsblZone{"a.test", {}, {}, 1.0},
                               config::DnsblZone{"b.test", {}, {}, 3.0}};
  // A plan's dedicated address belongs to each of its tenants.
  targets_ = {target("198.18.2.1", "acme"), target("198.18.2.1", "beta")};
  lookup_.a_answers["1.2.18.198.b.test"] = answer({"127.0.0.2"});
  make().start();
  run_queries(3);

  EXPECT_EQ(lookup_.texts(), (std::vector<std::string>{"A 1.2.18.198.a.test", "A 1.2.18.198.b.test",
                                                       "TXT 1.2.18.198.b.test"}));
  ASSERT_EQ(sink_.signals.size(), 2U);
  EXPECT_EQ(sink_.signals[0].tenant_id, "acme");
  EXPECT_EQ(sink_.signals[1].tenant_id, "beta");
  EXPECT_EQ(sink_.signals[1].strength, 3.0);
}

TEST_F(DnsblCollectorTest, PacingCountsAAndTxtTogether) {
  config_.abuse.dnsbl.zones = {config::DnsblZone{"a.test", {}, {}, 1.0},
                               config::DnsblZone{"b.test", {}, {}, 1.0}};
  config_.abuse.dnsbl.queries_per_second = 2;
  targets_ = {target("198.18.2.1", "acme"), target("198.18.2.2", "acme")};
  lookup_.a_answers["1.2.18.198.a.test"] = answer({"127.0.0.2"});
  lookup_.a_answers["2.2.18.198.a.test"] = answer({"127.0.0.2"});
  make().start();
  run_queries(6);

  EXPECT_EQ(lookup_.texts(),
            (std::vector<std::string>{"A 1.2.18.198.a.test", "TXT 1.2.18.198.a.test",
                                      "A 1.2.18.198.b.test", "A 2.2.18.198.a.test",
                                      "TXT 2.2.18.198.a.test", "A 2.2.18.198.b.test"}));
  EXPECT_EQ(sink_.signals.size(), 2U);
  // The pacing timer never fires early, so each gap is at least 1/qps; no upper bound is
  // asserted (a loaded machine may be slower).
  for (std::size_t i = 1; i < lookup_.asked.size(); ++i) {
    EXPECT_GE(lookup_.asked[i].at - lookup_.asked[i - 1].at, 490ms) << "query " << i;
  }
}

TEST_F(DnsblCollectorTest, NextRoundAfterInterval) {
  config_.abuse.dnsbl.interval = 1s;
  targets_ = {target("198.18.2.1", "acme")};
  make().start();
  run_queries(2);
  ASSERT_EQ(lookup_.asked.size(), 2U);
  EXPECT_EQ(lookup_.asked[1].text, "A 1.2.18.198.bl.test");
  EXPECT_GE(lookup_.asked[1].at - lookup_.asked[0].at, 990ms);
}

TEST_F(DnsblCollectorTest, StopDuringRoundEndsItWithoutTouchingTheCollector) {
  targets_ = {target("198.18.2.1", "acme"), target("198.18.2.2", "acme")};
  lookup_.a_answers["1.2.18.198.bl.test"] = answer({"127.0.0.2"});
  lookup_.delay = 20ms;
  // The first query is in flight when the collector is stopped and destroyed.
  lookup_.on_ask = [this](const std::string&) {
    collector_->stop();
    collector_->stop();
    collector_.reset();
  };
  make().start();
  io_.run();  // returns: the round ended, no timer is left

  EXPECT_EQ(lookup_.texts(), std::vector<std::string>{"A 1.2.18.198.bl.test"});
  EXPECT_TRUE(sink_.signals.empty());
}

TEST_F(DnsblCollectorTest, StopBeforeStartAndNoZonesDoNothing) {
  bool asked_targets = false;
  config_.abuse.dnsbl.zones.clear();
  DnsblCollector idle(
      io_.get_executor(), lookup_, config_,
      [&] {
        asked_targets = true;
        return targets_;
      },
      sink_, clock_);
  idle.start();
  io_.run();
  EXPECT_FALSE(asked_targets);

  config_.abuse.dnsbl.zones = {config::DnsblZone{"bl.test", {}, {}, 1.0}};
  DnsblCollector stopped(
      io_.get_executor(), lookup_, config_, [&] { return targets_; }, sink_, clock_);
  stopped.stop();
  stopped.start();
  io_.restart();
  io_.run();
  EXPECT_TRUE(lookup_.asked.empty());
}

TEST(DnsblCollectorZonesTest, ValidZonesAreNormalisedWithDefaults) {
  config::DnsblConfig c;
  c.zones = {config::DnsblZone{"Zen.Test.", {"127.0.0.2-127.0.0.11"}, {"127.255.255.0/24"}, 5},
             config::DnsblZone{"bl.test", {}, {}, 1}};
  auto zones = DnsblCollector::zones_from(c);
  ASSERT_TRUE(zones) << zones.error().message;
  ASSERT_EQ(zones->size(), 2U);
  EXPECT_EQ((*zones)[0].zone, "zen.test");
  EXPECT_EQ((*zones)[0].weight, 5);
  ASSERT_EQ((*zones)[0].listing_codes.size(), 1U);
  EXPECT_EQ((*zones)[0].listing_codes[0].last, 0x7f00000bU);
  EXPECT_EQ((*zones)[1].listing_codes, dnsbl::default_listing_codes());
  EXPECT_EQ((*zones)[1].error_codes, dnsbl::default_error_codes());
}

TEST(DnsblCollectorZonesTest, BadZoneErrorNamesIt) {
  struct Case {
    config::DnsblZone zone;
    std::string named;
  };
  const std::vector<Case> cases = {
      {{"bad..zone", {}, {}, 1}, "bad..zone"},
      {{"single", {}, {}, 1}, "single"},
      {{"codes.test", {"127.0.0.x"}, {}, 1}, "codes.test"},
      {{"errors.test", {}, {"nonsense"}, 1}, "errors.test"},
      {{"outside.test", {"10.0.0.2"}, {}, 1}, "outside.test"},
      {{"overlap.test", {"127.255.255.254"}, {}, 1}, "overlap.test"},
      {{"weight.test", {}, {}, -1}, "weight.test"},
  };
  for (const auto& c : cases) {
    config::DnsblConfig config;
    config.zones = {config::DnsblZone{"good.test", {}, {}, 1}, c.zone};
    auto zones = DnsblCollector::zones_from(config);
    ASSERT_FALSE(zones) << c.named;
    EXPECT_NE(zones.error().message.find(c.named), std::string::npos) << zones.error().message;
  }
  config::DnsblConfig twice;
  twice.zones = {config::DnsblZone{"bl.test", {}, {}, 1}, config::DnsblZone{"BL.test", {}, {}, 1}};
  EXPECT_FALSE(DnsblCollector::zones_from(twice));
}

TEST(DnsblCollectorZonesTest, ConstructorThrowsOnBadZone) {
  config::Config config;
  config.abuse.dnsbl.zones = {config::DnsblZone{"bad..zone", {}, {}, 1}};
  asio::io_context io;
  FakeLookup lookup;
  RecordingSink sink;
  FakeClock clock;
  EXPECT_THROW(DnsblCollector(
                   io.get_executor(), lookup, config, [] { return std::vector<DnsblTarget>{}; },
                   sink, clock),
               std::runtime_error);
}

}  // namespace
}  // namespace portcullis::abuse
