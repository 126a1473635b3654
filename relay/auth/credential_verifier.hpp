#pragma once
// Checks SMTP AUTH credentials off the I/O threads and delivers the outcome to
// the caller's executor. The username and password are untrusted peer input.
//
// Two stages, each on its own pool, so that a login that can be answered from
// the cache never queues behind argon2id work:
// 1. lookup (one thread by default): the store lookup (blocking SQLite, a few
//    tens of microseconds) and the VerifiedCache check (an HMAC and a hash
//    map). A hit for exactly this username, password and stored hash is
//    answered here. The store lookup runs on every login, so a revoked
//    credential or a removed tenant's is refused even while it is cached,
//    and a new stored hash makes old entries miss (see verified_cache.hpp).
// 2. argon2id (two threads by default, ~50 ms of CPU and 64 MiB each): every
//    miss, every wrong password and every unknown or revoked username. An
//    unknown or revoked username costs the same as a known one (it is
//    verified against a dummy hash), so response time does not reveal which
//    usernames exist; a wrong password costs the same whether or not the
//    username is cached. Only a success is remembered. The cache is checked
//    again just before hashing: connections of one client that missed
//    together (cold start, expiry) then cost one argon2id per thread, not
//    one each.
// Bounded: beyond max_lookups logins in the first stage or max_pending
// argon2id verifications in the second, new ones fail at once as
// temporary_failure. Lockout (AuthLimiter) is the caller's, before and after
// this, and is the same for hits and misses.

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
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "gateway/core/clock.hpp"
#include "gateway/core/store/store.hpp"
#include "relay/auth/verified_cache.hpp"

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
  static constexpr std::size_t kDefaultMaxLookups = 1024;

  struct Settings {
    std::size_t threads = 2;                       // argon2id workers
    std::size_t max_pending = kDefaultMaxPending;  // argon2id verifications queued or running
    std::size_t lookup_threads = 1;                // store lookup and cache check
    std::size_t max_lookups = kDefaultMaxLookups;  // logins queued or running in the lookup stage
    VerifiedCache::Settings cache;                 // capacity 0 turns the cache off
  };

  // The system clock and the default cache.
  explicit CredentialVerifier(store::Store& store,
                              std::size_t threads = 2,
                              std::size_t max_pending = kDefaultMaxPending);
  CredentialVerifier(store::Store& store, const Clock& clock, const Settings& settings);
  CredentialVerifier(const CredentialVerifier&) = delete;
  CredentialVerifier& operator=(const CredentialVerifier&) = delete;
  // Waits for queued verifications; those not started yet complete as
  // temporary_failure without a lookup or hashing.
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
          if (lookups_pending_.fetch_add(1, std::memory_order_relaxed) >= max_lookups_) {
            lookups_pending_.fetch_sub(1, std::memory_order_relaxed);
            deliver(target, handler, AuthOutcome{});
            return;
          }
          boost::asio::post(lookup_pool_, [this, deliver, target = std::move(target),
                                           handler = std::move(handler), user = std::move(user),
                                           pass = std::move(pass)]() mutable {
            Lookup found = lookup(user, pass);
            lookups_pending_.fetch_sub(1, std::memory_order_relaxed);
            if (found.outcome) {
              deliver(target, handler, std::move(*found.outcome));
              return;
            }
            if (pending_.fetch_add(1, std::memory_order_relaxed) >= max_pending_) {
              pending_.fetch_sub(1, std::memory_order_relaxed);
              deliver(target, handler, AuthOutcome{});
              return;
            }
            boost::asio::post(
                pool_, [this, deliver, target = std::move(target), handler = std::move(handler),
                        user = std::move(user), pass = std::move(pass),
                        secret = std::move(found.secret)]() mutable {
                  AuthOutcome outcome = check_password(user, pass, secret);
                  pending_.fetch_sub(1, std::memory_order_relaxed);
                  deliver(target, handler, std::move(outcome));
                });
          });
        },
        token, std::move(username), std::move(password));
  }

  // Synchronous form of one verification (both stages, no bounds); blocks
  // for the argon2id cost on a miss.
  AuthOutcome verify(std::string_view username, std::string_view password);

  // Drop cached verifications at once (the store lookup already refuses a
  // revoked credential; these free the memory and serve operators).
  void invalidate(std::string_view username) { cache_.invalidate(username); }
  void clear_cache() { cache_.clear(); }
  VerifiedCache::Stats cache_stats() const { return cache_.stats(); }

 private:
  struct Lookup {
    std::optional<AuthOutcome> outcome;             // answered without argon2id
    std::optional<store::CredentialSecret> secret;  // for the argon2id stage
  };
  Lookup lookup(std::string_view username, std::string_view password);
  AuthOutcome check_password(std::string_view username,
                             std::string_view password,
                             const std::optional<store::CredentialSecret>& secret);

  store::Store& store_;
  VerifiedCache cache_;
  std::string dummy_hash_;
  std::size_t max_pending_;
  std::size_t max_lookups_;
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::size_t> lookups_pending_{0};
  std::atomic<bool> stopping_{false};
  // Last: joined (lookups first, they feed the argon2id pool) before the
  // members they use go away.
  boost::asio::thread_pool pool_;
  boost::asio::thread_pool lookup_pool_;
};

}  // namespace portcullis::relay::auth
