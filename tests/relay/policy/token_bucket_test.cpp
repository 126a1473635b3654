#include "relay/policy/token_bucket.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace portcullis::relay::policy {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::nanoseconds;
using std::chrono::seconds;

const Clock::time_point kStart = Clock::time_point{} + hours(1000);

TEST(TokenBucketTest, BurstOfCapacityPassesOneMoreFails) {
  TokenBucket b(60, minutes(1), kStart);
  for (int i = 0; i < 60; ++i) {
    ASSERT_TRUE(b.try_take(kStart)) << i;
  }
  EXPECT_FALSE(b.try_take(kStart));
  EXPECT_EQ(b.available(kStart), 0u);
}

TEST(TokenBucketTest, OneTokenExactlyOnePeriodOverCapacityLater) {
  TokenBucket b(60, minutes(1), kStart);
  ASSERT_TRUE(b.try_take(kStart, 60));
  // 60 per minute: one token per second, not a nanosecond earlier.
  EXPECT_FALSE(b.try_take(kStart + seconds(1) - nanoseconds(1)));
  EXPECT_EQ(b.retry_after(kStart + seconds(1) - nanoseconds(1)), nanoseconds(1));
  EXPECT_TRUE(b.try_take(kStart + seconds(1)));
  EXPECT_FALSE(b.try_take(kStart + seconds(1)));
}

TEST(TokenBucketTest, RefillIsExactWhenThePeriodDoesNotDivide) {
  // 7 per second: a token every 142857142.857 ns; after 7 tokens' worth of
  // waiting in odd steps, exactly 7 more pass and no drift builds up.
  TokenBucket b(7, seconds(1), kStart);
  ASSERT_TRUE(b.try_take(kStart, 7));
  Clock::time_point t = kStart;
  int taken = 0;
  for (int i = 0; i < 1000; ++i) {
    t += nanoseconds(1'000'000);
    while (b.try_take(t)) {
      ++taken;
    }
  }
  EXPECT_EQ(taken, 7);  // 1000 ms = exactly one period
  EXPECT_FALSE(b.try_take(t));
}

TEST(TokenBucketTest, RetryAfter) {
  TokenBucket b(10, seconds(10), kStart);
  EXPECT_EQ(b.retry_after(kStart), Clock::duration::zero());
  ASSERT_TRUE(b.try_take(kStart, 10));
  EXPECT_EQ(b.retry_after(kStart), seconds(1));
  EXPECT_EQ(b.retry_after(kStart, 3), seconds(3));
  EXPECT_EQ(b.retry_after(kStart + seconds(2), 3), seconds(1));
  EXPECT_EQ(b.retry_after(kStart, 11), Clock::duration::max());
  // A retry_after wait is exactly enough.
  const auto wait = b.retry_after(kStart, 4);
  EXPECT_FALSE(b.try_take(kStart + wait - nanoseconds(1), 4));
  EXPECT_TRUE(b.try_take(kStart + wait, 4));
}

TEST(TokenBucketTest, MoreThanCapacityNeverPasses) {
  TokenBucket b(5, seconds(1), kStart);
  EXPECT_FALSE(b.try_take(kStart, 6));
  EXPECT_FALSE(b.try_take(kStart + hours(24 * 365), 6));
  EXPECT_TRUE(b.try_take(kStart, 5));  // the refused takes consumed nothing
}

TEST(TokenBucketTest, ClockGoingBackwardsNeitherRefillsNorUnderflows) {
  TokenBucket b(2, seconds(2), kStart);
  ASSERT_TRUE(b.try_take(kStart, 2));
  EXPECT_FALSE(b.try_take(kStart - seconds(100)));
  EXPECT_EQ(b.available(kStart - seconds(100)), 0u);
  // Waiting from the earlier time includes the gap back to the latest seen.
  EXPECT_EQ(b.retry_after(kStart - seconds(100)), seconds(101));
  // Back at the latest time: refills from there only, not from the past value.
  EXPECT_FALSE(b.try_take(kStart + seconds(1) - nanoseconds(1)));
  EXPECT_TRUE(b.try_take(kStart + seconds(1)));
}

TEST(TokenBucketTest, BackwardsThenForwardDoesNotRefillTwice) {
  TokenBucket b(1, seconds(10), kStart);
  ASSERT_TRUE(b.try_take(kStart + seconds(5)));  // level 0 at +5 s
  EXPECT_FALSE(b.try_take(kStart));              // earlier: nothing
  EXPECT_FALSE(b.try_take(kStart + seconds(14)));
  EXPECT_TRUE(b.try_take(kStart + seconds(15)));
}

TEST(TokenBucketTest, HugeJumpsRefillToCapacityOnly) {
  TokenBucket b(100'000'000, hours(1), kStart);  // the loader's maximum per hour
  ASSERT_TRUE(b.try_take(kStart, 100'000'000));
  const Clock::time_point later = kStart + hours(24 * 365 * 200);
  EXPECT_EQ(b.available(later), 100'000'000u);
  EXPECT_TRUE(b.try_take(later, 100'000'000));
  EXPECT_FALSE(b.try_take(later));
  const Clock::time_point end = Clock::time_point::max();
  EXPECT_EQ(b.available(end), 100'000'000u);
}

TEST(TokenBucketTest, ResizeKeepsTheSmallerOfTokensAndCapacity) {
  TokenBucket b(10, seconds(10), kStart);
  ASSERT_TRUE(b.try_take(kStart, 4));  // 6 left
  b.resize(3, seconds(3), kStart);
  EXPECT_EQ(b.available(kStart), 3u);
  EXPECT_EQ(b.capacity(), 3u);
  b.resize(100, seconds(100), kStart);  // growing adds nothing at once
  EXPECT_EQ(b.available(kStart), 3u);
  EXPECT_EQ(b.available(kStart + seconds(1)), 4u);  // the new rate
  EXPECT_EQ(b.available(kStart + seconds(1000)), 100u);
}

TEST(TokenBucketTest, ResizeCarriesTheFractionOfAToken) {
  TokenBucket b(1, seconds(2), kStart);
  ASSERT_TRUE(b.try_take(kStart));
  // Half a token at +1 s; the new bucket (1 per 4 s) needs two more seconds.
  b.resize(1, seconds(4), kStart + seconds(1));
  EXPECT_FALSE(b.try_take(kStart + seconds(3) - nanoseconds(1)));
  EXPECT_TRUE(b.try_take(kStart + seconds(3)));
}

}  // namespace
}  // namespace portcullis::relay::policy
