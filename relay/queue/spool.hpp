#pragma once
// The durable queue: <state_dir>/queue.db (SQLite, WAL, synchronous=FULL,
// 0600 in a 0700 directory). A message is committed only when the WAL holding
// it has been fsync'd; the session replies 250 only after that.
//
// Group commit: async_commit hands the message to one committer thread, which
// writes everything pending in one transaction and one fsync, then completes
// every waiter of that batch. Under load many sessions share one fsync.
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
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "relay/queue/message.hpp"
#include "relay/queue/sqlite_db.hpp"

namespace portcullis::relay::queue {

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
  std::filesystem::path path() const { return path_; }

 private:
  struct Pending {
    Message message;
    CommitHandler handler;
    boost::asio::any_completion_executor work;
  };

  Spool(std::filesystem::path path, detail::Db writer, detail::Db reader);

  void enqueue(Pending pending);
  void run();
  boost::system::error_code write_batch(const std::vector<Pending>& batch);
  static void complete(Pending& pending, boost::system::error_code ec);

  std::filesystem::path path_;
  detail::Db writer_;  // used by the committer thread only
  mutable std::mutex reader_mutex_;
  mutable detail::Db reader_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Pending> pending_;
  bool stopping_ = false;
  std::thread committer_;
  std::once_flag joined_;

  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace portcullis::relay::queue
