#include "relay/queue/retention.hpp"

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gateway/core/clock.hpp"
#include "gateway/core/events/delivery_event.hpp"
#include "gtest/gtest.h"
#include "relay/queue/spool.hpp"

namespace portcullis::relay::queue {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kHour = 3600;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("portcullis-retention-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// A real queue.db (created and migrated by the spool) and a writer beside it
// that plants history of any age.
class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    spool_ = Spool::open(dir_.path());
    auto db = detail::Db::open(dir_.path() / "queue.db", SQLITE_OPEN_READWRITE);
    ASSERT_TRUE(db) << db.error().message;
    db_ = std::move(*db);
    ASSERT_TRUE(db_.exec("PRAGMA busy_timeout = 5000"));
    now_ = clock_.unix_now();
  }

  void add_events(std::int64_t time, int n, const std::string& tenant = "acme") {
    ASSERT_TRUE(db_.exec("BEGIN"));
    auto stmt = db_.prepare(
        "INSERT INTO events (time, type, tenant_id, message_id, recipient, detail, remote) "
        "VALUES (?1, 'delivered', ?2, ?3, 'rcpt@example.net', '250 2.0.0 Ok', '198.18.2.10')");
    ASSERT_TRUE(stmt);
    for (int i = 0; i < n; ++i) {
      const std::string id = "M" + std::to_string(time) + "-" + std::to_string(i);
      stmt->bind(1, time);
      stmt->bind(2, tenant);
      stmt->bind(3, id);
      ASSERT_EQ(stmt->step(), SQLITE_DONE) << db_.error_message();
      stmt->reset();
    }
    ASSERT_TRUE(db_.exec("COMMIT"));
  }

  // One hourly row per hour in [from, to), counters derived from the hour.
  void add_stats(const std::string& tenant, std::int64_t from, std::int64_t to) {
    ASSERT_TRUE(db_.exec("BEGIN"));
    auto stmt = db_.prepare(
        "INSERT INTO stats_hourly (tenant_id, hour, requested, delivered, messages) "
        "VALUES (?1, ?2, ?3, ?3, 1)");
    ASSERT_TRUE(stmt);
    for (std::int64_t h = from / kHour * kHour; h < to; h += kHour) {
      stmt->bind(1, tenant);
      stmt->bind(2, h);
      stmt->bind(3, std::int64_t{1} + (h / kHour) % 7);
      ASSERT_EQ(stmt->step(), SQLITE_DONE) << db_.error_message();
      stmt->reset();
    }
    ASSERT_TRUE(db_.exec("COMMIT"));
  }

  std::int64_t count(const std::string& sql) {
    auto stmt = db_.prepare(sql);
    EXPECT_TRUE(stmt) << sql;
    if (!stmt || stmt->step() != SQLITE_ROW) {
      return -1;
    }
    return stmt->column_int(0);
  }

  std::unique_ptr<Retention> open(RetentionSettings settings) {
    auto r = Retention::open(dir_.path(), settings, clock_);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(*r) : nullptr;
  }

  static RetentionSettings settings(std::int64_t events_days,
                                    std::int64_t stats_days,
                                    std::size_t batch = 2000) {
    RetentionSettings s;
    s.events_age = seconds(events_days * kDay);
    s.stats_age = seconds(stats_days * kDay);
    s.batch_rows = batch;
    s.pause = std::chrono::milliseconds(0);
    return s;
  }

  TempDir dir_;
  FakeClock clock_;
  std::int64_t now_ = 0;
  std::unique_ptr<Spool> spool_;
  detail::Db db_;
};

TEST_F(RetentionTest, OldEventsGoNewOnesStay) {
  add_events(now_ - 40 * kDay, 2500);
  add_events(now_ - 31 * kDay, 2500);
  add_events(now_ - 29 * kDay, 30);
  add_events(now_ - 60, 20);
  auto retention = open(settings(30, 395, 1000));
  ASSERT_TRUE(retention);

  auto pruned = retention->prune_once();
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(pruned->events, 5000u);
  EXPECT_FALSE(pruned->stopped);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events"), 50);
  EXPECT_EQ(count("SELECT MIN(time) FROM events"), now_ - 29 * kDay);
  EXPECT_EQ(retention->events_pruned(), 5000u);
  EXPECT_EQ(retention->runs(), 1u);

  // What the spool's readers (portcullisctl events) see is only the kept part.
  events::EventFilter filter;
  filter.tenant = "acme";
  filter.limit = 10000;
  const auto seen = spool_->events(filter);
  EXPECT_EQ(seen.size(), 50u);

  // A second pass finds nothing more.
  pruned = retention->prune_once();
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->events, 0u);
  EXPECT_EQ(retention->runs(), 2u);
}

TEST_F(RetentionTest, CutOffIsExclusive) {
  add_events(now_ - 30 * kDay - 1, 3);
  add_events(now_ - 30 * kDay, 4);
  auto retention = open(settings(30, 0));
  ASSERT_TRUE(retention);
  auto pruned = retention->prune_once();
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->events, 3u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events"), 4);
}

TEST_F(RetentionTest, TheNewestEventStaysSoIdsKeepIncreasing) {
  // A quiet month: every event is old. Readers keep cursors by event id
  // (webhooks), so a new event must never get an id that was handed out before.
  add_events(now_ - 40 * kDay, 50);
  const auto last_id = count("SELECT MAX(id) FROM events");
  auto retention = open(settings(30, 0, 7));
  ASSERT_TRUE(retention);
  auto pruned = retention->prune_once();
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->events, 49u);
  EXPECT_EQ(count("SELECT id FROM events"), last_id);
  EXPECT_EQ(spool_->last_event_id(), last_id);
  add_events(now_, 1);
  EXPECT_EQ(count("SELECT MAX(id) FROM events"), last_id + 1);
}

TEST_F(RetentionTest, OldStatsGoAndTheKeptPeriodIsUnchanged) {
  // Two tenants with 14 months of hours, a third with only recent ones.
  for (const char* tenant : {"acme", "bravo"}) {
    add_stats(tenant, now_ - 425 * kDay, now_);
  }
  add_stats("charlie", now_ - 10 * kDay, now_);
  const std::int64_t kept_from = now_ - 395 * kDay;
  const auto acme_before = spool_->stats("acme", kept_from, now_, false);
  const auto acme_days_before = spool_->stats("acme", kept_from + kDay, now_, true);
  const auto charlie_before = spool_->stats("charlie", 0, now_, false);
  const auto old_rows = count("SELECT COUNT(*) FROM stats_hourly WHERE hour < " +
                              std::to_string(kept_from / kHour * kHour));
  ASSERT_GT(old_rows, 1000);

  auto retention = open(settings(30, 395, 100));
  ASSERT_TRUE(retention);
  auto pruned = retention->prune_once();
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(static_cast<std::int64_t>(pruned->stats), old_rows);
  EXPECT_EQ(retention->stats_pruned(), pruned->stats);

  // The hour holding the cut-off is kept whole, and nothing after it changed.
  EXPECT_EQ(count("SELECT MIN(hour) FROM stats_hourly WHERE tenant_id = 'acme'"),
            kept_from / kHour * kHour);
  EXPECT_EQ(spool_->stats("acme", kept_from, now_, false), acme_before);
  EXPECT_EQ(spool_->stats("acme", kept_from + kDay, now_, true), acme_days_before);
  EXPECT_EQ(spool_->stats("charlie", 0, now_, false), charlie_before);
  EXPECT_TRUE(spool_->stats("bravo", 0, kept_from - kHour, false).empty());
}

TEST_F(RetentionTest, ZeroAgesKeepEverything) {
  add_events(now_ - 4000 * kDay, 10);
  add_stats("acme", now_ - 4000 * kDay, now_ - 3990 * kDay);
  const auto rows = count("SELECT COUNT(*) FROM stats_hourly");
  ASSERT_GT(rows, 200);
  auto retention = open(settings(0, 0));
  ASSERT_TRUE(retention);
  auto pruned = retention->prune_once();
  ASSERT_TRUE(pruned);
  EXPECT_EQ(pruned->events, 0u);
  EXPECT_EQ(pruned->stats, 0u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events"), 10);
  EXPECT_EQ(count("SELECT COUNT(*) FROM stats_hourly"), rows);
}

TEST_F(RetentionTest, PrunesWhileTheSpoolCommits) {
  add_events(now_ - 40 * kDay, 3000);
  add_events(now_, 1);  // the newest event is never pruned (ids)
  auto retention = open(settings(30, 395, 100));
  ASSERT_TRUE(retention);
  // The spool's committer writes through its own connection meanwhile; both
  // finish (busy_timeout, WAL) and neither loses a row.
  std::thread writer([&] { add_events(now_, 500, "bravo"); });
  auto pruned = retention->prune_once();
  writer.join();
  ASSERT_TRUE(pruned) << pruned.error().message;
  EXPECT_EQ(pruned->events, 3000u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events WHERE tenant_id = 'bravo'"), 500);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events"), 501);
}

TEST_F(RetentionTest, FreedPagesAreReused) {
  add_events(now_ - 40 * kDay, 20000);
  const auto pages_full = count("PRAGMA page_count");
  auto retention = open(settings(30, 0));
  ASSERT_TRUE(retention);
  ASSERT_TRUE(retention->prune_once());
  EXPECT_GT(count("PRAGMA freelist_count"), pages_full / 2);
  // The same amount of new history fits in the freed pages: the file grows
  // by a few pages at most (the newest old event stays), not by another 100%.
  add_events(now_, 20000);
  EXPECT_LE(count("PRAGMA page_count"), pages_full * 105 / 100);
}

TEST_F(RetentionTest, StopEndsAPassBetweenBatches) {
  add_events(now_ - 40 * kDay, 1000);
  auto s = settings(30, 395, 10);
  s.pause = std::chrono::hours(1);  // the pass would take 100 hours without stop()
  auto retention = open(s);
  ASSERT_TRUE(retention);
  retention->start();
  while (retention->events_pruned() < 10) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  retention->stop();  // returns because the pause ends, not after 100 hours
  EXPECT_EQ(retention->events_pruned(), 10u);
  EXPECT_EQ(count("SELECT COUNT(*) FROM events"), 990);
  retention->stop();  // idempotent
}

TEST_F(RetentionTest, StartRunsAPassAtOnce) {
  add_events(now_ - 40 * kDay, 5);
  add_events(now_, 1);
  auto s = settings(30, 395);
  s.interval = std::chrono::hours(1);
  auto retention = open(s);
  ASSERT_TRUE(retention);
  retention->start();
  while (retention->runs() < 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  retention->stop();  // does not wait out the interval
  EXPECT_EQ(retention->events_pruned(), 5u);
}

TEST(RetentionOpen, NeedsTheSpoolsDatabase) {
  TempDir dir;
  fs::create_directories(dir.path());
  FakeClock clock;
  auto missing = Retention::open(dir.path(), {}, clock);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("queue.db"), std::string::npos) << missing.error().message;
  {
    auto db = detail::Db::open(dir.path() / "queue.db", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE unrelated (x)"));
  }
  auto wrong = Retention::open(dir.path(), {}, clock);
  ASSERT_FALSE(wrong);
  EXPECT_NE(wrong.error().message.find("cannot be pruned"), std::string::npos)
      << wrong.error().message;
}

}  // namespace
}  // namespace portcullis::relay::queue
