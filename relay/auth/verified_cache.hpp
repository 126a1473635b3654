#pragma once
// Memory of recent successful SMTP AUTH verifications, so that a client that
// opens one connection per message (PHP and CMS mailers) pays argon2id
// (~50 ms of CPU, 64 MiB) once per TTL instead of once per connection; the
// same idea as Dovecot's auth cache. Untrusted input: the username and
// password a peer sent. No privilege needed.
//
// What an entry is: for a username, HMAC-SHA256(K, username, password,
// stored_hash) plus the tenant it authenticated as and an expiry. K is 32
// random bytes drawn when the cache is built and held only in this process's
// memory (never written, wiped on destruction). The inputs are length-prefixed
// rather than NUL-separated: AUTH LOGIN can carry a NUL inside a base64 field,
// and with separators ("a\0b", "c") and ("a", "b\0c") would collide.
//
// Why this does not make a stolen database more useful: the database keeps
// what it kept before (argon2id hashes only); nothing of the cache or of K is
// ever written. Someone who can read this process's memory gets K and MACs
// they could brute-force at SHA-256 speed instead of argon2id speed; but such
// an attacker can already read passwords as they arrive on the wire, so the
// cache adds nothing there that matters.
//
// Why a revoked or rotated credential never hits: the caller looks the
// credential up in the store on every login (revoked credentials and those of
// removed tenants are not found) and passes the stored hash, which is part of
// the MAC input: a new hash for the username makes every old entry miss. A
// suspended tenant is refused by the session after verification, hit or miss.
//
// Timing: a hit answers in microseconds, a miss in ~50 ms. Only a peer that
// sends the right password for the username can ever hit, so the difference
// tells an attacker nothing they did not already know. A wrong password for
// a cached username misses (its MAC differs) and goes to argon2id like any
// other failure, so it costs the same whether or not the username is cached:
// cache state is not observable without the password. The compare of MACs is
// constant-time (sodium_memcmp). Failures are never stored, and a failure does
// not evict the username's entry: otherwise anyone could push a legitimate
// user back onto the slow path by sending wrong passwords.
//
// Bounded: at most `capacity` entries (least recently used evicted first),
// each expires `ttl` after the verification that made it (a hit does not
// extend it). Thread-safe: one mutex around an O(1) hash map; the MAC is
// computed outside the lock.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "gateway/core/clock.hpp"

namespace portcullis::relay::auth {

class VerifiedCache {
 public:
  struct Settings {
    std::size_t capacity = 10'000;  // 0 turns the cache off
    Clock::duration ttl = std::chrono::hours(1);
  };
  struct Stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;  // lookups that found no valid entry
    std::uint64_t insertions = 0;
    std::uint64_t evictions = 0;  // pushed out by the capacity bound
    std::uint64_t expirations = 0;
    std::uint64_t invalidations = 0;  // invalidate() and clear()
    std::size_t size = 0;
  };
  struct Identity {
    std::string tenant_id;
    std::string username;
  };

  VerifiedCache(const Clock& clock, Settings settings);
  ~VerifiedCache();
  VerifiedCache(const VerifiedCache&) = delete;
  VerifiedCache& operator=(const VerifiedCache&) = delete;

  bool enabled() const { return settings_.capacity > 0; }

  // The identity remembered for exactly this username, password and stored
  // hash, if it was verified within the TTL.
  std::optional<Identity> find(std::string_view username,
                               std::string_view password,
                               std::string_view stored_hash);
  // Call only after argon2id accepted `password` against `stored_hash`.
  void insert(std::string_view username,
              std::string_view password,
              std::string_view stored_hash,
              Identity identity);
  // Forget one username (credential revoked) or everything (e.g. a tenant
  // removed or suspended, or on operator request).
  void invalidate(std::string_view username);
  void clear();

  Stats stats() const;

 private:
  using Mac = std::array<unsigned char, 32>;
  struct Entry {
    std::string username;  // the map key
    Mac mac{};
    Identity identity;
    Clock::time_point expires_at{};
  };
  using Lru = std::list<Entry>;

  Mac mac(std::string_view username, std::string_view password, std::string_view stored_hash) const;
  void erase(Lru::iterator it);  // mutex_ held

  const Clock& clock_;
  const Settings settings_;
  std::array<unsigned char, 32> key_{};

  mutable std::mutex mutex_;
  Lru lru_;                                                    // most recently used first
  std::unordered_map<std::string_view, Lru::iterator> index_;  // views into Entry::username
  Stats stats_;
};

}  // namespace portcullis::relay::auth
