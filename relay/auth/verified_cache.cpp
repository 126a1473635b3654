#include "relay/auth/verified_cache.hpp"

#include <sodium.h>

#include <iterator>
#include <stdexcept>
#include <utility>

namespace portcullis::relay::auth {
namespace {

void update_field(crypto_auth_hmacsha256_state& state, std::string_view field) {
  // 8-byte little-endian length, then the bytes: no two field lists share an encoding.
  std::array<unsigned char, 8> length{};
  std::uint64_t n = field.size();
  for (auto& byte : length) {
    byte = static_cast<unsigned char>(n & 0xff);
    n >>= 8;
  }
  crypto_auth_hmacsha256_update(&state, length.data(), length.size());
  crypto_auth_hmacsha256_update(&state, reinterpret_cast<const unsigned char*>(field.data()),
                                field.size());
}

}  // namespace

VerifiedCache::VerifiedCache(const Clock& clock, Settings settings)
    : clock_(clock), settings_(settings) {
  if (sodium_init() < 0) {
    throw std::runtime_error("libsodium could not be initialised");
  }
  randombytes_buf(key_.data(), key_.size());
  index_.reserve(settings_.capacity);
}

VerifiedCache::~VerifiedCache() {
  sodium_memzero(key_.data(), key_.size());
}

VerifiedCache::Mac VerifiedCache::mac(std::string_view username,
                                      std::string_view password,
                                      std::string_view stored_hash) const {
  crypto_auth_hmacsha256_state state;
  crypto_auth_hmacsha256_init(&state, key_.data(), key_.size());
  update_field(state, username);
  update_field(state, password);
  update_field(state, stored_hash);
  Mac out{};
  crypto_auth_hmacsha256_final(&state, out.data());
  sodium_memzero(&state, sizeof state);  // it absorbed the password
  return out;
}

void VerifiedCache::erase(Lru::iterator it) {
  index_.erase(it->username);
  lru_.erase(it);
}

std::optional<VerifiedCache::Identity> VerifiedCache::find(std::string_view username,
                                                           std::string_view password,
                                                           std::string_view stored_hash) {
  if (!enabled()) {
    return std::nullopt;
  }
  const Mac wanted = mac(username, password, stored_hash);
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  const auto it = index_.find(username);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  const auto entry = it->second;
  if (now >= entry->expires_at) {
    erase(entry);
    ++stats_.expirations;
    ++stats_.misses;
    return std::nullopt;
  }
  // A mismatch (wrong password or a new stored hash) leaves the entry alone:
  // see the header for why a failure must not evict.
  if (sodium_memcmp(entry->mac.data(), wanted.data(), wanted.size()) != 0) {
    ++stats_.misses;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  ++stats_.hits;
  return entry->identity;
}

void VerifiedCache::insert(std::string_view username,
                           std::string_view password,
                           std::string_view stored_hash,
                           Identity identity) {
  if (!enabled()) {
    return;
  }
  const Mac value = mac(username, password, stored_hash);
  const auto expires_at = clock_.now() + settings_.ttl;
  std::lock_guard lock(mutex_);
  if (const auto it = index_.find(username); it != index_.end()) {
    erase(it->second);
  } else if (lru_.size() >= settings_.capacity) {
    erase(std::prev(lru_.end()));
    ++stats_.evictions;
  }
  lru_.push_front(Entry{.username = std::string(username),
                        .mac = value,
                        .identity = std::move(identity),
                        .expires_at = expires_at});
  index_.emplace(lru_.front().username, lru_.begin());
  ++stats_.insertions;
}

void VerifiedCache::invalidate(std::string_view username) {
  std::lock_guard lock(mutex_);
  if (const auto it = index_.find(username); it != index_.end()) {
    erase(it->second);
    ++stats_.invalidations;
  }
}

void VerifiedCache::clear() {
  std::lock_guard lock(mutex_);
  stats_.invalidations += lru_.size();
  index_.clear();
  lru_.clear();
}

VerifiedCache::Stats VerifiedCache::stats() const {
  std::lock_guard lock(mutex_);
  Stats out = stats_;
  out.size = lru_.size();
  return out;
}

}  // namespace portcullis::relay::auth
