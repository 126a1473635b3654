#include "relay/queue/spool.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>

#include "gateway/core/log/log.hpp"

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
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

constexpr const char* kInsertMessage =
    "INSERT INTO messages (id, tenant_id, credential, listener, client_address, helo, "
    "original_destination, mail_from, body_type, smtputf8, received_at, size, data) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
constexpr const char* kInsertRecipient =
    "INSERT INTO recipients (message_id, idx, address, next_attempt_at) VALUES (?1, ?2, ?3, ?4)";

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
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) {
        return;  // stopping, and everything handed in before stop() is committed
      }
      batch.swap(pending_);
    }
    const error_code ec = write_batch(batch);
    if (!ec) {
      batches_.fetch_add(1, std::memory_order_relaxed);
      commits_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    for (auto& pending : batch) {
      complete(pending, ec);
    }
    batch.clear();
  }
}

error_code Spool::write_batch(const std::vector<Pending>& batch) {
  std::string failure;
  const auto failed = [&](std::string what) {
    failure = std::move(what) + ": " + writer_.error_message();
    return false;
  };
  const auto write_all = [&]() -> bool {
    if (!writer_.exec("BEGIN IMMEDIATE")) {
      return failed("begin");
    }
    auto message_stmt = writer_.prepare(kInsertMessage);
    auto recipient_stmt = writer_.prepare(kInsertRecipient);
    if (!message_stmt || !recipient_stmt) {
      return failed("prepare");
    }
    for (const auto& pending : batch) {
      const Message& m = pending.message;
      const Envelope& e = m.envelope;
      auto& s = *message_stmt;
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
        return failed("insert message " + m.id);
      }
      for (std::size_t i = 0; i < e.recipients.size(); ++i) {
        auto& r = *recipient_stmt;
        r.bind(1, m.id);
        r.bind(2, static_cast<std::int64_t>(i));
        r.bind(3, e.recipients[i]);
        r.bind(4, e.received_at);  // due at once
        const int rrc = r.step();
        r.reset();
        if (rrc != SQLITE_DONE) {
          return failed("insert recipient of " + m.id);
        }
      }
    }
    if (!writer_.exec("COMMIT")) {
      return failed("commit");
    }
    return true;
  };

  if (write_all()) {
    return {};
  }
  if (sqlite3_get_autocommit(writer_.get()) == 0) {
    (void)writer_.exec("ROLLBACK");
  }
  log::error("queue_commit_failed", {{"messages", batch.size()}, {"error", failure}});
  return make_error_code(boost::system::errc::io_error);
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
      "(SELECT COUNT(*) FROM recipients r WHERE r.message_id = m.id), m.size, m.received_at "
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

int Spool::schema_version() const {
  std::lock_guard lock(reader_mutex_);
  return user_version(reader_);
}

}  // namespace portcullis::relay::queue
