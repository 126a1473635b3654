#include "firewall/monitor/aggregator.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "firewall/monitor/distinct_estimator.hpp"
#include "gateway/core/clock.hpp"

namespace portcullis::firewall::monitor {
namespace {

using namespace std::chrono_literals;

IpAddress v4(std::uint32_t n) {
  const std::uint8_t b[4] = {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                             static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  return IpAddress::from_v4(b);
}

const IpAddress kHost = v4(0xc612010a);      // 198.18.1.10
constexpr std::uint32_t kInet = 0xc6120200;  // 198.18.2.0

TEST(Aggregator, CountsAttemptsAndDistinctDestinations) {
  FakeClock clock;
  Aggregator a({.max_hosts = 100, .window = 600s});
  for (std::uint32_t i = 0; i < 20; ++i) {
    a.record(kHost, v4(kInet + 100 + i), clock.now());
    a.record(kHost, v4(kInet + 100 + i), clock.now());  // a retransmitted SYN
  }
  auto top = a.top(10, clock.now());
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].host, kHost);
  EXPECT_EQ(top[0].attempts, 40u);
  EXPECT_EQ(top[0].distinct_destinations, 20u);
  EXPECT_DOUBLE_EQ(top[0].syn_per_minute, 40.0);
}

TEST(Aggregator, SlidingWindowForgetsOldAttempts) {
  FakeClock clock;
  Aggregator a({.max_hosts = 100, .window = 600s});
  a.record(kHost, v4(kInet + 1), clock.now());  // t = 0
  clock.advance(300s);
  for (int i = 0; i < 4; ++i) {
    a.record(kHost, v4(kInet + 2 + static_cast<std::uint32_t>(i)), clock.now());  // t = 300
  }
  EXPECT_EQ(a.top(1, clock.now())[0].attempts, 5u);
  EXPECT_EQ(a.top(1, clock.now())[0].distinct_destinations, 5u);
  clock.advance(299s);  // t = 599: both still inside the window
  EXPECT_EQ(a.top(1, clock.now())[0].attempts, 5u);
  clock.advance(61s);  // t = 660: the attempt at 0 is out
  EXPECT_EQ(a.top(1, clock.now())[0].attempts, 4u);
  EXPECT_LE(a.top(1, clock.now())[0].distinct_destinations, 4u);
  EXPECT_GE(a.top(1, clock.now())[0].distinct_destinations, 4u);
  clock.advance(300s);  // t = 960: everything is older than the window
  EXPECT_TRUE(a.top(1, clock.now()).empty());
  a.expire(clock.now());
  EXPECT_EQ(a.size(), 0u);
  // The host starts from zero when it comes back.
  a.record(kHost, v4(kInet + 9), clock.now());
  EXPECT_EQ(a.top(1, clock.now())[0].attempts, 1u);
  EXPECT_EQ(a.top(1, clock.now())[0].distinct_destinations, 1u);
}

TEST(Aggregator, DistinctDestinationsCoverAtLeastHalfTheWindow) {
  FakeClock clock;
  Aggregator a({.max_hosts = 10, .window = 600s});
  for (std::uint32_t i = 0; i < 10; ++i) {
    a.record(kHost, v4(kInet + i), clock.now());
    clock.advance(30s);  // 10 destinations over 5 minutes
  }
  auto s = a.top(1, clock.now())[0];
  EXPECT_EQ(s.attempts, 10u);
  EXPECT_EQ(s.distinct_destinations, 10u);
}

TEST(Aggregator, SynRatePerMinute) {
  FakeClock clock;
  Aggregator a({.max_hosts = 10, .window = 600s});
  for (int i = 0; i < 120; ++i) {  // 2 per second for a minute
    a.record(kHost, v4(kInet + 1), clock.now());
    clock.advance(500ms);
  }
  // t = 60s: the previous minute held 120, the current one nothing yet.
  EXPECT_NEAR(a.top(1, clock.now())[0].syn_per_minute, 120.0, 0.01);
  clock.advance(30s);  // half of the previous minute still counts
  EXPECT_NEAR(a.top(1, clock.now())[0].syn_per_minute, 60.0, 0.01);
  clock.advance(60s);
  EXPECT_NEAR(a.top(1, clock.now())[0].syn_per_minute, 0.0, 0.01);
  EXPECT_EQ(a.top(1, clock.now())[0].attempts, 120u);  // still in the 10-minute window
}

TEST(Aggregator, TopOrdersByAttempts) {
  FakeClock clock;
  Aggregator a({.max_hosts = 100, .window = 600s});
  for (std::uint32_t h = 1; h <= 10; ++h) {
    for (std::uint32_t i = 0; i < h; ++i) {
      a.record(v4(0xc6120100 + h), v4(kInet + i), clock.now());
    }
  }
  auto top = a.top(3, clock.now());
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].attempts, 10u);
  EXPECT_EQ(top[1].attempts, 9u);
  EXPECT_EQ(top[2].attempts, 8u);
  EXPECT_EQ(top[0].host, v4(0xc6120100 + 10));
  EXPECT_EQ(a.top(1000, clock.now()).size(), 10u);
}

TEST(Aggregator, SeenSinceListsRecentHosts) {
  FakeClock clock;
  Aggregator a({.max_hosts = 100, .window = 600s});
  a.record(v4(1), v4(kInet), clock.now());
  clock.advance(10s);
  const auto mark = clock.now();
  clock.advance(1s);
  a.record(v4(2), v4(kInet), clock.now());
  a.record(v4(3), v4(kInet), clock.now());
  auto seen = a.seen_since(mark, clock.now());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].host, v4(3));
}

TEST(Aggregator, MillionSpoofedHostsStayWithinMaxHosts) {
  FakeClock clock;
  constexpr std::size_t kMax = 4096;
  Aggregator a({.max_hosts = kMax, .window = 600s});
  // A known host first; the flood must evict it (least recently seen).
  a.record(kHost, v4(kInet), clock.now());
  for (std::uint32_t i = 0; i < 1'000'000; ++i) {
    a.record(v4(0x0a000000 + i), v4(kInet + (i & 0xff)), clock.now());
    if (i % 100'000 == 0) {
      clock.advance(1s);
    }
    ASSERT_LE(a.size(), kMax);
  }
  EXPECT_EQ(a.size(), kMax);
  EXPECT_EQ(a.evicted(), 1'000'001u - kMax);
  auto top = a.top(kMax + 10, clock.now());
  EXPECT_EQ(top.size(), kMax);
  for (const auto& h : top) {
    EXPECT_NE(h.host, kHost);
    EXPECT_EQ(h.attempts, 1u);
  }
  // The most recent hosts survived.
  EXPECT_EQ(a.seen_since(clock.now() - 1h, clock.now()).front().host, v4(0x0a000000 + 999'999));
  // Memory per host is fixed: the pool never exceeds kMax entries of entry_size().
  EXPECT_LE(Aggregator::entry_size(), 1024u);
}

TEST(DistinctEstimator, ExactUpTo64) {
  DistinctEstimator d;
  for (std::uint32_t i = 0; i < 64; ++i) {
    d.add(hash_address(v4(kInet + i)));
    d.add(hash_address(v4(kInet + i)));
    EXPECT_EQ(d.estimate(), i + 1);
    EXPECT_TRUE(d.exact());
  }
  d.add(hash_address(v4(kInet + 64)));
  EXPECT_FALSE(d.exact());
  EXPECT_GE(d.estimate(), 65u);
  d.clear();
  EXPECT_EQ(d.estimate(), 0u);
}

TEST(DistinctEstimator, AccuracyAcrossRanges) {
  // HyperLogLog with 256 registers: ~6.5% standard error; allow 4 sigma.
  for (std::uint32_t n : {65u, 100u, 500u, 1000u, 5000u, 20000u, 100000u, 1000000u}) {
    DistinctEstimator d;
    for (std::uint32_t i = 0; i < n; ++i) {
      d.add(hash_address(v4(0x0a000000 + i * 7919)));
    }
    const double error = std::abs(static_cast<double>(d.estimate()) - n) / n;
    EXPECT_LT(error, 0.26) << n << " estimated as " << d.estimate();
  }
  // Mean error over many independent sets stays near the theory.
  double total = 0;
  constexpr int kSets = 200;
  for (int s = 0; s < kSets; ++s) {
    DistinctEstimator d;
    for (std::uint32_t i = 0; i < 2000; ++i) {
      d.add(hash_address(v4(static_cast<std::uint32_t>(s) * 1'000'003u + i)));
    }
    total += std::abs(static_cast<double>(d.estimate()) - 2000) / 2000;
  }
  EXPECT_LT(total / kSets, 0.08);
}

TEST(DistinctEstimator, MergeIsUnion) {
  DistinctEstimator a;
  DistinctEstimator b;
  for (std::uint32_t i = 0; i < 40; ++i) {
    a.add(hash_address(v4(i)));
    b.add(hash_address(v4(i + 20)));  // 20 shared
  }
  auto u = a;
  u.merge(b);
  EXPECT_EQ(u.estimate(), 60u);
  for (std::uint32_t i = 0; i < 3000; ++i) {
    b.add(hash_address(v4(i + 1000)));
  }
  u.merge(b);  // dense now
  EXPECT_NEAR(u.estimate(), 3060.0, 3060 * 0.26);
}

}  // namespace
}  // namespace portcullis::firewall::monitor
