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

constexpr std::array<std::string_view, 9> kStateMigrations = {
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
    // 9: the abuse desk (store/abuse_store.hpp): reputation signals, tickets,
    // their actions, port-25 exception requests, the audit trail and the
    // reports received on the feedback address. No foreign key to tenants:
    // these rows are the audit trail and outlive a removed tenant. tickets.hosts
    // is the sorted host list, one per line.
    R"sql(
CREATE TABLE tickets (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  category TEXT NOT NULL
    CHECK (category IN ('spam', 'compromised_host', 'blacklisting', 'complaint')),
  status TEXT NOT NULL CHECK (status IN ('open', 'waiting', 'resolved', 'closed')),
  hosts TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '',
  opened_by TEXT NOT NULL,
  opened_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  notified_at INTEGER NOT NULL DEFAULT 0,
  reminders INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX tickets_by_tenant ON tickets (tenant_id, category, status);
CREATE TABLE signals (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  host TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK (kind IN ('dnsbl', 'complaint', 'bounce_rate', 'unknown_recipients',
                                     'rbl_rejection', 'egress', 'volume')),
  time INTEGER NOT NULL,
  strength REAL NOT NULL,
  evidence TEXT NOT NULL DEFAULT '',
  ticket_id INTEGER REFERENCES tickets(id)
);
CREATE INDEX signals_by_time ON signals (tenant_id, time);
CREATE INDEX signals_by_kind ON signals (tenant_id, kind, host, time);
CREATE INDEX signals_by_ticket ON signals (ticket_id) WHERE ticket_id IS NOT NULL;
CREATE TABLE ticket_actions (
  id INTEGER PRIMARY KEY,
  ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  kind TEXT NOT NULL CHECK (kind IN ('throttle', 'suspend', 'block_host', 'revoke_exception')),
  target TEXT NOT NULL DEFAULT '',
  previous TEXT NOT NULL DEFAULT '',
  applied_at INTEGER NOT NULL,
  reverted_at INTEGER,
  reverted_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ticket_actions_by_ticket ON ticket_actions (ticket_id, id);
CREATE TABLE exception_requests (
  id INTEGER PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  network TEXT NOT NULL,
  length INTEGER NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  use_case TEXT NOT NULL DEFAULT '',
  reverse_dns TEXT NOT NULL DEFAULT '',
  expected_volume INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL
    CHECK (status IN ('pending', 'approved', 'denied', 'revoked', 'expired')),
  requested_by TEXT NOT NULL DEFAULT '',
  requested_at INTEGER NOT NULL,
  decided_by TEXT NOT NULL DEFAULT '',
  decided_at INTEGER NOT NULL DEFAULT 0,
  decision_reason TEXT NOT NULL DEFAULT '',
  expires_at INTEGER,
  previous_mode TEXT NOT NULL DEFAULT '',
  previous_reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX exception_requests_by_tenant ON exception_requests (tenant_id, status);
CREATE TABLE audit (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  subject TEXT NOT NULL CHECK (subject IN ('ticket', 'exception')),
  subject_id INTEGER NOT NULL,
  action TEXT NOT NULL,
  text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_subject ON audit (subject, subject_id, id);
CREATE TABLE inbound_reports (
  id INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  client_address TEXT NOT NULL DEFAULT '',
  mail_from TEXT NOT NULL DEFAULT '',
  recipient TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK (kind IN ('arf', 'xarf', 'dsn', 'unknown')),
  status TEXT NOT NULL CHECK (status IN ('received', 'attributed', 'unattributed', 'rejected')),
  tenant_id TEXT NOT NULL DEFAULT '',
  summary TEXT NOT NULL DEFAULT '',
  raw BLOB NOT NULL
);
CREATE INDEX inbound_reports_by_status ON inbound_reports (status, id);
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
