#include "gateway/core/store/migrations.hpp"

#include <array>
#include <ctime>
#include <string>

namespace portcullis::store {
namespace {

constexpr std::string_view kCreateMigrationsTable = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  applied_at INTEGER NOT NULL
);
)sql";

constexpr std::array<std::string_view, 8> kStateMigrations = {
    // 1: tenants, their subnets and their SMTP credentials.
    R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY NOT NULL,
  plan TEXT NOT NULL,
  port25_mode TEXT NOT NULL CHECK (port25_mode IN ('block', 'redirect', 'exempt')),
  abuse_contact TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('active', 'suspended')),
  status_reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE tenant_subnets (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  network TEXT NOT NULL,
  length INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, network, length)
);
CREATE TABLE credentials (
  username TEXT PRIMARY KEY NOT NULL,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  description TEXT NOT NULL DEFAULT '',
  password_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
)sql",
    // 2: listing a tenant's credentials without a table scan.
    R"sql(
CREATE INDEX credentials_by_tenant ON credentials (tenant_id, created_at);
)sql",
    // 3: DKIM signing keys per tenant and domain; several selectors allow rotation.
    R"sql(
CREATE TABLE dkim_keys (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  domain TEXT NOT NULL,
  selector TEXT NOT NULL,
  algorithm TEXT NOT NULL CHECK (algorithm IN ('rsa-sha256', 'ed25519-sha256')),
  private_key_pem TEXT NOT NULL,
  public_key_b64 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, domain, selector)
);
CREATE INDEX dkim_keys_by_domain ON dkim_keys (domain);
)sql",
    // 4: per-host port-25 overrides inside a tenant's subnets (the more specific
    // prefix wins in the firewall). A prefix belongs to at most one override.
    R"sql(
CREATE TABLE port25_overrides (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  network TEXT NOT NULL,
  length INTEGER NOT NULL,
  mode TEXT NOT NULL CHECK (mode IN ('block', 'redirect', 'exempt')),
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  PRIMARY KEY (network, length)
);
CREATE INDEX port25_overrides_by_tenant ON port25_overrides (tenant_id);
)sql",
    // 5: per-tenant overrides of the plan's limits; NULL = the plan's value.
    R"sql(
CREATE TABLE tenant_limits (
  tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  monthly_quota INTEGER CHECK (monthly_quota > 0),
  messages_per_minute INTEGER CHECK (messages_per_minute > 0),
  messages_per_hour INTEGER CHECK (messages_per_hour > 0),
  recipients_per_message INTEGER CHECK (recipients_per_message > 0),
  recipients_per_hour INTEGER CHECK (recipients_per_hour > 0),
  max_connections INTEGER CHECK (max_connections > 0),
  max_message_size INTEGER CHECK (max_message_size > 0),
  dedicated_ip TEXT,
  updated_at INTEGER NOT NULL
);
)sql",
    // 6: suppression lists. The primary key serves listings by list; the
    // second index serves the lookup on every RCPT (tenant and address).
    R"sql(
CREATE TABLE suppressions (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  list TEXT NOT NULL
    CHECK (list IN ('bounces', 'blocks', 'spam-reports', 'invalid', 'unsubscribes')),
  address TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, list, address)
) WITHOUT ROWID;
CREATE INDEX suppressions_by_address ON suppressions (tenant_id, address);
)sql",
    // 7: one delivery-event webhook per tenant and the secret its payloads are signed with.
    R"sql(
CREATE TABLE webhooks (
  tenant_id TEXT PRIMARY KEY NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  url TEXT NOT NULL,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
)sql",
    // 8: how far each webhook's receiver has acknowledged the event log (NULL =
    // not started), and temporary failures per recipient (a soft bounce turns
    // hard after a configured number).
    R"sql(
ALTER TABLE webhooks ADD COLUMN cursor INTEGER;
CREATE TABLE soft_bounces (
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  address TEXT NOT NULL,
  count INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, address)
) WITHOUT ROWID;
)sql",
};

}  // namespace

Result<int> schema_version(Database& db) {
  if (auto created = db.exec(kCreateMigrationsTable); !created) {
    return created.error();
  }
  auto query = db.prepare("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!query) {
    return query.error();
  }
  auto row = query->step();
  if (!row) {
    return row.error();
  }
  return static_cast<int>(query->column_int64(0));
}

Result<int> apply_migrations(Database& db, std::span<const std::string_view> scripts) {
  auto current = schema_version(db);
  if (!current) {
    return current.error();
  }
  const int known = static_cast<int>(scripts.size());
  if (*current > known) {
    return make_error(db.path().string() + " has schema version " + std::to_string(*current) +
                      ", newer than this program knows (" + std::to_string(known) +
                      "); refusing to use it");
  }
  for (int version = *current + 1; version <= known; ++version) {
    auto applied = db.transaction([&]() -> Result<void> {
      if (auto ran = db.exec(scripts[static_cast<std::size_t>(version - 1)]); !ran) {
        return ran.error();
      }
      auto record = db.prepare("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)");
      if (!record) {
        return record.error();
      }
      return record->bind(1, version).bind(2, static_cast<std::int64_t>(std::time(nullptr))).run();
    });
    if (!applied) {
      return make_error(db.path().string() + ": migration to schema version " +
                        std::to_string(version) + " failed: " + applied.error().message);
    }
  }
  return known;
}

std::span<const std::string_view> state_migrations() {
  return kStateMigrations;
}

}  // namespace portcullis::store
