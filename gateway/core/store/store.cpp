#include "gateway/core/store/store.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <ctime>
#include <map>
#include <stdexcept>
#include <system_error>

#include "gateway/core/auth/password.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/migrations.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store_detail.hpp"

namespace portcullis::store {

namespace detail {

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

Error no_tenant(std::string_view id) {
  return make_error("no tenant '" + std::string(id) + "'");
}

Result<bool> tenant_exists(Database& db, std::string_view id) {
  auto query = db.prepare("SELECT 1 FROM tenants WHERE id = ?");
  if (!query) {
    return query.error();
  }
  return query->bind(1, id).step();
}

bool next_row(Statement& query, std::string_view event) {
  auto row = query.step();
  if (!row) {
    log::error(event, {{"error", row.error().message}});
    return false;
  }
  return *row;
}

}  // namespace detail

namespace {

using detail::next_row;
using detail::no_tenant;
using detail::tenant_exists;
using detail::unix_now;

constexpr std::string_view kUsernameAlphabet = "abcdefghijklmnopqrstuvwxyz234567";  // base32
constexpr std::size_t kUsernameSuffixLength = 8;
constexpr std::size_t kMaxUsername = 128;
constexpr int kUsernameAttempts = 8;

constexpr std::string_view kTenantColumns =
    "id, plan, port25_mode, abuse_contact, status, status_reason, created_at";

// A row of kTenantColumns; subnets are loaded separately.
Result<Tenant> read_tenant_row(const Statement& row) {
  Tenant tenant;
  tenant.id = row.column_text(0);
  tenant.plan = row.column_text(1);
  const auto mode = parse_port25_mode(row.column_text(2));
  const auto status = parse_tenant_status(row.column_text(4));
  if (!mode || !status) {
    return make_error("tenant '" + tenant.id + "' has a corrupt row in state.db");
  }
  tenant.port25_mode = *mode;
  tenant.abuse_contact = row.column_text(3);
  tenant.status = *status;
  tenant.status_reason = row.column_text(5);
  tenant.created_at = row.column_int64(6);
  return tenant;
}

Result<net::Prefix> read_prefix(const Statement& row, int first_column) {
  return net::Prefix::parse(row.column_text(first_column) + "/" +
                            std::to_string(row.column_int64(first_column + 1)));
}

constexpr std::string_view kOverrideColumns = "network, length, mode, reason, created_at";

// A row of kOverrideColumns starting at `first_column`.
Result<HostOverride> read_override_row(const Statement& row, int first_column) {
  auto prefix = read_prefix(row, first_column);
  if (!prefix) {
    return prefix.error();
  }
  const auto mode = parse_port25_mode(row.column_text(first_column + 2));
  if (!mode) {
    return make_error("override " + prefix->to_string() + " has a corrupt mode in state.db");
  }
  return HostOverride{.prefix = *prefix,
                      .mode = *mode,
                      .reason = row.column_text(first_column + 3),
                      .created_at = row.column_int64(first_column + 4)};
}

Result<void> load_overrides(Database& db, Tenant& tenant) {
  auto query = db.prepare("SELECT " + std::string(kOverrideColumns) +
                          " FROM port25_overrides WHERE tenant_id = ? ORDER BY network, length");
  if (!query) {
    return query.error();
  }
  query->bind(1, tenant.id);
  while (true) {
    auto next = query->step();
    if (!next) {
      return next.error();
    }
    if (!*next) {
      return {};
    }
    auto host_override = read_override_row(*query, 0);
    if (!host_override) {
      return make_error("tenant '" + tenant.id + "': " + host_override.error().message);
    }
    tenant.host_overrides.push_back(std::move(*host_override));
  }
}

Result<Tenant> load_tenant(Database& db, std::string_view id) {
  auto query = db.prepare("SELECT " + std::string(kTenantColumns) + " FROM tenants WHERE id = ?");
  if (!query) {
    return query.error();
  }
  auto row = query->bind(1, id).step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return no_tenant(id);
  }
  auto tenant = read_tenant_row(*query);
  if (!tenant) {
    return tenant;
  }
  auto subnets =
      db.prepare("SELECT network, length FROM tenant_subnets WHERE tenant_id = ? ORDER BY rowid");
  if (!subnets) {
    return subnets.error();
  }
  subnets->bind(1, id);
  while (true) {
    auto next = subnets->step();
    if (!next) {
      return next.error();
    }
    if (!*next) {
      break;
    }
    auto prefix = read_prefix(*subnets, 0);
    if (!prefix) {
      return make_error("tenant '" + tenant->id +
                        "' has a corrupt subnet in state.db: " + prefix.error().message);
    }
    tenant->subnets.push_back(*prefix);
  }
  if (auto loaded = load_overrides(db, *tenant); !loaded) {
    return loaded.error();
  }
  auto limits = detail::load_limit_overrides(db, tenant->id);
  if (!limits) {
    return limits.error();
  }
  tenant->limits = std::move(*limits);
  return tenant;
}

Result<void> check_overlaps(Database& db, const Tenant& tenant) {
  if (tenant.subnets.empty()) {
    return {};
  }
  auto query =
      db.prepare("SELECT tenant_id, network, length FROM tenant_subnets WHERE tenant_id != ?");
  if (!query) {
    return query.error();
  }
  query->bind(1, tenant.id);
  while (true) {
    auto row = query->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return {};
    }
    auto other = read_prefix(*query, 1);
    if (!other) {
      continue;  // cannot overlap anything we could store; load_tenant reports it
    }
    for (const auto& mine : tenant.subnets) {
      if (mine.overlaps(*other)) {
        return make_error(mine.to_string() + " overlaps " + other->to_string() + " of tenant '" +
                          query->column_text(0) + "'");
      }
    }
  }
}

Result<void> replace_subnets(Database& db, const Tenant& tenant) {
  auto removed = db.prepare("DELETE FROM tenant_subnets WHERE tenant_id = ?");
  if (!removed) {
    return removed.error();
  }
  if (auto ran = removed->bind(1, tenant.id).run(); !ran) {
    return ran;
  }
  auto insert =
      db.prepare("INSERT INTO tenant_subnets (tenant_id, network, length) VALUES (?, ?, ?)");
  if (!insert) {
    return insert.error();
  }
  for (const auto& subnet : tenant.subnets) {
    insert->reset();
    if (auto ran = insert->bind(1, tenant.id)
                       .bind(2, subnet.network.to_string())
                       .bind(3, subnet.length)
                       .run();
        !ran) {
      return ran;
    }
  }
  return {};
}

std::filesystem::path prepare_state_dir(const std::filesystem::path& state_dir) {
  std::error_code ec;
  if (!std::filesystem::exists(state_dir, ec)) {
    if (state_dir.has_parent_path()) {
      std::filesystem::create_directories(state_dir.parent_path(), ec);
    }
    // mkdir with the mode instead of chmod afterwards: no window where it is open.
    if (::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
      throw std::runtime_error("cannot create state directory " + state_dir.string() + ": " +
                               std::system_category().message(errno));
    }
  }
  if (!std::filesystem::is_directory(state_dir, ec)) {
    throw std::runtime_error("state directory " + state_dir.string() + " is not a directory");
  }
  return state_dir / "state.db";
}

}  // namespace

Store::Store(std::unique_ptr<Database> db, int version) : db_(std::move(db)), version_(version) {}

Store::~Store() = default;

std::unique_ptr<Store> Store::open(const std::filesystem::path& state_dir) {
  const auto path = prepare_state_dir(state_dir);
  auto db = Database::open(path, OpenOptions{.synchronous = Synchronous::normal});
  if (!db) {
    throw std::runtime_error(db.error().message);
  }
  auto version = apply_migrations(*db, state_migrations());
  if (!version) {
    throw std::runtime_error(version.error().message);
  }
  return std::unique_ptr<Store>(new Store(std::make_unique<Database>(std::move(*db)), *version));
}

int Store::schema_version() const {
  return version_;
}

Result<Tenant> Store::add_tenant(Tenant tenant) {
  if (auto valid = validate_tenant(tenant); !valid) {
    return valid.error();
  }
  tenant.created_at = unix_now();
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<Tenant> {
    auto exists = tenant_exists(db, tenant.id);
    if (!exists) {
      return exists.error();
    }
    if (*exists) {
      return make_error("tenant '" + tenant.id + "' already exists");
    }
    if (auto free = check_overlaps(db, tenant); !free) {
      return free.error();
    }
    auto insert = db.prepare(
        "INSERT INTO tenants (id, plan, port25_mode, abuse_contact, status, status_reason, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) {
      return insert.error();
    }
    insert->bind(1, tenant.id)
        .bind(2, tenant.plan)
        .bind(3, to_string(tenant.port25_mode))
        .bind(4, tenant.abuse_contact)
        .bind(5, to_string(tenant.status))
        .bind(6, tenant.status_reason)
        .bind(7, tenant.created_at)
        .bind(8, tenant.created_at);
    if (auto ran = insert->run(); !ran) {
      return ran.error();
    }
    if (auto written = replace_subnets(db, tenant); !written) {
      return written.error();
    }
    return load_tenant(db, tenant.id);
  });
}

Result<Tenant> Store::get_tenant(std::string_view id) const {
  if (!is_valid_tenant_id(id)) {
    return no_tenant(id);
  }
  std::lock_guard lock(mutex_);
  return load_tenant(*db_, id);
}

std::vector<Tenant> Store::list_tenants() const {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  std::vector<Tenant> tenants;
  auto query = db.prepare("SELECT " + std::string(kTenantColumns) + " FROM tenants ORDER BY id");
  auto subnets = db.prepare("SELECT tenant_id, network, length FROM tenant_subnets ORDER BY rowid");
  if (!query || !subnets) {
    log::error("store_list_tenants_failed",
               {{"error", (!query ? query.error() : subnets.error()).message}});
    return tenants;
  }
  std::map<std::string, std::size_t, std::less<>> index;
  while (next_row(*query, "store_list_tenants_failed")) {
    auto tenant = read_tenant_row(*query);
    if (!tenant) {
      log::error("store_corrupt_tenant", {{"error", tenant.error().message}});
      continue;
    }
    index.emplace(tenant->id, tenants.size());
    tenants.push_back(std::move(*tenant));
  }
  while (next_row(*subnets, "store_list_tenants_failed")) {
    const auto owner = index.find(subnets->column_text(0));
    auto prefix = read_prefix(*subnets, 1);
    if (!prefix) {
      log::error("store_corrupt_subnet", {{"error", prefix.error().message}});
    } else if (owner != index.end()) {
      tenants[owner->second].subnets.push_back(*prefix);
    }
  }
  auto overrides = db.prepare("SELECT tenant_id, " + std::string(kOverrideColumns) +
                              " FROM port25_overrides ORDER BY tenant_id, network, length");
  if (!overrides) {
    log::error("store_list_tenants_failed", {{"error", overrides.error().message}});
    return tenants;
  }
  while (next_row(*overrides, "store_list_tenants_failed")) {
    const auto owner = index.find(overrides->column_text(0));
    auto host_override = read_override_row(*overrides, 1);
    if (!host_override) {
      log::error("store_corrupt_override", {{"error", host_override.error().message}});
    } else if (owner != index.end()) {
      tenants[owner->second].host_overrides.push_back(std::move(*host_override));
    }
  }
  auto limits = detail::load_all_limit_overrides(db);
  if (!limits) {
    log::error("store_list_tenants_failed", {{"error", limits.error().message}});
    return tenants;
  }
  for (auto& [tenant_id, overrides] : *limits) {
    if (const auto owner = index.find(tenant_id); owner != index.end()) {
      tenants[owner->second].limits = std::move(overrides);
    }
  }
  return tenants;
}

Result<Tenant> Store::update_tenant(const Tenant& tenant) {
  if (auto valid = validate_tenant(tenant); !valid) {
    return valid.error();
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<Tenant> {
    auto exists = tenant_exists(db, tenant.id);
    if (!exists) {
      return exists.error();
    }
    if (!*exists) {
      return no_tenant(tenant.id);
    }
    if (auto free = check_overlaps(db, tenant); !free) {
      return free.error();
    }
    auto update = db.prepare(
        "UPDATE tenants SET plan = ?, port25_mode = ?, abuse_contact = ?, status = ?, "
        "status_reason = ?, updated_at = ? WHERE id = ?");
    if (!update) {
      return update.error();
    }
    update->bind(1, tenant.plan)
        .bind(2, to_string(tenant.port25_mode))
        .bind(3, tenant.abuse_contact)
        .bind(4, to_string(tenant.status))
        .bind(5, tenant.status_reason)
        .bind(6, unix_now())
        .bind(7, tenant.id);
    if (auto ran = update->run(); !ran) {
      return ran.error();
    }
    if (auto written = replace_subnets(db, tenant); !written) {
      return written.error();
    }
    return load_tenant(db, tenant.id);
  });
}

Result<void> Store::remove_tenant(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  // Subnets, credentials, DKIM keys, host and limit overrides, suppressions
  // and the webhook go with it (ON DELETE CASCADE).
  auto remove = db.prepare("DELETE FROM tenants WHERE id = ?");
  if (!remove) {
    return remove.error();
  }
  if (auto ran = remove->bind(1, id).run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return no_tenant(id);
  }
  return {};
}

Result<IssuedCredential> Store::issue_credential(std::string_view tenant_id,
                                                 std::string_view description) {
  if (auto valid = validate_credential_description(description); !valid) {
    return valid.error();
  }
  if (!is_valid_tenant_id(tenant_id)) {
    return no_tenant(tenant_id);
  }
  IssuedCredential issued;
  issued.password = auth::generate_password();
  // Tens of milliseconds and 64 MiB: outside the lock.
  const auto hash = auth::hash_password(issued.password);

  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto exists = tenant_exists(db, tenant_id);
  if (!exists) {
    return exists.error();
  }
  if (!*exists) {
    return no_tenant(tenant_id);
  }
  auto taken = db.prepare("SELECT 1 FROM credentials WHERE username = ?");
  if (!taken) {
    return taken.error();
  }
  // Revoked usernames stay in the table, so a username is never handed out twice.
  std::string username;
  for (int attempt = 0; attempt < kUsernameAttempts && username.empty(); ++attempt) {
    auto candidate = std::string(tenant_id) + "." +
                     auth::random_string(kUsernameSuffixLength, kUsernameAlphabet);
    taken->reset();
    auto row = taken->bind(1, candidate).step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      username = std::move(candidate);
    }
  }
  if (username.empty()) {
    return make_error("could not find a free username for tenant '" + std::string(tenant_id) + "'");
  }
  auto& credential = issued.credential;
  credential.username = username;
  credential.tenant_id = tenant_id;
  credential.description = description;
  credential.created_at = unix_now();
  auto insert = db.prepare(
      "INSERT INTO credentials (username, tenant_id, description, password_hash, created_at) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!insert) {
    return insert.error();
  }
  insert->bind(1, credential.username)
      .bind(2, credential.tenant_id)
      .bind(3, credential.description)
      .bind(4, hash)
      .bind(5, credential.created_at);
  if (auto ran = insert->run(); !ran) {
    return ran.error();
  }
  return issued;
}

std::vector<Credential> Store::list_credentials(std::string_view tenant_id) const {
  std::lock_guard lock(mutex_);
  std::vector<Credential> credentials;
  auto query = db_->prepare(
      "SELECT username, tenant_id, description, created_at, revoked_at FROM credentials "
      "WHERE tenant_id = ? ORDER BY created_at, rowid");
  if (!query) {
    log::error("store_list_credentials_failed", {{"error", query.error().message}});
    return credentials;
  }
  query->bind(1, tenant_id);
  while (next_row(*query, "store_list_credentials_failed")) {
    credentials.push_back(Credential{.username = query->column_text(0),
                                     .tenant_id = query->column_text(1),
                                     .description = query->column_text(2),
                                     .created_at = query->column_int64(3),
                                     .revoked_at = query->column_optional_int64(4)});
  }
  return credentials;
}

Result<void> Store::revoke_credential(std::string_view username) {
  const auto quoted = "'" + std::string(username) + "'";
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto revoke =
      db.prepare("UPDATE credentials SET revoked_at = ? WHERE username = ? AND revoked_at IS NULL");
  if (!revoke) {
    return revoke.error();
  }
  if (auto ran = revoke->bind(1, unix_now()).bind(2, username).run(); !ran) {
    return ran;
  }
  if (db.changes() > 0) {
    return {};
  }
  auto known = db.prepare("SELECT 1 FROM credentials WHERE username = ?");
  if (!known) {
    return known.error();
  }
  auto row = known->bind(1, username).step();
  if (!row) {
    return row.error();
  }
  return make_error(*row ? "credential " + quoted + " is already revoked"
                         : "no credential " + quoted);
}

std::optional<CredentialSecret> Store::find_credential(std::string_view username) const {
  if (username.empty() || username.size() > kMaxUsername) {
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  auto query = db_->prepare(
      "SELECT c.username, c.tenant_id, c.password_hash FROM credentials c "
      "JOIN tenants t ON t.id = c.tenant_id WHERE c.username = ? AND c.revoked_at IS NULL");
  if (!query) {
    log::error("store_find_credential_failed", {{"error", query.error().message}});
    return std::nullopt;
  }
  auto row = query->bind(1, username).step();
  if (!row) {
    log::error("store_find_credential_failed", {{"error", row.error().message}});
    return std::nullopt;
  }
  if (!*row) {
    return std::nullopt;
  }
  return CredentialSecret{query->column_text(0), query->column_text(1), query->column_text(2)};
}

// ---- DKIM keys ----

namespace {

constexpr std::string_view kDkimColumns =
    "tenant_id, domain, selector, algorithm, private_key_pem, public_key_b64, created_at";

DkimKey read_dkim_row(const Statement& row) {
  return DkimKey{.tenant_id = row.column_text(0),
                 .domain = row.column_text(1),
                 .selector = row.column_text(2),
                 .algorithm = row.column_text(3),
                 .private_key_pem = row.column_text(4),
                 .public_key = row.column_text(5),
                 .created_at = row.column_int64(6)};
}

Error no_dkim_key(std::string_view tenant_id, std::string_view domain) {
  return make_error("tenant '" + std::string(tenant_id) + "' has no DKIM key for '" +
                    std::string(domain) + "'");
}

}  // namespace

Result<DkimKey> Store::add_dkim_key(DkimKey key) {
  if (auto valid = normalize_dkim_key(key); !valid) {
    return valid.error();
  }
  key.created_at = unix_now();
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<DkimKey> {
    auto exists = tenant_exists(db, key.tenant_id);
    if (!exists) {
      return exists.error();
    }
    if (!*exists) {
      return no_tenant(key.tenant_id);
    }
    auto owner = db.prepare("SELECT tenant_id FROM dkim_keys WHERE domain = ? AND tenant_id != ?");
    if (!owner) {
      return owner.error();
    }
    auto other = owner->bind(1, key.domain).bind(2, key.tenant_id).step();
    if (!other) {
      return other.error();
    }
    if (*other) {
      return make_error("domain '" + key.domain + "' already has DKIM keys of tenant '" +
                        owner->column_text(0) + "'");
    }
    auto taken =
        db.prepare("SELECT 1 FROM dkim_keys WHERE tenant_id = ? AND domain = ? AND selector = ?");
    if (!taken) {
      return taken.error();
    }
    auto row = taken->bind(1, key.tenant_id).bind(2, key.domain).bind(3, key.selector).step();
    if (!row) {
      return row.error();
    }
    if (*row) {
      return make_error("tenant '" + key.tenant_id + "' already has a DKIM key for '" + key.domain +
                        "' with selector '" + key.selector + "'");
    }
    auto insert = db.prepare("INSERT INTO dkim_keys (" + std::string(kDkimColumns) +
                             ") VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!insert) {
      return insert.error();
    }
    insert->bind(1, key.tenant_id)
        .bind(2, key.domain)
        .bind(3, key.selector)
        .bind(4, key.algorithm)
        .bind(5, key.private_key_pem)
        .bind(6, key.public_key)
        .bind(7, key.created_at);
    if (auto ran = insert->run(); !ran) {
      return ran.error();
    }
    return key;
  });
}

std::vector<DkimKey> Store::list_dkim_keys(std::string_view tenant_id) const {
  std::lock_guard lock(mutex_);
  std::vector<DkimKey> keys;
  auto query = db_->prepare("SELECT " + std::string(kDkimColumns) +
                            " FROM dkim_keys WHERE ?1 = '' OR tenant_id = ?1"
                            " ORDER BY tenant_id, domain, created_at, rowid");
  if (!query) {
    log::error("store_list_dkim_keys_failed", {{"error", query.error().message}});
    return keys;
  }
  query->bind(1, tenant_id);
  while (next_row(*query, "store_list_dkim_keys_failed")) {
    keys.push_back(read_dkim_row(*query));
  }
  return keys;
}

Result<DkimKey> Store::get_dkim_key(std::string_view tenant_id, std::string_view domain) const {
  auto normalized = normalize_domain(domain);
  if (!normalized) {
    return no_dkim_key(tenant_id, domain);
  }
  std::lock_guard lock(mutex_);
  auto query = db_->prepare("SELECT " + std::string(kDkimColumns) +
                            " FROM dkim_keys WHERE tenant_id = ? AND domain = ?"
                            " ORDER BY created_at DESC, rowid DESC LIMIT 1");
  if (!query) {
    return query.error();
  }
  auto row = query->bind(1, tenant_id).bind(2, *normalized).step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return no_dkim_key(tenant_id, domain);
  }
  return read_dkim_row(*query);
}

Result<void> Store::remove_dkim_key(std::string_view tenant_id,
                                    std::string_view domain,
                                    std::string_view selector) {
  const auto normalized_domain = normalize_domain(domain);
  const auto normalized_selector = normalize_selector(selector);
  const auto missing =
      make_error("tenant '" + std::string(tenant_id) + "' has no DKIM key for '" +
                 std::string(domain) + "' with selector '" + std::string(selector) + "'");
  if (!normalized_domain || !normalized_selector) {
    return missing;
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto remove =
      db.prepare("DELETE FROM dkim_keys WHERE tenant_id = ? AND domain = ? AND selector = ?");
  if (!remove) {
    return remove.error();
  }
  if (auto ran = remove->bind(1, tenant_id)
                     .bind(2, *normalized_domain)
                     .bind(3, *normalized_selector)
                     .run();
      !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return missing;
  }
  return {};
}

// ---- port-25 host overrides ----

Result<HostOverride> Store::set_host_override(std::string_view tenant_id,
                                              HostOverride host_override) {
  if (!is_valid_tenant_id(tenant_id)) {
    return no_tenant(tenant_id);
  }
  host_override.created_at = unix_now();
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<HostOverride> {
    auto tenant = load_tenant(db, tenant_id);
    if (!tenant) {
      return tenant.error();
    }
    if (auto valid = validate_host_override(*tenant, host_override); !valid) {
      return valid.error();
    }
    auto upsert = db.prepare(
        "INSERT INTO port25_overrides (tenant_id, network, length, mode, reason, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (network, length) DO UPDATE SET "
        "mode = excluded.mode, reason = excluded.reason, created_at = excluded.created_at "
        "WHERE tenant_id = excluded.tenant_id");
    if (!upsert) {
      return upsert.error();
    }
    upsert->bind(1, tenant_id)
        .bind(2, host_override.prefix.network.to_string())
        .bind(3, host_override.prefix.length)
        .bind(4, to_string(host_override.mode))
        .bind(5, host_override.reason)
        .bind(6, host_override.created_at);
    if (auto ran = upsert->run(); !ran) {
      return ran.error();
    }
    if (db.changes() ==
        0) {  // the prefix is another tenant's override (cannot happen: subnets are disjoint)
      return make_error(host_override.prefix.to_string() + " is overridden by another tenant");
    }
    return host_override;
  });
}

Result<void> Store::remove_host_override(std::string_view tenant_id, const net::Prefix& prefix) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto remove =
      db.prepare("DELETE FROM port25_overrides WHERE tenant_id = ? AND network = ? AND length = ?");
  if (!remove) {
    return remove.error();
  }
  if (auto ran = remove->bind(1, tenant_id)
                     .bind(2, prefix.network.to_string())
                     .bind(3, prefix.length)
                     .run();
      !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return make_error("tenant '" + std::string(tenant_id) + "' has no override for " +
                      prefix.to_string());
  }
  return {};
}

}  // namespace portcullis::store
