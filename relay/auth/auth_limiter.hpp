#pragma once
// Brute-force protection for SMTP AUTH: counts failed logins per client
// address and per username and locks a key out for a while once it has too
// many. Both keys come from untrusted peers (the username is whatever the
// client sent), so memory is fixed: at most max_keys keys, each at most
// kMaxKeyLength bytes, the least recently failed key evicted first.
//
// Semantics (sliding window, exact with an injected Clock):
// - A failure at time t counts while now < t + failure_window.
// - The max_failures-th counting failure locks the key: locked() is true for
//   now in [t, t + lockout). The lockout consumes the failures, so the key
//   starts from zero when it expires.
// - Failures recorded while a key is locked do not extend the lockout: the
//   caller refuses AUTH for a locked key without verifying anything.
// - record_success clears the username's failures, never the client's: one
//   valid credential must not reset an address's count against others.

#include <chrono>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"

namespace portcullis::relay::auth {

class AuthLimiter {
 public:
  static constexpr std::size_t kDefaultMaxKeys = 65536;
  // Longer usernames are truncated to this for counting; no real username is that long.
  static constexpr std::size_t kMaxKeyLength = 256;

  AuthLimiter(const config::AuthLimits& limits,
              const Clock& clock,
              std::size_t max_keys = kDefaultMaxKeys);

  // True if the client address or the username is locked out.
  bool locked(std::string_view client_address, std::string_view username) const;
  void record_failure(std::string_view client_address, std::string_view username);
  void record_success(std::string_view client_address, std::string_view username);

  // Keys currently tracked (for tests and metrics); never more than max_keys.
  std::size_t tracked_keys() const;

 private:
  using TimePoint = Clock::time_point;
  struct Entry {
    std::string key;
    std::vector<TimePoint> failures;  // oldest first, at most max_failures
    TimePoint locked_until{};
    bool locked = false;
  };
  using Lru = std::list<Entry>;  // most recently failed first

  static std::string make_key(char kind, std::string_view value);
  bool key_locked(const std::string& key, TimePoint now) const;
  void fail_key(std::string key, TimePoint now);

  config::AuthLimits limits_;
  const Clock& clock_;
  std::size_t max_keys_;
  mutable std::mutex mutex_;
  Lru lru_;
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into lru_ keys
};

}  // namespace portcullis::relay::auth
