// The abuse desk's tables in state.db (migration 9). Every method takes the
// mutex and talks to its own connection; none of them touches the tables of
// the Store, and the Store never touches these.
#include "gateway/core/store/abuse_store.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <system_error>

#include "gateway/core/log/log.hpp"
#include "gateway/core/store/migrations.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store_detail.hpp"

namespace portcullis::store {
namespace {

using detail::next_row;
using detail::unix_now;

// The migration that creates the abuse tables.
constexpr int kAbuseSchemaVersion = 9;

constexpr std::string_view kSignalColumns =
    "id, tenant_id, host, kind, time, strength, evidence, ticket_id";
constexpr std::string_view kTicketColumns =
    "id, tenant_id, category, status, hosts, summary, opened_by, opened_at, updated_at, "
    "notified_at, reminders";
constexpr std::string_view kActionColumns =
    "id, ticket_id, kind, target, previous, applied_at, reverted_at, reverted_by";
constexpr std::string_view kAuditColumns = "id, time, actor, subject, subject_id, action, text";
constexpr std::string_view kExceptionColumns =
    "id, tenant_id, network, length, reason, use_case, reverse_dns, expected_volume, status, "
    "requested_by, requested_at, decided_by, decided_at, decision_reason, expires_at, "
    "previous_mode, previous_reason";
// Without raw: listings never load the message bytes.
constexpr std::string_view kReportColumns =
    "id, received_at, client_address, mail_from, recipient, kind, status, tenant_id, summary";

std::string sql(std::string_view head, std::string_view columns, std::string_view tail) {
  return std::string(head) + std::string(columns) + std::string(tail);
}

Error corrupt(std::string_view what, std::int64_t id) {
  return make_error(std::string(what) + " " + std::to_string(id) +
                    " has a corrupt row in state.db");
}

Error missing(std::string_view what, std::int64_t id) {
  return make_error("no " + std::string(what) + " " + std::to_string(id));
}

std::int64_t or_now(std::int64_t time) {
  return time != 0 ? time : unix_now();
}

std::int64_t limit_of(std::size_t limit) {
  return static_cast<std::int64_t>(
      std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max()));
}

// ---- hosts: sorted, unique, one per line in tickets.hosts ----

Result<std::vector<std::string>> normalize_hosts(std::vector<std::string> hosts) {
  for (const auto& host : hosts) {
    const bool control = std::any_of(host.begin(), host.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u < 0x20 || u == 0x7f;
    });
    if (control) {
      return make_error("ticket host '" + host + "' contains control characters");
    }
  }
  std::erase(hosts, std::string());
  std::sort(hosts.begin(), hosts.end());
  hosts.erase(std::unique(hosts.begin(), hosts.end()), hosts.end());
  return hosts;
}

std::string join_hosts(const std::vector<std::string>& hosts) {
  std::string out;
  for (const auto& host : hosts) {
    if (!out.empty()) {
      out += '\n';
    }
    out += host;
  }
  return out;
}

std::vector<std::string> split_hosts(std::string_view text) {
  std::vector<std::string> hosts;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto host = text.substr(0, end);
    if (!host.empty()) {
      hosts.emplace_back(host);
    }
    if (end == std::string_view::npos) {
      break;
    }
    text.remove_prefix(end + 1);
  }
  return hosts;
}

// ---- rows ----

Result<Signal> read_signal(const Statement& row) {
  Signal signal;
  signal.id = row.column_int64(0);
  signal.tenant_id = row.column_text(1);
  signal.host = row.column_text(2);
  const auto kind = parse_signal_kind(row.column_text(3));
  if (!kind) {
    return corrupt("signal", signal.id);
  }
  signal.kind = *kind;
  signal.time = row.column_int64(4);
  signal.strength = row.column_double(5);
  signal.evidence = row.column_text(6);
  signal.ticket_id = row.column_optional_int64(7);
  return signal;
}

Result<Ticket> read_ticket(const Statement& row) {
  Ticket ticket;
  ticket.id = row.column_int64(0);
  ticket.tenant_id = row.column_text(1);
  const auto category = parse_ticket_category(row.column_text(2));
  const auto status = parse_ticket_status(row.column_text(3));
  if (!category || !status) {
    return corrupt("ticket", ticket.id);
  }
  ticket.category = *category;
  ticket.status = *status;
  ticket.hosts = split_hosts(row.column_text(4));
  ticket.summary = row.column_text(5);
  ticket.opened_by = row.column_text(6);
  ticket.opened_at = row.column_int64(7);
  ticket.updated_at = row.column_int64(8);
  ticket.notified_at = row.column_int64(9);
  ticket.reminders = static_cast<int>(row.column_int64(10));
  return ticket;
}

Result<TicketAction> read_action(const Statement& row) {
  TicketAction action;
  action.id = row.column_int64(0);
  action.ticket_id = row.column_int64(1);
  const auto kind = parse_action_kind(row.column_text(2));
  if (!kind) {
    return corrupt("action", action.id);
  }
  action.kind = *kind;
  action.target = row.column_text(3);
  action.previous = row.column_text(4);
  action.applied_at = row.column_int64(5);
  action.reverted_at = row.column_optional_int64(6);
  action.reverted_by = row.column_text(7);
  return action;
}

AuditEntry read_audit(const Statement& row) {
  return AuditEntry{.id = row.column_int64(0),
                    .time = row.column_int64(1),
                    .actor = row.column_text(2),
                    .subject = row.column_text(3),
                    .subject_id = row.column_int64(4),
                    .action = row.column_text(5),
                    .text = row.column_text(6)};
}

Result<ExceptionRequest> read_exception(const Statement& row) {
  ExceptionRequest request;
  request.id = row.column_int64(0);
  request.tenant_id = row.column_text(1);
  auto prefix = net::Prefix::parse(row.column_text(2) + "/" + std::to_string(row.column_int64(3)));
  const auto status = parse_exception_status(row.column_text(8));
  if (!prefix || !status) {
    return corrupt("exception request", request.id);
  }
  request.prefix = *prefix;
  request.reason = row.column_text(4);
  request.use_case = row.column_text(5);
  request.reverse_dns = row.column_text(6);
  request.expected_volume =
      static_cast<std::uint64_t>(std::max<std::int64_t>(row.column_int64(7), 0));
  request.status = *status;
  request.requested_by = row.column_text(9);
  request.requested_at = row.column_int64(10);
  request.decided_by = row.column_text(11);
  request.decided_at = row.column_int64(12);
  request.decision_reason = row.column_text(13);
  request.expires_at = row.column_optional_int64(14);
  request.previous_mode = row.column_text(15);
  request.previous_reason = row.column_text(16);
  return request;
}

// The columns of kReportColumns, then raw when `with_raw`.
Result<InboundReport> read_report(const Statement& row, bool with_raw) {
  InboundReport report;
  report.id = row.column_int64(0);
  report.received_at = row.column_int64(1);
  report.client_address = row.column_text(2);
  report.mail_from = row.column_text(3);
  report.recipient = row.column_text(4);
  const auto kind = parse_report_kind(row.column_text(5));
  const auto status = parse_report_status(row.column_text(6));
  if (!kind || !status) {
    return corrupt("report", report.id);
  }
  report.kind = *kind;
  report.status = *status;
  report.tenant_id = row.column_text(7);
  report.summary = row.column_text(8);
  if (with_raw) {
    report.raw = row.column_blob(9);
  }
  return report;
}

// ---- shared steps (callers hold the mutex) ----

Result<bool> row_exists(Database& db, std::string_view table, std::int64_t id) {
  auto query = db.prepare("SELECT 1 FROM " + std::string(table) + " WHERE id = ?");
  if (!query) {
    return query.error();
  }
  return query->bind(1, id).step();
}

Result<void> require_ticket(Database& db, std::int64_t id) {
  auto exists = row_exists(db, "tickets", id);
  if (!exists) {
    return exists.error();
  }
  if (!*exists) {
    return missing("ticket", id);
  }
  return {};
}

Result<Ticket> load_ticket(Database& db, std::int64_t id) {
  auto query = db.prepare(sql("SELECT ", kTicketColumns, " FROM tickets WHERE id = ?"));
  if (!query) {
    return query.error();
  }
  auto row = query->bind(1, id).step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return missing("ticket", id);
  }
  return read_ticket(*query);
}

Result<void> check_audit(const AuditEntry& entry) {
  if (entry.subject != "ticket" && entry.subject != "exception") {
    return make_error("audit subject must be 'ticket' or 'exception', not '" + entry.subject + "'");
  }
  if (entry.action.empty()) {
    return make_error("an audit entry needs an action");
  }
  return {};
}

Result<AuditEntry> insert_audit(Database& db, AuditEntry entry) {
  auto insert = db.prepare(
      "INSERT INTO audit (time, actor, subject, subject_id, action, text) VALUES (?, ?, ?, ?, ?, "
      "?)");
  if (!insert) {
    return insert.error();
  }
  insert->bind(1, entry.time)
      .bind(2, entry.actor)
      .bind(3, entry.subject)
      .bind(4, entry.subject_id)
      .bind(5, entry.action)
      .bind(6, entry.text);
  if (auto ran = insert->run(); !ran) {
    return ran.error();
  }
  entry.id = db.last_insert_rowid();
  return entry;
}

Result<std::vector<AuditEntry>> load_audit(Database& db,
                                           std::string_view subject,
                                           std::int64_t subject_id) {
  auto query = db.prepare(sql("SELECT ", kAuditColumns,
                              " FROM audit WHERE subject = ? AND subject_id = ? ORDER BY id"));
  if (!query) {
    return query.error();
  }
  query->bind(1, subject).bind(2, subject_id);
  std::vector<AuditEntry> entries;
  while (true) {
    auto row = query->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return entries;
    }
    entries.push_back(read_audit(*query));
  }
}

// Every row of `query` through `read`, for reads that must be whole (one
// ticket's detail): the first step or row error is the answer.
template <class T, class Read>
Result<std::vector<T>> read_all(Statement& query, Read read) {
  std::vector<T> out;
  while (true) {
    auto row = query.step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return out;
    }
    auto item = read(query);
    if (!item) {
      return item.error();
    }
    out.push_back(std::move(*item));
  }
}

// The rows of one ticket (`select` has one parameter, the ticket id), whole or an error.
template <class T, class Read>
Result<std::vector<T>> read_ticket_rows(Database& db,
                                        const std::string& select,
                                        std::int64_t ticket_id,
                                        Read read) {
  auto query = db.prepare(select);
  if (!query) {
    return query.error();
  }
  query->bind(1, ticket_id);
  return read_all<T>(*query, read);
}

// Runs `query` to the end, appending each row `read` accepts; corrupt rows are
// logged and skipped, so a listing shows what it can.
template <class T, class Read>
void collect(Statement& query, std::string_view event, Read read, std::vector<T>& out) {
  while (next_row(query, event)) {
    auto item = read(query);
    if (!item) {
      log::error(event, {{"error", item.error().message}});
      continue;
    }
    out.push_back(std::move(*item));
  }
}

}  // namespace

AbuseStore::AbuseStore(std::unique_ptr<Database> db) : db_(std::move(db)) {}

AbuseStore::~AbuseStore() = default;

std::unique_ptr<AbuseStore> AbuseStore::open(const std::filesystem::path& state_dir) {
  const auto path = state_dir / "state.db";
  // Database::open would create an empty file; the Store creates and migrates it.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw std::runtime_error(path.string() +
                             " does not exist: the Store opens (and migrates) it before the "
                             "abuse store");
  }
  // FULL: a report is on disk when add_report() returns, before the feedback
  // listener answers 250. synchronous is per connection; the Store's stays NORMAL.
  auto db = Database::open(path, OpenOptions{.synchronous = Synchronous::full});
  if (!db) {
    throw std::runtime_error(db.error().message);
  }
  auto version = schema_version(*db);
  if (!version) {
    throw std::runtime_error(path.string() + ": " + version.error().message);
  }
  const int known = static_cast<int>(state_migrations().size());
  if (*version < kAbuseSchemaVersion || *version > known) {
    throw std::runtime_error(path.string() + " has schema version " + std::to_string(*version) +
                             "; the abuse store needs " + std::to_string(kAbuseSchemaVersion) +
                             " to " + std::to_string(known) + " (open the Store first)");
  }
  return std::unique_ptr<AbuseStore>(new AbuseStore(std::make_unique<Database>(std::move(*db))));
}

// ---- signals ----

Result<Signal> AbuseStore::add_signal(Signal signal) {
  if (!std::isfinite(signal.strength)) {
    return make_error("signal strength must be a finite number");
  }
  signal.time = or_now(signal.time);
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  if (signal.ticket_id) {
    if (auto found = require_ticket(db, *signal.ticket_id); !found) {
      return found.error();
    }
  }
  auto insert = db.prepare(
      "INSERT INTO signals (tenant_id, host, kind, time, strength, evidence, ticket_id) VALUES "
      "(?, ?, ?, ?, ?, ?, ?)");
  if (!insert) {
    return insert.error();
  }
  insert->bind(1, signal.tenant_id)
      .bind(2, signal.host)
      .bind(3, to_string(signal.kind))
      .bind(4, signal.time)
      .bind(5, signal.strength)
      .bind(6, signal.evidence)
      .bind(7, signal.ticket_id);
  if (auto ran = insert->run(); !ran) {
    return ran.error();
  }
  signal.id = db.last_insert_rowid();
  return signal;
}

std::vector<Signal> AbuseStore::signals(std::string_view tenant_id, std::int64_t since) const {
  std::lock_guard lock(mutex_);
  std::vector<Signal> out;
  auto query =
      db_->prepare(sql("SELECT ", kSignalColumns,
                       " FROM signals WHERE tenant_id = ? AND time >= ? ORDER BY time, id"));
  if (!query) {
    log::error("abuse_store_signals_failed", {{"error", query.error().message}});
    return out;
  }
  query->bind(1, tenant_id).bind(2, since);
  collect(*query, "abuse_store_signals_failed", read_signal, out);
  return out;
}

std::optional<Signal> AbuseStore::last_signal(std::string_view tenant_id,
                                              SignalKind kind,
                                              std::string_view host) const {
  std::lock_guard lock(mutex_);
  auto query = db_->prepare(sql("SELECT ", kSignalColumns,
                                " FROM signals WHERE tenant_id = ? AND kind = ? AND host = ? "
                                "ORDER BY time DESC, id DESC LIMIT 1"));
  if (!query) {
    log::error("abuse_store_last_signal_failed", {{"error", query.error().message}});
    return std::nullopt;
  }
  query->bind(1, tenant_id).bind(2, to_string(kind)).bind(3, host);
  if (!next_row(*query, "abuse_store_last_signal_failed")) {
    return std::nullopt;
  }
  auto signal = read_signal(*query);
  if (!signal) {
    log::error("abuse_store_last_signal_failed", {{"error", signal.error().message}});
    return std::nullopt;
  }
  return std::move(*signal);
}

Result<void> AbuseStore::attach_signal(std::int64_t signal_id, std::int64_t ticket_id) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  if (auto found = require_ticket(db, ticket_id); !found) {
    return found;
  }
  auto update = db.prepare("UPDATE signals SET ticket_id = ? WHERE id = ?");
  if (!update) {
    return update.error();
  }
  if (auto ran = update->bind(1, ticket_id).bind(2, signal_id).run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return missing("signal", signal_id);
  }
  return {};
}

// ---- tickets ----

Result<Ticket> AbuseStore::open_ticket(Ticket ticket, std::string_view note) {
  if (ticket.opened_by.empty()) {
    return make_error("a ticket needs opened_by (\"auto\" or \"desk:NAME\")");
  }
  auto hosts = normalize_hosts(std::move(ticket.hosts));
  if (!hosts) {
    return hosts.error();
  }
  ticket.hosts = std::move(*hosts);
  ticket.opened_at = or_now(ticket.opened_at);
  if (ticket.updated_at == 0) {
    ticket.updated_at = ticket.opened_at;
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  return db.transaction([&]() -> Result<Ticket> {
    auto insert = db.prepare(
        "INSERT INTO tickets (tenant_id, category, status, hosts, summary, opened_by, opened_at, "
        "updated_at, notified_at, reminders) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!insert) {
      return insert.error();
    }
    insert->bind(1, ticket.tenant_id)
        .bind(2, to_string(ticket.category))
        .bind(3, to_string(ticket.status))
        .bind(4, join_hosts(ticket.hosts))
        .bind(5, ticket.summary)
        .bind(6, ticket.opened_by)
        .bind(7, ticket.opened_at)
        .bind(8, ticket.updated_at)
        .bind(9, ticket.notified_at)
        .bind(10, ticket.reminders);
    if (auto ran = insert->run(); !ran) {
      return ran.error();
    }
    ticket.id = db.last_insert_rowid();
    auto opened = insert_audit(db, AuditEntry{.time = ticket.opened_at,
                                              .actor = ticket.opened_by,
                                              .subject = "ticket",
                                              .subject_id = ticket.id,
                                              .action = "opened",
                                              .text = std::string(note)});
    if (!opened) {
      return opened.error();
    }
    return ticket;
  });
}

Result<Ticket> AbuseStore::get_ticket(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  return load_ticket(*db_, id);
}

Result<TicketDetail> AbuseStore::ticket_detail(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  TicketDetail detail;
  auto ticket = load_ticket(db, id);
  if (!ticket) {
    return ticket.error();
  }
  detail.ticket = std::move(*ticket);

  auto signals = read_ticket_rows<Signal>(
      db, sql("SELECT ", kSignalColumns, " FROM signals WHERE ticket_id = ? ORDER BY time, id"), id,
      read_signal);
  if (!signals) {
    return signals.error();
  }
  detail.signals = std::move(*signals);
  auto actions = read_ticket_rows<TicketAction>(
      db, sql("SELECT ", kActionColumns, " FROM ticket_actions WHERE ticket_id = ? ORDER BY id"),
      id, read_action);
  if (!actions) {
    return actions.error();
  }
  detail.actions = std::move(*actions);

  auto history = load_audit(db, "ticket", id);
  if (!history) {
    return history.error();
  }
  detail.history = std::move(*history);
  return detail;
}

std::vector<Ticket> AbuseStore::list_tickets(const TicketFilter& filter) const {
  std::string where = " WHERE 1";
  const bool by_tenant = !filter.any_tenant || !filter.tenant_id.empty();
  if (by_tenant) {
    where += " AND tenant_id = ?1";
  }
  if (filter.category) {
    where += " AND category = ?2";
  }
  if (filter.status) {
    where += " AND status = ?3";
  }
  std::lock_guard lock(mutex_);
  std::vector<Ticket> out;
  auto query = db_->prepare(
      sql("SELECT ", kTicketColumns, " FROM tickets" + where + " ORDER BY id DESC LIMIT ?4"));
  if (!query) {
    log::error("abuse_store_list_tickets_failed", {{"error", query.error().message}});
    return out;
  }
  if (by_tenant) {
    query->bind(1, filter.tenant_id);
  }
  if (filter.category) {
    query->bind(2, to_string(*filter.category));
  }
  if (filter.status) {
    query->bind(3, to_string(*filter.status));
  }
  query->bind(4, limit_of(filter.limit));
  collect(*query, "abuse_store_list_tickets_failed", read_ticket, out);
  return out;
}

std::optional<Ticket> AbuseStore::active_ticket(std::string_view tenant_id,
                                                TicketCategory category) const {
  std::lock_guard lock(mutex_);
  auto query = db_->prepare(sql("SELECT ", kTicketColumns,
                                " FROM tickets WHERE tenant_id = ? AND category = ? AND status "
                                "IN ('open', 'waiting') ORDER BY id DESC LIMIT 1"));
  if (!query) {
    log::error("abuse_store_active_ticket_failed", {{"error", query.error().message}});
    return std::nullopt;
  }
  query->bind(1, tenant_id).bind(2, to_string(category));
  if (!next_row(*query, "abuse_store_active_ticket_failed")) {
    return std::nullopt;
  }
  auto ticket = read_ticket(*query);
  if (!ticket) {
    log::error("abuse_store_active_ticket_failed", {{"error", ticket.error().message}});
    return std::nullopt;
  }
  return std::move(*ticket);
}

Result<void> AbuseStore::update_ticket(const Ticket& ticket) {
  auto hosts = normalize_hosts(ticket.hosts);
  if (!hosts) {
    return hosts.error();
  }
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto update = db.prepare(
      "UPDATE tickets SET status = ?, hosts = ?, summary = ?, notified_at = ?, reminders = ?, "
      "updated_at = ? WHERE id = ?");
  if (!update) {
    return update.error();
  }
  update->bind(1, to_string(ticket.status))
      .bind(2, join_hosts(*hosts))
      .bind(3, ticket.summary)
      .bind(4, ticket.notified_at)
      .bind(5, ticket.reminders)
      .bind(6, unix_now())
      .bind(7, ticket.id);
  if (auto ran = update->run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return missing("ticket", ticket.id);
  }
  return {};
}

Result<TicketAction> AbuseStore::add_action(TicketAction action) {
  action.applied_at = or_now(action.applied_at);
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  if (auto found = require_ticket(db, action.ticket_id); !found) {
    return found.error();
  }
  auto insert = db.prepare(
      "INSERT INTO ticket_actions (ticket_id, kind, target, previous, applied_at, reverted_at, "
      "reverted_by) VALUES (?, ?, ?, ?, ?, ?, ?)");
  if (!insert) {
    return insert.error();
  }
  insert->bind(1, action.ticket_id)
      .bind(2, to_string(action.kind))
      .bind(3, action.target)
      .bind(4, action.previous)
      .bind(5, action.applied_at)
      .bind(6, action.reverted_at)
      .bind(7, action.reverted_by);
  if (auto ran = insert->run(); !ran) {
    return ran.error();
  }
  action.id = db.last_insert_rowid();
  return action;
}

Result<void> AbuseStore::mark_action_reverted(std::int64_t action_id, std::string_view actor) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto update = db.prepare(
      "UPDATE ticket_actions SET reverted_at = ?, reverted_by = ? WHERE id = ? AND reverted_at IS "
      "NULL");
  if (!update) {
    return update.error();
  }
  if (auto ran = update->bind(1, unix_now()).bind(2, actor).bind(3, action_id).run(); !ran) {
    return ran;
  }
  if (db.changes() != 0) {
    return {};
  }
  auto exists = row_exists(db, "ticket_actions", action_id);
  if (!exists) {
    return exists.error();
  }
  if (!*exists) {
    return missing("action", action_id);
  }
  return make_error("action " + std::to_string(action_id) + " is already reverted");
}

// ---- exception requests ----

Result<ExceptionRequest> AbuseStore::add_exception(ExceptionRequest request) {
  request.requested_at = or_now(request.requested_at);
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto insert = db.prepare(
      "INSERT INTO exception_requests (tenant_id, network, length, reason, use_case, reverse_dns, "
      "expected_volume, status, requested_by, requested_at, decided_by, decided_at, "
      "decision_reason, expires_at, previous_mode, previous_reason) VALUES (?, ?, ?, ?, ?, ?, ?, "
      "?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) {
    return insert.error();
  }
  // SQLite integers are signed; no one sends 2^63 messages a day.
  const auto volume = static_cast<std::int64_t>(
      std::min<std::uint64_t>(request.expected_volume, std::numeric_limits<std::int64_t>::max()));
  insert->bind(1, request.tenant_id)
      .bind(2, request.prefix.network.to_string())
      .bind(3, request.prefix.length)
      .bind(4, request.reason)
      .bind(5, request.use_case)
      .bind(6, request.reverse_dns)
      .bind(7, volume)
      .bind(8, to_string(request.status))
      .bind(9, request.requested_by)
      .bind(10, request.requested_at)
      .bind(11, request.decided_by)
      .bind(12, request.decided_at)
      .bind(13, request.decision_reason)
      .bind(14, request.expires_at)
      .bind(15, request.previous_mode)
      .bind(16, request.previous_reason);
  if (auto ran = insert->run(); !ran) {
    return ran.error();
  }
  request.id = db.last_insert_rowid();
  request.expected_volume = static_cast<std::uint64_t>(volume);
  return request;
}

Result<ExceptionRequest> AbuseStore::get_exception(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  auto query =
      db_->prepare(sql("SELECT ", kExceptionColumns, " FROM exception_requests WHERE id = ?"));
  if (!query) {
    return query.error();
  }
  auto row = query->bind(1, id).step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return missing("exception request", id);
  }
  return read_exception(*query);
}

std::vector<ExceptionRequest> AbuseStore::list_exceptions(
    std::string_view tenant_id, std::optional<ExceptionStatus> status) const {
  std::string where = " WHERE 1";
  if (!tenant_id.empty()) {
    where += " AND tenant_id = ?1";
  }
  if (status) {
    where += " AND status = ?2";
  }
  std::lock_guard lock(mutex_);
  std::vector<ExceptionRequest> out;
  auto query = db_->prepare(
      sql("SELECT ", kExceptionColumns, " FROM exception_requests" + where + " ORDER BY id DESC"));
  if (!query) {
    log::error("abuse_store_list_exceptions_failed", {{"error", query.error().message}});
    return out;
  }
  if (!tenant_id.empty()) {
    query->bind(1, tenant_id);
  }
  if (status) {
    query->bind(2, to_string(*status));
  }
  collect(*query, "abuse_store_list_exceptions_failed", read_exception, out);
  return out;
}

Result<void> AbuseStore::update_exception(const ExceptionRequest& request) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto update = db.prepare(
      "UPDATE exception_requests SET status = ?, decided_by = ?, decided_at = ?, "
      "decision_reason = ?, expires_at = ?, previous_mode = ?, previous_reason = ? WHERE id = ?");
  if (!update) {
    return update.error();
  }
  update->bind(1, to_string(request.status))
      .bind(2, request.decided_by)
      .bind(3, request.decided_at)
      .bind(4, request.decision_reason)
      .bind(5, request.expires_at)
      .bind(6, request.previous_mode)
      .bind(7, request.previous_reason)
      .bind(8, request.id);
  if (auto ran = update->run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return missing("exception request", request.id);
  }
  return {};
}

// ---- audit ----

Result<AuditEntry> AbuseStore::audit(AuditEntry entry) {
  if (auto valid = check_audit(entry); !valid) {
    return valid.error();
  }
  entry.time = or_now(entry.time);
  std::lock_guard lock(mutex_);
  return insert_audit(*db_, std::move(entry));
}

std::vector<AuditEntry> AbuseStore::audit_trail(std::string_view subject,
                                                std::int64_t subject_id) const {
  std::lock_guard lock(mutex_);
  auto entries = load_audit(*db_, subject, subject_id);
  if (!entries) {
    log::error("abuse_store_audit_trail_failed", {{"error", entries.error().message}});
    return {};
  }
  return std::move(*entries);
}

// ---- reports ----

Result<InboundReport> AbuseStore::add_report(InboundReport report) {
  report.received_at = or_now(report.received_at);
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto insert = db.prepare(
      "INSERT INTO inbound_reports (received_at, client_address, mail_from, recipient, kind, "
      "status, tenant_id, summary, raw) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!insert) {
    return insert.error();
  }
  insert->bind(1, report.received_at)
      .bind(2, report.client_address)
      .bind(3, report.mail_from)
      .bind(4, report.recipient)
      .bind(5, to_string(report.kind))
      .bind(6, to_string(report.status))
      .bind(7, report.tenant_id)
      .bind(8, report.summary)
      .bind_blob(9, report.raw);
  // Autocommit with synchronous=FULL: the WAL is fsync'd before run() returns.
  if (auto ran = insert->run(); !ran) {
    return ran.error();
  }
  report.id = db.last_insert_rowid();
  return report;
}

Result<void> AbuseStore::update_report(const InboundReport& report) {
  std::lock_guard lock(mutex_);
  auto& db = *db_;
  auto update = db.prepare(
      "UPDATE inbound_reports SET kind = ?, status = ?, tenant_id = ?, summary = ? WHERE id = ?");
  if (!update) {
    return update.error();
  }
  update->bind(1, to_string(report.kind))
      .bind(2, to_string(report.status))
      .bind(3, report.tenant_id)
      .bind(4, report.summary)
      .bind(5, report.id);
  if (auto ran = update->run(); !ran) {
    return ran;
  }
  if (db.changes() == 0) {
    return missing("report", report.id);
  }
  return {};
}

Result<InboundReport> AbuseStore::get_report(std::int64_t id) const {
  std::lock_guard lock(mutex_);
  auto query =
      db_->prepare(sql("SELECT ", kReportColumns, ", raw FROM inbound_reports WHERE id = ?"));
  if (!query) {
    return query.error();
  }
  auto row = query->bind(1, id).step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return missing("report", id);
  }
  return read_report(*query, true);
}

std::vector<InboundReport> AbuseStore::list_reports(std::optional<ReportStatus> status,
                                                    std::size_t limit) const {
  std::lock_guard lock(mutex_);
  std::vector<InboundReport> out;
  auto query =
      db_->prepare(sql("SELECT ", kReportColumns,
                       std::string(" FROM inbound_reports") + (status ? " WHERE status = ?1" : "") +
                           " ORDER BY id DESC LIMIT ?2"));
  if (!query) {
    log::error("abuse_store_list_reports_failed", {{"error", query.error().message}});
    return out;
  }
  if (status) {
    query->bind(1, to_string(*status));
  }
  query->bind(2, limit_of(limit));
  collect(
      *query, "abuse_store_list_reports_failed",
      [](const Statement& row) { return read_report(row, false); }, out);
  return out;
}

}  // namespace portcullis::store
