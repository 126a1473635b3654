#include "relay/auth/verified_cache.hpp"

#include <chrono>
#include <string>

#include "gateway/core/clock.hpp"
#include "gtest/gtest.h"

namespace portcullis::relay::auth {
namespace {

using namespace std::chrono_literals;

VerifiedCache::Identity acme(std::string user = "acme.user1") {
  return {.tenant_id = "acme", .username = std::move(user)};
}

class VerifiedCacheTest : public ::testing::Test {
 protected:
  FakeClock clock_;
};

TEST_F(VerifiedCacheTest, HitsOnlyForTheSameUserPasswordAndStoredHash) {
  VerifiedCache cache(clock_, {});
  EXPECT_FALSE(cache.find("acme.user1", "secret", "$hash1"));
  cache.insert("acme.user1", "secret", "$hash1", acme());

  const auto hit = cache.find("acme.user1", "secret", "$hash1");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->tenant_id, "acme");
  EXPECT_EQ(hit->username, "acme.user1");

  EXPECT_FALSE(cache.find("acme.user1", "secret2", "$hash1"));  // wrong password
  EXPECT_FALSE(cache.find("acme.user1", "", "$hash1"));
  EXPECT_FALSE(cache.find("acme.user1", "secret", "$hash2"));  // the stored hash changed
  EXPECT_FALSE(cache.find("acme.user2", "secret", "$hash1"));  // another user
  const auto stats = cache.stats();
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 5u);
  EXPECT_EQ(stats.size, 1u);
}

TEST_F(VerifiedCacheTest, AWrongPasswordDoesNotEvictTheGoodEntry) {
  VerifiedCache cache(clock_, {});
  cache.insert("acme.user1", "secret", "$h", acme());
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(cache.find("acme.user1", "guess" + std::to_string(i), "$h"));
  }
  EXPECT_TRUE(cache.find("acme.user1", "secret", "$h"));
}

TEST_F(VerifiedCacheTest, FieldBoundariesAreUnambiguous) {
  // With NUL separators "a\0b" + "c" and "a" + "b\0c" would be one input.
  VerifiedCache cache(clock_, {});
  cache.insert("u", std::string("a\0b", 3), "c", acme("u"));
  EXPECT_FALSE(cache.find("u", "a", std::string("b\0c", 3)));
  EXPECT_TRUE(cache.find("u", std::string("a\0b", 3), "c"));
}

TEST_F(VerifiedCacheTest, KeysDifferBetweenInstances) {
  // K is drawn per cache: an entry made by one process means nothing to another.
  VerifiedCache one(clock_, {});
  VerifiedCache two(clock_, {});
  one.insert("acme.user1", "secret", "$h", acme());
  two.insert("acme.user1", "other", "$h", acme());
  EXPECT_TRUE(one.find("acme.user1", "secret", "$h"));
  EXPECT_FALSE(two.find("acme.user1", "secret", "$h"));
}

TEST_F(VerifiedCacheTest, EntriesExpireAfterTheTtlAndHitsDoNotExtendIt) {
  VerifiedCache cache(clock_, {.capacity = 100, .ttl = 10min});
  cache.insert("acme.user1", "secret", "$h", acme());
  clock_.advance(9min);
  EXPECT_TRUE(cache.find("acme.user1", "secret", "$h"));
  clock_.advance(59s);
  EXPECT_TRUE(cache.find("acme.user1", "secret", "$h"));
  clock_.advance(1s);  // exactly ttl after the insert
  EXPECT_FALSE(cache.find("acme.user1", "secret", "$h"));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.expirations, 1u);
  EXPECT_EQ(stats.size, 0u);
  // A new verification starts a new TTL.
  cache.insert("acme.user1", "secret", "$h", acme());
  clock_.advance(9min);
  EXPECT_TRUE(cache.find("acme.user1", "secret", "$h"));
}

TEST_F(VerifiedCacheTest, BoundedWithTheLeastRecentlyUsedEvictedFirst) {
  VerifiedCache cache(clock_, {.capacity = 3, .ttl = 1h});
  for (int i = 0; i < 3; ++i) {
    cache.insert("u" + std::to_string(i), "p", "$h", acme("u" + std::to_string(i)));
  }
  EXPECT_TRUE(cache.find("u0", "p", "$h"));  // u0 is now the most recent; u1 the least
  cache.insert("u3", "p", "$h", acme("u3"));
  EXPECT_FALSE(cache.find("u1", "p", "$h"));
  EXPECT_TRUE(cache.find("u0", "p", "$h"));
  EXPECT_TRUE(cache.find("u2", "p", "$h"));
  EXPECT_TRUE(cache.find("u3", "p", "$h"));
  for (int i = 4; i < 1000; ++i) {
    cache.insert("u" + std::to_string(i), "p", "$h", acme("u" + std::to_string(i)));
  }
  const auto stats = cache.stats();
  EXPECT_EQ(stats.size, 3u);
  EXPECT_EQ(stats.evictions, 997u);
}

TEST_F(VerifiedCacheTest, ReinsertingAUserReplacesItsEntry) {
  VerifiedCache cache(clock_, {.capacity = 2, .ttl = 1h});
  cache.insert("u", "old", "$h1", acme("u"));
  cache.insert("u", "new", "$h2", acme("u"));
  EXPECT_EQ(cache.stats().size, 1u);
  EXPECT_FALSE(cache.find("u", "old", "$h1"));
  EXPECT_TRUE(cache.find("u", "new", "$h2"));
}

TEST_F(VerifiedCacheTest, InvalidateAndClear) {
  VerifiedCache cache(clock_, {});
  cache.insert("u1", "p", "$h", acme("u1"));
  cache.insert("u2", "p", "$h", acme("u2"));
  cache.insert("u3", "p", "$h", acme("u3"));
  cache.invalidate("u1");
  cache.invalidate("nobody");
  EXPECT_FALSE(cache.find("u1", "p", "$h"));
  EXPECT_TRUE(cache.find("u2", "p", "$h"));
  cache.clear();
  EXPECT_FALSE(cache.find("u2", "p", "$h"));
  EXPECT_FALSE(cache.find("u3", "p", "$h"));
  const auto stats = cache.stats();
  EXPECT_EQ(stats.invalidations, 3u);
  EXPECT_EQ(stats.size, 0u);
}

TEST_F(VerifiedCacheTest, CapacityZeroTurnsItOff) {
  VerifiedCache cache(clock_, {.capacity = 0, .ttl = 1h});
  EXPECT_FALSE(cache.enabled());
  cache.insert("u", "p", "$h", acme("u"));
  EXPECT_FALSE(cache.find("u", "p", "$h"));
  EXPECT_EQ(cache.stats().size, 0u);
}

}  // namespace
}  // namespace portcullis::relay::auth
