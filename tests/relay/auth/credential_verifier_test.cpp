#include "relay/auth/credential_verifier.hpp"

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "gateway/core/asio.hpp"
#include "gateway/core/auth/password.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store.hpp"
#include "gtest/gtest.h"

namespace portcullis::relay::auth {
namespace {

namespace fs = std::filesystem;
using Status = AuthOutcome::Status;

class CredentialVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = fs::temp_directory_path() /
           ("portcullis-verifier-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    store_ = store::Store::open(dir_);
    store::Tenant tenant;
    tenant.id = "acme";
    tenant.plan = "standard";
    ASSERT_TRUE(store_->add_tenant(tenant));
    auto issued = store_->issue_credential("acme", "test");
    ASSERT_TRUE(issued);
    username_ = issued->credential.username;
    password_ = issued->password;
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // Runs async_verify from a coroutine on an io_context, as the session does.
  AuthOutcome verify(CredentialVerifier& verifier, std::string user, std::string pass) {
    asio::io_context io;
    AuthOutcome result;
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          result = co_await verifier.async_verify(user, pass, asio::use_awaitable);
          done = true;
        },
        asio::detached);
    io.run();  // held open by the verifier's work guard
    EXPECT_TRUE(done);
    return result;
  }

  FakeClock clock_;
  fs::path dir_;
  std::unique_ptr<store::Store> store_;
  std::string username_;
  std::string password_;
};

TEST_F(CredentialVerifierTest, AcceptsTheIssuedPassword) {
  CredentialVerifier verifier(*store_);
  const AuthOutcome outcome = verify(verifier, username_, password_);
  EXPECT_EQ(outcome.status, Status::ok);
  EXPECT_EQ(outcome.tenant_id, "acme");
  EXPECT_EQ(outcome.username, username_);
}

TEST_F(CredentialVerifierTest, RejectsWrongPasswordUnknownUserAndRevoked) {
  CredentialVerifier verifier(*store_);
  EXPECT_EQ(verify(verifier, username_, password_ + "x").status, Status::bad_credentials);
  EXPECT_EQ(verify(verifier, username_, "").status, Status::bad_credentials);
  EXPECT_EQ(verify(verifier, "acme.nosuchuser", password_).status, Status::bad_credentials);
  EXPECT_EQ(verify(verifier, "", "").status, Status::bad_credentials);
  ASSERT_TRUE(store_->revoke_credential(username_));
  const AuthOutcome revoked = verify(verifier, username_, password_);
  EXPECT_EQ(revoked.status, Status::bad_credentials);
  EXPECT_TRUE(revoked.tenant_id.empty());
}

TEST_F(CredentialVerifierTest, UnknownUserCostsAboutAsMuchAsAKnownOne) {
  CredentialVerifier verifier(*store_, 1);
  const auto time = [&](const std::string& user) {
    const auto start = std::chrono::steady_clock::now();
    verify(verifier, user, "wrong-password");
    return std::chrono::steady_clock::now() - start;
  };
  const auto known = time(username_);
  const auto unknown = time("acme.nosuchuser");
  // Both pay one argon2id verification; a skipped hash would be ~1000x faster.
  EXPECT_GT(unknown * 4, known);
  EXPECT_GT(known * 4, unknown);
}

TEST_F(CredentialVerifierTest, CompletesOnTheCallersExecutorNotThePool) {
  CredentialVerifier verifier(*store_);
  asio::io_context io;
  std::thread::id ran_on;
  verifier.async_verify(username_, password_, asio::bind_executor(io, [&](AuthOutcome outcome) {
                          EXPECT_EQ(outcome.status, Status::ok);
                          ran_on = std::this_thread::get_id();
                        }));
  io.run();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST_F(CredentialVerifierTest, LookupOverloadIsATemporaryFailure) {
  // A full lookup stage (here: room for none) answers at once, before the store.
  CredentialVerifier::Settings settings;
  settings.max_lookups = 0;
  CredentialVerifier verifier(*store_, clock_, settings);
  asio::io_context io;
  std::vector<Status> statuses;
  for (int i = 0; i < 3; ++i) {
    verifier.async_verify(username_, password_, asio::bind_executor(io, [&](AuthOutcome outcome) {
                            statuses.push_back(outcome.status);
                          }));
  }
  io.run();
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), Status::temporary_failure), 3);
  EXPECT_EQ(verifier.cache_stats().misses, 0u);  // the cache was never consulted
}

TEST_F(CredentialVerifierTest, Argon2QueueOverloadIsATemporaryFailure) {
  // One argon2id slot: while it hashes (~50 ms) the lookup stage turns the
  // following misses away within microseconds. For none of the ten to be
  // turned away, every lookup would have to wait for the hash before it.
  CredentialVerifier::Settings settings;
  settings.threads = 1;
  settings.max_pending = 1;
  CredentialVerifier verifier(*store_, clock_, settings);
  asio::io_context io;
  std::vector<Status> statuses;
  for (int i = 0; i < 10; ++i) {
    verifier.async_verify(
        username_, "wrong" + std::to_string(i),
        asio::bind_executor(io, [&](AuthOutcome outcome) { statuses.push_back(outcome.status); }));
  }
  io.run();
  ASSERT_EQ(statuses.size(), 10u);
  // Completion order is not submission order: the refusals come back first.
  EXPECT_GE(std::count(statuses.begin(), statuses.end(), Status::bad_credentials), 1);
  EXPECT_GE(std::count(statuses.begin(), statuses.end(), Status::temporary_failure), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), Status::ok), 0);
}

TEST_F(CredentialVerifierTest, ASecondLoginWithTheSamePasswordIsACacheHit) {
  CredentialVerifier verifier(*store_, clock_, {});
  EXPECT_EQ(verify(verifier, username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 0u);
  EXPECT_EQ(verifier.cache_stats().insertions, 1u);
  const AuthOutcome second = verify(verifier, username_, password_);
  EXPECT_EQ(second.status, Status::ok);
  EXPECT_EQ(second.tenant_id, "acme");
  EXPECT_EQ(second.username, username_);
  EXPECT_EQ(verify(verifier, username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 2u);
  EXPECT_EQ(verifier.cache_stats().insertions, 1u);
}

TEST_F(CredentialVerifierTest, AWrongPasswordAfterACachedSuccessIsRefused) {
  CredentialVerifier verifier(*store_, clock_, {});
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  const AuthOutcome wrong = verify(verifier, username_, password_ + "x");
  EXPECT_EQ(wrong.status, Status::bad_credentials);
  EXPECT_TRUE(wrong.tenant_id.empty());
  EXPECT_EQ(verify(verifier, username_, "").status, Status::bad_credentials);
  EXPECT_EQ(verifier.cache_stats().hits, 0u);
  EXPECT_EQ(verifier.cache_stats().insertions, 1u);  // failures are not remembered
  // ... and they did not push the good password off the fast path.
  EXPECT_EQ(verify(verifier, username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
}

TEST_F(CredentialVerifierTest, ARevokedCredentialIsRefusedEvenThoughItWasCached) {
  CredentialVerifier verifier(*store_, clock_, {});
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  ASSERT_EQ(verifier.cache_stats().hits, 1u);
  ASSERT_TRUE(store_->revoke_credential(username_));  // as the control API does, no notice
  const AuthOutcome revoked = verify(verifier, username_, password_);
  EXPECT_EQ(revoked.status, Status::bad_credentials);
  EXPECT_TRUE(revoked.tenant_id.empty());
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
  EXPECT_EQ(verifier.cache_stats().size, 0u);  // and the entry is gone
}

TEST_F(CredentialVerifierTest, ARemovedTenantsCachedCredentialIsRefused) {
  CredentialVerifier verifier(*store_, clock_, {});
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  ASSERT_TRUE(store_->remove_tenant("acme"));
  EXPECT_EQ(verify(verifier, username_, password_).status, Status::bad_credentials);
  EXPECT_EQ(verifier.cache_stats().hits, 0u);
}

TEST_F(CredentialVerifierTest, ANewStoredHashInvalidatesTheCachedPassword) {
  CredentialVerifier verifier(*store_, clock_, {});
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  // Rotate the credential's password behind the verifier's back.
  const std::string new_password = portcullis::auth::generate_password();
  {
    auto db = store::Database::open(dir_ / "state.db");
    ASSERT_TRUE(db);
    auto update = db->prepare("UPDATE credentials SET password_hash = ? WHERE username = ?");
    ASSERT_TRUE(update);
    ASSERT_TRUE(
        update->bind(1, portcullis::auth::hash_password(new_password)).bind(2, username_).run());
  }
  EXPECT_EQ(verify(verifier, username_, password_).status, Status::bad_credentials);
  EXPECT_EQ(verifier.cache_stats().hits, 0u);
  EXPECT_EQ(verify(verifier, username_, new_password).status, Status::ok);
  EXPECT_EQ(verify(verifier, username_, new_password).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
}

TEST_F(CredentialVerifierTest, CachedSuccessExpires) {
  CredentialVerifier::Settings settings;
  settings.cache.ttl = std::chrono::minutes(5);
  CredentialVerifier verifier(*store_, clock_, settings);
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  clock_.advance(std::chrono::minutes(4));
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
  clock_.advance(std::chrono::minutes(1));
  EXPECT_EQ(verify(verifier, username_, password_).status, Status::ok);  // argon2id again
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
  EXPECT_EQ(verifier.cache_stats().expirations, 1u);
  EXPECT_EQ(verifier.cache_stats().insertions, 2u);
}

TEST_F(CredentialVerifierTest, TheCacheIsBounded) {
  CredentialVerifier::Settings settings;
  settings.cache.capacity = 2;
  CredentialVerifier verifier(*store_, clock_, settings);
  std::vector<std::pair<std::string, std::string>> users{{username_, password_}};
  for (int i = 0; i < 2; ++i) {
    auto issued = store_->issue_credential("acme", "more");
    ASSERT_TRUE(issued);
    users.emplace_back(issued->credential.username, issued->password);
  }
  for (const auto& [user, pass] : users) {
    ASSERT_EQ(verify(verifier, user, pass).status, Status::ok);
  }
  EXPECT_EQ(verifier.cache_stats().size, 2u);
  EXPECT_EQ(verifier.cache_stats().evictions, 1u);
  // The first user was evicted: verified again (a miss), still accepted.
  ASSERT_EQ(verify(verifier, users[0].first, users[0].second).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 0u);
  ASSERT_EQ(verify(verifier, users[0].first, users[0].second).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
}

TEST_F(CredentialVerifierTest, InvalidateForgetsAUser) {
  CredentialVerifier verifier(*store_, clock_, {});
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  verifier.invalidate(username_);
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.cache_stats().hits, 0u);
  verifier.clear_cache();
  EXPECT_EQ(verifier.cache_stats().size, 0u);
}

TEST_F(CredentialVerifierTest, TheSynchronousFormUsesTheCacheToo) {
  CredentialVerifier verifier(*store_, clock_, {});
  EXPECT_EQ(verifier.verify(username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.verify(username_, password_).status, Status::ok);
  EXPECT_EQ(verifier.verify(username_, password_ + "x").status, Status::bad_credentials);
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
}

TEST_F(CredentialVerifierTest, ConcurrentMissesForOneLoginHashOncePerThread) {
  // Ten connections of one client arrive together on a cold cache: they all
  // miss the lookup, but one argon2id thread hashes only the first; the rest
  // find its result when their turn comes.
  CredentialVerifier::Settings settings;
  settings.threads = 1;
  CredentialVerifier verifier(*store_, clock_, settings);
  asio::io_context io;
  std::vector<Status> statuses;
  for (int i = 0; i < 10; ++i) {
    verifier.async_verify(username_, password_, asio::bind_executor(io, [&](AuthOutcome outcome) {
                            statuses.push_back(outcome.status);
                          }));
  }
  io.run();
  ASSERT_EQ(statuses.size(), 10u);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), Status::ok), 10);
  EXPECT_EQ(verifier.cache_stats().insertions, 1u);
  EXPECT_EQ(verifier.cache_stats().hits, 9u);
}

TEST_F(CredentialVerifierTest, ACacheHitDoesNotWaitForArgon2Misses) {
  // One argon2id thread busy with a queue of wrong passwords; a login that
  // is already cached is answered first, by the lookup stage.
  CredentialVerifier::Settings settings;
  settings.threads = 1;
  CredentialVerifier verifier(*store_, clock_, settings);
  ASSERT_EQ(verify(verifier, username_, password_).status, Status::ok);
  asio::io_context io;
  std::vector<Status> order;
  for (int i = 0; i < 4; ++i) {
    verifier.async_verify(
        username_, "wrong" + std::to_string(i),
        asio::bind_executor(io, [&](AuthOutcome outcome) { order.push_back(outcome.status); }));
  }
  verifier.async_verify(username_, password_, asio::bind_executor(io, [&](AuthOutcome outcome) {
                          order.push_back(outcome.status);
                        }));
  io.run();
  ASSERT_EQ(order.size(), 5u);
  // Four misses need four sequential hashes; the hit needs none. It can only
  // come last if its lookup waited for at least three of them.
  const auto hit = std::find(order.begin(), order.end(), Status::ok);
  ASSERT_NE(hit, order.end());
  EXPECT_LT(hit - order.begin(), 4);
  EXPECT_EQ(verifier.cache_stats().hits, 1u);
}

}  // namespace
}  // namespace portcullis::relay::auth
