// The verifier alone, in process: what one login costs on each path, without
// TLS, SMTP or the spool. Companion of auth_rate_bench.sh (which measures the
// whole connection); a program, not a test.
//
//   auth_rate_bench_verifier [SECONDS]   (default 3 per figure)
//
// Built by tests/CMakeLists.txt like firewall_bench, once registered there:
//   add_executable(auth_rate_bench_verifier bench/auth_rate_bench.cpp)
//   target_link_libraries(auth_rate_bench_verifier PRIVATE portcullis::relay)
//
// Prints per second: store lookups (find_credential), cache hits through
// verify() on one thread, cache hits through async_verify with 20 in flight
// (the session's path: lookup stage and back to an io_context), and argon2id
// misses for scale.

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>

#include "gateway/core/auth/password.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/store/store.hpp"
#include "relay/auth/credential_verifier.hpp"

namespace {

namespace fs = std::filesystem;
using portcullis::relay::auth::AuthOutcome;
using portcullis::relay::auth::CredentialVerifier;
using Clock = std::chrono::steady_clock;

double per_second(double seconds, const std::function<bool()>& once) {
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  long n = 0;
  while (Clock::now() < end) {
    if (!once()) {
      std::fprintf(stderr, "auth_rate_bench: a login failed\n");
      std::exit(1);
    }
    ++n;
  }
  return n / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  std::random_device rd;
  const fs::path dir =
      fs::temp_directory_path() / ("portcullis-auth-bench-" + std::to_string(rd()));
  int rc = 0;
  {
    auto store = portcullis::store::Store::open(dir);
    portcullis::store::Tenant tenant;
    tenant.id = "bench";
    tenant.plan = "standard";
    if (!store->add_tenant(tenant)) {
      std::fprintf(stderr, "auth_rate_bench: cannot add tenant\n");
      return 1;
    }
    for (int i = 0; i < 100; ++i) {  // a store that holds more than one row
      (void)store->issue_credential("bench", "filler");
    }
    auto issued = store->issue_credential("bench", "bench");
    const std::string user = issued->credential.username;
    const std::string pass = issued->password;

    portcullis::SystemClock clock;
    CredentialVerifier verifier(*store, clock, CredentialVerifier::Settings{});

    const double lookups =
        per_second(seconds, [&] { return store->find_credential(user).has_value(); });
    verifier.verify(user, pass);  // warm the cache
    const double sync_hits = per_second(
        seconds, [&] { return verifier.verify(user, pass).status == AuthOutcome::Status::ok; });

    // 20 in flight, each completion starting the next, as 20 sessions would.
    boost::asio::io_context io;
    long completed = 0;
    bool failed = false;
    const auto start = Clock::now();
    const auto end = start + std::chrono::duration<double>(seconds);
    std::function<void()> next = [&] {
      verifier.async_verify(user, pass, boost::asio::bind_executor(io, [&](AuthOutcome outcome) {
                              failed |= outcome.status != AuthOutcome::Status::ok;
                              ++completed;
                              if (Clock::now() < end) {
                                next();
                              }
                            }));
    };
    for (int i = 0; i < 20; ++i) {
      next();
    }
    io.run();
    const double async_hits =
        completed / std::chrono::duration<double>(Clock::now() - start).count();

    const double misses = per_second(std::min(seconds, 2.0), [&] {
      return portcullis::auth::verify_password(store->find_credential(user)->password_hash, pass);
    });

    std::printf("store lookups (find_credential)      %10.0f /s\n", lookups);
    std::printf("cache hits, verify() on one thread   %10.0f /s\n", sync_hits);
    std::printf("cache hits, async_verify, 20 flight  %10.0f /s\n", async_hits);
    std::printf("argon2id verifications, one thread   %10.1f /s\n", misses);
    const auto stats = verifier.cache_stats();
    std::printf("cache: hits=%llu misses=%llu insertions=%llu\n",
                static_cast<unsigned long long>(stats.hits),
                static_cast<unsigned long long>(stats.misses),
                static_cast<unsigned long long>(stats.insertions));
    rc = failed ? 1 : 0;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return rc;
}
