#pragma once
// A token bucket with exact integer arithmetic: capacity C tokens, refilled
// at C tokens per period P, continuously. The level is kept in units of
// 1/P token per nanosecond of the period (one token = P units, one elapsed
// nanosecond adds C units), so refills never drift and a token becomes
// available at exactly the nanosecond the rate says.
//
// Time is whatever the caller passes (the engine's injected Clock): a clock
// that goes backwards neither refills nor underflows, and a jump longer than
// the period refills to capacity only. Not thread-safe; the owner locks.
//
// Untrusted input: none (n comes from our own counting). No privilege.

#include <cstdint>

#include "gateway/core/clock.hpp"

namespace portcullis::relay::policy {

class TokenBucket {
 public:
  // Starts full at `now`. A zero period is treated as one nanosecond.
  TokenBucket(std::uint64_t capacity, Clock::duration period, Clock::time_point now);

  // Takes n tokens if all of them are there; n > capacity never passes.
  bool try_take(Clock::time_point now, std::uint64_t n = 1);
  // How long until try_take(now + result, n) would pass; zero when it would
  // pass now, Clock::duration::max() when n > capacity.
  Clock::duration retry_after(Clock::time_point now, std::uint64_t n = 1) const;
  // Whole tokens available at now.
  std::uint64_t available(Clock::time_point now) const;

  // New limits (a plan or override changed): keeps min(current tokens, new
  // capacity), the fraction of a token included, and refills at the new rate.
  void resize(std::uint64_t capacity, Clock::duration period, Clock::time_point now);

  std::uint64_t capacity() const { return capacity_; }
  Clock::duration period() const { return Clock::duration(period_ns_); }

 private:
  // 128 bits: C up to 1e8 per hour is 3.6e20 units, past 64 bits.
  __extension__ using Units = unsigned __int128;

  Units level_at(Clock::time_point now) const;
  void refill(Clock::time_point now);
  Units full() const { return static_cast<Units>(capacity_) * period_ns_; }

  std::uint64_t capacity_;
  std::uint64_t period_ns_;
  Units level_;
  Clock::time_point last_;  // the latest time seen; never moves backwards
};

}  // namespace portcullis::relay::policy
