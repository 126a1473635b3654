#include "relay/queue/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <map>
#include <stdexcept>
#include <string>
#include <system_error>

#include "gateway/core/log/log.hpp"
#include "relay/queue/pending_rows.hpp"

namespace portcullis::relay::queue {
namespace {

namespace fs = std::filesystem;
using boost::system::error_code;

// Ordered: entry i upgrades user_version i to i + 1. Never edit a shipped entry.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE messages (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL,
  credential TEXT NOT NULL,
  listener TEXT NOT NULL,
  client_address TEXT NOT NULL,
  helo TEXT NOT NULL,
  original_destination TEXT NOT NULL,
  mail_from TEXT NOT NULL,
  body_type TEXT NOT NULL,
  smtputf8 INTEGER NOT NULL,
  received_at INTEGER NOT NULL,
  size INTEGER NOT NULL,
  data BLOB NOT NULL
);
CREATE TABLE recipients (
  message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  address TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'queued',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  last_reply TEXT,
  PRIMARY KEY (message_id, idx)
);
CREATE INDEX recipients_due ON recipients (status, next_attempt_at);
CREATE INDEX messages_tenant ON messages (tenant_id);
)sql",
    // 2: delivery state and the durable event log.
    R"sql(
ALTER TABLE recipients ADD COLUMN remote TEXT;
ALTER TABLE recipients ADD COLUMN first_failure_at INTEGER;
ALTER TABLE recipients ADD COLUMN updated_at INTEGER;
CREATE TABLE events (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  type TEXT NOT NULL,
  tenant_id TEXT NOT NULL,
  message_id TEXT NOT NULL,
  recipient TEXT NOT NULL,
  detail TEXT NOT NULL,
  remote TEXT NOT NULL
);
CREATE INDEX events_tenant_time ON events (tenant_id, time);
CREATE INDEX events_message ON events (message_id);
CREATE INDEX events_time ON events (time);
)sql",
    // 3: one delay notice per recipient at most.
    R"sql(
ALTER TABLE recipients ADD COLUMN delay_notified INTEGER NOT NULL DEFAULT 0;
)sql",
    // 4: per-tenant counters by hour, backfilled from the event log so the
    // monthly quota and the stats count what was sent before the upgrade
    // (our own DSNs, accepted with detail "bounce[ as ...]", excluded as they are later).
    R"sql(
CREATE TABLE stats_hourly (
  tenant_id TEXT NOT NULL,
  hour INTEGER NOT NULL,
  requested INTEGER NOT NULL DEFAULT 0,
  delivered INTEGER NOT NULL DEFAULT 0,
  deferred INTEGER NOT NULL DEFAULT 0,
  bounced_hard INTEGER NOT NULL DEFAULT 0,
  bounced_soft INTEGER NOT NULL DEFAULT 0,
  suppressed INTEGER NOT NULL DEFAULT 0,
  rejected_limits INTEGER NOT NULL DEFAULT 0,
  complained INTEGER NOT NULL DEFAULT 0,
  messages INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant_id, hour)
) WITHOUT ROWID;
INSERT INTO stats_hourly (tenant_id, hour, requested, delivered, deferred, bounced_hard,
                          bounced_soft, messages)
SELECT tenant_id, (time / 3600) * 3600 AS h,
       SUM(type = 'accepted'), SUM(type = 'delivered'), SUM(type = 'deferred'),
       SUM(type = 'bounced'), SUM(type = 'expired'),
       COUNT(DISTINCT CASE WHEN type = 'accepted' THEN message_id END)
FROM events
WHERE message_id NOT IN (SELECT message_id FROM events WHERE type = 'accepted'
                         AND (detail = 'bounce' OR detail LIKE 'bounce %'))
GROUP BY tenant_id, h;
)sql",
    // 5: webhooks read each tenant's events by id (EventLog::events_after).
    R"sql(
CREATE INDEX events_tenant_id ON events (tenant_id, id);
)sql",
    // 6: the operator can hold a message: it stays queued but is not delivered.
    R"sql(
ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr const char* kInsertMessage =
    "INSERT INTO messages (id, tenant_id, credential, listener, client_address, helo, "
    "original_destination, mail_from, body_type, smtputf8, received_at, size, data) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
constexpr const char* kInsertRecipient =
    "INSERT INTO recipients (message_id, idx, address, next_attempt_at) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kInsertEvent =
    "INSERT INTO events (time, type, tenant_id, message_id, recipient, detail, remote) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
constexpr const char* kPending = "status IN ('queued', 'deferred')";
constexpr const char* kAddStats =
    "INSERT INTO stats_hourly (tenant_id, hour, requested, delivered, deferred, bounced_hard, "
    "bounced_soft, suppressed, rejected_limits, complained, messages) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) "
    "ON CONFLICT (tenant_id, hour) DO UPDATE SET "
    "requested = requested + excluded.requested, delivered = delivered + excluded.delivered, "
    "deferred = deferred + excluded.deferred, "
    "bounced_hard = bounced_hard + excluded.bounced_hard, "
    "bounced_soft = bounced_soft + excluded.bounced_soft, "
    "suppressed = suppressed + excluded.suppressed, "
    "rejected_limits = rejected_limits + excluded.rejected_limits, "
    "complained = complained + excluded.complained, messages = messages + excluded.messages";
constexpr const char* kStatsColumns =
    "SUM(requested), SUM(delivered), SUM(deferred), SUM(bounced_hard), SUM(bounced_soft), "
    "SUM(suppressed), SUM(rejected_limits), SUM(complained), SUM(messages)";
// DSNs and delay notices the delivery engine queues (see delivery/scheduler.cpp).
constexpr std::string_view kBounceListener = "bounce";
constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;
constexpr auto kPolicyCountsDelay = std::chrono::seconds(1);

std::int64_t unix_now() {
  return static_cast<std::int64_t>(::time(nullptr));
}

std::int64_t to_int64(std::size_t n) {
  return static_cast<std::int64_t>(std::min<std::size_t>(n, INT64_MAX));
}

std::int64_t floor_to(std::int64_t t, std::int64_t unit) {
  const std::int64_t q = t / unit;
  return (q * unit > t ? q - 1 : q) * unit;
}

using StatsKey = std::pair<std::string, std::int64_t>;  // tenant, hour
using StatsDeltas = std::map<StatsKey, StatsRow, std::less<>>;

StatsRow& delta_for(StatsDeltas& deltas, std::string_view tenant, std::int64_t time) {
  return deltas[StatsKey(std::string(tenant), floor_to(time, kHour))];
}

// Adds the deltas to stats_hourly, inside the caller's transaction.
Result<void> write_stats(detail::Db& db, const StatsDeltas& deltas) {
  if (deltas.empty()) {
    return {};
  }
  auto s = db.prepare(kAddStats);
  if (!s) {
    return make_error("prepare stats: " + db.error_message());
  }
  const auto count = [](std::uint64_t n) {
    return static_cast<std::int64_t>(std::min<std::uint64_t>(n, INT64_MAX));
  };
  for (const auto& [key, row] : deltas) {
    s->bind(1, key.first);
    s->bind(2, key.second);
    s->bind(3, count(row.requested));
    s->bind(4, count(row.delivered));
    s->bind(5, count(row.deferred));
    s->bind(6, count(row.bounced_hard));
    s->bind(7, count(row.bounced_soft));
    s->bind(8, count(row.suppressed));
    s->bind(9, count(row.rejected_limits));
    s->bind(10, count(row.complained));
    s->bind(11, count(row.messages));
    const int rc = s->step();
    s->reset();
    if (rc != SQLITE_DONE) {
      return make_error("update stats: " + db.error_message());
    }
  }
  return {};
}

// What a committed message adds; nothing for our own DSNs.
void count_commit(StatsDeltas& deltas, const Envelope& e) {
  if (e.listener == kBounceListener) {
    return;
  }
  StatsRow& row = delta_for(deltas, e.tenant_id, e.received_at);
  row.messages += 1;
  row.requested += e.recipients.size();
}

void count_outcome(StatsRow& row, RecipientStatus status) {
  switch (status) {
    case RecipientStatus::delivered:
      ++row.delivered;
      break;
    case RecipientStatus::deferred:
      ++row.deferred;
      break;
    case RecipientStatus::bounced:
      ++row.bounced_hard;
      break;
    case RecipientStatus::expired:
      ++row.bounced_soft;
      break;
    case RecipientStatus::queued:
      break;
  }
}

std::optional<std::int64_t> month_start(int year, unsigned month) {
  const std::chrono::year_month_day day{std::chrono::year(year), std::chrono::month(month),
                                        std::chrono::day(1)};
  if (!day.ok()) {
    return std::nullopt;
  }
  return std::chrono::sys_seconds(std::chrono::sys_days(day)).time_since_epoch().count();
}

// Prepared once per write transaction.
struct InsertStatements {
  detail::Statement message;
  detail::Statement recipient;
  detail::Statement event;
};

Result<InsertStatements> prepare_inserts(detail::Db& db) {
  auto message = db.prepare(kInsertMessage);
  auto recipient = db.prepare(kInsertRecipient);
  auto event = db.prepare(kInsertEvent);
  if (!message || !recipient || !event) {
    return make_error("prepare: " + db.error_message());
  }
  return InsertStatements{std::move(*message), std::move(*recipient), std::move(*event)};
}

// Writes e and stores its new id in it.
bool insert_event(detail::Db& db, detail::Statement& s, events::DeliveryEvent& e) {
  s.bind(1, e.time);
  s.bind(2, events::to_string(e.type));
  s.bind(3, e.tenant_id);
  s.bind(4, e.message_id);
  s.bind(5, e.recipient);
  s.bind(6, e.detail);
  s.bind(7, e.remote);
  const int rc = s.step();
  s.reset();
  if (rc != SQLITE_DONE) {
    return false;
  }
  e.id = sqlite3_last_insert_rowid(db.get());
  return true;
}

std::string accepted_detail(const Envelope& e) {
  std::string detail = e.listener;
  if (!e.credential.empty()) {
    detail += " as " + e.credential;
  }
  if (!e.original_destination.empty()) {
    detail += " to " + e.original_destination;
  }
  return detail;
}

// The message, its recipients (due at once) and an accepted event per
// recipient, appended to `written`.
Result<void> insert_message(detail::Db& db,
                            InsertStatements& st,
                            const Message& m,
                            std::vector<events::DeliveryEvent>& written) {
  const Envelope& e = m.envelope;
  auto& s = st.message;
  s.bind(1, m.id);
  s.bind(2, e.tenant_id);
  s.bind(3, e.credential);
  s.bind(4, e.listener);
  s.bind(5, e.client_address);
  s.bind(6, e.helo);
  s.bind(7, e.original_destination);
  s.bind(8, e.mail_from);
  s.bind(9, e.body_type);
  s.bind(10, std::int64_t{e.smtputf8 ? 1 : 0});
  s.bind(11, e.received_at);
  s.bind(12, static_cast<std::int64_t>(m.data.size()));
  s.bind_blob(13, m.data);
  const int rc = s.step();
  s.reset();
  if (rc != SQLITE_DONE) {
    return make_error("insert message " + m.id + ": " + db.error_message());
  }
  const std::string detail = accepted_detail(e);
  for (std::size_t i = 0; i < e.recipients.size(); ++i) {
    auto& r = st.recipient;
    r.bind(1, m.id);
    r.bind(2, static_cast<std::int64_t>(i));
    r.bind(3, e.recipients[i]);
    r.bind(4, e.received_at);  // due at once
    const int rrc = r.step();
    r.reset();
    if (rrc != SQLITE_DONE) {
      return make_error("insert recipient of " + m.id + ": " + db.error_message());
    }
    events::DeliveryEvent event{.id = 0,
                                .time = e.received_at,
                                .type = events::DeliveryEventType::accepted,
                                .tenant_id = e.tenant_id,
                                .message_id = m.id,
                                .recipient = e.recipients[i],
                                .detail = detail,
                                .remote = e.client_address};
    if (!insert_event(db, st.event, event)) {
      return make_error("insert event of " + m.id + ": " + db.error_message());
    }
    written.push_back(std::move(event));
  }
  return {};
}

// BEGIN IMMEDIATE, body, COMMIT; ROLLBACK on any failure. body returns
// Result<void>; a body error is passed through.
template <class Body>
Result<void> in_transaction(detail::Db& db, Body&& body) {
  if (auto r = db.exec("BEGIN IMMEDIATE"); !r) {
    return make_error("begin: " + r.error().message);
  }
  Result<void> result = body();
  if (result) {
    if (auto r = db.exec("COMMIT"); !r) {
      result = make_error("commit: " + r.error().message);
    }
  }
  if (!result && sqlite3_get_autocommit(db.get()) == 0) {
    (void)db.exec("ROLLBACK");
  }
  return result;
}

// The message and its recipient rows, inside the caller's transaction.
Result<void> delete_message(detail::Db& db, std::string_view id) {
  for (const char* sql :
       {"DELETE FROM recipients WHERE message_id = ?1", "DELETE FROM messages WHERE id = ?1"}) {
    auto del = db.prepare(sql);
    if (!del) {
      return make_error(db.error_message());
    }
    del->bind(1, id);
    if (del->step() != SQLITE_DONE) {
      return make_error("delete message: " + db.error_message());
    }
  }
  return {};
}

std::optional<events::DeliveryEventType> event_type_of(RecipientStatus status) {
  switch (status) {
    case RecipientStatus::deferred:
      return events::DeliveryEventType::deferred;
    case RecipientStatus::delivered:
      return events::DeliveryEventType::delivered;
    case RecipientStatus::bounced:
      return events::DeliveryEventType::bounced;
    case RecipientStatus::expired:
      return events::DeliveryEventType::expired;
    case RecipientStatus::queued:
      break;
  }
  return std::nullopt;
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("queue: " + what);
}

template <class T>
T value_or_throw(Result<T> r, const std::string& what) {
  if (!r) {
    fail(what + ": " + r.error().message);
  }
  return std::move(*r);
}

void exec_or_throw(detail::Db& db, const char* sql) {
  if (auto r = db.exec(sql); !r) {
    fail(std::string(sql) + ": " + r.error().message);
  }
}

int user_version(const detail::Db& db) {
  sqlite3_stmt* raw = nullptr;
  int version = -1;
  if (sqlite3_prepare_v2(db.get(), "PRAGMA user_version", -1, &raw, nullptr) == SQLITE_OK &&
      sqlite3_step(raw) == SQLITE_ROW) {
    version = sqlite3_column_int(raw, 0);
  }
  sqlite3_finalize(raw);
  return version;
}

void migrate(detail::Db& db, const fs::path& file) {
  const int version = user_version(db);
  if (version < 0) {
    fail("cannot read the schema version of " + file.string() + ": " + db.error_message());
  }
  if (version > kSchemaVersion) {
    fail(file.string() + " has schema version " + std::to_string(version) +
         ", newer than this build's " + std::to_string(kSchemaVersion));
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    exec_or_throw(db, "BEGIN IMMEDIATE");
    if (auto r = db.exec(kMigrations[v]); !r) {
      (void)db.exec("ROLLBACK");
      fail("migration to schema version " + std::to_string(v + 1) +
           " failed: " + r.error().message);
    }
    const std::string set_version = "PRAGMA user_version = " + std::to_string(v + 1);
    exec_or_throw(db, set_version.c_str());
    exec_or_throw(db, "COMMIT");
  }
}

// SQLite gives the -wal and -shm files the mode of the database file, so
// creating that one 0600 up front keeps all three private without touching
// the process umask (which other threads share).
void create_private_file(const fs::path& file) {
  const int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    fail("cannot create " + file.string() + ": " + std::generic_category().message(errno));
  }
  const bool ok = ::fchmod(fd, 0600) == 0;
  ::close(fd);
  if (!ok) {
    fail("cannot chmod " + file.string() + ": " + std::generic_category().message(errno));
  }
}

}  // namespace

namespace {

// A DueMessage for a message just inserted: every recipient pending, due at once.
DueMessage queued_view(const Message& m) {
  DueMessage d{m.id, m.envelope, m.data.size(), {}};
  for (std::size_t i = 0; i < m.envelope.recipients.size(); ++i) {
    d.recipients.push_back(PendingRecipient{.idx = i,
                                            .address = m.envelope.recipients[i],
                                            .attempts = 0,
                                            .status = RecipientStatus::queued,
                                            .first_failure_at = std::nullopt,
                                            .delay_notified = false,
                                            .next_attempt_at = m.envelope.received_at});
  }
  return d;
}

Result<void> check_outcomes(std::string_view id, const std::vector<RecipientOutcome>& outcomes) {
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    if (outcomes[i].status == RecipientStatus::queued) {
      return make_error("outcome for recipient " + std::to_string(outcomes[i].idx) +
                        " of message " + std::string(id) + " has status queued");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (outcomes[j].idx == outcomes[i].idx) {
        return make_error("two outcomes for recipient " + std::to_string(outcomes[i].idx) +
                          " of message " + std::string(id));
      }
    }
  }
  return {};
}

// The body of one outcome record, inside the caller's transaction: the
// recipients' rows, an event per outcome, the enqueued DSNs, the stats and,
// once nothing is pending, the message's removal. Appends the DSNs' accepted
// events to `accepted` and their views to `queued`.
Result<void> write_outcomes(detail::Db& db,
                            const OutcomeRecord& record,
                            RecordedOutcomes& recorded,
                            std::vector<events::DeliveryEvent>& accepted,
                            std::vector<DueMessage>& queued) {
  const std::string_view id = record.id;
  const Envelope& envelope = record.envelope;
  const std::int64_t now = record.now == 0 ? unix_now() : record.now;
  if (auto r = check_outcomes(id, record.outcomes); !r) {
    return r;
  }
  std::string tenant;
  bool counted = true;
  {
    auto stmt = db.prepare("SELECT tenant_id, listener FROM messages WHERE id = ?1");
    if (!stmt) {
      return make_error(db.error_message());
    }
    stmt->bind(1, id);
    if (stmt->step() != SQLITE_ROW) {
      return make_error("no queued message '" + std::string(id) + "'");
    }
    tenant = stmt->column_text(0);
    counted = stmt->column_text(1) != kBounceListener;
  }
  StatsDeltas counts;
  if (!envelope.tenant_id.empty() && envelope.tenant_id != tenant) {
    return make_error("message " + std::string(id) + " belongs to tenant '" + tenant + "', not '" +
                      envelope.tenant_id + "'");
  }
  auto select =
      db.prepare("SELECT address, status FROM recipients WHERE message_id = ?1 AND idx = ?2");
  auto update = db.prepare(
      "UPDATE recipients SET status = ?3, attempts = attempts + 1, "
      "next_attempt_at = CASE WHEN ?3 = 'deferred' THEN ?4 ELSE NULL END, "
      "last_reply = ?5, remote = ?6, updated_at = ?7, "
      "first_failure_at = CASE WHEN ?3 = 'deferred' THEN COALESCE(first_failure_at, ?7) "
      "ELSE first_failure_at END, "
      "delay_notified = MAX(delay_notified, ?8) "
      "WHERE message_id = ?1 AND idx = ?2");
  auto insert_ev = db.prepare(kInsertEvent);
  if (!select || !update || !insert_ev) {
    return make_error("prepare: " + db.error_message());
  }
  const std::string message_id(id);
  for (const auto& o : record.outcomes) {
    const auto idx = static_cast<std::int64_t>(o.idx);
    select->bind(1, id);
    select->bind(2, idx);
    if (select->step() != SQLITE_ROW) {
      select->reset();
      return make_error("message " + message_id + " has no recipient " + std::to_string(o.idx));
    }
    std::string address = select->column_text(0);
    const auto current = parse_recipient_status(select->column_text(1));
    select->reset();
    if (!current || is_final(*current)) {
      return make_error("recipient " + std::to_string(o.idx) + " of message " + message_id +
                        " is already " + (current ? std::string(to_string(*current)) : "?"));
    }
    const std::string_view status = to_string(o.status);
    update->bind(1, id);
    update->bind(2, idx);
    update->bind(3, status);
    update->bind(4, o.next_attempt_at);
    update->bind(5, o.reply);
    update->bind(6, o.remote);
    update->bind(7, now);
    update->bind(8, static_cast<std::int64_t>(o.delay_notified ? 1 : 0));
    const int rc = update->step();
    update->reset();
    if (rc != SQLITE_DONE) {
      return make_error("update recipient: " + db.error_message());
    }
    events::DeliveryEvent event{.id = 0,
                                .time = now,
                                .type = *event_type_of(o.status),
                                .tenant_id = tenant,
                                .message_id = message_id,
                                .recipient = std::move(address),
                                .detail = o.reply,
                                .remote = o.remote};
    if (!insert_event(db, *insert_ev, event)) {
      return make_error("insert event: " + db.error_message());
    }
    recorded.events.push_back(std::move(event));
    if (counted) {
      count_outcome(delta_for(counts, tenant, now), o.status);
    }
  }
  if (!record.enqueue.empty()) {
    auto statements = prepare_inserts(db);
    if (!statements) {
      return statements.error();
    }
    for (const auto& m : record.enqueue) {
      if (auto r = insert_message(db, *statements, m, accepted); !r) {
        return r;
      }
      count_commit(counts, m.envelope);
      queued.push_back(queued_view(m));
    }
  }
  if (auto r = write_stats(db, counts); !r) {
    return r;
  }
  auto pending = db.prepare(
      std::string("SELECT COUNT(*) FROM recipients WHERE message_id = ?1 AND ") + kPending);
  if (!pending) {
    return make_error(db.error_message());
  }
  pending->bind(1, id);
  if (pending->step() != SQLITE_ROW) {
    return make_error("count pending: " + db.error_message());
  }
  if (pending->column_int(0) == 0) {
    if (auto r = delete_message(db, id); !r) {
      return r;
    }
    recorded.removed = true;
  }
  return {};
}

}  // namespace

std::unique_ptr<Spool> Spool::open(const fs::path& state_dir) {
  std::error_code ec;
  if (fs::create_directories(state_dir, ec)) {
    fs::permissions(state_dir, fs::perms::owner_all, ec);
  }
  if (ec) {
    fail("cannot create " + state_dir.string() + ": " + ec.message());
  }
  const fs::path file = state_dir / "queue.db";
  create_private_file(file);

  auto writer = value_or_throw(detail::Db::open(file, SQLITE_OPEN_READWRITE), "open");
  exec_or_throw(writer, "PRAGMA busy_timeout = 5000");
  {
    // journal_mode answers with the mode in effect, which is not WAL on
    // file systems that cannot do it; refuse rather than lose durability.
    auto stmt = value_or_throw(writer.prepare("PRAGMA journal_mode = WAL"), "journal_mode");
    if (stmt.step() != SQLITE_ROW || stmt.column_text(0) != "wal") {
      fail("cannot put " + file.string() + " in WAL mode");
    }
  }
  // FULL: every COMMIT fsyncs the WAL, so a committed message survives a
  // power loss, not only a crash.
  exec_or_throw(writer, "PRAGMA synchronous = FULL");
  exec_or_throw(writer, "PRAGMA foreign_keys = ON");
  // Debian builds SQLite with secure_delete on, which rewrites every freed
  // page with zeros: a delivered message's body was written twice more (WAL
  // and checkpoint). FAST still clears what it can without extra I/O; the
  // file is 0600 in a 0700 directory, like Postfix's queue files.
  exec_or_throw(writer, "PRAGMA secure_delete = FAST");
  migrate(writer, file);

  auto reader = value_or_throw(detail::Db::open(file, SQLITE_OPEN_READWRITE), "open reader");
  exec_or_throw(reader, "PRAGMA busy_timeout = 5000");
  exec_or_throw(reader, "PRAGMA query_only = ON");

  return std::unique_ptr<Spool>(new Spool(file, std::move(writer), std::move(reader)));
}

Spool::Spool(fs::path path, detail::Db writer, detail::Db reader)
    : path_(std::move(path)), writer_(std::move(writer)), reader_(std::move(reader)) {
  committer_ = std::thread([this] { run(); });
}

Spool::~Spool() {
  stop();
}

void Spool::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  std::call_once(joined_, [this] {
    if (committer_.joinable()) {
      committer_.join();
    }
  });
}

void Spool::enqueue(Pending pending) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      pending_.push_back(std::move(pending));
      wake_.notify_one();
      return;
    }
  }
  complete(pending, boost::asio::error::operation_aborted);
}

void Spool::run() {
  std::vector<Pending> batch;
  std::vector<PendingRecord> records;
  StatsDeltas counts;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      // Messages and outcomes go at once; policy counts alone wait up to a second for a batch.
      while (!stopping_ && pending_.empty() && records_.empty()) {
        if (policy_counts_.empty()) {
          wake_.wait(lock);
        } else if (wake_.wait_until(lock, policy_counts_since_ + kPolicyCountsDelay) ==
                   std::cv_status::timeout) {
          break;
        }
      }
      if (pending_.empty() && records_.empty() && policy_counts_.empty()) {
        return;  // stopping, and everything handed in before stop() is committed
      }
      batch.swap(pending_);
      records.swap(records_);
      counts.swap(policy_counts_);
    }
    const error_code ec = write_batch(batch, records, counts);
    if (!ec && !batch.empty()) {
      batches_.fetch_add(1, std::memory_order_relaxed);
      commits_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    for (auto& pending : batch) {
      complete(pending, ec);
    }
    batch.clear();
    records.clear();
    if (ec && !counts.empty()) {
      // Kept for the next try (a second later), not lost with the batch.
      std::lock_guard lock(mutex_);
      for (const auto& [key, row] : counts) {
        policy_counts_[key] += row;
      }
      policy_counts_since_ = std::chrono::steady_clock::now();
      if (stopping_ && pending_.empty()) {
        log::error("queue_stats_lost", {{"buckets", policy_counts_.size()}});
        policy_counts_.clear();
      }
    }
    counts.clear();
  }
}

// One transaction, one fsync: the new messages, then each outcome record
// inside its own savepoint (a record that fails, e.g. for a message the
// operator deleted meanwhile, is undone alone), then the counters.
// Under writer_mutex_: every commit from here on fsyncs (what accepted
// mail and the operator's changes need).
void Spool::make_writer_durable() {
  if (!writer_durable_) {
    (void)writer_.exec("PRAGMA synchronous = FULL");
    writer_durable_ = true;
  }
}

error_code Spool::write_batch(const std::vector<Pending>& batch,
                              std::vector<PendingRecord>& records,
                              StatsDeltas counts) {
  std::vector<events::DeliveryEvent> written;
  std::vector<DueMessage> queued;
  std::vector<Result<RecordedOutcomes>> recorded(records.size(), make_error("not written"));
  Result<void> result;
  {
    std::lock_guard lock(writer_mutex_);
    // Only an accepted message needs its own fsync before its 250. A batch of
    // delivery outcomes alone is committed without one (WAL, synchronous
    // NORMAL): a kill -9 keeps it (the page cache), a power loss can undo it,
    // and then the message is delivered again: at-least-once, as documented,
    // never lost. The next accepting commit's fsync covers it anyway. Postfix
    // does the same: only its cleanup fsyncs, delivery unlinks without one.
    if (batch.empty() && writer_durable_) {
      (void)writer_.exec("PRAGMA synchronous = NORMAL");
      writer_durable_ = false;
    } else if (!batch.empty()) {
      make_writer_durable();
    }
    result = in_transaction(writer_, [&]() -> Result<void> {
      auto statements = prepare_inserts(writer_);
      if (!statements) {
        return statements.error();
      }
      for (const auto& pending : batch) {
        if (auto r = insert_message(writer_, *statements, pending.message, written); !r) {
          return r;
        }
        count_commit(counts, pending.message.envelope);
        queued.push_back(queued_view(pending.message));
      }
      for (std::size_t i = 0; i < records.size(); ++i) {
        if (auto r = writer_.exec("SAVEPOINT outcome"); !r) {
          return r;
        }
        RecordedOutcomes out;
        std::vector<events::DeliveryEvent> accepted;
        std::vector<DueMessage> dsns;
        auto r = write_outcomes(writer_, records[i].record, out, accepted, dsns);
        if (!r) {
          if (auto undo = writer_.exec("ROLLBACK TO outcome"); !undo) {
            return undo;
          }
          recorded[i] = r.error();
        } else {
          recorded[i] = std::move(out);
          written.insert(written.end(), std::make_move_iterator(accepted.begin()),
                         std::make_move_iterator(accepted.end()));
          queued.insert(queued.end(), std::make_move_iterator(dsns.begin()),
                        std::make_move_iterator(dsns.end()));
        }
        if (auto r2 = writer_.exec("RELEASE outcome"); !r2) {
          return r2;
        }
      }
      return write_stats(writer_, counts);
    });
  }
  if (!result) {
    log::error("queue_commit_failed", {{"messages", batch.size()},
                                       {"outcomes", records.size()},
                                       {"error", result.error().message}});
    for (auto& record : records) {
      record.done(result.error());
    }
    return make_error_code(boost::system::errc::io_error);
  }
  if (!written.empty()) {
    publish(written);
  }
  if (!queued.empty()) {
    announce_queued(std::move(queued));
    wake();
  }
  for (std::size_t i = 0; i < records.size(); ++i) {
    records[i].done(std::move(recorded[i]));
  }
  return {};
}

void Spool::complete(Pending& pending, error_code ec) {
  // work carries blocking.never, so this queues the handler on its executor.
  pending.work.execute(
      [handler = std::move(pending.handler), ec]() mutable { std::move(handler)(ec); });
  pending.work = {};
}

std::vector<MessageSummary> Spool::list(std::size_t limit) const {
  std::vector<MessageSummary> out;
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare(
      "SELECT m.id, m.tenant_id, m.mail_from, "
      "(SELECT COUNT(*) FROM recipients r WHERE r.message_id = m.id), m.size, m.received_at, "
      "(SELECT COUNT(*) FROM recipients r WHERE r.message_id = m.id AND r.status IN "
      "('queued', 'deferred')), "
      "(SELECT MIN(COALESCE(r.next_attempt_at, 0)) FROM recipients r WHERE r.message_id = m.id "
      "AND r.status IN ('queued', 'deferred')) "
      "FROM messages m ORDER BY m.id LIMIT ?1");
  if (!stmt) {
    log::error("queue_list_failed", {{"error", stmt.error().message}});
    return out;
  }
  stmt->bind(1, static_cast<std::int64_t>(std::min<std::size_t>(limit, INT64_MAX)));
  while (stmt->step() == SQLITE_ROW) {
    out.push_back(MessageSummary{
        .id = stmt->column_text(0),
        .tenant_id = stmt->column_text(1),
        .mail_from = stmt->column_text(2),
        .recipients = static_cast<std::size_t>(stmt->column_int(3)),
        .size = static_cast<std::uint64_t>(stmt->column_int(4)),
        .received_at = stmt->column_int(5),
        .pending = static_cast<std::size_t>(stmt->column_int(6)),
        .next_attempt_at = stmt->column_int(7),
    });
  }
  return out;
}

std::optional<Message> Spool::get(std::string_view id) const {
  std::lock_guard lock(reader_mutex_);
  auto& db = reader_;
  // One read transaction so the message and its recipients are one snapshot.
  if (!db.exec("BEGIN")) {
    return std::nullopt;
  }
  std::optional<Message> out;
  auto stmt = db.prepare(
      "SELECT id, tenant_id, credential, listener, client_address, helo, original_destination, "
      "mail_from, body_type, smtputf8, received_at, data FROM messages WHERE id = ?1");
  if (stmt) {
    stmt->bind(1, id);
    if (stmt->step() == SQLITE_ROW) {
      Message m;
      m.id = stmt->column_text(0);
      m.envelope.tenant_id = stmt->column_text(1);
      m.envelope.credential = stmt->column_text(2);
      m.envelope.listener = stmt->column_text(3);
      m.envelope.client_address = stmt->column_text(4);
      m.envelope.helo = stmt->column_text(5);
      m.envelope.original_destination = stmt->column_text(6);
      m.envelope.mail_from = stmt->column_text(7);
      m.envelope.body_type = stmt->column_text(8);
      m.envelope.smtputf8 = stmt->column_int(9) != 0;
      m.envelope.received_at = stmt->column_int(10);
      m.data = stmt->column_text(11);
      out = std::move(m);
    }
  }
  if (out) {
    auto rcpt = db.prepare("SELECT address FROM recipients WHERE message_id = ?1 ORDER BY idx");
    if (rcpt) {
      rcpt->bind(1, id);
      while (rcpt->step() == SQLITE_ROW) {
        out->envelope.recipients.push_back(rcpt->column_text(0));
      }
    }
  }
  (void)db.exec("COMMIT");
  return out;
}

std::size_t Spool::size() const {
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare("SELECT COUNT(*) FROM messages");
  if (!stmt || stmt->step() != SQLITE_ROW) {
    return 0;
  }
  return static_cast<std::size_t>(stmt->column_int(0));
}

int Spool::latest_schema_version() {
  return kSchemaVersion;
}

int Spool::schema_version() const {
  std::lock_guard lock(reader_mutex_);
  return user_version(reader_);
}

void Spool::set_event_bus(const events::EventBus* bus) {
  std::lock_guard lock(hooks_mutex_);
  bus_ = bus;
}

void Spool::set_wakeup(std::function<void()> wakeup) {
  std::lock_guard lock(hooks_mutex_);
  wakeup_ = std::move(wakeup);
}

void Spool::set_hooks(SpoolHooks hooks) {
  std::lock_guard lock(hooks_mutex_);
  hooks_ = std::move(hooks);
}

void Spool::announce_removed(std::string id) const {
  std::function<void(std::string)> hook;
  {
    std::lock_guard lock(hooks_mutex_);
    hook = hooks_.removed;
  }
  if (hook) {
    hook(std::move(id));
  }
}

void Spool::announce_queued(std::vector<DueMessage> queued) const {
  std::function<void(std::vector<DueMessage>)> hook;
  {
    std::lock_guard lock(hooks_mutex_);
    hook = hooks_.queued;
  }
  if (hook && !queued.empty()) {
    hook(std::move(queued));
  }
}

std::vector<DueMessage> Spool::load_pending() const {
  std::lock_guard lock(reader_mutex_);
  if (!reader_.exec("BEGIN")) {  // one snapshot
    return {};
  }
  auto pending = read_pending(reader_, "held = 0", "1");
  (void)reader_.exec("COMMIT");
  if (!pending) {
    log::error("queue_load_failed", {{"error", pending.error().message}});
    return {};
  }
  return std::move(*pending);
}

void Spool::publish(const std::vector<events::DeliveryEvent>& written) const {
  const events::EventBus* bus = nullptr;
  {
    std::lock_guard lock(hooks_mutex_);
    bus = bus_;
  }
  if (bus != nullptr) {
    for (const auto& e : written) {
      bus->publish(e);
    }
  }
}

void Spool::wake() const {
  std::function<void()> wakeup;
  {
    std::lock_guard lock(hooks_mutex_);
    wakeup = wakeup_;
  }
  if (wakeup) {
    wakeup();
  }
}

std::vector<DueMessage> Spool::due(std::int64_t now_unix,
                                   std::size_t limit,
                                   const std::function<bool(std::string_view)>& skip) const {
  std::vector<DueMessage> out;
  if (limit == 0) {
    return out;
  }
  std::lock_guard lock(reader_mutex_);
  auto& db = reader_;
  if (!db.exec("BEGIN")) {  // one snapshot for the ids and their rows
    return out;
  }
  std::vector<std::string> ids;
  {
    auto stmt =
        db.prepare(std::string("SELECT DISTINCT message_id FROM recipients WHERE ") + kPending +
                   " AND (next_attempt_at IS NULL OR next_attempt_at <= ?1) "
                   "ORDER BY message_id");
    if (!stmt) {
      log::error("queue_due_failed", {{"error", stmt.error().message}});
      (void)db.exec("COMMIT");
      return out;
    }
    stmt->bind(1, now_unix);
    while (ids.size() < limit && stmt->step() == SQLITE_ROW) {
      std::string id = stmt->column_text(0);
      if (!skip || !skip(id)) {
        ids.push_back(std::move(id));
      }
    }
  }
  auto message = db.prepare(
      "SELECT tenant_id, credential, listener, client_address, helo, original_destination, "
      "mail_from, body_type, smtputf8, received_at, size FROM messages WHERE id = ?1");
  auto rcpt = db.prepare(
      "SELECT idx, address, status, attempts, next_attempt_at, first_failure_at, delay_notified "
      "FROM recipients WHERE message_id = ?1 ORDER BY idx");
  if (!message || !rcpt) {
    log::error("queue_due_failed", {{"error", db.error_message()}});
    (void)db.exec("COMMIT");
    return out;
  }
  for (const auto& id : ids) {
    auto& m = *message;
    m.bind(1, id);
    if (m.step() != SQLITE_ROW) {
      m.reset();
      continue;
    }
    DueMessage d;
    d.id = id;
    Envelope& e = d.envelope;
    e.tenant_id = m.column_text(0);
    e.credential = m.column_text(1);
    e.listener = m.column_text(2);
    e.client_address = m.column_text(3);
    e.helo = m.column_text(4);
    e.original_destination = m.column_text(5);
    e.mail_from = m.column_text(6);
    e.body_type = m.column_text(7);
    e.smtputf8 = m.column_int(8) != 0;
    e.received_at = m.column_int(9);
    d.size = static_cast<std::uint64_t>(m.column_int(10));
    m.reset();

    auto& r = *rcpt;
    r.bind(1, id);
    while (r.step() == SQLITE_ROW) {
      e.recipients.push_back(r.column_text(1));
      const auto status = parse_recipient_status(r.column_text(2));
      if (!status || is_final(*status)) {
        continue;
      }
      if (!r.column_is_null(4) && r.column_int(4) > now_unix) {
        continue;
      }
      PendingRecipient p;
      p.idx = static_cast<std::size_t>(r.column_int(0));
      p.address = e.recipients.back();
      p.attempts = static_cast<int>(r.column_int(3));
      p.status = *status;
      if (!r.column_is_null(5)) {
        p.first_failure_at = r.column_int(5);
      }
      p.delay_notified = r.column_int(6) != 0;
      d.recipients.push_back(std::move(p));
    }
    r.reset();
    if (!d.recipients.empty()) {
      out.push_back(std::move(d));
    }
  }
  (void)db.exec("COMMIT");
  return out;
}

std::optional<std::string> Spool::data(std::string_view id) const {
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare("SELECT data FROM messages WHERE id = ?1");
  if (!stmt) {
    return std::nullopt;
  }
  stmt->bind(1, id);
  if (stmt->step() != SQLITE_ROW) {
    return std::nullopt;
  }
  return stmt->column_text(0);
}

std::optional<std::int64_t> Spool::next_due(
    const std::function<bool(std::string_view)>& skip) const {
  std::lock_guard lock(reader_mutex_);
  if (!skip) {
    auto stmt = reader_.prepare(
        std::string("SELECT MIN(COALESCE(next_attempt_at, 0)) FROM recipients WHERE ") + kPending);
    if (!stmt || stmt->step() != SQLITE_ROW || stmt->column_is_null(0)) {
      return std::nullopt;
    }
    return stmt->column_int(0);
  }
  auto stmt = reader_.prepare(
      std::string("SELECT message_id, MIN(COALESCE(next_attempt_at, 0)) AS t FROM recipients "
                  "WHERE ") +
      kPending + " GROUP BY message_id ORDER BY t");
  if (!stmt) {
    return std::nullopt;
  }
  while (stmt->step() == SQLITE_ROW) {
    if (!skip(stmt->column_text(0))) {
      return stmt->column_int(1);
    }
  }
  return std::nullopt;
}

Result<RecordedOutcomes> Spool::record_outcomes(std::string_view id,
                                                const Envelope& envelope,
                                                const std::vector<RecipientOutcome>& outcomes,
                                                std::int64_t now,
                                                std::vector<Message> enqueue) {
  const OutcomeRecord record{std::string(id), envelope, outcomes, now, std::move(enqueue)};
  RecordedOutcomes recorded;
  std::vector<events::DeliveryEvent> accepted;
  std::vector<DueMessage> queued;
  {
    std::lock_guard lock(writer_mutex_);
    make_writer_durable();
    auto result = in_transaction(
        writer_, [&] { return write_outcomes(writer_, record, recorded, accepted, queued); });
    if (!result) {
      return result.error();
    }
  }
  if (!accepted.empty()) {
    publish(accepted);
    announce_queued(std::move(queued));
    wake();
  }
  return recorded;
}

void Spool::async_record(OutcomeRecord record, RecordDone done) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      records_.push_back(PendingRecord{std::move(record), std::move(done)});
      wake_.notify_one();
      return;
    }
  }
  done(make_error("the queue is stopping"));
}

Result<bool> Spool::retry_now(std::string_view id) {
  bool found = false;
  {
    std::lock_guard lock(writer_mutex_);
    make_writer_durable();
    auto& db = writer_;
    auto result = in_transaction(db, [&]() -> Result<void> {
      auto stmt =
          db.prepare(std::string("UPDATE recipients SET next_attempt_at = 0, updated_at = ?2 "
                                 "WHERE message_id = ?1 AND ") +
                     kPending);
      if (!stmt) {
        return make_error(db.error_message());
      }
      stmt->bind(1, id);
      stmt->bind(2, unix_now());
      if (stmt->step() != SQLITE_DONE) {
        return make_error("retry: " + db.error_message());
      }
      found = sqlite3_changes(db.get()) > 0;
      return {};
    });
    if (!result) {
      return result.error();
    }
  }
  // A queued message always has a pending recipient, so no change means no message.
  if (found) {
    std::function<void(std::string)> hook;
    {
      std::lock_guard lock(hooks_mutex_);
      hook = hooks_.retry_now;
    }
    if (hook) {
      hook(std::string(id));
    }
    wake();
  }
  return found;
}

Result<bool> Spool::remove(std::string_view id, std::int64_t now) {
  if (now == 0) {
    now = unix_now();
  }
  bool found = false;
  std::vector<events::DeliveryEvent> written;
  {
    std::lock_guard lock(writer_mutex_);
    make_writer_durable();
    auto& db = writer_;
    auto result = in_transaction(db, [&]() -> Result<void> {
      std::string tenant;
      {
        auto stmt = db.prepare("SELECT tenant_id FROM messages WHERE id = ?1");
        if (!stmt) {
          return make_error(db.error_message());
        }
        stmt->bind(1, id);
        if (stmt->step() != SQLITE_ROW) {
          return {};
        }
        tenant = stmt->column_text(0);
      }
      found = true;
      auto pending =
          db.prepare(std::string("SELECT address FROM recipients WHERE message_id = ?1 AND ") +
                     kPending + " ORDER BY idx");
      auto insert_ev = db.prepare(kInsertEvent);
      if (!pending || !insert_ev) {
        return make_error(db.error_message());
      }
      pending->bind(1, id);
      while (pending->step() == SQLITE_ROW) {
        events::DeliveryEvent event{.id = 0,
                                    .time = now,
                                    .type = events::DeliveryEventType::deleted,
                                    .tenant_id = tenant,
                                    .message_id = std::string(id),
                                    .recipient = pending->column_text(0),
                                    .detail = "deleted by the operator",
                                    .remote = ""};
        if (!insert_event(db, *insert_ev, event)) {
          return make_error("insert event: " + db.error_message());
        }
        written.push_back(std::move(event));
      }
      if (auto r = delete_message(db, id); !r) {
        return r;
      }
      return {};
    });
    if (!result) {
      return result.error();
    }
  }
  if (found) {
    log::info("queue_message_deleted", {{"msg", id}, {"recipients", written.size()}});
    publish(written);
    announce_removed(std::string(id));
  }
  return found;
}

std::vector<events::DeliveryEvent> Spool::events(const events::EventFilter& filter) const {
  std::vector<events::DeliveryEvent> out;
  if (filter.limit == 0) {
    return out;
  }
  std::string sql =
      "SELECT id, time, type, tenant_id, message_id, recipient, detail, remote FROM events "
      "WHERE time >= ?1";
  // Conditions only for the fields given, so SQLite can use the matching index.
  if (!filter.tenant.empty()) {
    sql += " AND tenant_id = ?2";
  }
  if (!filter.message_id.empty()) {
    sql += " AND message_id = ?3";
  }
  sql += " ORDER BY time DESC, id DESC LIMIT ?4";
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare(sql);
  if (!stmt) {
    log::error("queue_events_failed", {{"error", stmt.error().message}});
    return out;
  }
  stmt->bind(1, filter.since);
  if (!filter.tenant.empty()) {
    stmt->bind(2, filter.tenant);
  }
  if (!filter.message_id.empty()) {
    stmt->bind(3, filter.message_id);
  }
  stmt->bind(4, to_int64(filter.limit));
  while (stmt->step() == SQLITE_ROW) {
    const auto type = events::parse_delivery_event_type(stmt->column_text(2));
    if (!type) {
      continue;
    }
    out.push_back(events::DeliveryEvent{.id = stmt->column_int(0),
                                        .time = stmt->column_int(1),
                                        .type = *type,
                                        .tenant_id = stmt->column_text(3),
                                        .message_id = stmt->column_text(4),
                                        .recipient = stmt->column_text(5),
                                        .detail = stmt->column_text(6),
                                        .remote = stmt->column_text(7)});
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::optional<std::vector<events::DeliveryEvent>> Spool::events_after(std::string_view tenant,
                                                                      std::int64_t after_id,
                                                                      std::size_t limit) const {
  std::vector<events::DeliveryEvent> out;
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare(
      "SELECT id, time, type, tenant_id, message_id, recipient, detail, remote FROM events "
      "WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3");
  if (!stmt) {
    log::error("queue_events_failed", {{"error", stmt.error().message}});
    return std::nullopt;
  }
  stmt->bind(1, tenant);
  stmt->bind(2, after_id);
  stmt->bind(3, to_int64(limit));
  int rc = SQLITE_ROW;
  while ((rc = stmt->step()) == SQLITE_ROW) {
    // An unknown type (a newer program's) still moves a reader past its id.
    const auto type = events::parse_delivery_event_type(stmt->column_text(2));
    out.push_back(events::DeliveryEvent{.id = stmt->column_int(0),
                                        .time = stmt->column_int(1),
                                        .type = type.value_or(events::DeliveryEventType::accepted),
                                        .tenant_id = stmt->column_text(3),
                                        .message_id = stmt->column_text(4),
                                        .recipient = stmt->column_text(5),
                                        .detail = stmt->column_text(6),
                                        .remote = stmt->column_text(7)});
  }
  if (rc != SQLITE_DONE) {
    log::error("queue_events_failed", {{"rc", rc}});
    return std::nullopt;
  }
  return out;
}

std::optional<std::int64_t> Spool::last_event_id() const {
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare("SELECT COALESCE(MAX(id), 0) FROM events");
  if (!stmt || stmt->step() != SQLITE_ROW) {
    return std::nullopt;
  }
  return stmt->column_int(0);
}

std::vector<RecipientState> Spool::recipients(std::string_view id) const {
  std::vector<RecipientState> out;
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare(
      "SELECT idx, address, status, attempts, next_attempt_at, last_reply, remote, "
      "first_failure_at, updated_at FROM recipients WHERE message_id = ?1 ORDER BY idx");
  if (!stmt) {
    return out;
  }
  stmt->bind(1, id);
  while (stmt->step() == SQLITE_ROW) {
    RecipientState r;
    r.idx = static_cast<std::size_t>(stmt->column_int(0));
    r.address = stmt->column_text(1);
    r.status = parse_recipient_status(stmt->column_text(2)).value_or(RecipientStatus::queued);
    r.attempts = static_cast<int>(stmt->column_int(3));
    if (!stmt->column_is_null(4)) {
      r.next_attempt_at = stmt->column_int(4);
    }
    r.last_reply = stmt->column_text(5);
    r.remote = stmt->column_text(6);
    if (!stmt->column_is_null(7)) {
      r.first_failure_at = stmt->column_int(7);
    }
    if (!stmt->column_is_null(8)) {
      r.updated_at = stmt->column_int(8);
    }
    out.push_back(std::move(r));
  }
  return out;
}

StatsRow& StatsRow::operator+=(const StatsRow& other) {
  requested += other.requested;
  delivered += other.delivered;
  deferred += other.deferred;
  bounced_hard += other.bounced_hard;
  bounced_soft += other.bounced_soft;
  suppressed += other.suppressed;
  rejected_limits += other.rejected_limits;
  complained += other.complained;
  messages += other.messages;
  return *this;
}

void Spool::record_policy_counts(std::string_view tenant,
                                 PolicyCount kind,
                                 std::uint64_t n,
                                 std::int64_t now) {
  if (n == 0) {
    return;
  }
  if (now == 0) {
    now = unix_now();
  }
  StatsDeltas delta;
  StatsRow& row = delta_for(delta, tenant, now);
  switch (kind) {
    case PolicyCount::suppressed:
      row.suppressed = n;
      break;
    case PolicyCount::rejected_limits:
      row.rejected_limits = n;
      break;
    case PolicyCount::complained:
      row.complained = n;
      break;
  }
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      if (policy_counts_.empty()) {
        policy_counts_since_ = std::chrono::steady_clock::now();
        wake_.notify_one();  // the committer starts its one-second wait
      }
      for (const auto& [key, r] : delta) {
        policy_counts_[key] += r;
      }
      return;
    }
  }
  // After stop() there is no committer: write it here (shutdown only).
  std::lock_guard lock(writer_mutex_);
  if (auto r = in_transaction(writer_, [&] { return write_stats(writer_, delta); }); !r) {
    log::error("queue_stats_failed", {{"error", r.error().message}});
  }
}

std::vector<StatsRow> Spool::stats(std::string_view tenant,
                                   std::int64_t from,
                                   std::int64_t to,
                                   bool by_day) const {
  const std::int64_t unit = by_day ? kDay : kHour;
  const std::int64_t first = floor_to(from, unit);
  std::map<std::int64_t, StatsRow> buckets;
  {
    std::lock_guard lock(reader_mutex_);
    auto stmt = reader_.prepare(std::string("SELECT (hour - (((hour % ?4) + ?4) % ?4)) AS b, ") +
                                kStatsColumns +
                                " FROM stats_hourly WHERE tenant_id = ?1 AND hour >= ?2 AND "
                                "hour < ?3 GROUP BY b ORDER BY b");
    if (!stmt) {
      log::error("queue_stats_failed", {{"error", stmt.error().message}});
      return {};
    }
    // Every hour of a bucket that starts at or before `to`.
    const std::int64_t end = to >= INT64_MAX - unit ? INT64_MAX : floor_to(to, unit) + unit;
    stmt->bind(1, tenant);
    stmt->bind(2, first);
    stmt->bind(3, end);
    stmt->bind(4, unit);
    while (stmt->step() == SQLITE_ROW) {
      const auto column = [&](int i) { return static_cast<std::uint64_t>(stmt->column_int(i)); };
      StatsRow row{.start = stmt->column_int(0),
                   .requested = column(1),
                   .delivered = column(2),
                   .deferred = column(3),
                   .bounced_hard = column(4),
                   .bounced_soft = column(5),
                   .suppressed = column(6),
                   .rejected_limits = column(7),
                   .complained = column(8),
                   .messages = column(9)};
      buckets[row.start] = row;
    }
  }
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, row] : policy_counts_) {
      const std::int64_t start = floor_to(key.second, unit);
      if (key.first == tenant && start >= first && start <= to) {
        StatsRow& b = buckets[start];
        b.start = start;
        b += row;
      }
    }
  }
  std::vector<StatsRow> out;
  out.reserve(buckets.size());
  for (auto& [start, row] : buckets) {
    out.push_back(row);
  }
  return out;
}

std::uint64_t Spool::messages_in_month(std::string_view tenant, std::string_view month) const {
  // "YYYY-MM" exactly.
  const auto digits = [](std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (month.size() != 7 || month[4] != '-' || !digits(month.substr(0, 4)) ||
      !digits(month.substr(5))) {
    return 0;
  }
  const int year = std::stoi(std::string(month.substr(0, 4)));
  const unsigned m = static_cast<unsigned>(std::stoi(std::string(month.substr(5, 2))));
  const auto start = month_start(year, m);
  const auto end = m == 12 ? month_start(year + 1, 1) : month_start(year, m + 1);
  if (!start || !end) {
    return 0;
  }
  std::lock_guard lock(reader_mutex_);
  auto stmt = reader_.prepare(
      "SELECT COALESCE(SUM(messages), 0) FROM stats_hourly "
      "WHERE tenant_id = ?1 AND hour >= ?2 AND hour < ?3");
  if (!stmt) {
    log::error("queue_stats_failed", {{"error", stmt.error().message}});
    return 0;
  }
  stmt->bind(1, tenant);
  stmt->bind(2, *start);
  stmt->bind(3, *end);
  if (stmt->step() != SQLITE_ROW) {
    return 0;
  }
  return static_cast<std::uint64_t>(stmt->column_int(0));
}

}  // namespace portcullis::relay::queue
