#pragma once
// The operator's queue tools at depth: a qshape-like summary, and hold,
// release, retry-now, delete and bounce for every message a filter matches
// (tenant, recipient domain, sender, age, or one id).
//
// Beside the spool, through a connection of its own to queue.db (WAL lets it
// read while the committer writes): the matching ids are read in one
// snapshot, then changed in transactions of AdminSettings::chunk messages
// (5,000: one fsync each, not one per message, and short enough that the
// spool's committer, waiting for the write lock, never times out). After
// each transaction the delivery engine is told per message through the
// spool's hooks (announce_removed for hold and delete, announce_queued for
// release, the retry hook for retry-now), as the spool's own writes tell it.
// Bounce goes through the spool's committer (Spool::async_record): the
// bounced outcomes and their DSNs commit together, in its batches.
//
// Everything here is blocking (SQLite): call it from a thread that may wait.
//
// Untrusted input: filter values from local operators (bound as parameters,
// never spliced into SQL) and the rows the spool stored.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"
#include "relay/queue/spool.hpp"
#include "relay/queue/sqlite_db.hpp"

namespace portcullis::relay::queue {

// Conditions are ANDed; an empty filter matches every message. A message
// matches the destination when one of its pending recipients is at it.
struct QueueFilter {
  std::optional<std::string> id;
  std::optional<std::string> tenant;
  std::optional<std::string> destination;  // recipient domain, any case
  std::optional<std::string> sender;       // envelope sender, any case; "" = null sender
  std::optional<std::int64_t> older_than;  // seconds since the message was received, at least

  bool empty() const { return !id && !tenant && !destination && !sender && !older_than; }
};

// qshape's buckets of message age: 0-5m, 5-10m, 10-20m, 20-40m, 40-80m, 80-160m, 160m+.
inline constexpr std::size_t kAgeBuckets = 7;
const std::array<std::string_view, kAgeBuckets>& age_bucket_names();

// Pending recipients of one destination, one tenant or the whole queue.
struct ShapeRow {
  std::string name;
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::uint64_t queued = 0;    // recipients never tried, message not held
  std::uint64_t deferred = 0;  // recipients waiting for a retry, message not held
  std::uint64_t held = 0;      // recipients of held messages
  std::array<std::uint64_t, kAgeBuckets> ages{};  // recipients by the age of their message
};

struct QueueShape {
  std::int64_t now = 0;
  ShapeRow total;
  std::uint64_t held_messages = 0;
  std::vector<ShapeRow> destinations;  // the `top` largest by recipients
  std::vector<ShapeRow> tenants;
  std::size_t destination_count = 0;  // all of them, beyond `top`
  std::size_t tenant_count = 0;
};

// What a bulk change touched.
struct AdminResult {
  std::size_t messages = 0;
  std::size_t recipients = 0;  // pending recipients of those messages (bounce: bounced ones)
};

struct AdminSettings {
  std::string reporting_host;  // relay.hostname, for the bounce DSNs
  // Tells the delivery engine a message's pending recipients are due now
  // (SpoolHooks::retry_now). Without it retry-now goes through
  // Spool::retry_now, one transaction per message.
  std::function<void(std::string)> retry_hook;
  // Messages per write transaction. The spool's committer waits for the
  // write lock at most 5 s (busy_timeout) before a commit fails and SMTP
  // clients get 451; 5,000 messages hold it for about 0.3 s here, so 100,000
  // messages cost 20 fsyncs, and mail keeps being accepted meanwhile.
  std::size_t chunk = 5000;
  // Bounced messages per committer batch: their DSNs are built and queued
  // in the same batch, so a smaller one lets the sessions' commits in between.
  std::size_t bounce_chunk = 500;
};

class QueueAdmin {
 public:
  // A connection to the spool's database, which Spool::open created and
  // migrated. The spool must outlive this.
  static Result<std::unique_ptr<QueueAdmin>> open(Spool& spool, AdminSettings settings);

  QueueAdmin(const QueueAdmin&) = delete;
  QueueAdmin& operator=(const QueueAdmin&) = delete;

  // One pass over the pending recipients, grouped in SQL. now = 0: the system clock.
  Result<QueueShape> summary(std::size_t top, std::int64_t now = 0) const;

  // Matching messages not held become held: kept, never delivered.
  Result<AdminResult> hold(const QueueFilter& filter, std::int64_t now = 0);
  // Matching held messages are delivered again, each recipient at its next_attempt_at.
  Result<AdminResult> release(const QueueFilter& filter, std::int64_t now = 0);
  // The pending recipients of matching messages not held are due now.
  Result<AdminResult> retry_now(const QueueFilter& filter, std::int64_t now = 0);
  // Matching messages (held or not) leave the queue without a bounce: a
  // 'deleted' event per pending recipient, as Spool::remove writes.
  Result<AdminResult> remove(const QueueFilter& filter, std::int64_t now = 0);
  // The pending recipients of matching messages (held or not; with a
  // destination filter only those at it) are bounced with "5.0.0 bounced by
  // the operator", and each sender gets one DSN (not the null sender, not
  // for our own DSNs). A message left with other pending recipients stays
  // queued.
  Result<AdminResult> bounce(const QueueFilter& filter, std::int64_t now = 0);

 private:
  QueueAdmin(Spool& spool, AdminSettings settings, detail::Db db);

  using ChunkBody = std::function<Result<void>()>;
  using ChunkDone = std::function<void(std::size_t begin, std::size_t end)>;

  // The matching message ids into the temporary table admin_ids, inside the
  // caller's transaction; held: 0 or 1 restricts to not held / held.
  Result<void> select_ids(const QueueFilter& filter, std::int64_t now, std::optional<int> held);
  // select_ids in a read snapshot of its own, as a list.
  Result<std::vector<std::string>> matching(const QueueFilter& filter,
                                            std::int64_t now,
                                            std::optional<int> held);
  // For each chunk of settings_.chunk ids: a write transaction with the chunk
  // in admin_ids running body, then (committed) done(begin, end).
  Result<void> in_chunks(const std::vector<std::string>& ids,
                         const ChunkBody& body,
                         const ChunkDone& done);
  Result<std::vector<std::string>> selected_ids();
  Result<std::size_t> selected_pending();
  // DueMessages (every pending recipient) of the selected messages not held.
  Result<std::vector<DueMessage>> selected_due();

  Spool& spool_;
  AdminSettings settings_;
  mutable std::mutex mutex_;  // db_
  mutable detail::Db db_;
};

}  // namespace portcullis::relay::queue
