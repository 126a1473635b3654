#pragma once
// The gateway's durable state (state_dir/state.db): tenants with their subnets,
// port-25 mode and status, their SMTP credentials (argon2id hashes only) and
// their DKIM keys. Writes come from operators through the control API;
// find_credential() takes usernames from SMTP AUTH, i.e. from untrusted peers.
// The file is 0600 in a 0700 directory: it holds password hashes and DKIM
// private keys.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/store/dkim_key.hpp"
#include "gateway/core/store/tenant.hpp"

namespace portcullis::store {

class Database;

// Thread-safe: one SQLite connection behind a mutex.
class Store {
 public:
  // Creates state_dir (0700) and state.db (0600) if missing and migrates the
  // schema. Throws std::runtime_error: only used at start-up.
  static std::unique_ptr<Store> open(const std::filesystem::path& state_dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  int schema_version() const;

  // Validates (validate_tenant), refuses a duplicate id and subnets that
  // overlap another tenant's. created_at is set by the store.
  Result<Tenant> add_tenant(Tenant tenant);
  Result<Tenant> get_tenant(std::string_view id) const;
  std::vector<Tenant> list_tenants() const;  // ordered by id
  // Replaces every field but created_at; same validations as add_tenant.
  Result<Tenant> update_tenant(const Tenant& tenant);
  // Deletes the tenant's subnets, credentials and DKIM keys too.
  Result<void> remove_tenant(std::string_view id);

  // Username "<tenant-id>.<8 random base32 characters>"; only the hash is kept.
  Result<IssuedCredential> issue_credential(std::string_view tenant_id,
                                            std::string_view description);
  // Revoked ones included (revoked_at set); oldest first.
  std::vector<Credential> list_credentials(std::string_view tenant_id) const;
  Result<void> revoke_credential(std::string_view username);
  // Only credentials not revoked, whatever the tenant's status: the caller
  // decides what a suspended tenant may do.
  std::optional<CredentialSecret> find_credential(std::string_view username) const;

  // Per-host port-25 overrides (validate_host_override: inside one of the
  // tenant's subnets). Setting a prefix again replaces its mode and reason.
  // They are loaded with the tenant (Tenant::host_overrides).
  Result<HostOverride> set_host_override(std::string_view tenant_id, HostOverride host_override);
  Result<void> remove_host_override(std::string_view tenant_id, const net::Prefix& prefix);

  // DKIM keys (normalize_dkim_key). A domain's keys belong to one tenant: a
  // domain already holding another tenant's keys is refused, so one tenant
  // can never get mail signed for a domain the operator gave to another.
  // created_at is set by the store.
  Result<DkimKey> add_dkim_key(DkimKey key);
  // One tenant's keys, or every tenant's when tenant_id is empty; ordered by
  // tenant, domain, then age (oldest first).
  std::vector<DkimKey> list_dkim_keys(std::string_view tenant_id = "") const;
  // The domain's newest key: the one signing.
  Result<DkimKey> get_dkim_key(std::string_view tenant_id, std::string_view domain) const;
  Result<void> remove_dkim_key(std::string_view tenant_id,
                               std::string_view domain,
                               std::string_view selector);

 private:
  Store(std::unique_ptr<Database> db, int version);

  mutable std::mutex mutex_;
  std::unique_ptr<Database> db_;
  int version_ = 0;
};

}  // namespace portcullis::store
