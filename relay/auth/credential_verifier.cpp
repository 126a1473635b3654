#include "relay/auth/credential_verifier.hpp"

#include <exception>

#include "gateway/core/auth/password.hpp"
#include "gateway/core/log/log.hpp"

namespace portcullis::relay::auth {
namespace {

const Clock& system_clock() {
  static const SystemClock clock;
  return clock;
}

CredentialVerifier::Settings default_settings(std::size_t threads, std::size_t max_pending) {
  CredentialVerifier::Settings settings;
  settings.threads = threads;
  settings.max_pending = max_pending;
  return settings;
}

}  // namespace

CredentialVerifier::CredentialVerifier(store::Store& store,
                                       std::size_t threads,
                                       std::size_t max_pending)
    : CredentialVerifier(store, system_clock(), default_settings(threads, max_pending)) {}

CredentialVerifier::CredentialVerifier(store::Store& store,
                                       const Clock& clock,
                                       const Settings& settings)
    // The dummy is hashed with the same parameters as real credentials, so
    // verifying against it costs the same; its password is random and thrown away.
    : store_(store),
      cache_(clock, settings.cache),
      dummy_hash_(portcullis::auth::hash_password(portcullis::auth::generate_password())),
      max_pending_(settings.max_pending),
      max_lookups_(settings.max_lookups),
      pool_(settings.threads == 0 ? 1 : settings.threads),
      lookup_pool_(settings.lookup_threads == 0 ? 1 : settings.lookup_threads) {}

CredentialVerifier::~CredentialVerifier() {
  stopping_.store(true, std::memory_order_relaxed);
  lookup_pool_.join();  // may still post to pool_
  pool_.join();
  const auto stats = cache_.stats();
  log::info("auth_cache_stats", {{"hits", stats.hits},
                                 {"misses", stats.misses},
                                 {"insertions", stats.insertions},
                                 {"evictions", stats.evictions},
                                 {"expirations", stats.expirations},
                                 {"invalidations", stats.invalidations},
                                 {"size", stats.size}});
}

CredentialVerifier::Lookup CredentialVerifier::lookup(std::string_view username,
                                                      std::string_view password) {
  Lookup found;
  if (stopping_.load(std::memory_order_relaxed)) {
    found.outcome = AuthOutcome{};
    return found;
  }
  try {
    found.secret = store_.find_credential(username);
  } catch (const std::exception& e) {
    // A store failure is ours, not the client's: 454, try again later.
    log::error("auth_verify_failed", {{"error", e.what()}});
    found.outcome = AuthOutcome{};
    return found;
  }
  if (!found.secret) {
    // Revoked, removed with its tenant, or never issued: forget it now
    // rather than when it ages out. Still goes to argon2id (dummy hash).
    cache_.invalidate(username);
  } else if (auto hit = cache_.find(username, password, found.secret->password_hash)) {
    found.outcome = AuthOutcome{.status = AuthOutcome::Status::ok,
                                .tenant_id = std::move(hit->tenant_id),
                                .username = std::move(hit->username)};
  }
  return found;
}

AuthOutcome CredentialVerifier::check_password(
    std::string_view username,
    std::string_view password,
    const std::optional<store::CredentialSecret>& secret) {
  if (stopping_.load(std::memory_order_relaxed)) {
    return AuthOutcome{};
  }
  // Many connections of one client miss together (at start, when the entry
  // expires): while the first ones hash, the rest wait in this queue. Look
  // again before hashing, so the herd costs one argon2id per thread, not one
  // per connection. Only the right password can hit here, as in lookup().
  if (secret) {
    if (auto hit = cache_.find(username, password, secret->password_hash)) {
      return AuthOutcome{.status = AuthOutcome::Status::ok,
                         .tenant_id = std::move(hit->tenant_id),
                         .username = std::move(hit->username)};
    }
  }
  try {
    const std::string& hash = secret ? secret->password_hash : dummy_hash_;
    const bool match = portcullis::auth::verify_password(hash, password);
    if (secret && match) {
      cache_.insert(username, password, secret->password_hash,
                    {.tenant_id = secret->tenant_id, .username = secret->username});
      return AuthOutcome{.status = AuthOutcome::Status::ok,
                         .tenant_id = secret->tenant_id,
                         .username = secret->username};
    }
    return AuthOutcome{.status = AuthOutcome::Status::bad_credentials};
  } catch (const std::exception& e) {
    log::error("auth_verify_failed", {{"error", e.what()}});
    return AuthOutcome{};
  }
}

AuthOutcome CredentialVerifier::verify(std::string_view username, std::string_view password) {
  Lookup found = lookup(username, password);
  if (found.outcome) {
    return std::move(*found.outcome);
  }
  return check_password(username, password, found.secret);
}

}  // namespace portcullis::relay::auth
