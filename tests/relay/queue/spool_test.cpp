#include "relay/queue/spool.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "gateway/core/asio.hpp"
#include "gateway/core/events/delivery_event.hpp"
#include "gtest/gtest.h"

namespace portcullis::relay::queue {
namespace {

namespace fs = std::filesystem;
using boost::system::error_code;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("portcullis-spool-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Message make_message(std::string tag, std::size_t recipients = 2) {
  Message m;
  m.id = new_message_id();
  m.envelope.tenant_id = "tenant-" + tag;
  m.envelope.credential = "user-" + tag;
  m.envelope.listener = "submission";
  m.envelope.client_address = "198.18.1.10";
  m.envelope.helo = "client.example";
  m.envelope.original_destination = "";
  m.envelope.mail_from = "sender-" + tag + "@example.org";
  for (std::size_t i = 0; i < recipients; ++i) {
    m.envelope.recipients.push_back("rcpt" + std::to_string(i) + "-" + tag + "@example.net");
  }
  m.envelope.body_type = "8BITMIME";
  m.envelope.smtputf8 = true;
  m.envelope.received_at = 1'700'000'123;
  m.data = "Received: from client.example\r\nSubject: " + tag + "\r\n\r\nbody\r\n";
  return m;
}

error_code commit_on(asio::io_context& io, Spool& spool, Message m) {
  error_code result = asio::error::would_block;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto [ec] = co_await spool.async_commit(std::move(m), asio_nothrow);
        result = ec;
      },
      asio::detached);
  io.run();  // returns only once the commit completed: the spool holds work
  io.restart();
  return result;
}

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 0777;
}

TEST(SpoolTest, CommitThenReopenIsByteExact) {
  TempDir dir;
  Message m = make_message("a", 3);
  // Bytes a careless text path would mangle: NUL, bare CR/LF, 8-bit, a lone dot line.
  m.data = std::string("Subject: x\r\n\r\n\0bin\xff\xfe\r\n.\r\n..\r\nlone\rcr\nlf\r\n", 36);
  m.envelope.recipients[1] = "\xc3\xa9l\xc3\xa8ve@exemple.fr";
  m.envelope.mail_from = "";
  {
    auto spool = Spool::open(dir.path());
    asio::io_context io;
    EXPECT_FALSE(commit_on(io, *spool, m));
    EXPECT_EQ(spool->commits(), 1u);
    EXPECT_EQ(spool->batches(), 1u);
  }
  auto spool = Spool::open(dir.path());
  EXPECT_EQ(spool->schema_version(), Spool::latest_schema_version());
  ASSERT_EQ(spool->size(), 1u);
  auto got = spool->get(m.id);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, m.id);
  EXPECT_EQ(got->data, m.data);
  EXPECT_EQ(got->data.size(), 36u);
  const Envelope& e = got->envelope;
  EXPECT_EQ(e.tenant_id, m.envelope.tenant_id);
  EXPECT_EQ(e.credential, m.envelope.credential);
  EXPECT_EQ(e.listener, m.envelope.listener);
  EXPECT_EQ(e.client_address, m.envelope.client_address);
  EXPECT_EQ(e.helo, m.envelope.helo);
  EXPECT_EQ(e.original_destination, m.envelope.original_destination);
  EXPECT_EQ(e.mail_from, "");
  EXPECT_EQ(e.recipients, m.envelope.recipients);
  EXPECT_EQ(e.body_type, m.envelope.body_type);
  EXPECT_EQ(e.smtputf8, true);
  EXPECT_EQ(e.received_at, m.envelope.received_at);
}

TEST(SpoolTest, RecipientRowsStartQueuedAndDue) {
  TempDir dir;
  Message m = make_message("r", 2);
  {
    auto spool = Spool::open(dir.path());
    asio::io_context io;
    ASSERT_FALSE(commit_on(io, *spool, m));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "queue.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db,
                               "SELECT idx, address, status, attempts, next_attempt_at, last_reply "
                               "FROM recipients WHERE message_id = ?1 ORDER BY idx",
                               -1, &stmt, nullptr),
            SQLITE_OK);
  sqlite3_bind_text(stmt, 1, m.id.c_str(), -1, SQLITE_TRANSIENT);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int(stmt, 0), i);
    EXPECT_EQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)),
              m.envelope.recipients[static_cast<std::size_t>(i)]);
    EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)), "queued");
    EXPECT_EQ(sqlite3_column_int(stmt, 3), 0);
    EXPECT_EQ(sqlite3_column_int64(stmt, 4), m.envelope.received_at);
    EXPECT_EQ(sqlite3_column_type(stmt, 5), SQLITE_NULL);
  }
  EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST(SpoolTest, ConcurrentCommitsAreGrouped) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  constexpr int kThreads = 4;
  constexpr int kMessages = 200;
  asio::io_context io;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::mutex threads_mutex;
  std::set<std::thread::id> io_threads;
  std::set<std::thread::id> completed_on;
  std::vector<std::string> ids;
  for (int i = 0; i < kMessages; ++i) {
    Message m = make_message(std::to_string(i), 1 + static_cast<std::size_t>(i % 3));
    ids.push_back(m.id);
    asio::co_spawn(
        io,
        [&, m = std::move(m)]() mutable -> asio::awaitable<void> {
          auto [ec] = co_await spool->async_commit(std::move(m), asio_nothrow);
          (ec ? failed : ok).fetch_add(1);
          std::lock_guard lock(threads_mutex);
          completed_on.insert(std::this_thread::get_id());
        },
        asio::detached);
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      {
        std::lock_guard lock(threads_mutex);
        io_threads.insert(std::this_thread::get_id());
      }
      io.run();
    });
  }
  for (auto& t : threads) {
    t.join();  // io.run returns only when every commit has completed
  }
  EXPECT_EQ(ok.load(), kMessages);
  EXPECT_EQ(failed.load(), 0);
  // Every completion ran on one of the io_context's threads, never the committer.
  for (const auto& id : completed_on) {
    EXPECT_TRUE(io_threads.contains(id));
  }
  EXPECT_EQ(spool->commits(), static_cast<std::uint64_t>(kMessages));
  EXPECT_LT(spool->batches(), spool->commits());
  EXPECT_EQ(spool->size(), static_cast<std::size_t>(kMessages));
  std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), ids.size());
}

TEST(SpoolTest, HandlerRunsOnItsExecutor) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  std::thread::id ran_on;
  bool done = false;
  spool->async_commit(make_message("x"), asio::bind_executor(io, [&](error_code ec) {
                        EXPECT_FALSE(ec);
                        ran_on = std::this_thread::get_id();
                        done = true;
                      }));
  io.run();  // held open by the spool's work guard until the handler ran
  EXPECT_TRUE(done);
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(SpoolTest, FailedBatchStoresNothing) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  Message m = make_message("dup");
  ASSERT_FALSE(commit_on(io, *spool, m));
  Message again = make_message("dup2");
  again.id = m.id;  // primary key clash fails the transaction
  const error_code ec = commit_on(io, *spool, again);
  EXPECT_TRUE(ec);
  EXPECT_EQ(spool->size(), 1u);
  EXPECT_EQ(spool->get(m.id)->envelope.tenant_id, "tenant-dup");
  EXPECT_EQ(spool->commits(), 1u);
}

TEST(SpoolTest, CommitAfterStopIsAborted) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  spool->stop();
  asio::io_context io;
  EXPECT_EQ(commit_on(io, *spool, make_message("late")), asio::error::operation_aborted);
  EXPECT_EQ(spool->size(), 0u);
}

TEST(SpoolTest, StopDrainsPending) {
  TempDir dir;
  std::vector<std::string> ids;
  {
    auto spool = Spool::open(dir.path());
    std::atomic<int> completed{0};
    for (int i = 0; i < 20; ++i) {
      Message m = make_message(std::to_string(i));
      ids.push_back(m.id);
      spool->async_commit(std::move(m), [&](error_code ec) {
        EXPECT_FALSE(ec);
        completed.fetch_add(1);
      });
    }
    spool->stop();
    // Without an executor the callbacks run on the system executor: wait for
    // them before `completed` goes out of scope.
    for (int i = 0; i < 500 && completed.load() < 20; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_EQ(completed.load(), 20);
  }
  auto spool = Spool::open(dir.path());
  EXPECT_EQ(spool->size(), ids.size());
}

TEST(SpoolTest, IdsAreUniqueSortableAndAlphanumeric) {
  std::vector<std::string> ids;
  for (int i = 0; i < 10000; ++i) {
    ids.push_back(new_message_id());
  }
  for (const auto& id : ids) {
    ASSERT_EQ(id.size(), 18u);
    ASSERT_TRUE(std::all_of(id.begin(), id.end(), [](char c) {
      return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    })) << id;
  }
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  // Across threads too.
  std::vector<std::vector<std::string>> per_thread(4);
  std::vector<std::thread> threads;
  for (auto& out : per_thread) {
    threads.emplace_back([&out] {
      for (int i = 0; i < 5000; ++i) {
        out.push_back(new_message_id());
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  std::set<std::string> all;
  for (const auto& out : per_thread) {
    EXPECT_TRUE(std::is_sorted(out.begin(), out.end()));
    all.insert(out.begin(), out.end());
  }
  EXPECT_EQ(all.size(), 20000u);
  // A later id sorts after an earlier one even across a sleep.
  const std::string before = new_message_id();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_LT(before, new_message_id());
}

TEST(SpoolTest, ListAndGet) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  std::vector<Message> sent;
  for (int i = 0; i < 5; ++i) {
    sent.push_back(make_message(std::to_string(i), static_cast<std::size_t>(i + 1)));
    ASSERT_FALSE(commit_on(io, *spool, sent.back()));
  }
  const auto all = spool->list();
  ASSERT_EQ(all.size(), 5u);
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].id, sent[i].id);  // oldest first
    EXPECT_EQ(all[i].tenant_id, sent[i].envelope.tenant_id);
    EXPECT_EQ(all[i].mail_from, sent[i].envelope.mail_from);
    EXPECT_EQ(all[i].recipients, i + 1);
    EXPECT_EQ(all[i].size, sent[i].data.size());
    EXPECT_EQ(all[i].received_at, sent[i].envelope.received_at);
  }
  EXPECT_EQ(spool->list(2).size(), 2u);
  EXPECT_EQ(spool->list(0).size(), 0u);
  EXPECT_FALSE(spool->get("nonexistent").has_value());
  EXPECT_EQ(spool->get(sent[3].id)->envelope.recipients, sent[3].envelope.recipients);
  EXPECT_EQ(spool->size(), 5u);
}

TEST(SpoolTest, FilesArePrivate) {
  TempDir dir;
  const fs::path state = dir.path() / "state";
  auto spool = Spool::open(state);
  asio::io_context io;
  ASSERT_FALSE(commit_on(io, *spool, make_message("p")));
  EXPECT_EQ(mode_of(state), 0700u);
  EXPECT_EQ(mode_of(state / "queue.db"), 0600u);
  EXPECT_EQ(mode_of(state / "queue.db-wal"), 0600u);
  EXPECT_EQ(mode_of(state / "queue.db-shm"), 0600u);
}

TEST(SpoolTest, RefusesNewerSchema) {
  TempDir dir;
  { auto spool = Spool::open(dir.path()); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "queue.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THROW(Spool::open(dir.path()), std::runtime_error);
}

// ---- delivery state ----

std::vector<events::DeliveryEvent> events_of(const Spool& spool, const std::string& id) {
  return spool.events({.tenant = "", .since = 0, .message_id = id, .limit = 1000});
}

std::vector<std::string> types_of(const std::vector<events::DeliveryEvent>& list) {
  std::vector<std::string> out;
  for (const auto& e : list) {
    out.emplace_back(events::to_string(e.type));
  }
  return out;
}

TEST(SpoolDelivery, CommitWritesAcceptedEventsAndWakes) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  events::EventBus bus;
  std::vector<events::DeliveryEvent> seen;
  std::mutex seen_mutex;
  bus.subscribe([&](const events::DeliveryEvent& e) {
    std::lock_guard lock(seen_mutex);
    seen.push_back(e);
  });
  std::atomic<int> wakeups{0};
  spool->set_event_bus(&bus);
  spool->set_wakeup([&] { wakeups.fetch_add(1); });
  asio::io_context io;
  Message m = make_message("acc", 2);
  ASSERT_FALSE(commit_on(io, *spool, m));
  const auto stored = events_of(*spool, m.id);
  ASSERT_EQ(stored.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_GT(stored[i].id, 0);
    EXPECT_EQ(stored[i].type, events::DeliveryEventType::accepted);
    EXPECT_EQ(stored[i].time, m.envelope.received_at);
    EXPECT_EQ(stored[i].tenant_id, "tenant-acc");
    EXPECT_EQ(stored[i].message_id, m.id);
    EXPECT_EQ(stored[i].recipient, m.envelope.recipients[i]);
    EXPECT_EQ(stored[i].detail, "submission as user-acc");
    EXPECT_EQ(stored[i].remote, "198.18.1.10");
  }
  std::lock_guard lock(seen_mutex);
  ASSERT_EQ(seen.size(), 2u);  // published after the commit, ids included
  EXPECT_EQ(seen[0].id, stored[0].id);
  EXPECT_EQ(seen[1].recipient, m.envelope.recipients[1]);
  EXPECT_GE(wakeups.load(), 1);
}

TEST(SpoolDelivery, DueRecordAndRemovalOnlyWhenAllFinal) {
  TempDir dir;
  Message a = make_message("a", 3);
  Message b = make_message("b", 1);
  b.envelope.received_at += 10;
  const std::int64_t t0 = a.envelope.received_at;
  {
    auto spool = Spool::open(dir.path());
    asio::io_context io;
    ASSERT_FALSE(commit_on(io, *spool, a));
    ASSERT_FALSE(commit_on(io, *spool, b));
    EXPECT_EQ(spool->next_due(), t0);

    auto due = spool->due(t0, 10);
    ASSERT_EQ(due.size(), 1u);  // b is not due before its received_at
    EXPECT_EQ(due[0].id, a.id);
    EXPECT_EQ(due[0].envelope.recipients, a.envelope.recipients);
    EXPECT_EQ(due[0].envelope.tenant_id, "tenant-a");
    EXPECT_EQ(due[0].envelope.mail_from, a.envelope.mail_from);
    EXPECT_EQ(due[0].size, a.data.size());
    ASSERT_EQ(due[0].recipients.size(), 3u);
    EXPECT_EQ(due[0].recipients[2].idx, 2u);
    EXPECT_EQ(due[0].recipients[2].address, a.envelope.recipients[2]);
    EXPECT_EQ(due[0].recipients[2].attempts, 0);
    EXPECT_EQ(due[0].recipients[2].status, RecipientStatus::queued);
    EXPECT_FALSE(due[0].recipients[2].first_failure_at.has_value());
    EXPECT_EQ(spool->data(a.id), a.data);

    due = spool->due(t0 + 100, 10);
    ASSERT_EQ(due.size(), 2u);
    EXPECT_EQ(due[0].id, a.id);  // oldest first
    EXPECT_EQ(spool->due(t0 + 100, 1).size(), 1u);
    EXPECT_EQ(spool->due(t0 + 100, 10, [&](std::string_view id) { return id == a.id; })[0].id,
              b.id);

    // 0 delivered, 1 deferred, 2 bounced: the message stays for recipient 1.
    auto r = spool->record_outcomes(
        a.id, a.envelope,
        {{0, RecipientStatus::delivered, 0, "250 2.0.0 ok", "mx.example.net [198.18.2.10]"},
         {1, RecipientStatus::deferred, t0 + 300, "451 4.7.1 later",
          "mx.example.net [198.18.2.10]"},
         {2, RecipientStatus::bounced, 0, "550 5.1.1 unknown", "mx.example.net [198.18.2.10]"}},
        t0 + 5);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->removed);
    ASSERT_EQ(r->events.size(), 3u);
    EXPECT_EQ(types_of(r->events), (std::vector<std::string>{"delivered", "deferred", "bounced"}));
    EXPECT_GT(r->events[0].id, 0);
    EXPECT_EQ(r->events[1].recipient, a.envelope.recipients[1]);
    EXPECT_EQ(r->events[1].detail, "451 4.7.1 later");
    EXPECT_EQ(r->events[1].remote, "mx.example.net [198.18.2.10]");
    EXPECT_EQ(r->events[1].tenant_id, "tenant-a");
    EXPECT_EQ(r->events[1].time, t0 + 5);

    EXPECT_EQ(spool->size(), 2u);
    EXPECT_EQ(spool->next_due(), t0 + 10);  // b
    EXPECT_EQ(spool->next_due([&](std::string_view id) { return id == b.id; }), t0 + 300);
    due = spool->due(t0 + 299, 10);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].id, b.id);

    const auto states = spool->recipients(a.id);
    ASSERT_EQ(states.size(), 3u);
    EXPECT_EQ(states[0].status, RecipientStatus::delivered);
    EXPECT_EQ(states[0].attempts, 1);
    EXPECT_FALSE(states[0].next_attempt_at.has_value());
    EXPECT_EQ(states[0].last_reply, "250 2.0.0 ok");
    EXPECT_EQ(states[1].status, RecipientStatus::deferred);
    EXPECT_EQ(states[1].next_attempt_at, t0 + 300);
    EXPECT_EQ(states[1].first_failure_at, t0 + 5);
    EXPECT_EQ(states[1].updated_at, t0 + 5);
    EXPECT_EQ(states[1].remote, "mx.example.net [198.18.2.10]");
    EXPECT_EQ(states[2].status, RecipientStatus::bounced);

    const auto summary = spool->list();
    ASSERT_EQ(summary.size(), 2u);
    EXPECT_EQ(summary[0].recipients, 3u);
    EXPECT_EQ(summary[0].pending, 1u);
    EXPECT_EQ(summary[0].next_attempt_at, t0 + 300);
  }
  // Reopen: the state survived; record the second attempt there.
  auto spool = Spool::open(dir.path());
  auto due = spool->due(t0 + 300, 10);
  ASSERT_EQ(due.size(), 2u);
  ASSERT_EQ(due[0].id, a.id);
  ASSERT_EQ(due[0].recipients.size(), 1u);
  EXPECT_EQ(due[0].recipients[0].idx, 1u);
  EXPECT_EQ(due[0].recipients[0].attempts, 1);
  EXPECT_EQ(due[0].recipients[0].status, RecipientStatus::deferred);
  EXPECT_EQ(due[0].recipients[0].first_failure_at, t0 + 5);

  auto r = spool->record_outcomes(
      a.id, a.envelope, {{1, RecipientStatus::deferred, t0 + 900, "451 again", ""}}, t0 + 300);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->removed);
  EXPECT_EQ(spool->recipients(a.id)[1].first_failure_at, t0 + 5);  // the first one stays
  EXPECT_EQ(spool->recipients(a.id)[1].attempts, 2);

  r = spool->record_outcomes(a.id, a.envelope, {{1, RecipientStatus::expired, 0, "451 again", ""}},
                             t0 + 900);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->removed);
  EXPECT_EQ(spool->size(), 1u);
  EXPECT_FALSE(spool->get(a.id).has_value());
  EXPECT_FALSE(spool->data(a.id).has_value());
  EXPECT_TRUE(spool->recipients(a.id).empty());
  EXPECT_EQ(types_of(events_of(*spool, a.id)),
            (std::vector<std::string>{"accepted", "accepted", "accepted", "delivered", "deferred",
                                      "bounced", "deferred", "expired"}));
  spool.reset();
  spool = Spool::open(dir.path());
  EXPECT_EQ(spool->size(), 1u);
  EXPECT_EQ(events_of(*spool, a.id).size(), 8u);
}

TEST(SpoolDelivery, RejectedOutcomesWriteNothing) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  Message m = make_message("x", 2);
  ASSERT_FALSE(commit_on(io, *spool, m));
  const auto before = events_of(*spool, m.id).size();
  const auto delivered = [](std::size_t idx) {
    return RecipientOutcome{idx, RecipientStatus::delivered, 0, "250 ok", "mx"};
  };
  // The first outcome is fine, the second is not: the transaction holds neither.
  EXPECT_FALSE(spool->record_outcomes(m.id, m.envelope, {delivered(0), delivered(7)}));
  EXPECT_FALSE(spool->record_outcomes(m.id, m.envelope, {delivered(0), delivered(0)}));
  EXPECT_FALSE(spool->record_outcomes(m.id, m.envelope,
                                      {delivered(0), {1, RecipientStatus::queued, 0, "", ""}}));
  Envelope other = m.envelope;
  other.tenant_id = "someone-else";
  EXPECT_FALSE(spool->record_outcomes(m.id, other, {delivered(0)}));
  auto missing = spool->record_outcomes("nope", m.envelope, {delivered(0)});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no queued message 'nope'");
  for (const auto& r : spool->recipients(m.id)) {
    EXPECT_EQ(r.status, RecipientStatus::queued);
    EXPECT_EQ(r.attempts, 0);
  }
  EXPECT_EQ(events_of(*spool, m.id).size(), before);

  ASSERT_TRUE(spool->record_outcomes(m.id, m.envelope, {delivered(0)}));
  auto again = spool->record_outcomes(m.id, m.envelope, {delivered(0)});
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already delivered"), std::string::npos);
}

TEST(SpoolDelivery, BounceIsQueuedInTheSameTransaction) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  events::EventBus bus;
  std::atomic<int> accepted{0};
  bus.subscribe([&](const events::DeliveryEvent& e) {
    if (e.type == events::DeliveryEventType::accepted) {
      accepted.fetch_add(1);
    }
  });
  spool->set_event_bus(&bus);
  asio::io_context io;
  Message m = make_message("orig", 1);
  ASSERT_FALSE(commit_on(io, *spool, m));
  Message dsn = make_message("dsn", 1);
  dsn.envelope.listener = "bounce";
  dsn.envelope.mail_from = "";
  dsn.envelope.recipients = {m.envelope.mail_from};
  auto r = spool->record_outcomes(
      m.id, m.envelope, {{0, RecipientStatus::bounced, 0, "550 5.1.1 unknown", "mx"}}, 0, {dsn});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->removed);
  ASSERT_EQ(spool->size(), 1u);
  EXPECT_EQ(spool->get(dsn.id)->envelope.listener, "bounce");
  EXPECT_EQ(types_of(events_of(*spool, dsn.id)), std::vector<std::string>{"accepted"});
  EXPECT_EQ(accepted.load(), 2);  // the original's at commit, the bounce's now

  // A failing enqueue (duplicate id) rolls the outcome back too.
  Message m2 = make_message("orig2", 1);
  ASSERT_FALSE(commit_on(io, *spool, m2));
  EXPECT_FALSE(spool->record_outcomes(m2.id, m2.envelope,
                                      {{0, RecipientStatus::bounced, 0, "550", ""}}, 0, {dsn}));
  EXPECT_EQ(spool->recipients(m2.id)[0].status, RecipientStatus::queued);
}

TEST(SpoolDelivery, RetryNow) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  std::atomic<int> wakeups{0};
  asio::io_context io;
  Message m = make_message("retry", 2);
  ASSERT_FALSE(commit_on(io, *spool, m));
  const auto t0 = m.envelope.received_at;
  ASSERT_TRUE(spool->record_outcomes(m.id, m.envelope,
                                     {{0, RecipientStatus::delivered, 0, "250", ""},
                                      {1, RecipientStatus::deferred, t0 + 3600, "451", ""}},
                                     t0));
  EXPECT_TRUE(spool->due(t0 + 10, 10).empty());
  spool->set_wakeup([&] { wakeups.fetch_add(1); });
  auto r = spool->retry_now(m.id);
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_EQ(wakeups.load(), 1);
  EXPECT_EQ(spool->next_due(), 0);  // due whatever the caller's clock says
  auto due = spool->due(t0 + 10, 10);
  ASSERT_EQ(due.size(), 1u);
  ASSERT_EQ(due[0].recipients.size(), 1u);  // the delivered one stays done
  EXPECT_EQ(due[0].recipients[0].idx, 1u);
  EXPECT_EQ(spool->recipients(m.id)[0].status, RecipientStatus::delivered);
  r = spool->retry_now("nope");
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST(SpoolDelivery, RemoveRecordsDeletedEvents) {
  TempDir dir;
  events::EventBus bus;
  std::vector<events::DeliveryEvent> deleted;
  bus.subscribe([&](const events::DeliveryEvent& e) {
    if (e.type == events::DeliveryEventType::deleted) {
      deleted.push_back(e);
    }
  });
  Message m = make_message("del", 3);
  {
    auto spool = Spool::open(dir.path());
    spool->set_event_bus(&bus);
    asio::io_context io;
    ASSERT_FALSE(commit_on(io, *spool, m));
    ASSERT_TRUE(
        spool->record_outcomes(m.id, m.envelope, {{0, RecipientStatus::delivered, 0, "250", ""}}));
    auto r = spool->remove(m.id, 1'800'000'000);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(*r);
    EXPECT_EQ(spool->size(), 0u);
    EXPECT_FALSE(spool->next_due().has_value());
    EXPECT_TRUE(spool->due(INT64_MAX, 10).empty());
    r = spool->remove(m.id);
    ASSERT_TRUE(r);
    EXPECT_FALSE(*r);
  }
  ASSERT_EQ(deleted.size(), 2u);  // only the pending recipients
  EXPECT_EQ(deleted[0].recipient, m.envelope.recipients[1]);
  EXPECT_EQ(deleted[1].recipient, m.envelope.recipients[2]);
  EXPECT_EQ(deleted[0].time, 1'800'000'000);
  EXPECT_EQ(deleted[0].detail, "deleted by the operator");
  auto spool = Spool::open(dir.path());
  EXPECT_EQ(spool->size(), 0u);
  EXPECT_EQ(types_of(events_of(*spool, m.id)),
            (std::vector<std::string>{"accepted", "accepted", "accepted", "delivered", "deleted",
                                      "deleted"}));
}

TEST(SpoolDelivery, EventFilters) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  Message a = make_message("a", 2);
  Message b = make_message("b", 1);
  b.envelope.received_at = a.envelope.received_at + 100;
  ASSERT_FALSE(commit_on(io, *spool, a));
  ASSERT_FALSE(commit_on(io, *spool, b));
  EXPECT_EQ(spool->events({}).size(), 3u);
  EXPECT_EQ(spool->events({.tenant = "tenant-a"}).size(), 2u);
  EXPECT_EQ(spool->events({.tenant = "tenant-b"}).size(), 1u);
  EXPECT_EQ(spool->events({.tenant = "nobody"}).size(), 0u);
  EXPECT_EQ(spool->events({.since = b.envelope.received_at}).size(), 1u);
  EXPECT_EQ(spool->events({.message_id = a.id}).size(), 2u);
  // The most recent N, oldest first.
  const auto last = spool->events({.limit = 2});
  ASSERT_EQ(last.size(), 2u);
  EXPECT_EQ(last[0].message_id, a.id);
  EXPECT_EQ(last[0].recipient, a.envelope.recipients[1]);
  EXPECT_EQ(last[1].message_id, b.id);
  EXPECT_LT(last[0].id, last[1].id);
}

TEST(SpoolDelivery, MigratesAVersionOneQueue) {
  TempDir dir;
  fs::create_directories(dir.path());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir.path() / "queue.db").c_str(), &db), SQLITE_OK);
  // Schema version 1 as shipped, with one message in it.
  const char* v1 = R"sql(
CREATE TABLE messages (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, credential TEXT NOT NULL,
  listener TEXT NOT NULL, client_address TEXT NOT NULL, helo TEXT NOT NULL,
  original_destination TEXT NOT NULL, mail_from TEXT NOT NULL, body_type TEXT NOT NULL,
  smtputf8 INTEGER NOT NULL, received_at INTEGER NOT NULL, size INTEGER NOT NULL, data BLOB NOT NULL);
CREATE TABLE recipients (message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL, address TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued',
  attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER, last_reply TEXT,
  PRIMARY KEY (message_id, idx));
CREATE INDEX recipients_due ON recipients (status, next_attempt_at);
CREATE INDEX messages_tenant ON messages (tenant_id);
INSERT INTO messages VALUES ('0OLD', 't', '', 'submission', '198.18.1.1', 'h', '', 's@x', '7BIT',
  0, 1000, 4, 'a\r\n\r\n');
INSERT INTO recipients (message_id, idx, address, next_attempt_at) VALUES ('0OLD', 0, 'r@y', 1000);
PRAGMA user_version = 1;
)sql";
  ASSERT_EQ(sqlite3_exec(db, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto spool = Spool::open(dir.path());
  EXPECT_EQ(spool->schema_version(), Spool::latest_schema_version());
  auto due = spool->due(1000, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].id, "0OLD");
  auto r = spool->record_outcomes("0OLD", due[0].envelope,
                                  {{0, RecipientStatus::delivered, 0, "250 ok", "mx"}}, 2000);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->removed);
  EXPECT_EQ(types_of(spool->events({.message_id = "0OLD"})), std::vector<std::string>{"delivered"});
}

TEST(SpoolDelivery, ConcurrentCommitsAndOutcomes) {
  // The committer thread and synchronous writers share the writer connection:
  // neither may fail or lose a write while the other runs.
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  std::vector<Message> first;
  for (int i = 0; i < 50; ++i) {
    first.push_back(make_message("f" + std::to_string(i), 1));
    ASSERT_FALSE(commit_on(io, *spool, first.back()));
  }
  std::atomic<int> committed{0};
  asio::io_context commit_io;
  for (int i = 0; i < 200; ++i) {
    spool->async_commit(make_message("c" + std::to_string(i), 2),
                        asio::bind_executor(commit_io, [&](error_code ec) {
                          EXPECT_FALSE(ec);
                          committed.fetch_add(1);
                        }));
  }
  std::thread committer_side([&] { commit_io.run(); });
  for (const auto& m : first) {
    auto r =
        spool->record_outcomes(m.id, m.envelope, {{0, RecipientStatus::delivered, 0, "250", ""}});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(r->removed);
  }
  committer_side.join();
  EXPECT_EQ(committed.load(), 200);
  EXPECT_EQ(spool->size(), 200u);
  EXPECT_EQ(spool->events({.limit = 10000}).size(), 50u * 2 + 200u * 2);
}

// ---- statistics ----

// make_message's received_at, 1'700'000'123, lies in this hour and day (UTC).
constexpr std::int64_t kHourOf = 1'699'999'200;
constexpr std::int64_t kDayOf = 1'699'920'000;

StatsRow row_at(std::int64_t start) {
  StatsRow r;
  r.start = start;
  return r;
}

// Commits two messages of tenant-a (3 and 2 recipients) and one of tenant-b,
// then records outcomes an hour and two hours later, with a DSN that must
// not count.
// What the delivery engine rebuilds its schedule from at start: every
// pending recipient with its due time, nothing final, nothing held.
TEST(SpoolDelivery, LoadPendingGivesEveryPendingRecipientWithItsDueTime) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  const Message a = make_message("a", 3);
  const Message b = make_message("b", 1);
  const Message held = make_message("held", 1);
  for (const auto& m : {a, b, held}) {
    ASSERT_FALSE(commit_on(io, *spool, m));
  }
  ASSERT_TRUE(spool->record_outcomes(a.id, a.envelope,
                                     {{0, RecipientStatus::delivered, 0, "250 ok", "mx"},
                                      {2, RecipientStatus::deferred, 1'700'000'500, "451", "mx"}},
                                     1'700'000'200));
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "queue.db").c_str(), &db), SQLITE_OK);
    const std::string sql = "UPDATE messages SET held = 1 WHERE id = '" + held.id + "'";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  const auto pending = spool->load_pending();
  ASSERT_EQ(pending.size(), 2u);
  const auto& la = pending[0].id == a.id ? pending[0] : pending[1];
  const auto& lb = pending[0].id == a.id ? pending[1] : pending[0];
  ASSERT_EQ(la.id, a.id);
  EXPECT_EQ(la.envelope.recipients, a.envelope.recipients);
  EXPECT_EQ(la.envelope.tenant_id, "tenant-a");
  EXPECT_EQ(la.size, a.data.size());
  ASSERT_EQ(la.recipients.size(), 2u);
  EXPECT_EQ(la.recipients[0].idx, 1u);
  EXPECT_EQ(la.recipients[0].status, RecipientStatus::queued);
  EXPECT_EQ(la.recipients[0].next_attempt_at, a.envelope.received_at);
  EXPECT_EQ(la.recipients[1].idx, 2u);
  EXPECT_EQ(la.recipients[1].status, RecipientStatus::deferred);
  EXPECT_EQ(la.recipients[1].attempts, 1);
  EXPECT_EQ(la.recipients[1].next_attempt_at, 1'700'000'500);
  EXPECT_EQ(la.recipients[1].first_failure_at, 1'700'000'200);
  ASSERT_EQ(lb.id, b.id);
  EXPECT_EQ(lb.recipients.size(), 1u);
}

// Outcomes of many attempts go through the committer together; one that
// cannot be written (its message was deleted) fails alone.
TEST(SpoolDelivery, AsyncRecordsShareTheCommitterAndFailAlone) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  asio::io_context io;
  std::vector<Message> messages;
  for (int i = 0; i < 20; ++i) {
    messages.push_back(make_message("r" + std::to_string(i), 1));
    ASSERT_FALSE(commit_on(io, *spool, messages.back()));
  }
  std::mutex mutex;
  std::condition_variable done;
  int ok = 0;
  int failed = 0;
  std::string failure;
  const auto finish = [&](Result<RecordedOutcomes> r) {
    std::lock_guard lock(mutex);
    if (r) {
      ok += r->removed ? 1 : 0;
    } else {
      ++failed;
      failure = r.error().message;
    }
    done.notify_all();
  };
  for (const auto& m : messages) {
    spool->async_record(
        OutcomeRecord{
            m.id, m.envelope, {{0, RecipientStatus::delivered, 0, "250 2.0.0 ok", "mx"}}, 0, {}},
        finish);
  }
  spool->async_record(OutcomeRecord{"0NOSUCHMESSAGE",
                                    messages[0].envelope,
                                    {{0, RecipientStatus::delivered, 0, "250", "mx"}},
                                    0,
                                    {}},
                      finish);
  std::unique_lock lock(mutex);
  ASSERT_TRUE(done.wait_for(lock, std::chrono::seconds(30), [&] { return ok + failed == 21; }));
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(failed, 1);
  EXPECT_NE(failure.find("no queued message"), std::string::npos) << failure;
  EXPECT_EQ(spool->size(), 0u);
  for (const auto& m : messages) {
    EXPECT_EQ(types_of(events_of(*spool, m.id)),
              (std::vector<std::string>{"accepted", "delivered"}));
  }
}

// The engine hears of committed messages (with every recipient pending) and
// of deletions through the hooks.
TEST(SpoolDelivery, HooksAnnounceQueuedAndRemovedMessages) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  std::mutex mutex;
  std::vector<DueMessage> queued;
  std::vector<std::string> removed;
  SpoolHooks hooks;
  hooks.queued = [&](std::vector<DueMessage> m) {
    std::lock_guard lock(mutex);
    for (auto& d : m) {
      queued.push_back(std::move(d));
    }
  };
  hooks.removed = [&](std::string id) {
    std::lock_guard lock(mutex);
    removed.push_back(std::move(id));
  };
  spool->set_hooks(std::move(hooks));
  asio::io_context io;
  const Message m = make_message("h", 2);
  ASSERT_FALSE(commit_on(io, *spool, m));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(queued.size(), 1u);
    EXPECT_EQ(queued[0].id, m.id);
    ASSERT_EQ(queued[0].recipients.size(), 2u);
    EXPECT_EQ(queued[0].recipients[1].address, m.envelope.recipients[1]);
    EXPECT_EQ(queued[0].recipients[1].next_attempt_at, m.envelope.received_at);
  }
  ASSERT_TRUE(spool->remove(m.id));
  std::lock_guard lock(mutex);
  EXPECT_EQ(removed, std::vector<std::string>{m.id});
}

void write_sample(Spool& spool) {
  asio::io_context io;
  Message a1 = make_message("a", 3);
  Message a2 = make_message("a", 2);
  Message b1 = make_message("b", 1);
  for (const auto& m : {a1, a2, b1}) {
    ASSERT_FALSE(commit_on(io, spool, m));
  }
  auto r = spool.record_outcomes(a1.id, a1.envelope,
                                 {{0, RecipientStatus::delivered, 0, "250 ok", "mx"},
                                  {1, RecipientStatus::deferred, kHourOf + 9000, "451 later", "mx"},
                                  {2, RecipientStatus::bounced, 0, "550 unknown", "mx"}},
                                 kHourOf + 3600 + 5);
  ASSERT_TRUE(r) << r.error().message;
  Message dsn = make_message("dsn", 1);
  dsn.envelope.tenant_id = "tenant-a";
  dsn.envelope.listener = "bounce";
  dsn.envelope.mail_from = "";
  r = spool.record_outcomes(a1.id, a1.envelope,
                            {{1, RecipientStatus::expired, 0, "451 still later", "mx"}},
                            kHourOf + 7200 + 5, {dsn});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->removed);
  r = spool.record_outcomes(dsn.id, dsn.envelope,
                            {{0, RecipientStatus::delivered, 0, "250 ok", "mx"}},
                            kHourOf + 7200 + 6);
  ASSERT_TRUE(r) << r.error().message;
}

std::vector<StatsRow> expected_hours_of_a() {
  StatsRow committed = row_at(kHourOf);
  committed.messages = 2;
  committed.requested = 5;
  StatsRow attempted = row_at(kHourOf + 3600);
  attempted.delivered = 1;
  attempted.deferred = 1;
  attempted.bounced_hard = 1;
  StatsRow expired = row_at(kHourOf + 7200);
  expired.bounced_soft = 1;
  return {committed, attempted, expired};
}

TEST(SpoolStats, CommitsAndOutcomesAreCountedAndSurviveReopen) {
  TempDir dir;
  {
    auto spool = Spool::open(dir.path());
    write_sample(*spool);
    EXPECT_EQ(spool->stats("tenant-a", 0, kHourOf + 86400, false), expected_hours_of_a());
  }
  auto spool = Spool::open(dir.path());
  EXPECT_EQ(spool->stats("tenant-a", 0, kHourOf + 86400, false), expected_hours_of_a());
  StatsRow b = row_at(kHourOf);
  b.messages = 1;
  b.requested = 1;
  EXPECT_EQ(spool->stats("tenant-b", 0, kHourOf + 86400, false), std::vector<StatsRow>{b});
  EXPECT_TRUE(spool->stats("tenant-c", 0, kHourOf + 86400, false).empty());

  // The hours are 22:00 and 23:00 on one UTC day and 00:00 on the next.
  const auto hours = expected_hours_of_a();
  StatsRow day = row_at(kDayOf);
  day += hours[0];
  day += hours[1];
  StatsRow next_day = hours[2];
  next_day.start = kDayOf + 86400;
  EXPECT_EQ(spool->stats("tenant-a", kDayOf + 5, kDayOf + 5, true), std::vector<StatsRow>{day});
  EXPECT_EQ(spool->stats("tenant-a", kDayOf + 5, kDayOf + 86400, true),
            (std::vector<StatsRow>{day, next_day}));
  EXPECT_TRUE(spool->stats("tenant-a", kDayOf + 2 * 86400, kDayOf + 3 * 86400, true).empty());

  EXPECT_EQ(spool->messages_in_month("tenant-a", "2023-11"), 2u);
  EXPECT_EQ(spool->messages_in_month("tenant-b", "2023-11"), 1u);
  EXPECT_EQ(spool->messages_in_month("tenant-a", "2023-12"), 0u);
  EXPECT_EQ(spool->messages_in_month("tenant-a", "2023-10"), 0u);
  EXPECT_EQ(spool->messages_in_month("tenant-a", "2023-13"), 0u);
  EXPECT_EQ(spool->messages_in_month("tenant-a", "2023-1"), 0u);
  EXPECT_EQ(spool->messages_in_month("tenant-a", "x023-11"), 0u);
}

TEST(SpoolStats, RangesAreWholeBucketsFromTheFloorOfFrom) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  write_sample(*spool);
  const auto hours = expected_hours_of_a();
  // A bucket counts when its start lies in [floor(from), to].
  EXPECT_EQ(spool->stats("tenant-a", kHourOf + 3600, kHourOf + 3600, false),
            std::vector<StatsRow>{hours[1]});
  EXPECT_EQ(spool->stats("tenant-a", kHourOf + 3599, kHourOf + 3600, false),
            (std::vector<StatsRow>{hours[0], hours[1]}));
  EXPECT_EQ(spool->stats("tenant-a", kHourOf + 3601, kHourOf + 7199, false),
            std::vector<StatsRow>{hours[1]});
  EXPECT_TRUE(spool->stats("tenant-a", kHourOf + 7200, kHourOf + 3600, false).empty());
}

int64_t stored_policy_counts(const fs::path& db_file) {
  sqlite3* db = nullptr;
  int64_t n = -1;
  if (sqlite3_open_v2(db_file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT COALESCE(SUM(suppressed + rejected_limits + complained), 0) "
                           "FROM stats_hourly",
                           -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return n;
}

TEST(SpoolStats, PolicyCountsAreSeenAtOnceAndWrittenWithinASecond) {
  TempDir dir;
  auto spool = Spool::open(dir.path());
  spool->record_policy_counts("tenant-a", PolicyCount::suppressed, 1, kHourOf + 10);
  spool->record_policy_counts("tenant-a", PolicyCount::suppressed, 2, kHourOf + 20);
  spool->record_policy_counts("tenant-a", PolicyCount::rejected_limits, 1, kHourOf + 3600);
  spool->record_policy_counts("tenant-a", PolicyCount::complained, 4, kHourOf + 30);
  spool->record_policy_counts("tenant-b", PolicyCount::complained, 1, kHourOf + 30);
  StatsRow first = row_at(kHourOf);
  first.suppressed = 3;
  first.complained = 4;
  StatsRow second = row_at(kHourOf + 3600);
  second.rejected_limits = 1;
  // Visible before they are written.
  EXPECT_EQ(spool->stats("tenant-a", 0, kHourOf + 86400, false),
            (std::vector<StatsRow>{first, second}));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (stored_policy_counts(spool->path()) != 9 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(stored_policy_counts(spool->path()), 9);
  EXPECT_EQ(spool->batches(), 0u);  // no message batch was needed
  // Counted once: written rows plus nothing left in memory.
  EXPECT_EQ(spool->stats("tenant-a", 0, kHourOf + 86400, false),
            (std::vector<StatsRow>{first, second}));
}

TEST(SpoolStats, PolicyCountsRideWithACommitAndAreFlushedAtStop) {
  TempDir dir;
  {
    auto spool = Spool::open(dir.path());
    spool->record_policy_counts("tenant-a", PolicyCount::rejected_limits, 1, kHourOf);
    asio::io_context io;
    ASSERT_FALSE(commit_on(io, *spool, make_message("a", 1)));
    EXPECT_EQ(stored_policy_counts(spool->path()), 1);  // same transaction as the message
    spool->record_policy_counts("tenant-a", PolicyCount::suppressed, 5, kHourOf);
    spool->stop();
    spool->record_policy_counts("tenant-a", PolicyCount::suppressed, 1, kHourOf);  // after stop
  }
  auto spool = Spool::open(dir.path());
  StatsRow r = row_at(kHourOf);
  r.messages = 1;
  r.requested = 1;
  r.rejected_limits = 1;
  r.suppressed = 6;
  EXPECT_EQ(spool->stats("tenant-a", 0, kHourOf, false), std::vector<StatsRow>{r});
}

TEST(SpoolStats, MigrationFromVersionThreeBackfillsFromTheEventLog) {
  TempDir dir;
  std::vector<StatsRow> live;
  {
    auto spool = Spool::open(dir.path());
    write_sample(*spool);
    live = spool->stats("tenant-a", 0, kHourOf + 86400, false);
  }
  {
    // Back to schema version 3 as shipped: no stats table, no held column.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir.path() / "queue.db").c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE stats_hourly; DROP INDEX events_tenant_id; "
                           "ALTER TABLE messages DROP COLUMN held; PRAGMA user_version = 3",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  auto spool = Spool::open(dir.path());
  EXPECT_EQ(spool->schema_version(), Spool::latest_schema_version());
  EXPECT_EQ(spool->stats("tenant-a", 0, kHourOf + 86400, false), live);
  EXPECT_EQ(live, expected_hours_of_a());
  EXPECT_EQ(spool->messages_in_month("tenant-b", "2023-11"), 1u);
}

}  // namespace
}  // namespace portcullis::relay::queue
