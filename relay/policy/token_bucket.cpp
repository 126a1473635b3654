#include "relay/policy/token_bucket.hpp"

#include <algorithm>
#include <chrono>
#include <limits>

namespace portcullis::relay::policy {
namespace {

std::uint64_t period_count(Clock::duration period) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(period).count();
  return ns <= 0 ? 1 : static_cast<std::uint64_t>(ns);
}

}  // namespace

TokenBucket::TokenBucket(std::uint64_t capacity, Clock::duration period, Clock::time_point now)
    : capacity_(capacity), period_ns_(period_count(period)), level_(full()), last_(now) {}

TokenBucket::Units TokenBucket::level_at(Clock::time_point now) const {
  if (now <= last_) {
    return level_;  // the clock went backwards (or stood still): nothing refills
  }
  const auto elapsed = static_cast<std::uint64_t>(std::chrono::nanoseconds(now - last_).count());
  // Past one period the bucket is full whatever the level was: this also keeps
  // elapsed * capacity inside 128 bits for any jump.
  if (elapsed >= period_ns_) {
    return full();
  }
  return std::min(full(), level_ + static_cast<Units>(elapsed) * capacity_);
}

void TokenBucket::refill(Clock::time_point now) {
  level_ = level_at(now);
  last_ = std::max(last_, now);
}

bool TokenBucket::try_take(Clock::time_point now, std::uint64_t n) {
  refill(now);
  const Units need = static_cast<Units>(n) * period_ns_;
  if (n > capacity_ || level_ < need) {
    return false;
  }
  level_ -= need;
  return true;
}

Clock::duration TokenBucket::retry_after(Clock::time_point now, std::uint64_t n) const {
  if (n > capacity_) {
    return Clock::duration::max();
  }
  const Units level = level_at(now);
  const Units need = static_cast<Units>(n) * period_ns_;
  if (level >= need) {
    return Clock::duration::zero();
  }
  // capacity_ > 0 here: n <= capacity_ and need > level >= 0 imply n >= 1.
  const Units missing = need - level;
  const Units ns = (missing + capacity_ - 1) / capacity_;
  // A wait from a clock that went backwards also counts the gap back to last_.
  const Units behind =
      now < last_ ? static_cast<Units>(std::chrono::nanoseconds(last_ - now).count()) : 0;
  return std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(static_cast<std::int64_t>(ns + behind)));
}

std::uint64_t TokenBucket::available(Clock::time_point now) const {
  return static_cast<std::uint64_t>(level_at(now) / period_ns_);
}

void TokenBucket::resize(std::uint64_t capacity, Clock::duration period, Clock::time_point now) {
  refill(now);
  const std::uint64_t old_period = period_ns_;
  const std::uint64_t whole = static_cast<std::uint64_t>(level_ / old_period);
  const Units fraction = level_ % old_period;
  capacity_ = capacity;
  period_ns_ = period_count(period);
  if (whole >= capacity_) {
    level_ = full();
    return;
  }
  // The fraction of a token carries over, rescaled to the new unit.
  level_ = static_cast<Units>(whole) * period_ns_ + fraction * period_ns_ / old_period;
}

}  // namespace portcullis::relay::policy
