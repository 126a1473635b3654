#pragma once
// Keeps the queue database's history bounded: delivery events (every
// recipient's outcomes; a recipient row itself leaves with its message) older
// than events_age and hourly statistics older than stats_age are deleted from
// <state_dir>/queue.db, at start and then every interval.
//
// Beside the spool, never in its way: its own connection (WAL lets it write
// between the committer's transactions) and its own thread (never an I/O
// thread), deleting at most batch_rows rows per transaction with a pause
// between, so the spool's committer waits at most one small batch for the
// write lock. Freed pages go on SQLite's free list and are reused by later
// inserts: the file stops growing rather than shrinking. After each run a
// passive checkpoint copies the WAL back without waiting for anyone.
//
// Losing a prune (crash, power loss) is harmless: the rows are deleted again
// on the next run, so commits here do not fsync (synchronous=NORMAL).
//
// Untrusted input: none (rows the spool wrote). Needs write access to queue.db.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "gateway/core/clock.hpp"
#include "gateway/core/result.hpp"
#include "relay/queue/sqlite_db.hpp"

namespace portcullis::relay::queue {

struct RetentionSettings {
  std::chrono::seconds events_age{30 * 24 * 3600};  // 0 = keep forever
  std::chrono::seconds stats_age{395 * 24 * 3600};  // 0 = keep forever
  std::chrono::seconds interval{3600};
  // Rows per transaction: ~12 ms of the write lock on this machine (events
  // carry four indexes), so a commit never waits long behind a batch.
  std::size_t batch_rows = 1000;
  std::chrono::milliseconds pause{10};  // between transactions
};

// What one pass deleted.
struct PruneCounts {
  std::uint64_t events = 0;
  std::uint64_t stats = 0;
  bool stopped = false;  // stop() cut the pass short; the rest goes next time
};

class Retention {
 public:
  // Opens a second connection to the queue database, which Spool::open
  // created and migrated before. Start-up only.
  static Result<std::unique_ptr<Retention>> open(const std::filesystem::path& state_dir,
                                                 RetentionSettings settings,
                                                 const Clock& clock);

  Retention(const Retention&) = delete;
  Retention& operator=(const Retention&) = delete;
  ~Retention();  // stop()

  // Runs a pass now, then one every interval, on the Retention's own thread.
  void start();
  // Ends the current batch's pause and the wait, then joins: returns within
  // one batch. Idempotent.
  void stop();

  // One pass on the caller's thread (tests; start() uses it too): events
  // then stats, batch by batch, then a passive checkpoint. The cut-offs are
  // clock.unix_now() minus the ages; an age of 0 skips that table.
  Result<PruneCounts> prune_once();

  // Totals since construction, for tests and the log.
  std::uint64_t events_pruned() const { return events_pruned_.load(std::memory_order_relaxed); }
  std::uint64_t stats_pruned() const { return stats_pruned_.load(std::memory_order_relaxed); }
  std::uint64_t runs() const { return runs_.load(std::memory_order_relaxed); }

 private:
  Retention(detail::Db db, RetentionSettings settings, const Clock& clock);

  void run();
  // Runs `del` (a DELETE of at most batch_rows rows; bind sets its other
  // parameters) until a batch deletes fewer than batch_rows, pausing between
  // batches; adds what it deleted to `count` and, batch by batch, to
  // `total`. false: stop() cut it short.
  Result<bool> delete_in_batches(detail::Statement& del,
                                 const std::function<void(detail::Statement&)>& bind,
                                 std::uint64_t& count,
                                 std::atomic<std::uint64_t>& total);
  // Tenant by tenant along the primary key, so no pass scans the whole table.
  Result<bool> prune_stats(std::int64_t cutoff, std::uint64_t& count);
  // Sleeps `pause`; false when stop() was called.
  bool pause();
  bool stopping() const;

  std::mutex db_mutex_;  // one pass at a time
  detail::Db db_;
  const RetentionSettings settings_;
  const Clock& clock_;

  mutable std::mutex mutex_;  // stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;

  std::atomic<std::uint64_t> events_pruned_{0};
  std::atomic<std::uint64_t> stats_pruned_{0};
  std::atomic<std::uint64_t> runs_{0};
};

}  // namespace portcullis::relay::queue
