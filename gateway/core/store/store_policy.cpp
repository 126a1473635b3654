// The Store's sending-policy methods (store.hpp): limit overrides, suppression
// lists and webhooks. Kept apart from store.cpp, which holds tenants,
// credentials and keys.

#include "gateway/core/store/store.hpp"

#include <cctype>
#include <charconv>
#include <limits>

#include "gateway/core/auth/password.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/csv.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store_detail.hpp"

namespace portcullis::store {

using detail::next_row;
using detail::no_tenant;
using detail::tenant_exists;
using detail::unix_now;

// ---- limit overrides ----

namespace {

// "monthly_quota, ..., max_message_size, dedicated_ip": the columns of
// tenant_limits are named after the fields.
std::string limit_columns() {
  std::string columns;
  for (const auto& field : limit_fields()) {
    columns += std::string(field.name) + ", ";
  }
  return columns + std::string(kDedicatedIpField);
}

// A row of limit_columns() starting at `first_column`.
LimitOverrides read_limits_row(const Statement& row, int first_column) {
  LimitOverrides overrides;
  int column = first_column;
  for (const auto& field : limit_fields()) {
    if (auto value = row.column_optional_int64(column++); value && *value > 0) {
      overrides.*field.member = static_cast<std::uint64_t>(*value);
    }
  }
  if (!row.column_is_null(column)) {
    overrides.dedicated_ip = row.column_text(column);
  }
  return overrides;
}

}  // namespace

namespace detail {

Result<LimitOverrides> load_limit_overrides(Database& db, std::string_view tenant_id) {
  auto query = db.prepare("SELECT " + limit_columns() + " FROM tenant_limits WHERE tenant_id = ?");
  if (!query) {
    return query.error();
  }
  auto row = query->bind(1, tenant_id).step();
  if (!row) {
    return row.error();
  }
  return *row ? read_limits_row(*query, 0) : LimitOverrides{};
}

Result<std::vector<std::pair<std::string, LimitOverrides>>> load_all_limit_overrides(Database& db) {
  auto query =
      db.prepare("SELECT tenant_id, " + limit_columns() + " FROM tenant_limits ORDER BY tenant_id");
  if (!query) {
    return query.error();
  }
  std::vector<std::pair<std::string, LimitOverrides>> all;
  while (true) {
    auto row = query->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return all;
    }
    all.emplace_back(query->column_text(0), read_limits_row(*query, 1));
  }
}

}  // namespace detail

Result<void> Store::set_limit_overrides(std::string_view tenant_id,
                                        const LimitOverrides& overrides) {
  if (auto valid = validate_limit_overrides(overrides); !valid) {
    return valid;
  }
  if (!is_valid_tenant_id(tenant_id)) {
    return no_tenant(tenant_id);
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<void> {
    auto exists = tenant_exists(db, tenant_id);
    if (!exists) {
      return exists.error();
    }
    if (!*exists) {
      return no_tenant(tenant_id);
    }
    if (overrides.empty()) {
      auto remove = db.prepare("DELETE FROM tenant_limits WHERE tenant_id = ?");
      if (!remove) {
        return remove.error();
      }
      return remove->bind(1, tenant_id).run();
    }
    const auto fields = limit_fields();
    std::string placeholders;
    for (std::size_t i = 0; i < fields.size() + 1; ++i) {
      placeholders += ", ?";
    }
    auto upsert = db.prepare("INSERT OR REPLACE INTO tenant_limits (tenant_id, " + limit_columns() +
                             ", updated_at) VALUES (?" + placeholders + ", ?)");
    if (!upsert) {
      return upsert.error();
    }
    int index = 1;
    upsert->bind(index++, tenant_id);
    for (const auto& field : fields) {
      upsert->bind(index++, overrides.*field.member);
    }
    upsert->bind(index++, overrides.dedicated_ip);
    upsert->bind(index, unix_now());
    return upsert->run();
  });
}

LimitOverrides Store::limit_overrides(std::string_view tenant_id) const {
  std::lock_guard lock(mutex_);
  auto overrides = detail::load_limit_overrides(*db_, tenant_id);
  if (!overrides) {
    log::error("store_limit_overrides_failed",
               {{"tenant", tenant_id}, {"error", overrides.error().message}});
    return {};
  }
  return std::move(*overrides);
}

// ---- suppressions ----

namespace {

constexpr std::string_view kSuppressionColumns = "tenant_id, list, address, reason, created_at";
constexpr std::string_view kCsvColumns = "address,list,reason,created_at";

Result<Suppression> read_suppression_row(const Statement& row) {
  const auto list = parse_suppression_list(row.column_text(1));
  if (!list) {
    return make_error("suppression of '" + row.column_text(2) + "' has a corrupt list in state.db");
  }
  return Suppression{.tenant_id = row.column_text(0),
                     .list = *list,
                     .address = row.column_text(2),
                     .reason = row.column_text(3),
                     .created_at = row.column_int64(4)};
}

// The same tenant, list and address again keeps the first created_at, and the
// reason unless a new one is given.
Result<Statement> prepare_upsert(Database& db) {
  return db.prepare("INSERT INTO suppressions (" + std::string(kSuppressionColumns) +
                    ") VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant_id, list, address) DO UPDATE "
                    "SET reason = CASE WHEN excluded.reason = '' THEN reason "
                    "ELSE excluded.reason END");
}

Result<void> run_upsert(Statement& upsert, const Suppression& s) {
  upsert.reset();
  return upsert.bind(1, s.tenant_id)
      .bind(2, to_string(s.list))
      .bind(3, s.address)
      .bind(4, s.reason)
      .bind(5, s.created_at)
      .run();
}

// Normalises address and reason in place, then checks the address.
Result<void> normalize_suppression(Suppression& s) {
  s.address = normalize_address(s.address);
  if (auto valid = validate_address(s.address); !valid) {
    return valid;
  }
  s.reason = normalize_reason(s.reason);
  if (s.created_at < 0) {
    return make_error("created_at must not be negative");
  }
  return {};
}

std::string lower_trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front())) != 0) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.remove_suffix(1);
  }
  std::string out(text);
  for (auto& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// Column positions in the CSV header; -1 = absent.
struct CsvColumns {
  int address = -1;
  int list = -1;
  int reason = -1;
  int created_at = -1;
};

Result<CsvColumns> read_header(const CsvRecord& header) {
  CsvColumns columns;
  for (std::size_t i = 0; i < header.fields.size(); ++i) {
    const auto name = lower_trimmed(header.fields[i]);
    int* slot = name == "address"      ? &columns.address
                : name == "list"       ? &columns.list
                : name == "reason"     ? &columns.reason
                : name == "created_at" ? &columns.created_at
                                       : nullptr;
    const auto where = "line " + std::to_string(header.line) + ": ";
    if (slot == nullptr) {
      return make_error(where + "unknown column '" + name.substr(0, 64) +
                        "' (the header names the columns: " + std::string(kCsvColumns) +
                        "; address is required)");
    }
    if (*slot != -1) {
      return make_error(where + "column '" + name + "' appears twice");
    }
    *slot = static_cast<int>(i);
  }
  if (columns.address == -1) {
    return make_error("line " + std::to_string(header.line) +
                      ": the header has no 'address' column (columns: " + std::string(kCsvColumns) +
                      ")");
  }
  return columns;
}

Result<Suppression> read_csv_row(const CsvRecord& record,
                                 const CsvColumns& columns,
                                 std::size_t header_size,
                                 std::string_view tenant_id,
                                 std::optional<SuppressionList> default_list,
                                 std::int64_t now) {
  const auto where = "line " + std::to_string(record.line) + ": ";
  if (record.fields.size() != header_size) {
    return make_error(where + std::to_string(record.fields.size()) +
                      " fields, but the header has " + std::to_string(header_size));
  }
  auto field = [&](int column) -> std::string_view {
    return column < 0 ? std::string_view{} : record.fields[static_cast<std::size_t>(column)];
  };
  Suppression s;
  s.tenant_id = tenant_id;
  s.address = field(columns.address);
  s.reason = field(columns.reason);
  s.created_at = now;
  if (const auto list_name = lower_trimmed(field(columns.list)); !list_name.empty()) {
    const auto list = parse_suppression_list(list_name);
    if (!list) {
      return make_error(where + "'" + list_name.substr(0, 64) + "' is not a suppression list (" +
                        std::string(suppression_list_names()) + ")");
    }
    s.list = *list;
  } else if (default_list) {
    s.list = *default_list;
  } else {
    return make_error(where + "no list (fill the list column or name a default list)");
  }
  if (const auto created = lower_trimmed(field(columns.created_at)); !created.empty()) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(created.data(), created.data() + created.size(), value);
    if (ec != std::errc{} || end != created.data() + created.size() || value < 0) {
      return make_error(where + "created_at '" + created.substr(0, 32) +
                        "' is not a time in unix seconds");
    }
    s.created_at = value;
  }
  if (auto valid = normalize_suppression(s); !valid) {
    return make_error(where + valid.error().message);
  }
  return s;
}

Error no_suppression(std::string_view tenant_id,
                     std::string_view address,
                     std::optional<SuppressionList> list) {
  return make_error("tenant '" + std::string(tenant_id) + "' has no suppression of '" +
                    std::string(address) + "'" +
                    (list ? " on its " + std::string(to_string(*list)) + " list" : ""));
}

std::string suppression_key(std::string_view tenant_id, std::string_view address) {
  std::string key(tenant_id);
  key += '\0';
  key += address;
  return key;
}

// Every (tenant, address) on any list; nullopt when they cannot all be read
// (then every lookup asks the database, as before the set existed).
std::optional<std::unordered_set<std::string>> load_suppression_keys(Database& db) {
  auto query = db.prepare("SELECT tenant_id, address FROM suppressions");
  if (!query) {
    log::error("store_suppressions_unreadable", {{"error", query.error().message}});
    return std::nullopt;
  }
  std::unordered_set<std::string> keys;
  for (;;) {
    auto row = query->step();
    if (!row) {
      log::error("store_suppressions_unreadable", {{"error", row.error().message}});
      return std::nullopt;
    }
    if (!*row) {
      return keys;
    }
    keys.insert(suppression_key(query->column_text(0), query->column_text(1)));
  }
}

}  // namespace

void Store::remember_suppression(std::string_view tenant_id, std::string_view address) {
  if (suppression_keys_) {  // mutex_ held by the caller
    suppression_keys_->insert(suppression_key(tenant_id, address));
  }
}

Result<Suppression> Store::add_suppression(Suppression suppression) {
  if (auto valid = normalize_suppression(suppression); !valid) {
    return valid.error();
  }
  if (suppression.created_at == 0) {
    suppression.created_at = unix_now();
  }
  if (!is_valid_tenant_id(suppression.tenant_id)) {
    return no_tenant(suppression.tenant_id);
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto added = db.transaction([&]() -> Result<Suppression> {
    auto exists = tenant_exists(db, suppression.tenant_id);
    if (!exists) {
      return exists.error();
    }
    if (!*exists) {
      return no_tenant(suppression.tenant_id);
    }
    auto upsert = prepare_upsert(db);
    if (!upsert) {
      return upsert.error();
    }
    if (auto ran = run_upsert(*upsert, suppression); !ran) {
      return ran.error();
    }
    auto stored = db.prepare("SELECT " + std::string(kSuppressionColumns) +
                             " FROM suppressions WHERE tenant_id = ? AND list = ? AND address = ?");
    if (!stored) {
      return stored.error();
    }
    auto row = stored->bind(1, suppression.tenant_id)
                   .bind(2, to_string(suppression.list))
                   .bind(3, suppression.address)
                   .step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return make_error("the suppression of '" + suppression.address + "' vanished");
    }
    return read_suppression_row(*stored);
  });
  if (added) {
    remember_suppression(added->tenant_id, added->address);
  }
  return added;
}

Result<void> Store::remove_suppression(std::string_view tenant_id,
                                       std::string_view address,
                                       std::optional<SuppressionList> list) {
  const auto normalized = normalize_address(address);
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto remove = db.prepare(
      "DELETE FROM suppressions WHERE tenant_id = ?1 AND address = ?2 AND (?3 IS NULL OR list = "
      "?3)");
  if (!remove) {
    return remove.error();
  }
  remove->bind(1, tenant_id).bind(2, normalized);
  if (list) {
    remove->bind(3, to_string(*list));
  }
  if (auto ran = remove->run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return no_suppression(tenant_id, normalized, list);
  }
  return {};
}

std::vector<Suppression> Store::list_suppressions(std::string_view tenant_id,
                                                  std::optional<SuppressionList> list) const {
  std::lock_guard lock(mutex_);
  std::vector<Suppression> out;
  auto query = db_->prepare("SELECT " + std::string(kSuppressionColumns) +
                            " FROM suppressions WHERE tenant_id = ?1 AND (?2 IS NULL OR list = ?2)"
                            " ORDER BY list, address");
  if (!query) {
    log::error("store_list_suppressions_failed", {{"error", query.error().message}});
    return out;
  }
  query->bind(1, tenant_id);
  if (list) {
    query->bind(2, to_string(*list));
  }
  while (next_row(*query, "store_list_suppressions_failed")) {
    auto s = read_suppression_row(*query);
    if (!s) {
      log::error("store_corrupt_suppression", {{"error", s.error().message}});
      continue;
    }
    out.push_back(std::move(*s));
  }
  return out;
}

std::optional<Suppression> Store::find_suppression(std::string_view tenant_id,
                                                   std::string_view address) const {
  const auto normalized = normalize_address(address);
  if (normalized.empty() || normalized.size() > kMaxAddress || tenant_id.empty()) {
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  if (!suppression_keys_) {
    suppression_keys_ = load_suppression_keys(*db_);
  }
  // Almost every recipient is on no list: answered from memory, no query.
  if (suppression_keys_ && !suppression_keys_->contains(suppression_key(tenant_id, normalized))) {
    return std::nullopt;
  }
  if (!find_suppression_) {
    auto prepared = db_->prepare(detail::kFindSuppressionSql);
    if (!prepared) {
      log::error("store_find_suppression_failed", {{"error", prepared.error().message}});
      return std::nullopt;
    }
    find_suppression_ = std::make_unique<Statement>(std::move(*prepared));
  }
  auto& query = *find_suppression_;
  query.reset();
  query.bind(1, tenant_id).bind(2, normalized);
  std::optional<Suppression> found;
  while (next_row(query, "store_find_suppression_failed")) {
    auto s = read_suppression_row(query);
    if (s && (!found || s->list < found->list)) {
      found = std::move(*s);
    }
  }
  // Reset now, not on the next call: a statement left mid-way would keep a read
  // transaction open and pin the WAL.
  query.reset();
  return found;
}

Result<std::size_t> Store::import_suppressions(std::string_view tenant_id,
                                               std::string_view csv,
                                               std::optional<SuppressionList> default_list) {
  auto records = parse_csv(csv);
  if (!records) {
    return records.error();
  }
  if (records->empty()) {
    return make_error("the CSV is empty: it needs a header line naming the columns (" +
                      std::string(kCsvColumns) + ")");
  }
  auto columns = read_header(records->front());
  if (!columns) {
    return columns.error();
  }
  const auto now = unix_now();
  std::vector<Suppression> rows;
  rows.reserve(records->size() - 1);
  for (std::size_t i = 1; i < records->size(); ++i) {
    auto row = read_csv_row((*records)[i], *columns, records->front().fields.size(), tenant_id,
                            default_list, now);
    if (!row) {
      return row.error();
    }
    rows.push_back(std::move(*row));
  }
  if (!is_valid_tenant_id(tenant_id)) {
    return no_tenant(tenant_id);
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto imported = db.transaction([&]() -> Result<std::size_t> {
    auto exists = tenant_exists(db, tenant_id);
    if (!exists) {
      return exists.error();
    }
    if (!*exists) {
      return no_tenant(tenant_id);
    }
    auto upsert = prepare_upsert(db);
    if (!upsert) {
      return upsert.error();
    }
    for (const auto& row : rows) {
      if (auto ran = run_upsert(*upsert, row); !ran) {
        return ran.error();
      }
    }
    return rows.size();
  });
  if (imported) {
    for (const auto& row : rows) {
      remember_suppression(row.tenant_id, row.address);
    }
  }
  return imported;
}

std::string Store::export_suppressions_csv(std::string_view tenant_id,
                                           std::optional<SuppressionList> list) const {
  std::string out = std::string(kCsvColumns) + "\n";
  for (const auto& s : list_suppressions(tenant_id, list)) {
    out += csv_field(s.address) + "," + std::string(to_string(s.list)) + "," + csv_field(s.reason) +
           "," + std::to_string(s.created_at) + "\n";
  }
  return out;
}

// ---- webhooks ----

namespace {

constexpr std::string_view kWebhookColumns = "tenant_id, url, secret, created_at";
constexpr std::size_t kSecretHexDigits = 64;  // 32 bytes

Webhook read_webhook_row(const Statement& row) {
  return Webhook{.tenant_id = row.column_text(0),
                 .url = row.column_text(1),
                 .secret = row.column_text(2),
                 .created_at = row.column_int64(3)};
}

}  // namespace

Result<Webhook> Store::set_webhook(std::string_view tenant_id, std::string_view url) {
  if (auto valid = validate_webhook_url(url); !valid) {
    return valid.error();
  }
  if (!is_valid_tenant_id(tenant_id)) {
    return no_tenant(tenant_id);
  }
  Webhook webhook{.tenant_id = std::string(tenant_id),
                  .url = std::string(url),
                  .secret = auth::random_string(kSecretHexDigits, "0123456789abcdef"),
                  .created_at = unix_now()};
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<Webhook> {
    auto exists = tenant_exists(db, tenant_id);
    if (!exists) {
      return exists.error();
    }
    if (!*exists) {
      return no_tenant(tenant_id);
    }
    auto upsert = db.prepare("INSERT OR REPLACE INTO webhooks (" + std::string(kWebhookColumns) +
                             ") VALUES (?, ?, ?, ?)");
    if (!upsert) {
      return upsert.error();
    }
    if (auto ran = upsert->bind(1, webhook.tenant_id)
                       .bind(2, webhook.url)
                       .bind(3, webhook.secret)
                       .bind(4, webhook.created_at)
                       .run();
        !ran) {
      return ran.error();
    }
    return webhook;
  });
}

std::optional<Webhook> Store::get_webhook(std::string_view tenant_id) const {
  std::lock_guard lock(mutex_);
  auto query =
      db_->prepare("SELECT " + std::string(kWebhookColumns) + " FROM webhooks WHERE tenant_id = ?");
  if (!query) {
    log::error("store_get_webhook_failed", {{"error", query.error().message}});
    return std::nullopt;
  }
  query->bind(1, tenant_id);
  if (!next_row(*query, "store_get_webhook_failed")) {
    return std::nullopt;
  }
  return read_webhook_row(*query);
}

std::vector<Webhook> Store::list_webhooks() const {
  std::lock_guard lock(mutex_);
  std::vector<Webhook> out;
  auto query =
      db_->prepare("SELECT " + std::string(kWebhookColumns) + " FROM webhooks ORDER BY tenant_id");
  if (!query) {
    log::error("store_list_webhooks_failed", {{"error", query.error().message}});
    return out;
  }
  while (next_row(*query, "store_list_webhooks_failed")) {
    out.push_back(read_webhook_row(*query));
  }
  return out;
}

Result<void> Store::remove_webhook(std::string_view tenant_id) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto remove = db.prepare("DELETE FROM webhooks WHERE tenant_id = ?");
  if (!remove) {
    return remove.error();
  }
  if (auto ran = remove->bind(1, tenant_id).run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return make_error("tenant '" + std::string(tenant_id) + "' has no webhook");
  }
  return {};
}

}  // namespace portcullis::store
