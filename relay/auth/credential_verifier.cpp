#include "relay/auth/credential_verifier.hpp"

#include <exception>

#include "gateway/core/auth/password.hpp"
#include "gateway/core/log/log.hpp"

namespace portcullis::relay::auth {

CredentialVerifier::CredentialVerifier(store::Store& store,
                                       std::size_t threads,
                                       std::size_t max_pending)
    // Hashed with the same parameters as real credentials, so verifying
    // against it costs the same; its password is random and thrown away.
    : store_(store),
      dummy_hash_(portcullis::auth::hash_password(portcullis::auth::generate_password())),
      max_pending_(max_pending),
      pool_(threads == 0 ? 1 : threads) {}

CredentialVerifier::~CredentialVerifier() {
  stopping_.store(true, std::memory_order_relaxed);
  pool_.join();
}

AuthOutcome CredentialVerifier::verify(std::string_view username, std::string_view password) {
  if (stopping_.load(std::memory_order_relaxed)) {
    return AuthOutcome{};
  }
  try {
    const auto secret = store_.find_credential(username);
    const std::string& hash = secret ? secret->password_hash : dummy_hash_;
    const bool match = portcullis::auth::verify_password(hash, password);
    if (secret && match) {
      return AuthOutcome{.status = AuthOutcome::Status::ok,
                         .tenant_id = secret->tenant_id,
                         .username = secret->username};
    }
    return AuthOutcome{.status = AuthOutcome::Status::bad_credentials};
  } catch (const std::exception& e) {
    // A store failure is ours, not the client's: 454, try again later.
    log::error("auth_verify_failed", {{"error", e.what()}});
    return AuthOutcome{};
  }
}

}  // namespace portcullis::relay::auth
