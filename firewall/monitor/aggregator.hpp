#pragma once
// Per-host counts of port-25 SYNs over a sliding window, in fixed memory: each
// host costs one fixed-size entry, at most max_hosts entries exist (the least
// recently seen host is evicted to make room), and nothing is allocated per
// packet once the table is full. Not thread-safe: EgressMonitor serialises it.
// Input: SynRecords decoded from untrusted packets; source addresses may be
// spoofed, hence the bound and the keyed hash of the host table.
//
// Windows: attempts sum ten slots of window/10; distinct destinations union two
// generations of window/2 (so they cover between half and all of the window);
// the SYN rate interpolates the previous and the current minute.

#include <array>
#include <chrono>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "firewall/monitor/distinct_estimator.hpp"
#include "firewall/monitor/packet_parser.hpp"
#include "gateway/core/clock.hpp"

namespace portcullis::firewall::monitor {

struct AggregatorSettings {
  std::size_t max_hosts = 65536;
  std::chrono::seconds window{600};
};

struct HostSummary {
  IpAddress host;
  std::uint64_t attempts = 0;  // within the window
  std::uint32_t distinct_destinations = 0;
  double syn_per_minute = 0;
  Clock::time_point last_seen{};
};

class Aggregator {
 public:
  using time_point = Clock::time_point;

  explicit Aggregator(AggregatorSettings settings);

  void record(const IpAddress& source, const IpAddress& destination, time_point now);

  // Hosts with attempts in the window, most attempts first (ties: more distinct
  // destinations, then most recently seen).
  std::vector<HostSummary> top(std::size_t n, time_point now) const;
  // Hosts seen after `since` (for periodic publication), most recent first.
  std::vector<HostSummary> seen_since(time_point since, time_point now) const;
  struct ActiveHost {
    const IpAddress& host;
    std::uint64_t attempts;
    double syn_per_minute;
    DistinctEstimator destinations;
  };
  // Calls f(const ActiveHost&) for every host with attempts in the window (for
  // per-tenant sums), most recently seen first.
  template <class F>
  void for_each_active(time_point now, F&& f) const;

  // Forgets hosts not seen for a whole window: their counts are all zero.
  void expire(time_point now);

  std::size_t size() const { return index_.size(); }
  std::size_t max_hosts() const { return settings_.max_hosts; }
  std::uint64_t evicted() const { return evicted_; }
  std::chrono::seconds window() const { return settings_.window; }
  // Bytes one tracked host costs in the entry pool (for the memory bound).
  static constexpr std::size_t entry_size();

 private:
  static constexpr std::size_t kSlots = 10;
  static constexpr std::uint32_t kNone = 0xffffffff;

  struct Entry {
    IpAddress host;
    bool fresh = true;            // no packet recorded yet
    std::uint32_t newer = kNone;  // LRU list: towards the most recently seen
    std::uint32_t older = kNone;
    std::int64_t last_seen = 0;   // ns on the clock's time line
    std::int64_t slot_epoch = 0;  // index of the newest attempt slot
    std::array<std::uint32_t, kSlots> slots{};
    std::int64_t minute_epoch = 0;
    std::uint32_t minute_previous = 0;
    std::uint32_t minute_current = 0;
    std::int64_t generation_epoch = 0;
    DistinctEstimator generation_previous;
    DistinctEstimator generation_current;
  };

  struct KeyHash {
    std::uint64_t seed;
    std::size_t operator()(const std::array<std::uint8_t, 16>& key) const noexcept;
  };

  std::uint32_t acquire(const IpAddress& host);
  void unlink(std::uint32_t i);
  void link_newest(std::uint32_t i);
  static std::int64_t ns(time_point t);
  HostSummary summarise(const Entry& e, std::int64_t now) const;
  double rate(const Entry& e, std::int64_t now) const;
  std::uint64_t attempts(const Entry& e, std::int64_t now) const;
  DistinctEstimator destinations(const Entry& e, std::int64_t now) const;

  AggregatorSettings settings_;
  std::int64_t slot_ns_;
  std::int64_t generation_ns_;
  std::vector<Entry> entries_;  // grows to max_hosts, then entries are reused
  std::vector<std::uint32_t> free_;
  std::unordered_map<std::array<std::uint8_t, 16>, std::uint32_t, KeyHash> index_;
  std::uint32_t newest_ = kNone;
  std::uint32_t oldest_ = kNone;
  std::uint64_t evicted_ = 0;
};

constexpr std::size_t Aggregator::entry_size() {
  return sizeof(Entry);
}

template <class F>
void Aggregator::for_each_active(time_point now, F&& f) const {
  const auto t = ns(now);
  for (auto i = newest_; i != kNone; i = entries_[i].older) {
    const auto& e = entries_[i];
    if (const auto n = attempts(e, t); n > 0) {
      f(ActiveHost{e.host, n, rate(e, t), destinations(e, t)});
    }
  }
}

}  // namespace portcullis::firewall::monitor
