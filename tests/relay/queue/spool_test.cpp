#include "relay/queue/spool.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <random>
#include <set>
#include <thread>

#include "gateway/core/asio.hpp"
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
  EXPECT_EQ(spool->schema_version(), 1);
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

}  // namespace
}  // namespace portcullis::relay::queue
