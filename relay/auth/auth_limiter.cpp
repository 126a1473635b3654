#include "relay/auth/auth_limiter.hpp"

#include <algorithm>

namespace portcullis::relay::auth {

AuthLimiter::AuthLimiter(const config::AuthLimits& limits, const Clock& clock, std::size_t max_keys)
    : limits_(limits), clock_(clock), max_keys_(std::max<std::size_t>(max_keys, 1)) {
  // Zero failures allowed would lock every key on its first failure; treat as one.
  limits_.max_failures = std::max<std::size_t>(limits_.max_failures, 1);
}

std::string AuthLimiter::make_key(char kind, std::string_view value) {
  std::string key(1, kind);
  key.append(value.substr(0, kMaxKeyLength));
  return key;
}

bool AuthLimiter::key_locked(const std::string& key, TimePoint now) const {
  const auto it = index_.find(key);
  return it != index_.end() && it->second->locked && now < it->second->locked_until;
}

bool AuthLimiter::locked(std::string_view client_address, std::string_view username) const {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mutex_);
  return key_locked(make_key('c', client_address), now) || key_locked(make_key('u', username), now);
}

void AuthLimiter::record_failure(std::string_view client_address, std::string_view username) {
  const TimePoint now = clock_.now();
  std::lock_guard lock(mutex_);
  fail_key(make_key('c', client_address), now);
  fail_key(make_key('u', username), now);
}

void AuthLimiter::fail_key(std::string key, TimePoint now) {
  auto it = index_.find(key);
  if (it == index_.end()) {
    if (lru_.size() >= max_keys_) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front(Entry{.key = std::move(key)});
    index_.emplace(lru_.front().key, lru_.begin());
  } else {
    lru_.splice(lru_.begin(), lru_, it->second);
  }
  Entry& entry = lru_.front();

  if (entry.locked) {
    if (now < entry.locked_until) {
      return;  // already locked out; do not extend
    }
    entry.locked = false;
  }
  const auto window = std::chrono::duration_cast<Clock::duration>(limits_.failure_window);
  std::erase_if(entry.failures, [&](TimePoint t) { return now >= t + window; });
  entry.failures.push_back(now);
  if (entry.failures.size() >= limits_.max_failures) {
    entry.failures.clear();
    entry.locked = true;
    entry.locked_until = now + std::chrono::duration_cast<Clock::duration>(limits_.lockout);
  }
}

void AuthLimiter::record_success(std::string_view /*client_address*/, std::string_view username) {
  std::lock_guard lock(mutex_);
  const auto it = index_.find(make_key('u', username));
  if (it == index_.end()) {
    return;
  }
  it->second->failures.clear();
  if (!it->second->locked || clock_.now() >= it->second->locked_until) {
    const auto node = it->second;
    index_.erase(it);  // first: its key is a view into the node
    lru_.erase(node);
  }
}

std::size_t AuthLimiter::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace portcullis::relay::auth
