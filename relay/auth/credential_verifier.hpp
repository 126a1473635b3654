#pragma once
// Checks SMTP AUTH credentials off the I/O threads: the store lookup and the
// argon2id verification (~50 ms of CPU, 64 MiB) run on a small thread pool
// and the outcome is delivered to the caller's executor. The username and
// password are untrusted peer input. An unknown or revoked username costs the
// same as a known one (it is verified against a dummy hash), so response time
// does not reveal which usernames exist. Bounded: beyond max_pending
// verifications in flight, new ones fail at once as temporary_failure.

#include <atomic>
#include <boost/asio/any_completion_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstddef>
#include <string>
#include <utility>

#include "gateway/core/store/store.hpp"

namespace portcullis::relay::auth {

struct AuthOutcome {
  enum class Status { ok, bad_credentials, temporary_failure };
  Status status = Status::temporary_failure;
  std::string tenant_id;  // set when ok
  std::string username;   // set when ok
};

class CredentialVerifier {
 public:
  static constexpr std::size_t kDefaultMaxPending = 256;

  explicit CredentialVerifier(store::Store& store,
                              std::size_t threads = 2,
                              std::size_t max_pending = kDefaultMaxPending);
  CredentialVerifier(const CredentialVerifier&) = delete;
  CredentialVerifier& operator=(const CredentialVerifier&) = delete;
  // Waits for queued verifications; those not started yet complete as
  // temporary_failure without hashing.
  ~CredentialVerifier();

  // Completion signature void(AuthOutcome), run on the handler's associated
  // executor, never inline in the caller.
  template <class Token>
  auto async_verify(std::string username, std::string password, Token&& token) {
    return boost::asio::async_initiate<Token, void(AuthOutcome)>(
        [this](auto handler, std::string user, std::string pass) {
          auto target = boost::asio::prefer(boost::asio::get_associated_executor(handler),
                                            boost::asio::execution::outstanding_work.tracked,
                                            boost::asio::execution::blocking.never);
          const auto deliver = [](auto& ex, auto& h, AuthOutcome outcome) {
            boost::asio::post(ex, [h = std::move(h), outcome = std::move(outcome)]() mutable {
              std::move(h)(std::move(outcome));
            });
          };
          if (pending_.fetch_add(1, std::memory_order_relaxed) >= max_pending_) {
            pending_.fetch_sub(1, std::memory_order_relaxed);
            deliver(target, handler, AuthOutcome{});
            return;
          }
          boost::asio::post(
              pool_, [this, deliver, target = std::move(target), handler = std::move(handler),
                      user = std::move(user), pass = std::move(pass)]() mutable {
                AuthOutcome outcome = verify(user, pass);
                pending_.fetch_sub(1, std::memory_order_relaxed);
                deliver(target, handler, std::move(outcome));
              });
        },
        token, std::move(username), std::move(password));
  }

  // Synchronous form of one verification; blocks for the argon2id cost.
  AuthOutcome verify(std::string_view username, std::string_view password);

 private:
  store::Store& store_;
  std::string dummy_hash_;
  std::size_t max_pending_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> stopping_{false};
  boost::asio::thread_pool pool_;  // last: joined before the members it uses go away
};

}  // namespace portcullis::relay::auth
