#pragma once
// The durable queue: <state_dir>/queue.db (SQLite, WAL, synchronous=FULL,
// 0600 in a 0700 directory). A message is committed only when the WAL holding
// it has been fsync'd; the session replies 250 only after that.
//
// Group commit: async_commit hands the message to one committer thread, which
// writes everything pending in one transaction and one fsync, then completes
// every waiter of that batch. Under load many sessions share one fsync.
//
// Delivery state: each recipient row moves queued -> deferred* -> delivered |
// bounced | expired. Every change is one transaction together with its rows in
// the events table; a message is deleted in the transaction that makes its
// last recipient final. The committer and the synchronous writers share one
// writer connection under a mutex (no SQLITE_BUSY between them); readers use
// a second connection and see committed snapshots (WAL).
//
// Statistics: stats_hourly holds per-tenant counters by UTC hour, written in
// the transaction that writes what they count, so they agree with the queue
// after a crash: a commit adds messages += 1 and requested += recipients (at
// the hour of received_at); record_outcomes adds one of delivered, deferred
// (a 4xx attempt), bounced_hard (a permanent failure, status bounced) or
// bounced_soft (status expired: the bounce DSN caused by temporary failures
// until max_age) at the hour of the outcome. Our own DSNs and delay notices
// (listener "bounce") are not the tenant's mail and are not counted. Policy
// refusals (record_policy_counts) are counted on the I/O threads in memory
// and written with the next commit batch, or within a second when there is
// none: never an fsync per refused RCPT.
//
// Untrusted input: envelope fields and message data from SMTP clients, stored
// byte-exact through bound parameters and never interpreted here.

#include <atomic>
#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/core/events/delivery_event.hpp"
#include "gateway/core/result.hpp"
#include "relay/queue/message.hpp"
#include "relay/queue/sqlite_db.hpp"

namespace portcullis::relay::queue {

// What record_outcomes wrote: the events (with their ids), for the caller to
// publish, and whether the message left the queue.
struct RecordedOutcomes {
  bool removed = false;
  std::vector<events::DeliveryEvent> events;
};

// One bucket of a tenant's counters: an hour, or a UTC day of hours.
struct StatsRow {
  std::int64_t start = 0;       // unix seconds: the start of the hour or day (UTC)
  std::uint64_t requested = 0;  // recipients of committed messages
  std::uint64_t delivered = 0;
  std::uint64_t deferred = 0;
  std::uint64_t bounced_hard = 0;
  std::uint64_t bounced_soft = 0;
  std::uint64_t suppressed = 0;
  std::uint64_t rejected_limits = 0;
  std::uint64_t complained = 0;
  std::uint64_t messages = 0;  // committed messages (what the monthly quota counts)

  StatsRow& operator+=(const StatsRow& other);
  bool operator==(const StatsRow&) const = default;
};

// One delivery attempt's outcomes for one message, recorded through the
// committer (see Spool::async_record).
struct OutcomeRecord {
  std::string id;
  Envelope envelope;
  std::vector<RecipientOutcome> outcomes;
  std::int64_t now = 0;          // 0 = the system clock
  std::vector<Message> enqueue;  // DSNs caused by these outcomes, queued in the same transaction
};

// What the delivery engine hears from the spool, on the thread that wrote it
// (the committer, or the caller of retry_now/remove).
struct SpoolHooks {
  // Messages just committed (tenants' mail and our DSNs), every recipient pending.
  std::function<void(std::vector<DueMessage>)> queued;
  std::function<void(std::string)> retry_now;  // the message's pending recipients are due now
  std::function<void(std::string)> removed;    // the operator deleted the message
};

// Counters that come from outside the queue's own writes.
enum class PolicyCount { suppressed, rejected_limits, complained };

class Spool {
 public:
  using CommitHandler = boost::asio::any_completion_handler<void(boost::system::error_code)>;

  // Creates the directory (0700) and database (0600) when missing and runs
  // the schema migrations. Throws std::runtime_error: start-up only.
  static std::unique_ptr<Spool> open(const std::filesystem::path& state_dir);

  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;
  ~Spool();  // stop()

  // Completes with error_code{} only once the batch holding m is fsync'd; on
  // a failed transaction with that error and nothing of the batch is stored.
  // Callable from any thread; the handler runs on its associated executor.
  template <class Token>
  auto async_commit(Message m, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code)>(
        [this](auto handler, Message message) {
          // Tracked: the handler's io_context keeps running while the message
          // waits for its batch. Never-blocking: the handler is always queued
          // to its executor, never run inline inside the committer or the caller.
          boost::asio::any_completion_executor work =
              boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                  boost::asio::execution::outstanding_work.tracked,
                                  boost::asio::execution::blocking.never);
          enqueue(Pending{std::move(message), CommitHandler(std::move(handler)), std::move(work)});
        },
        token, std::move(m));
  }

  // Records a delivery attempt's outcomes (as record_outcomes) in the
  // committer's next batch: many attempts share one transaction and one
  // fsync, and the caller's thread never waits on the disk. done runs on the
  // committer thread once the batch is durable (or failed: nothing of this
  // record written; other records of the batch are unaffected).
  using RecordDone = std::function<void(Result<RecordedOutcomes>)>;
  void async_record(OutcomeRecord record, RecordDone done);

  // Commits what is pending, then stops the committer; later async_commit
  // calls complete with operation_aborted. Idempotent.
  void stop();

  // Read-only queries on a separate connection; oldest first (ids sort by time).
  std::vector<MessageSummary> list(std::size_t limit = 1000) const;
  std::optional<Message> get(std::string_view id) const;
  std::size_t size() const;

  // Counters so tests and benchmarks can see batching: transactions run and
  // messages committed (successful ones only).
  std::uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

  int schema_version() const;
  static int latest_schema_version();
  std::filesystem::path path() const { return path_; }

  // ---- delivery state (thread-safe, synchronous; small transactions) ----

  // Start-up wiring, before any commit. The bus receives the events no other
  // component sees being written: accepted (after each group commit, on the
  // committer thread) and deleted (remove()). wakeup is called after new
  // messages were committed and after retry_now(), from the thread that did it.
  void set_event_bus(const events::EventBus* bus);
  void set_wakeup(std::function<void()> wakeup);
  void set_hooks(SpoolHooks hooks);

  // For queue tools that change the spool through their own connection
  // (hold, release): tell the delivery engine, as the spool's own writes do.
  void announce_removed(std::string id) const;
  void announce_queued(std::vector<DueMessage> queued) const;

  // Every message not held with pending recipients (each with its next_attempt_at),
  // for the delivery engine to rebuild its schedule at start. One pass in
  // id order; blocking: start-up only.
  std::vector<DueMessage> load_pending() const;

  // Messages with recipients queued|deferred and next_attempt_at <= now (NULL
  // counts as due), oldest message first, at most `limit` messages, skipping
  // those for which skip(id) is true (the caller's in-flight set).
  std::vector<DueMessage> due(std::int64_t now_unix,
                              std::size_t limit,
                              const std::function<bool(std::string_view)>& skip = {}) const;
  // The message bytes; nullopt when it is no longer queued.
  std::optional<std::string> data(std::string_view id) const;
  // Earliest next_attempt_at among pending recipients (skip as in due());
  // nullopt when nothing is pending.
  std::optional<std::int64_t> next_due(
      const std::function<bool(std::string_view)>& skip = {}) const;

  // One transaction: each outcome updates its recipient (status, attempts+1,
  // next_attempt_at, last_reply, remote, first_failure_at on the first
  // deferral), one event per outcome is written (type from the status, tenant
  // from the envelope, detail = reply), `enqueue` messages (e.g. the DSN) are
  // inserted with their accepted events, and the message is deleted when no
  // recipient is pending any more. now = 0 means the system clock.
  // Errors (nothing written): no such message, an idx that does not exist or
  // is already final, a queued status, a database error. The caller publishes
  // result.events; the accepted events of `enqueue` go to the spool's bus.
  Result<RecordedOutcomes> record_outcomes(std::string_view id,
                                           const Envelope& envelope,
                                           const std::vector<RecipientOutcome>& outcomes,
                                           std::int64_t now = 0,
                                           std::vector<Message> enqueue = {});

  // Makes the pending recipients due at once (next_attempt_at = 0) and calls
  // the wakeup. false: no such message.
  Result<bool> retry_now(std::string_view id);
  // Operator delete: a 'deleted' event per pending recipient, then the message
  // is gone, in one transaction; the events go to the bus. false: no such message.
  Result<bool> remove(std::string_view id, std::int64_t now = 0);

  // Stored events matching the filter: the most recent `limit`, oldest first.
  std::vector<events::DeliveryEvent> events(const events::EventFilter& filter) const;
  // Every recipient row of a message in envelope order; empty when not queued.
  std::vector<RecipientState> recipients(std::string_view id) const;

  // A tenant's events with ids above after_id, oldest first, at most
  // `limit`; nullopt when the log cannot be read (not the same as "none").
  // Ids become visible in increasing order (one writer), which is what lets
  // a reader keep a cursor.
  std::optional<std::vector<events::DeliveryEvent>> events_after(std::string_view tenant,
                                                                 std::int64_t after_id,
                                                                 std::size_t limit) const;
  std::optional<std::int64_t> last_event_id() const;  // 0 when empty; nullopt on error

  // ---- statistics (thread-safe) ----

  // Adds n to the tenant's counter for the hour of `now` (0 = the system
  // clock). Cheap: memory only; written within a second (or at stop()).
  void record_policy_counts(std::string_view tenant,
                            PolicyCount kind,
                            std::uint64_t n = 1,
                            std::int64_t now = 0);
  // The tenant's buckets (hours, or UTC days when by_day) whose start lies
  // in [from rounded down to its bucket, to], each bucket whole, oldest first;
  // buckets without any count are left out. Includes policy counts not written
  // yet (but not those in the transaction writing them at that instant).
  std::vector<StatsRow> stats(std::string_view tenant,
                              std::int64_t from,
                              std::int64_t to,
                              bool by_day) const;
  // Messages committed for the tenant in the UTC month "YYYY-MM"; 0 for a
  // malformed month.
  std::uint64_t messages_in_month(std::string_view tenant, std::string_view month) const;

 private:
  struct Pending {
    Message message;
    CommitHandler handler;
    boost::asio::any_completion_executor work;
  };
  struct PendingRecord {
    OutcomeRecord record;
    RecordDone done;
  };

  // Policy counts not written yet, by (tenant, hour).
  using StatsDeltas = std::map<std::pair<std::string, std::int64_t>, StatsRow, std::less<>>;

  Spool(std::filesystem::path path, detail::Db writer, detail::Db reader);

  void enqueue(Pending pending);
  void run();
  boost::system::error_code write_batch(const std::vector<Pending>& batch,
                                        std::vector<PendingRecord>& records,
                                        StatsDeltas counts);
  static void complete(Pending& pending, boost::system::error_code ec);
  void publish(const std::vector<events::DeliveryEvent>& written) const;
  void make_writer_durable();
  void wake() const;

  std::filesystem::path path_;
  std::mutex writer_mutex_;  // the committer and the synchronous writers
  detail::Db writer_;
  bool writer_durable_ = true;  // synchronous=FULL in force on writer_ (see write_batch)
  mutable std::mutex reader_mutex_;
  mutable detail::Db reader_;

  mutable std::mutex hooks_mutex_;
  const events::EventBus* bus_ = nullptr;
  std::function<void()> wakeup_;
  SpoolHooks hooks_;

  mutable std::mutex mutex_;  // pending_, policy_counts_, stopping_
  std::condition_variable wake_;
  std::vector<Pending> pending_;
  std::vector<PendingRecord> records_;
  StatsDeltas policy_counts_;
  std::chrono::steady_clock::time_point policy_counts_since_{};  // the oldest unwritten count
  bool stopping_ = false;
  std::thread committer_;
  std::once_flag joined_;

  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace portcullis::relay::queue
