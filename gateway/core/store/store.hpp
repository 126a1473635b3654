#pragma once
// The gateway's durable state (state_dir/state.db): tenants with their subnets,
// port-25 mode and status, their SMTP credentials (argon2id hashes only),
// their DKIM keys, limit overrides, suppression lists and webhooks. Writes
// come from operators through the control API; find_credential() takes
// usernames from SMTP AUTH and find_suppression() RCPT addresses, i.e. input
// from untrusted peers. The file is 0600 in a 0700 directory: it holds
// password hashes, DKIM private keys and webhook secrets.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/store/dkim_key.hpp"
#include "gateway/core/store/policy.hpp"
#include "gateway/core/store/tenant.hpp"

namespace portcullis::store {

class Database;
class Statement;

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
  // Deletes the tenant's subnets, credentials, DKIM keys, limit overrides,
  // suppressions and webhook too.
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

  // ---- sending policy (store_policy.cpp) ----

  // Replaces the tenant's overrides (validate_limit_overrides); empty ones
  // remove them. They are loaded with the tenant (Tenant::limits).
  Result<void> set_limit_overrides(std::string_view tenant_id, const LimitOverrides& overrides);
  // Empty for an unknown tenant or one without overrides.
  LimitOverrides limit_overrides(std::string_view tenant_id) const;

  // Normalises and validates the address and reason; created_at 0 = now. The
  // same tenant, list and address again keeps created_at and takes the new
  // reason unless it is empty. Returns the suppression as stored.
  Result<Suppression> add_suppression(Suppression suppression);
  // From one list, or from every list when none is given; an error when
  // nothing was removed.
  Result<void> remove_suppression(std::string_view tenant_id,
                                  std::string_view address,
                                  std::optional<SuppressionList> list = std::nullopt);
  // Ordered by list name, then address.
  std::vector<Suppression> list_suppressions(
      std::string_view tenant_id, std::optional<SuppressionList> list = std::nullopt) const;
  // Asked on every RCPT: the address is normalised, then matched exactly
  // through an index with one cached statement. An address on several lists
  // is reported on the first in SuppressionList order (bounces first).
  std::optional<Suppression> find_suppression(std::string_view tenant_id,
                                              std::string_view address) const;
  // CSV with a header naming the columns: address (required), list, reason,
  // created_at (unix seconds), in any order. A row without a list goes on
  // default_list. All or nothing, in one transaction; errors name the line:
  // "line 7: 'foo' is not an email address". Returns the number of rows.
  Result<std::size_t> import_suppressions(std::string_view tenant_id,
                                          std::string_view csv,
                                          std::optional<SuppressionList> default_list);
  // "address,list,reason,created_at" and one line per suppression, in
  // list_suppressions() order: import_suppressions() reads it back as it was.
  std::string export_suppressions_csv(std::string_view tenant_id,
                                      std::optional<SuppressionList> list = std::nullopt) const;

  // https:// only (validate_webhook_url); every call generates a new secret
  // (32 random bytes, hex), returned here and kept for the daemon's signer.
  Result<Webhook> set_webhook(std::string_view tenant_id, std::string_view url);
  std::optional<Webhook> get_webhook(std::string_view tenant_id) const;
  std::vector<Webhook> list_webhooks() const;  // ordered by tenant
  Result<void> remove_webhook(std::string_view tenant_id);
  // The id of the last delivery event the tenant's receiver acknowledged;
  // nullopt when it has not started (or the webhook was set again). Setting
  // it for a tenant without a webhook does nothing. An error is not "unset":
  // a reader that took it so would skip the tenant's backlog.
  Result<std::optional<std::int64_t>> webhook_cursor(std::string_view tenant_id) const;
  Result<void> set_webhook_cursor(std::string_view tenant_id, std::int64_t event_id);

  // Soft bounces (recipients that expired after temporary failures): counts
  // one more for the address and returns the new count; a delivery clears it.
  Result<std::uint64_t> add_soft_bounce(std::string_view tenant_id, std::string_view address);
  Result<void> clear_soft_bounce(std::string_view tenant_id, std::string_view address);

 private:
  Store(std::unique_ptr<Database> db, int version);

  mutable std::mutex mutex_;
  std::unique_ptr<Database> db_;
  // find_suppression()'s statement, prepared on first use. Declared after db_
  // so that it is finalized before the database is closed.
  mutable std::unique_ptr<Statement> find_suppression_;
  // "tenant\0address" of every suppression, loaded on the first lookup and
  // grown by every add and import; removals leave their key (a stale key only
  // costs the query that finds nothing). Guarded by mutex_.
  mutable std::optional<std::unordered_set<std::string>> suppression_keys_;
  void remember_suppression(std::string_view tenant_id, std::string_view address);
  int version_ = 0;
};

}  // namespace portcullis::store
