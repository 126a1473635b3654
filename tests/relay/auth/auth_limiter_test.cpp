#include "relay/auth/auth_limiter.hpp"

#include <string>

#include "gtest/gtest.h"

namespace portcullis::relay::auth {
namespace {

using namespace std::chrono_literals;

config::AuthLimits limits(std::size_t max_failures = 3,
                          std::chrono::seconds window = 600s,
                          std::chrono::seconds lockout = 900s) {
  config::AuthLimits l;
  l.max_failures = max_failures;
  l.failure_window = window;
  l.lockout = lockout;
  return l;
}

TEST(AuthLimiterTest, LocksExactlyAtMaxFailures) {
  FakeClock clock;
  AuthLimiter limiter(limits(3), clock);
  EXPECT_FALSE(limiter.locked("198.18.0.1", "alice"));
  limiter.record_failure("198.18.0.1", "alice");
  clock.advance(1s);
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_FALSE(limiter.locked("198.18.0.1", "alice"));  // N-1
  clock.advance(1s);
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_TRUE(limiter.locked("198.18.0.1", "alice"));  // N
}

TEST(AuthLimiterTest, LockoutExpiresAfterLockoutExactly) {
  FakeClock clock;
  AuthLimiter limiter(limits(2, 600s, 900s), clock);
  limiter.record_failure("198.18.0.1", "alice");
  clock.advance(10s);
  limiter.record_failure("198.18.0.1", "alice");  // lockout starts here
  clock.advance(900s - 1ns);
  EXPECT_TRUE(limiter.locked("198.18.0.1", "alice"));
  clock.advance(1ns);
  EXPECT_FALSE(limiter.locked("198.18.0.1", "alice"));
  // The lockout consumed the failures: one more does not lock again.
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_FALSE(limiter.locked("198.18.0.1", "alice"));
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_TRUE(limiter.locked("198.18.0.1", "alice"));
}

TEST(AuthLimiterTest, FailuresOutsideTheWindowDoNotCount) {
  FakeClock clock;
  AuthLimiter limiter(limits(3, 600s), clock);
  limiter.record_failure("198.18.0.1", "alice");  // t=0
  clock.advance(300s);
  limiter.record_failure("198.18.0.1", "alice");  // t=300
  clock.advance(300s);                            // t=600: the first has just expired
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_FALSE(limiter.locked("198.18.0.1", "alice"));
  clock.advance(299s);  // t=899: failures at 300 and 600 still count
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_TRUE(limiter.locked("198.18.0.1", "alice"));
}

TEST(AuthLimiterTest, WindowSlidesRatherThanResetting) {
  FakeClock clock;
  AuthLimiter limiter(limits(3, 600s), clock);
  // Two failures at the end of one "fixed" window and one at the start of the next
  // still fall within 600 s of each other.
  clock.advance(590s);
  limiter.record_failure("198.18.0.1", "alice");
  limiter.record_failure("198.18.0.1", "alice");
  clock.advance(20s);
  limiter.record_failure("198.18.0.1", "alice");
  EXPECT_TRUE(limiter.locked("198.18.0.1", "alice"));
}

TEST(AuthLimiterTest, FailuresDuringLockoutDoNotExtendIt) {
  FakeClock clock;
  AuthLimiter limiter(limits(1, 600s, 100s), clock);
  limiter.record_failure("198.18.0.1", "alice");
  clock.advance(50s);
  limiter.record_failure("198.18.0.1", "alice");
  clock.advance(50s);
  EXPECT_FALSE(limiter.locked("198.18.0.1", "alice"));
}

TEST(AuthLimiterTest, SuccessClearsTheUserButNotTheClient) {
  FakeClock clock;
  AuthLimiter limiter(limits(3), clock);
  limiter.record_failure("198.18.0.1", "alice");
  limiter.record_failure("198.18.0.1", "alice");
  limiter.record_success("198.18.0.1", "alice");
  // alice starts over from another address...
  limiter.record_failure("198.18.0.2", "alice");
  limiter.record_failure("198.18.0.3", "alice");
  EXPECT_FALSE(limiter.locked("198.18.0.4", "alice"));
  // ...but 198.18.0.1 keeps its two failures: one more from it locks it.
  limiter.record_failure("198.18.0.1", "bob");
  EXPECT_TRUE(limiter.locked("198.18.0.1", "carol"));
  EXPECT_FALSE(limiter.locked("198.18.0.9", "bob"));
}

TEST(AuthLimiterTest, PerClientAndPerUserKeys) {
  FakeClock clock;
  AuthLimiter limiter(limits(3), clock);
  // One address guessing many usernames locks the address only.
  limiter.record_failure("198.18.0.1", "u1");
  limiter.record_failure("198.18.0.1", "u2");
  limiter.record_failure("198.18.0.1", "u3");
  EXPECT_TRUE(limiter.locked("198.18.0.1", "anyone"));
  EXPECT_FALSE(limiter.locked("198.18.0.2", "u1"));
  // Many addresses guessing one username lock the username everywhere.
  limiter.record_failure("fd00::1", "victim");
  limiter.record_failure("fd00::2", "victim");
  limiter.record_failure("fd00::3", "victim");
  EXPECT_TRUE(limiter.locked("fd00::99", "victim"));
  EXPECT_FALSE(limiter.locked("fd00::1", "other"));
  // A username that looks like an address is a different key.
  EXPECT_FALSE(limiter.locked("198.18.0.7", "198.18.0.1"));
}

TEST(AuthLimiterTest, MemoryIsBounded) {
  FakeClock clock;
  AuthLimiter limiter(limits(3), clock, 100);
  for (int i = 0; i < 1000; ++i) {
    limiter.record_failure("198.18.1." + std::to_string(i), "user" + std::to_string(i));
    EXPECT_LE(limiter.tracked_keys(), 100u);
  }
  EXPECT_EQ(limiter.tracked_keys(), 100u);
  // Huge usernames are truncated, not stored whole.
  const std::string huge(12000, 'x');
  limiter.record_failure("198.18.2.1", huge);
  limiter.record_failure("198.18.2.2", huge + "y");
  limiter.record_failure("198.18.2.3", huge + "z");
  EXPECT_TRUE(limiter.locked("198.18.2.4", huge));
}

TEST(AuthLimiterTest, EvictsTheLeastRecentlyFailedKey) {
  FakeClock clock;
  AuthLimiter limiter(limits(2), clock, 4);  // 4 keys = 2 (client, user) pairs
  limiter.record_failure("198.18.0.1", "old");
  limiter.record_failure("198.18.0.2", "new");
  limiter.record_failure("198.18.0.2", "new");     // locks 198.18.0.2 and new
  limiter.record_failure("198.18.0.3", "newest");  // evicts 198.18.0.1 and old
  EXPECT_EQ(limiter.tracked_keys(), 4u);
  EXPECT_TRUE(limiter.locked("198.18.0.2", "x"));
  limiter.record_failure("198.18.0.1", "old");
  EXPECT_FALSE(limiter.locked("198.18.0.1", "old"));  // its first failure was forgotten
}

}  // namespace
}  // namespace portcullis::relay::auth
