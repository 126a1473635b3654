#include "relay/delivery/ready_queue.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace portcullis::relay::delivery {
namespace {

Job job(std::string id, std::string tenant, std::string destination) {
  return Job{std::move(id), std::move(tenant), std::move(destination), {0}, 0};
}

std::vector<std::string> drain(ReadyQueue& q) {
  std::vector<std::string> ids;
  while (auto j = q.next()) {
    ids.push_back(j->message_id);
  }
  return ids;
}

TEST(ReadyQueue, JobsNotDueWaitUntilAdvanceReachesThem) {
  ReadyQueue q;
  q.advance(100);
  q.add(job("later", "t", "d"), 105);
  q.add(job("now", "t", "d"), 100);
  EXPECT_EQ(q.ready(), 1u);
  EXPECT_EQ(q.waiting(), 1u);
  EXPECT_EQ(q.next_due(), 105);
  EXPECT_EQ(drain(q), std::vector<std::string>{"now"});
  q.advance(104);
  EXPECT_FALSE(q.next());
  q.advance(105);
  EXPECT_EQ(drain(q), std::vector<std::string>{"later"});
  EXPECT_FALSE(q.next_due());
}

TEST(ReadyQueue, DueJobsComeOutInDueOrderThenFifo) {
  ReadyQueue q;
  q.add(job("c", "t", "d"), 30);
  q.add(job("a", "t", "d"), 10);
  q.add(job("b1", "t", "d"), 20);
  q.add(job("b2", "t", "d"), 20);
  q.advance(30);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"a", "b1", "b2", "c"}));
}

// One destination's deep backlog does not hold up another destination.
TEST(ReadyQueue, DestinationsAreServedRoundRobin) {
  ReadyQueue q;
  q.advance(0);
  for (int i = 0; i < 1000; ++i) {
    q.add(job("slow" + std::to_string(i), "a", "slow.example"), 0);
  }
  q.add(job("fast", "b", "fast.example"), 0);
  const auto first = q.next();
  const auto second = q.next();
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->message_id, "slow0");
  EXPECT_EQ(second->message_id, "fast");
}

// Inside one destination, tenants take turns.
TEST(ReadyQueue, TenantsTakeTurnsWithinADestination) {
  ReadyQueue q;
  q.advance(0);
  for (int i = 0; i < 3; ++i) {
    q.add(job("a" + std::to_string(i), "a", "d"), 0);
  }
  q.add(job("b0", "b", "d"), 0);
  q.add(job("b1", "b", "d"), 0);
  EXPECT_EQ(drain(q), (std::vector<std::string>{"a0", "b0", "a1", "b1", "a2"}));
}

TEST(ReadyQueue, PausedDestinationIsSkippedAndKeepsItsJobs) {
  ReadyQueue q;
  q.advance(0);
  q.add(job("x1", "t", "down.example"), 0);
  q.add(job("x2", "t", "down.example"), 0);
  q.add(job("y1", "t", "up.example"), 0);
  q.pause("down.example");
  EXPECT_TRUE(q.paused("down.example"));
  EXPECT_EQ(drain(q), std::vector<std::string>{"y1"});
  EXPECT_EQ(q.ready_for("down.example"), 2u);
  // Work added while paused waits too.
  q.add(job("x3", "t", "down.example"), 0);
  EXPECT_FALSE(q.next());
  q.resume("down.example");
  EXPECT_FALSE(q.paused("down.example"));
  EXPECT_EQ(drain(q), (std::vector<std::string>{"x1", "x2", "x3"}));
  EXPECT_EQ(q.ready(), 0u);
}

TEST(ReadyQueue, PauseOutlivesAnEmptyDestination) {
  ReadyQueue q;
  q.advance(0);
  q.pause("d");
  q.add(job("m", "t", "d"), 0);
  EXPECT_FALSE(q.next());
  q.resume("d");
  EXPECT_EQ(drain(q), std::vector<std::string>{"m"});
}

TEST(ReadyQueue, AJobKeepsItsRecipientsAndTenant) {
  ReadyQueue q;
  q.advance(0);
  q.add(Job{"m", "acme", "example.org", {1, 3}, 0}, 0);
  const auto j = q.next();
  ASSERT_TRUE(j);
  EXPECT_EQ(j->tenant, "acme");
  EXPECT_EQ(j->destination, "example.org");
  EXPECT_EQ(j->recipients, (std::vector<std::size_t>{1, 3}));
}

// Many destinations and tenants: every job comes out exactly once.
TEST(ReadyQueue, EveryJobComesOutOnce) {
  ReadyQueue q;
  std::map<std::string, int> seen;
  for (int i = 0; i < 5000; ++i) {
    q.add(job(std::to_string(i), "t" + std::to_string(i % 7), "d" + std::to_string(i % 13)),
          i % 50);
  }
  q.pause("d3");
  q.advance(49);
  for (auto id : drain(q)) {
    ++seen[id];
  }
  q.resume("d3");
  for (auto id : drain(q)) {
    ++seen[id];
  }
  EXPECT_EQ(seen.size(), 5000u);
  for (const auto& [id, n] : seen) {
    EXPECT_EQ(n, 1) << id;
  }
  EXPECT_EQ(q.ready(), 0u);
  EXPECT_EQ(q.waiting(), 0u);
}

}  // namespace
}  // namespace portcullis::relay::delivery
