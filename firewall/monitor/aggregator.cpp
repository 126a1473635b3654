#include "firewall/monitor/aggregator.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace portcullis::firewall::monitor {
namespace {

constexpr std::int64_t kMinuteNs = 60'000'000'000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::size_t Aggregator::KeyHash::operator()(
    const std::array<std::uint8_t, 16>& key) const noexcept {
  // Keyed per process: spoofed source addresses cannot be chosen to collide.
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  std::memcpy(&hi, key.data(), 8);
  std::memcpy(&lo, key.data() + 8, 8);
  return static_cast<std::size_t>(mix64(mix64(hi ^ seed) ^ lo ^ (seed << 1)));
}

Aggregator::Aggregator(AggregatorSettings settings)
    : settings_(settings),
      slot_ns_(std::max<std::int64_t>(
          1,
          std::chrono::duration_cast<std::chrono::nanoseconds>(settings.window).count() /
              static_cast<std::int64_t>(kSlots))),
      generation_ns_(std::max<std::int64_t>(
          1, std::chrono::duration_cast<std::chrono::nanoseconds>(settings.window).count() / 2)),
      index_(0,
             KeyHash{(static_cast<std::uint64_t>(std::random_device{}()) << 32) ^
                     std::random_device{}()}) {
  settings_.max_hosts = std::max<std::size_t>(1, settings_.max_hosts);
  index_.reserve(std::min<std::size_t>(settings_.max_hosts, 4096));
}

std::int64_t Aggregator::ns(time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

void Aggregator::unlink(std::uint32_t i) {
  auto& e = entries_[i];
  if (e.newer != kNone) {
    entries_[e.newer].older = e.older;
  } else {
    newest_ = e.older;
  }
  if (e.older != kNone) {
    entries_[e.older].newer = e.newer;
  } else {
    oldest_ = e.newer;
  }
  e.newer = e.older = kNone;
}

void Aggregator::link_newest(std::uint32_t i) {
  auto& e = entries_[i];
  e.newer = kNone;
  e.older = newest_;
  if (newest_ != kNone) {
    entries_[newest_].newer = i;
  }
  newest_ = i;
  if (oldest_ == kNone) {
    oldest_ = i;
  }
}

std::uint32_t Aggregator::acquire(const IpAddress& host) {
  if (auto it = index_.find(host.bytes); it != index_.end()) {
    unlink(it->second);
    link_newest(it->second);
    return it->second;
  }
  std::uint32_t i = 0;
  if (!free_.empty()) {
    i = free_.back();
    free_.pop_back();
  } else if (entries_.size() < settings_.max_hosts) {
    i = static_cast<std::uint32_t>(entries_.size());
    entries_.emplace_back();
  } else {
    i = oldest_;  // full: the least recently seen host makes room
    unlink(i);
    index_.erase(entries_[i].host.bytes);
    ++evicted_;
  }
  entries_[i] = Entry{};
  entries_[i].host = host;
  index_.emplace(host.bytes, i);
  link_newest(i);
  return i;
}

void Aggregator::record(const IpAddress& source, const IpAddress& destination, time_point now) {
  const auto t = ns(now);
  auto& e = entries_[acquire(source)];
  const bool fresh = e.fresh;
  e.fresh = false;
  e.last_seen = fresh ? t : std::max(e.last_seen, t);

  const auto slot = floor_div(t, slot_ns_);
  if (fresh || slot - e.slot_epoch >= static_cast<std::int64_t>(kSlots)) {
    e.slots.fill(0);
    e.slot_epoch = slot;
  } else {
    for (auto s = e.slot_epoch + 1; s <= slot; ++s) {
      e.slots[static_cast<std::size_t>(s % static_cast<std::int64_t>(kSlots))] = 0;
    }
    e.slot_epoch = std::max(e.slot_epoch, slot);
  }
  // A packet stamped before the newest slot (records from two capture
  // sources interleave) still counts, at worst in the oldest live slot.
  const auto into = std::max(slot, e.slot_epoch - static_cast<std::int64_t>(kSlots) + 1);
  auto& count = e.slots[static_cast<std::size_t>(into % static_cast<std::int64_t>(kSlots))];
  count = count == 0xffffffff ? count : count + 1;

  const auto minute = floor_div(t, kMinuteNs);
  if (fresh || minute > e.minute_epoch + 1) {
    e.minute_previous = 0;
    e.minute_current = 0;
    e.minute_epoch = minute;
  } else if (minute == e.minute_epoch + 1) {
    e.minute_previous = e.minute_current;
    e.minute_current = 0;
    e.minute_epoch = minute;
  }
  e.minute_current = e.minute_current == 0xffffffff ? e.minute_current : e.minute_current + 1;

  const auto generation = floor_div(t, generation_ns_);
  if (fresh || generation > e.generation_epoch + 1) {
    e.generation_previous.clear();
    e.generation_current.clear();
    e.generation_epoch = generation;
  } else if (generation == e.generation_epoch + 1) {
    e.generation_previous = e.generation_current;
    e.generation_current.clear();
    e.generation_epoch = generation;
  }
  e.generation_current.add(hash_address(destination));
}

std::uint64_t Aggregator::attempts(const Entry& e, std::int64_t now) const {
  const auto slot = floor_div(now, slot_ns_);
  const auto age = slot - e.slot_epoch;  // slots that rolled out since the newest write
  if (age >= static_cast<std::int64_t>(kSlots)) {
    return 0;
  }
  std::uint64_t sum = 0;
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(kSlots) - std::max<std::int64_t>(age, 0);
       ++k) {
    const auto s = e.slot_epoch - k;
    sum += e.slots[static_cast<std::size_t>(
        ((s % static_cast<std::int64_t>(kSlots)) + static_cast<std::int64_t>(kSlots)) %
        static_cast<std::int64_t>(kSlots))];
  }
  return sum;
}

double Aggregator::rate(const Entry& e, std::int64_t now) const {
  const auto minute = floor_div(now, kMinuteNs);
  double previous = 0;
  double current = 0;
  if (minute <= e.minute_epoch) {
    previous = e.minute_previous;
    current = e.minute_current;
  } else if (minute == e.minute_epoch + 1) {
    previous = e.minute_current;
  } else {
    return 0;
  }
  // The part of the previous minute still inside the last 60 seconds.
  const auto into_minute = static_cast<double>(now - minute * kMinuteNs) / kMinuteNs;
  return previous * (1.0 - std::clamp(into_minute, 0.0, 1.0)) + current;
}

DistinctEstimator Aggregator::destinations(const Entry& e, std::int64_t now) const {
  const auto generation = floor_div(now, generation_ns_);
  DistinctEstimator d;
  if (generation <= e.generation_epoch) {
    d = e.generation_previous;
    d.merge(e.generation_current);
  } else if (generation == e.generation_epoch + 1) {
    d = e.generation_current;
  }
  return d;
}

HostSummary Aggregator::summarise(const Entry& e, std::int64_t now) const {
  HostSummary s;
  s.host = e.host;
  s.attempts = attempts(e, now);
  // The two windows differ slightly at their edges; a host never has more
  // destinations than attempts.
  s.distinct_destinations = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(destinations(e, now).estimate(), s.attempts));
  s.syn_per_minute = rate(e, now);
  s.last_seen = time_point(
      std::chrono::duration_cast<time_point::duration>(std::chrono::nanoseconds(e.last_seen)));
  return s;
}

std::vector<HostSummary> Aggregator::top(std::size_t n, time_point now) const {
  const auto t = ns(now);
  std::vector<HostSummary> all;
  for (auto i = newest_; i != kNone; i = entries_[i].older) {
    if (attempts(entries_[i], t) > 0) {
      all.push_back(summarise(entries_[i], t));
    }
  }
  const auto k = std::min(n, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end(),
                    [](const HostSummary& a, const HostSummary& b) {
                      if (a.attempts != b.attempts) {
                        return a.attempts > b.attempts;
                      }
                      if (a.distinct_destinations != b.distinct_destinations) {
                        return a.distinct_destinations > b.distinct_destinations;
                      }
                      return a.last_seen > b.last_seen;
                    });
  all.resize(k);
  return all;
}

std::vector<HostSummary> Aggregator::seen_since(time_point since, time_point now) const {
  const auto from = ns(since);
  const auto t = ns(now);
  std::vector<HostSummary> out;
  // The LRU list is ordered by last packet: stop at the first older host.
  for (auto i = newest_; i != kNone && entries_[i].last_seen > from; i = entries_[i].older) {
    out.push_back(summarise(entries_[i], t));
  }
  return out;
}

void Aggregator::expire(time_point now) {
  const auto t = ns(now);
  while (oldest_ != kNone && attempts(entries_[oldest_], t) == 0 &&
         destinations(entries_[oldest_], t).estimate() == 0 &&
         t - entries_[oldest_].last_seen > kMinuteNs) {
    const auto i = oldest_;
    unlink(i);
    index_.erase(entries_[i].host.bytes);
    free_.push_back(i);
  }
}

}  // namespace portcullis::firewall::monitor
