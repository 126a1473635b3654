#include "relay/queue/retention.hpp"

#include <string>
#include <utility>

#include "gateway/core/log/log.hpp"

namespace portcullis::relay::queue {
namespace {

using std::chrono::steady_clock;

// The oldest first (events_time index), a bounded number per transaction.
// The newest event always stays: events.id is a plain INTEGER PRIMARY KEY,
// so SQLite numbers a new row max(id) + 1, and an emptied table would hand
// out ids again from 1, below the webhook dispatcher's cursors (which then
// would never send those events). Keeping the maximum keeps ids increasing.
constexpr const char* kDeleteEvents =
    "DELETE FROM events WHERE id IN "
    "(SELECT id FROM events WHERE time < ?1 AND id < (SELECT MAX(id) FROM events) "
    "ORDER BY time LIMIT ?2)";
// stats_hourly is keyed (tenant_id, hour): walk the tenants along the key and
// delete each one's old hours by an index range, never a table scan.
constexpr const char* kNextStatsTenant =
    "SELECT tenant_id FROM stats_hourly WHERE tenant_id > ?1 ORDER BY tenant_id LIMIT 1";
constexpr const char* kDeleteStats =
    "DELETE FROM stats_hourly WHERE tenant_id = ?3 AND hour IN "
    "(SELECT hour FROM stats_hourly WHERE tenant_id = ?3 AND hour < ?1 ORDER BY hour LIMIT ?2)";

constexpr std::int64_t kHour = 3600;

Result<void> exec(detail::Db& db, const char* sql) {
  if (auto r = db.exec(sql); !r) {
    return make_error(std::string(sql) + ": " + r.error().message);
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Retention>> Retention::open(const std::filesystem::path& state_dir,
                                                   RetentionSettings settings,
                                                   const Clock& clock) {
  const auto file = state_dir / "queue.db";
  // No SQLITE_OPEN_CREATE: the spool creates and migrates the database.
  auto db = detail::Db::open(file, SQLITE_OPEN_READWRITE);
  if (!db) {
    return db.error();
  }
  // The spool's committer holds the write lock for one batch at a time;
  // waiting for it is fine here (this thread serves no one). secure_delete
  // FAST, as the spool's writer: Debian's default zeroes every page a prune
  // frees, writing it twice more (WAL and checkpoint).
  for (const char* sql : {"PRAGMA busy_timeout = 5000", "PRAGMA synchronous = NORMAL",
                          "PRAGMA secure_delete = FAST"}) {
    if (auto r = exec(*db, sql); !r) {
      return r.error();
    }
  }
  // Fails now, not an hour later, if the schema is not what this code prunes.
  for (const char* sql : {kDeleteEvents, kNextStatsTenant, kDeleteStats}) {
    if (auto stmt = db->prepare(sql); !stmt) {
      return make_error("queue database " + file.string() +
                        " cannot be pruned: " + stmt.error().message);
    }
  }
  if (settings.batch_rows == 0) {
    settings.batch_rows = 1;
  }
  return std::unique_ptr<Retention>(new Retention(std::move(*db), settings, clock));
}

Retention::Retention(detail::Db db, RetentionSettings settings, const Clock& clock)
    : db_(std::move(db)), settings_(settings), clock_(clock) {}

Retention::~Retention() {
  stop();
}

void Retention::start() {
  std::lock_guard lock(mutex_);
  if (!thread_.joinable() && !stopping_) {
    thread_ = std::thread([this] { run(); });
  }
}

void Retention::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
    thread_.join();
  }
}

bool Retention::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

bool Retention::pause() {
  std::unique_lock lock(mutex_);
  return !wake_.wait_for(lock, settings_.pause, [this] { return stopping_; });
}

void Retention::run() {
  for (;;) {
    if (auto r = prune_once(); !r) {
      // The next run tries again; what was deleted before the error stays deleted.
      log::warning("retention_failed", {{"error", r.error().message}});
    }
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, settings_.interval, [this] { return stopping_; })) {
      return;
    }
  }
}

Result<bool> Retention::delete_in_batches(detail::Statement& del,
                                          const std::function<void(detail::Statement&)>& bind,
                                          std::uint64_t& count,
                                          std::atomic<std::uint64_t>& total) {
  for (;;) {
    if (stopping()) {
      return false;
    }
    bind(del);
    const int rc = del.step();
    del.reset();
    if (rc != SQLITE_DONE) {
      return make_error(db_.error_message());
    }
    const auto deleted = static_cast<std::uint64_t>(sqlite3_changes64(db_.get()));
    count += deleted;
    total.fetch_add(deleted, std::memory_order_relaxed);
    if (deleted < settings_.batch_rows) {
      return true;
    }
    // Let the committer in between batches.
    if (!pause()) {
      return false;
    }
  }
}

Result<bool> Retention::prune_stats(std::int64_t cutoff, std::uint64_t& count) {
  auto next = db_.prepare(kNextStatsTenant);
  auto del = db_.prepare(kDeleteStats);
  if (!next || !del) {
    return make_error(db_.error_message());
  }
  const auto batch = static_cast<std::int64_t>(settings_.batch_rows);
  std::string tenant;  // "" sorts before every tenant id
  for (;;) {
    next->bind(1, tenant);
    const int rc = next->step();
    if (rc == SQLITE_DONE) {
      return true;
    }
    if (rc != SQLITE_ROW) {
      return make_error(db_.error_message());
    }
    std::string found = next->column_text(0);
    next->reset();
    tenant = std::move(found);
    auto ok = delete_in_batches(
        *del,
        [&](detail::Statement& s) {
          s.bind(1, cutoff);
          s.bind(2, batch);
          s.bind(3, tenant);
        },
        count, stats_pruned_);
    if (!ok || !*ok) {
      return ok;
    }
  }
}

Result<PruneCounts> Retention::prune_once() {
  std::lock_guard lock(db_mutex_);
  const auto started = steady_clock::now();
  const std::int64_t now = clock_.unix_now();
  PruneCounts counts;
  std::int64_t events_before = 0;
  std::int64_t stats_before = 0;

  if (settings_.events_age.count() > 0) {
    events_before = now - settings_.events_age.count();
    auto del = db_.prepare(kDeleteEvents);
    if (!del) {
      return make_error(db_.error_message());
    }
    const auto batch = static_cast<std::int64_t>(settings_.batch_rows);
    auto ok = delete_in_batches(
        *del,
        [&](detail::Statement& s) {
          s.bind(1, events_before);
          s.bind(2, batch);
        },
        counts.events, events_pruned_);
    if (!ok) {
      return ok.error();
    }
    counts.stopped = !*ok;
  }
  if (settings_.stats_age.count() > 0 && !counts.stopped) {
    // Whole hours only: the bucket holding the cut-off is kept entire, so a
    // kept period's stats never lose part of an hour.
    stats_before = (now - settings_.stats_age.count()) / kHour * kHour;
    auto ok = prune_stats(stats_before, counts.stats);
    if (!ok) {
      return ok.error();
    }
    counts.stopped = !*ok;
  }

  // PASSIVE: copies what it can from the WAL into the database without
  // waiting for the spool's readers or writer (TRUNCATE or RESTART would
  // hold the write lock while they finish). The freed pages are reused.
  int wal_frames = 0;
  int checkpointed = 0;
  sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_PASSIVE, &wal_frames,
                            &checkpointed);
  runs_.fetch_add(1, std::memory_order_relaxed);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started);
  log::info("retention_pruned", {{"events", counts.events},
                                 {"events_before", events_before},
                                 {"stats", counts.stats},
                                 {"stats_before", stats_before},
                                 {"wal_frames", wal_frames},
                                 {"checkpointed", checkpointed},
                                 {"stopped", counts.stopped ? "yes" : "no"},
                                 {"ms", ms.count()}});
  return counts;
}

}  // namespace portcullis::relay::queue
