#include "relay/auth/credential_verifier.hpp"

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

TEST_F(CredentialVerifierTest, OverloadIsATemporaryFailure) {
  CredentialVerifier verifier(*store_, 1, 1);
  asio::io_context io;
  std::vector<Status> statuses;
  for (int i = 0; i < 3; ++i) {
    verifier.async_verify(username_, password_, asio::bind_executor(io, [&](AuthOutcome outcome) {
                            statuses.push_back(outcome.status);
                          }));
  }
  io.run();
  ASSERT_EQ(statuses.size(), 3u);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), Status::ok), 1);
  EXPECT_EQ(std::count(statuses.begin(), statuses.end(), Status::temporary_failure), 2);
}

}  // namespace
}  // namespace portcullis::relay::auth
