#include "relay/queue/queue_admin.hpp"

#include <algorithm>
#include <condition_variable>
#include <ctime>
#include <map>
#include <unordered_map>
#include <utility>

#include "gateway/core/events/delivery_event.hpp"
#include "gateway/core/log/log.hpp"
#include "relay/delivery/dsn.hpp"
#include "relay/queue/pending_rows.hpp"

namespace portcullis::relay::queue {
namespace {

constexpr const char* kPending = "status IN ('queued', 'deferred')";
// The same, but not an index choice: with "message_id IN (the chunk)" beside
// it, SQLite would otherwise pick the (status, next_attempt_at) index and
// walk every pending recipient for each chunk instead of the chunk's rows.
constexpr const char* kPendingNoIndex = "+status IN ('queued', 'deferred')";
constexpr const char* kBounceReply = "5.0.0 bounced by the operator";
constexpr const char* kBounceStatus = "5.0.0";
// The DSN quotes the original header section; longer ones are cut (make_dsn
// bounds every part anyway), so a 25 MB message is not read whole to bounce it.
constexpr std::int64_t kHeaderReadLimit = 64 * 1024;
// The engine adds announced messages on the I/O thread: a few at a time, so
// 100,000 released messages do not hold it for one long turn.
constexpr std::size_t kAnnounceChunk = 1000;

// The recipient domain as the delivery engine sees it (after the LAST '@',
// lower case; "" without '@'). rtrim with every character but '@' strips back
// to the last '@', whose position is then the length of what is left.
std::string domain_sql(std::string_view column) {
  const std::string c(column);
  return "(CASE WHEN instr(" + c + ", '@') = 0 THEN '' ELSE lower(substr(" + c + ", length(rtrim(" +
         c + ", replace(" + c + ", '@', ''))) + 1)) END)";
}

std::string lower_ascii(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char ch) {
    return static_cast<char>(ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch);
  });
  return out;
}

std::int64_t unix_now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

std::size_t age_bucket(std::int64_t age) {
  // Doubling edges in seconds, as qshape's 5 10 20 40 80 160 minutes.
  static constexpr std::array<std::int64_t, kAgeBuckets - 1> kEdges = {300,  600,  1200,
                                                                       2400, 4800, 9600};
  std::size_t b = 0;
  while (b < kEdges.size() && age >= kEdges[b]) {
    ++b;
  }
  return b;
}

// BEGIN IMMEDIATE (or a read snapshot), body, COMMIT; ROLLBACK on failure.
template <class Body>
auto in_transaction(detail::Db& db, const char* begin, Body&& body) -> decltype(body()) {
  if (auto r = db.exec(begin); !r) {
    return make_error("begin: " + r.error().message);
  }
  auto result = body();
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

Result<std::int64_t> run(detail::Db& db, detail::Statement& stmt, std::string_view what) {
  if (stmt.step() != SQLITE_DONE) {
    return make_error(std::string(what) + ": " + db.error_message());
  }
  return static_cast<std::int64_t>(sqlite3_changes(db.get()));
}

Result<std::int64_t> run(detail::Db& db, const std::string& sql, std::string_view what) {
  auto stmt = db.prepare(sql);
  if (!stmt) {
    return make_error(std::string(what) + ": " + stmt.error().message);
  }
  return run(db, *stmt, what);
}

void add(ShapeRow& row,
         std::size_t bucket,
         std::uint64_t queued,
         std::uint64_t deferred,
         std::uint64_t held) {
  const std::uint64_t n = queued + deferred + held;
  row.recipients += n;
  row.queued += queued;
  row.deferred += deferred;
  row.held += held;
  row.ages[bucket] += n;
}

std::vector<ShapeRow> top_rows(std::map<std::string, ShapeRow>& rows,
                               std::size_t top,
                               std::size_t& count) {
  count = rows.size();
  std::vector<ShapeRow> out;
  out.reserve(rows.size());
  for (auto& [name, row] : rows) {
    row.name = name;
    out.push_back(std::move(row));
  }
  const auto larger = [](const ShapeRow& a, const ShapeRow& b) {
    return a.recipients != b.recipients ? a.recipients > b.recipients : a.name < b.name;
  };
  if (out.size() > top) {
    std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(top), out.end(),
                      larger);
    out.resize(top);
  } else {
    std::sort(out.begin(), out.end(), larger);
  }
  return out;
}

// Waits for async_record's completions, which run on the committer thread.
class Latch {
 public:
  explicit Latch(std::size_t count) : count_(count) {}
  void count_down() {
    std::lock_guard lock(mutex_);
    if (--count_ == 0) {
      done_.notify_all();
    }
  }
  void wait() {
    std::unique_lock lock(mutex_);
    done_.wait(lock, [this] { return count_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::size_t count_;
};

}  // namespace

const std::array<std::string_view, kAgeBuckets>& age_bucket_names() {
  static const std::array<std::string_view, kAgeBuckets> kNames = {
      "0-5m", "5-10m", "10-20m", "20-40m", "40-80m", "80-160m", "160m+"};
  return kNames;
}

Result<std::unique_ptr<QueueAdmin>> QueueAdmin::open(Spool& spool, AdminSettings settings) {
  auto db = detail::Db::open(spool.path(), SQLITE_OPEN_READWRITE);
  if (!db) {
    return db.error();
  }
  // FULL: an operator's delete or bounce survives a power loss like the
  // spool's own writes. The id list lives in memory: no temp files.
  for (const char* sql :
       {"PRAGMA busy_timeout = 5000", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON",
        "PRAGMA temp_store = MEMORY",
        // The summary and the filters read every message row (the body is
        // inline for small messages): a larger cache and mmap instead of a
        // read() per 4 KiB page.
        "PRAGMA cache_size = -65536", "PRAGMA mmap_size = 268435456",
        // As the spool's writer: Debian's SQLite would zero every page a
        // delete frees, writing each deleted body twice more.
        "PRAGMA secure_delete = FAST",
        "CREATE TEMP TABLE IF NOT EXISTS admin_ids (id TEXT PRIMARY KEY) WITHOUT ROWID"}) {
    if (auto r = db->exec(sql); !r) {
      return make_error("queue admin: " + std::string(sql) + ": " + r.error().message);
    }
  }
  return std::unique_ptr<QueueAdmin>(new QueueAdmin(spool, std::move(settings), std::move(*db)));
}

QueueAdmin::QueueAdmin(Spool& spool, AdminSettings settings, detail::Db db)
    : spool_(spool), settings_(std::move(settings)), db_(std::move(db)) {}

Result<void> QueueAdmin::select_ids(const QueueFilter& filter,
                                    std::int64_t now,
                                    std::optional<int> held) {
  if (auto r = db_.exec("DELETE FROM admin_ids"); !r) {
    return r;
  }
  std::string sql = "INSERT INTO admin_ids (id) SELECT m.id FROM messages m WHERE 1";
  if (held) {
    sql += " AND m.held = ?6";
  }
  if (filter.id) {
    sql += " AND m.id = ?1";
  }
  if (filter.tenant) {
    sql += " AND m.tenant_id = ?2";
  }
  if (filter.sender) {
    sql += " AND lower(m.mail_from) = ?3";
  }
  if (filter.older_than) {
    sql += " AND m.received_at <= ?4";
  }
  if (filter.destination) {
    sql += " AND EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r." +
           std::string(kPending) + " AND " + domain_sql("r.address") + " = ?5)";
  }
  auto stmt = db_.prepare(sql);
  if (!stmt) {
    return make_error("select messages: " + stmt.error().message);
  }
  // Bound values are not copied: these live until the step below.
  const std::string sender = filter.sender ? lower_ascii(*filter.sender) : std::string();
  const std::string destination =
      filter.destination ? lower_ascii(*filter.destination) : std::string();
  if (held) {
    stmt->bind(6, static_cast<std::int64_t>(*held));
  }
  if (filter.id) {
    stmt->bind(1, *filter.id);
  }
  if (filter.tenant) {
    stmt->bind(2, *filter.tenant);
  }
  if (filter.sender) {
    stmt->bind(3, sender);
  }
  if (filter.older_than) {
    stmt->bind(4, now - *filter.older_than);
  }
  if (filter.destination) {
    stmt->bind(5, destination);
  }
  if (auto r = run(db_, *stmt, "select messages"); !r) {
    return r.error();
  }
  return {};
}

Result<std::vector<std::string>> QueueAdmin::selected_ids() {
  auto stmt = db_.prepare("SELECT id FROM admin_ids ORDER BY id");
  if (!stmt) {
    return stmt.error();
  }
  std::vector<std::string> ids;
  while (stmt->step() == SQLITE_ROW) {
    ids.push_back(stmt->column_text(0));
  }
  return ids;
}

Result<std::size_t> QueueAdmin::selected_pending() {
  auto stmt = db_.prepare(
      std::string("SELECT COUNT(*) FROM recipients WHERE message_id IN (SELECT id FROM admin_ids) "
                  "AND ") +
      kPendingNoIndex);
  if (!stmt || stmt->step() != SQLITE_ROW) {
    return make_error("count recipients: " + db_.error_message());
  }
  return static_cast<std::size_t>(stmt->column_int(0));
}

// As Spool::load_pending, for the selected messages.
Result<std::vector<DueMessage>> QueueAdmin::selected_due() {
  return read_pending(db_, "id IN (SELECT id FROM admin_ids) AND held = 0",
                      "message_id IN (SELECT id FROM admin_ids)");
}

Result<QueueShape> QueueAdmin::summary(std::size_t top, std::int64_t now) const {
  if (now == 0) {
    now = unix_now();
  }
  QueueShape shape;
  shape.now = now;
  std::map<std::string, ShapeRow> destinations;
  std::map<std::string, ShapeRow> tenants;
  std::lock_guard lock(mutex_);
  auto result = in_transaction(db_, "BEGIN", [&]() -> Result<void> {
    // Grouped by tenant too, so each (destination, tenant, age) group counts
    // a message once: a message has one tenant and one age, so summing the
    // groups of a destination counts its messages exactly.
    auto rcpts = db_.prepare(
        "SELECT " + domain_sql("r.address") +
        " AS dest, m.tenant_id, m.received_at AS received, "
        "SUM(m.held = 0 AND r.status = 'queued'), SUM(m.held = 0 AND r.status = 'deferred'), "
        "SUM(m.held != 0), COUNT(DISTINCT r.message_id) "
        "FROM recipients r JOIN messages m ON m.id = r.message_id WHERE +r." +
        std::string(kPending) + " GROUP BY dest, m.tenant_id, received");
    // Messages per tenant, exactly (one with recipients at two destinations is one message).
    auto messages =
        db_.prepare("SELECT tenant_id, COUNT(*), SUM(held != 0) FROM messages GROUP BY tenant_id");
    if (!rcpts || !messages) {
      return make_error("summary: " + db_.error_message());
    }
    while (rcpts->step() == SQLITE_ROW) {
      const std::string dest = rcpts->column_text(0);
      const std::string tenant = rcpts->column_text(1);
      const std::size_t bucket = age_bucket(now - rcpts->column_int(2));
      const auto queued = static_cast<std::uint64_t>(rcpts->column_int(3));
      const auto deferred = static_cast<std::uint64_t>(rcpts->column_int(4));
      const auto held = static_cast<std::uint64_t>(rcpts->column_int(5));
      auto& d = destinations[dest];
      add(d, bucket, queued, deferred, held);
      d.messages += static_cast<std::uint64_t>(rcpts->column_int(6));
      add(tenants[tenant], bucket, queued, deferred, held);
      add(shape.total, bucket, queued, deferred, held);
    }
    while (messages->step() == SQLITE_ROW) {
      const auto n = static_cast<std::uint64_t>(messages->column_int(1));
      const auto held = static_cast<std::uint64_t>(messages->column_int(2));
      tenants[messages->column_text(0)].messages = n;
      shape.total.messages += n;
      shape.held_messages += held;
    }
    return {};
  });
  if (!result) {
    return result.error();
  }
  shape.total.name = "TOTAL";
  shape.destinations = top_rows(destinations, top, shape.destination_count);
  shape.tenants = top_rows(tenants, top, shape.tenant_count);
  return shape;
}

Result<std::vector<std::string>> QueueAdmin::matching(const QueueFilter& filter,
                                                      std::int64_t now,
                                                      std::optional<int> held) {
  // A read snapshot: the temporary table is not the queue's, so no write lock.
  return in_transaction(db_, "BEGIN", [&]() -> Result<std::vector<std::string>> {
    if (auto r = select_ids(filter, now, held); !r) {
      return r.error();
    }
    return selected_ids();
  });
}

Result<void> QueueAdmin::in_chunks(const std::vector<std::string>& ids,
                                   const ChunkBody& body,
                                   const ChunkDone& done) {
  const std::size_t step = std::max<std::size_t>(settings_.chunk, 1);
  for (std::size_t begin = 0; begin < ids.size(); begin += step) {
    const std::size_t end = std::min(ids.size(), begin + step);
    auto r = in_transaction(db_, "BEGIN IMMEDIATE", [&]() -> Result<void> {
      if (auto cleared = db_.exec("DELETE FROM admin_ids"); !cleared) {
        return cleared;
      }
      auto insert = db_.prepare("INSERT INTO admin_ids (id) VALUES (?1)");
      if (!insert) {
        return insert.error();
      }
      for (std::size_t i = begin; i < end; ++i) {
        insert->bind(1, ids[i]);
        if (insert->step() != SQLITE_DONE) {
          return make_error("select messages: " + db_.error_message());
        }
        insert->reset();
      }
      return body();
    });
    if (!r) {
      if (begin > 0) {
        return make_error(r.error().message + " (after the first " + std::to_string(begin) +
                          " messages, which are done)");
      }
      return r;
    }
    done(begin, end);
  }
  return {};
}

Result<AdminResult> QueueAdmin::hold(const QueueFilter& filter, std::int64_t now) {
  if (now == 0) {
    now = unix_now();
  }
  std::lock_guard lock(mutex_);
  auto ids = matching(filter, now, 0);
  if (!ids) {
    return ids.error();
  }
  AdminResult done;
  auto result = in_chunks(
      *ids,
      [&]() -> Result<void> {
        auto pending = selected_pending();
        if (!pending) {
          return pending.error();
        }
        // held = 0 again: another hold may have taken some meanwhile.
        auto changed = run(db_,
                           "UPDATE messages SET held = 1 WHERE id IN (SELECT id FROM admin_ids) "
                           "AND held = 0",
                           "hold");
        if (!changed) {
          return changed.error();
        }
        done.messages += static_cast<std::size_t>(*changed);
        done.recipients += *pending;
        return {};
      },
      [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
          spool_.announce_removed((*ids)[i]);
        }
      });
  if (!result) {
    return result.error();
  }
  return done;
}

Result<AdminResult> QueueAdmin::release(const QueueFilter& filter, std::int64_t now) {
  if (now == 0) {
    now = unix_now();
  }
  std::lock_guard lock(mutex_);
  auto ids = matching(filter, now, 1);
  if (!ids) {
    return ids.error();
  }
  AdminResult done;
  std::vector<DueMessage> due;
  auto result = in_chunks(
      *ids,
      [&]() -> Result<void> {
        auto pending = selected_pending();
        if (!pending) {
          return pending.error();
        }
        auto changed = run(db_,
                           "UPDATE messages SET held = 0 WHERE id IN (SELECT id FROM admin_ids) "
                           "AND held = 1",
                           "release");
        if (!changed) {
          return changed.error();
        }
        // Read inside the transaction: the rows just released, as they are.
        auto read = selected_due();
        if (!read) {
          return read.error();
        }
        done.messages += static_cast<std::size_t>(*changed);
        done.recipients += *pending;
        due = std::move(*read);
        return {};
      },
      [&](std::size_t, std::size_t) {
        for (std::size_t i = 0; i < due.size(); i += kAnnounceChunk) {
          const auto end = std::min(due.size(), i + kAnnounceChunk);
          spool_.announce_queued(
              std::vector<DueMessage>(std::make_move_iterator(due.begin() + i),
                                      std::make_move_iterator(due.begin() + end)));
        }
        due.clear();
      });
  if (!result) {
    return result.error();
  }
  return done;
}

Result<AdminResult> QueueAdmin::retry_now(const QueueFilter& filter, std::int64_t now) {
  if (now == 0) {
    now = unix_now();
  }
  std::lock_guard lock(mutex_);
  auto ids = matching(filter, now, 0);
  if (!ids) {
    return ids.error();
  }
  AdminResult done;
  auto result = in_chunks(
      *ids,
      [&]() -> Result<void> {
        auto stmt =
            db_.prepare(std::string("UPDATE recipients SET next_attempt_at = 0, updated_at = ?1 "
                                    "WHERE message_id IN (SELECT id FROM admin_ids) AND ") +
                        kPendingNoIndex);
        if (!stmt) {
          return make_error("retry: " + stmt.error().message);
        }
        stmt->bind(1, now);
        auto r = run(db_, *stmt, "retry");
        if (!r) {
          return r.error();
        }
        done.recipients += static_cast<std::size_t>(*r);
        return {};
      },
      [&](std::size_t begin, std::size_t end) {
        done.messages += end - begin;
        for (std::size_t i = begin; i < end; ++i) {
          const auto& id = (*ids)[i];
          if (settings_.retry_hook) {
            settings_.retry_hook(id);
          } else if (auto r = spool_.retry_now(id); !r) {
            // Already due in the database; the engine finds it at its next start.
            log::warning("queue_retry_failed", {{"msg", id}, {"error", r.error().message}});
          }
        }
      });
  if (!result) {
    return result.error();
  }
  return done;
}

Result<AdminResult> QueueAdmin::remove(const QueueFilter& filter, std::int64_t now) {
  if (now == 0) {
    now = unix_now();
  }
  std::lock_guard lock(mutex_);
  auto ids = matching(filter, now, std::nullopt);
  if (!ids) {
    return ids.error();
  }
  AdminResult done;
  auto result = in_chunks(
      *ids,
      [&]() -> Result<void> {
        // The 'deleted' events Spool::remove writes, one per pending recipient.
        auto events = db_.prepare(
            std::string("INSERT INTO events (time, type, tenant_id, message_id, recipient, "
                        "detail, remote) SELECT ?1, ?2, m.tenant_id, r.message_id, r.address, "
                        "'deleted by the operator', '' FROM recipients r JOIN messages m "
                        "ON m.id = r.message_id WHERE r.message_id IN (SELECT id FROM admin_ids) "
                        "AND +r.") +
            kPending + " ORDER BY r.message_id, r.idx");
        if (!events) {
          return make_error("delete: " + events.error().message);
        }
        const std::string_view type = events::to_string(events::DeliveryEventType::deleted);
        events->bind(1, now);
        events->bind(2, type);
        auto written = run(db_, *events, "delete events");
        if (!written) {
          return written.error();
        }
        if (auto r =
                run(db_, "DELETE FROM recipients WHERE message_id IN (SELECT id FROM admin_ids)",
                    "delete");
            !r) {
          return r.error();
        }
        auto gone =
            run(db_, "DELETE FROM messages WHERE id IN (SELECT id FROM admin_ids)", "delete");
        if (!gone) {
          return gone.error();
        }
        done.recipients += static_cast<std::size_t>(*written);
        done.messages += static_cast<std::size_t>(*gone);
        return {};
      },
      [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
          spool_.announce_removed((*ids)[i]);
        }
      });
  if (!result) {
    return result.error();
  }
  return done;
}

Result<AdminResult> QueueAdmin::bounce(const QueueFilter& filter, std::int64_t now) {
  if (now == 0) {
    now = unix_now();
  }
  struct Target {
    DueMessage message;  // every pending recipient
    std::string headers;
    bool held = false;
  };
  std::lock_guard lock(mutex_);
  std::vector<Target> targets;
  // One read snapshot: the messages, their headers and recipients.
  auto read = in_transaction(db_, "BEGIN", [&]() -> Result<void> {
    if (auto r = select_ids(filter, now, std::nullopt); !r) {
      return r;
    }
    auto message = db_.prepare(
        "SELECT id, tenant_id, credential, listener, client_address, helo, "
        "original_destination, mail_from, body_type, smtputf8, received_at, size, held, "
        "substr(data, 1, ?1) FROM messages WHERE id IN (SELECT id FROM admin_ids) ORDER BY id");
    auto rcpt = db_.prepare(
        "SELECT message_id, idx, address, status, attempts FROM recipients "
        "WHERE message_id IN (SELECT id FROM admin_ids) ORDER BY message_id, idx");
    if (!message || !rcpt) {
      return make_error("bounce: " + db_.error_message());
    }
    message->bind(1, kHeaderReadLimit);
    bool rcpt_row = rcpt->step() == SQLITE_ROW;
    while (message->step() == SQLITE_ROW) {
      Target t;
      DueMessage& d = t.message;
      d.id = message->column_text(0);
      Envelope& e = d.envelope;
      e.tenant_id = message->column_text(1);
      e.credential = message->column_text(2);
      e.listener = message->column_text(3);
      e.client_address = message->column_text(4);
      e.helo = message->column_text(5);
      e.original_destination = message->column_text(6);
      e.mail_from = message->column_text(7);
      e.body_type = message->column_text(8);
      e.smtputf8 = message->column_int(9) != 0;
      e.received_at = message->column_int(10);
      d.size = static_cast<std::uint64_t>(message->column_int(11));
      t.held = message->column_int(12) != 0;
      t.headers = std::string(delivery::header_section_of(message->column_text(13)));
      while (rcpt_row && rcpt->column_text(0) < d.id) {
        rcpt_row = rcpt->step() == SQLITE_ROW;
      }
      while (rcpt_row && rcpt->column_text(0) == d.id) {
        e.recipients.push_back(rcpt->column_text(2));
        const auto status = parse_recipient_status(rcpt->column_text(3));
        if (status && !is_final(*status)) {
          PendingRecipient p;
          p.idx = static_cast<std::size_t>(rcpt->column_int(1));
          p.address = e.recipients.back();
          p.attempts = static_cast<int>(rcpt->column_int(4));
          p.status = *status;
          d.recipients.push_back(std::move(p));
        }
        rcpt_row = rcpt->step() == SQLITE_ROW;
      }
      targets.push_back(std::move(t));
    }
    return {};
  });
  if (!read) {
    return read.error();
  }

  const std::string destination =
      filter.destination ? lower_ascii(*filter.destination) : std::string();
  const auto at_destination = [&](const std::string& address) {
    if (!filter.destination) {
      return true;
    }
    const auto at = address.rfind('@');
    return at != std::string::npos && lower_ascii(address.substr(at + 1)) == destination;
  };

  std::vector<std::size_t> bounced(targets.size(), 0);
  std::vector<char> failed(targets.size(), 0);
  const std::size_t step = std::max<std::size_t>(settings_.bounce_chunk, 1);
  for (std::size_t begin = 0; begin < targets.size(); begin += step) {
    const std::size_t end = std::min(targets.size(), begin + step);
    // The engine must not start these while their outcomes are being written.
    for (std::size_t i = begin; i < end; ++i) {
      spool_.announce_removed(targets[i].message.id);
    }
    Latch latch(end - begin);
    for (std::size_t i = begin; i < end; ++i) {
      const auto& t = targets[i];
      OutcomeRecord record;
      record.id = t.message.id;
      record.envelope = t.message.envelope;
      record.now = now;
      delivery::DsnReport report;
      report.reporting_host = settings_.reporting_host;
      report.original_mail_from = t.message.envelope.mail_from;
      report.original_message_id = t.message.id;
      report.arrival_time = t.message.envelope.received_at;
      report.original_headers = t.headers;
      report.now = now;
      for (const auto& p : t.message.recipients) {
        if (!at_destination(p.address)) {
          continue;
        }
        record.outcomes.push_back({.idx = p.idx,
                                   .status = RecipientStatus::bounced,
                                   .next_attempt_at = 0,
                                   .reply = kBounceReply,
                                   .remote = "",
                                   .delay_notified = false});
        report.recipients.push_back({.final_recipient = p.address,
                                     .action = delivery::DsnAction::failed,
                                     .status = kBounceStatus,
                                     .remote_mta = "",
                                     .diagnostic = kBounceReply,
                                     .last_attempt = now,
                                     .will_retry_until = 0});
      }
      bounced[i] = record.outcomes.size();
      if (record.outcomes.empty()) {
        latch.count_down();
        continue;
      }
      if (delivery::should_bounce(t.message.envelope)) {
        Message dsn;
        dsn.id = new_message_id();
        dsn.data = delivery::make_dsn(report, dsn.id);
        dsn.envelope.tenant_id = t.message.envelope.tenant_id;
        dsn.envelope.listener = "bounce";
        dsn.envelope.mail_from = "";
        dsn.envelope.recipients = {t.message.envelope.mail_from};
        dsn.envelope.body_type = "7BIT";
        dsn.envelope.received_at = now;
        record.enqueue.push_back(std::move(dsn));
      }
      // Through the committer: the chunk in its next batch (or two), one fsync each.
      spool_.async_record(std::move(record), [&, i](Result<RecordedOutcomes> r) {
        if (!r) {
          failed[i] = 1;
          log::warning("queue_bounce_failed",
                       {{"msg", targets[i].message.id}, {"error", r.error().message}});
        }
        latch.count_down();
      });
    }
    latch.wait();
  }

  AdminResult done;
  // What stays queued goes back to the engine: recipients at other
  // destinations, and messages whose record failed (re-read: the engine may
  // have delivered some of their recipients meanwhile).
  std::vector<DueMessage> again;
  bool reread = false;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    auto& t = targets[i];
    if (failed[i] != 0) {
      reread = true;
      continue;
    }
    if (bounced[i] > 0) {
      ++done.messages;
      done.recipients += bounced[i];
    }
    if (t.held) {
      continue;
    }
    std::erase_if(t.message.recipients,
                  [&](const PendingRecipient& p) { return at_destination(p.address); });
    if (!t.message.recipients.empty()) {
      again.push_back(std::move(t.message));
    }
  }
  if (reread) {
    auto fresh = in_transaction(db_, "BEGIN", [&]() -> Result<std::vector<DueMessage>> {
      if (auto r = db_.exec("DELETE FROM admin_ids"); !r) {
        return r.error();
      }
      auto insert = db_.prepare("INSERT INTO admin_ids (id) VALUES (?1)");
      if (!insert) {
        return insert.error();
      }
      for (std::size_t i = 0; i < targets.size(); ++i) {
        if (failed[i] != 0) {
          insert->bind(1, targets[i].message.id);
          (void)insert->step();
          insert->reset();
        }
      }
      return selected_due();
    });
    if (fresh) {
      again.insert(again.end(), std::make_move_iterator(fresh->begin()),
                   std::make_move_iterator(fresh->end()));
    } else {
      log::error("queue_bounce_reread_failed", {{"error", fresh.error().message}});
    }
  }
  for (std::size_t i = 0; i < again.size(); i += kAnnounceChunk) {
    const auto end = std::min(again.size(), i + kAnnounceChunk);
    spool_.announce_queued(std::vector<DueMessage>(std::make_move_iterator(again.begin() + i),
                                                   std::make_move_iterator(again.begin() + end)));
  }
  return done;
}

}  // namespace portcullis::relay::queue
