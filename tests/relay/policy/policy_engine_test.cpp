#include "relay/policy/policy_engine.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::relay::policy {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

// The hooks the daemon would wire, backed by maps the test edits.
struct Fixture {
  FakeClock clock;
  std::map<std::string, config::Plan> plans;
  std::map<std::string, std::uint64_t> durable;  // "tenant month" -> messages
  std::map<std::pair<std::string, std::string>, std::string> suppressed;
  std::mutex counted_mutex;
  std::vector<std::string> counted;  // "tenant kind"
  int usage_loads = 0;
  PolicyEngine engine{clock, hooks()};

  PolicyHooks hooks() {
    PolicyHooks h;
    h.limits = [this](std::string_view tenant) -> std::optional<config::Plan> {
      const auto it = plans.find(std::string(tenant));
      if (it == plans.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    h.month_usage = [this](std::string_view tenant, std::string_view month) {
      ++usage_loads;
      return durable[std::string(tenant) + " " + std::string(month)];
    };
    h.suppression = [this](std::string_view tenant,
                           std::string_view address) -> std::optional<std::string> {
      const auto it = suppressed.find({std::string(tenant), std::string(address)});
      if (it == suppressed.end()) {
        return std::nullopt;
      }
      return it->second;
    };
    h.count = [this](std::string_view tenant, StatKind kind) {
      std::lock_guard lock(counted_mutex);
      counted.push_back(std::string(tenant) + " " + std::string(to_string(kind)));
    };
    return h;
  }
};

std::string text(const std::optional<smtp::Reply>& r) {
  return r ? r->render() : "";
}

config::Plan roomy() {
  config::Plan p;
  p.monthly_quota = 1'000'000;
  p.messages_per_minute = 1000;
  p.messages_per_hour = 100'000;
  p.recipients_per_message = 1000;
  p.recipients_per_hour = 100'000;
  p.max_connections = 1000;
  p.max_message_size = 10'000'000;
  return p;
}

TEST(PolicyEngineTest, MonthOfIsUtc) {
  EXPECT_EQ(month_of(1'700'000'000), "2023-11");
  EXPECT_EQ(month_of(1'701'388'799), "2023-11");  // 2023-11-30T23:59:59Z
  EXPECT_EQ(month_of(1'701'388'800), "2023-12");
  EXPECT_EQ(month_of(0), "1970-01");
}

TEST(PolicyEngineTest, TenantWithoutPlanIsNotLimited) {
  Fixture f;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(f.engine.open_connection("free"));
    ASSERT_FALSE(f.engine.check_mail("free", 1'000'000'000));
    ASSERT_FALSE(f.engine.check_rcpt("free", "a@example.net", 5000));
  }
  EXPECT_EQ(f.engine.usage("free").connections, 1000u);
  EXPECT_EQ(f.engine.usage("free").reserved, 1000u);
  EXPECT_FALSE(f.engine.max_message_size("free"));
  EXPECT_TRUE(f.counted.empty());
  EXPECT_EQ(f.usage_loads, 0);
}

TEST(PolicyEngineTest, ConnectionsPerTenant) {
  Fixture f;
  auto plan = roomy();
  plan.max_connections = 2;
  f.plans["acme"] = plan;
  ASSERT_FALSE(f.engine.open_connection("acme"));
  ASSERT_FALSE(f.engine.open_connection("acme"));
  EXPECT_EQ(text(f.engine.open_connection("acme")),
            "421 4.7.0 Too many connections for tenant acme (limit 2), try again later\r\n");
  EXPECT_FALSE(f.engine.open_connection("other"));  // another tenant has its own count
  f.engine.close_connection("acme");
  EXPECT_FALSE(f.engine.open_connection("acme"));
  EXPECT_EQ(f.counted, std::vector<std::string>{"acme rejected_limits"});
}

TEST(PolicyEngineTest, ConnectionSlotClosesOnce) {
  Fixture f;
  auto plan = roomy();
  plan.max_connections = 1;
  f.plans["acme"] = plan;
  {
    ASSERT_FALSE(f.engine.open_connection("acme"));
    ConnectionSlot slot(f.engine, "acme");
    ConnectionSlot moved = std::move(slot);
    EXPECT_FALSE(slot.held());  // NOLINT(bugprone-use-after-move): the point of the test
    EXPECT_TRUE(moved.held());
    EXPECT_TRUE(f.engine.open_connection("acme"));
  }
  EXPECT_EQ(f.engine.usage("acme").connections, 0u);
  f.engine.close_connection("acme");  // an extra close does not underflow
  EXPECT_EQ(f.engine.usage("acme").connections, 0u);
  EXPECT_FALSE(f.engine.open_connection("acme"));
}

TEST(PolicyEngineTest, MessagesPerMinuteAndPerHour) {
  Fixture f;
  auto plan = roomy();
  plan.messages_per_minute = 3;
  plan.messages_per_hour = 5;
  f.plans["acme"] = plan;
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(f.engine.check_mail("acme", 0)) << i;
  }
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)),
            "451 4.7.1 Rate limit: 3 messages per minute for tenant acme; try again in 20 s\r\n");
  f.clock.advance(seconds(20) - milliseconds(1));
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)),
            "451 4.7.1 Rate limit: 3 messages per minute for tenant acme; try again in 1 s\r\n");
  f.clock.advance(milliseconds(1));
  EXPECT_FALSE(f.engine.check_mail("acme", 0));
  f.clock.advance(seconds(20));
  EXPECT_FALSE(f.engine.check_mail("acme", 0));  // 5 of 5 per hour
  f.clock.advance(minutes(5));
  // The minute bucket is full again; the hour bucket has refilled for 340 s of
  // the 720 s one message takes.
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)),
            "451 4.7.1 Rate limit: 5 messages per hour for tenant acme; try again in 380 s\r\n");
  // Refusals took nothing: exactly when the hour bucket has one token, one passes.
  f.clock.advance(seconds(379));
  EXPECT_TRUE(f.engine.check_mail("acme", 0));
  f.clock.advance(seconds(1));
  EXPECT_FALSE(f.engine.check_mail("acme", 0));
  EXPECT_EQ(f.counted.size(), 4u);
  EXPECT_EQ(f.engine.usage("acme").reserved, 6u);
}

TEST(PolicyEngineTest, DeclaredSizeOverTheTenantLimit) {
  Fixture f;
  auto plan = roomy();
  plan.max_message_size = 5000;
  plan.messages_per_minute = 1;
  f.plans["acme"] = plan;
  EXPECT_EQ(text(f.engine.check_mail("acme", 5001)),
            "552 5.3.4 Message size exceeds the tenant's limit of 5000 bytes\r\n");
  // The refusal took no token.
  EXPECT_FALSE(f.engine.check_mail("acme", 5000));
  EXPECT_EQ(f.engine.max_message_size("acme"), 5000u);
}

TEST(PolicyEngineTest, MonthlyQuotaCountsReservationsAndLoadsOncePerMonth) {
  Fixture f;
  auto plan = roomy();
  plan.monthly_quota = 10;
  f.plans["acme"] = plan;
  f.durable["acme 2023-11"] = 7;
  ASSERT_FALSE(f.engine.check_mail("acme", 0));  // 7 used + 1 reserved
  ASSERT_FALSE(f.engine.check_mail("acme", 0));  // + 2 reserved
  f.engine.message_done("acme", false);          // refused after DATA: released, not used
  ASSERT_FALSE(f.engine.check_mail("acme", 0));  // 7 + 2
  ASSERT_FALSE(f.engine.check_mail("acme", 0));  // 7 + 3
  const std::string exhausted =
      "550 5.7.1 Monthly quota of 10 messages exhausted for tenant acme; it renews on the 1st "
      "(UTC)\r\n";
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)), exhausted);
  f.engine.message_done("acme", true);
  f.engine.message_done("acme", true);
  f.engine.message_done("acme", true);
  EXPECT_EQ(f.engine.usage("acme").used, 10u);
  EXPECT_EQ(f.engine.usage("acme").reserved, 0u);
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)), exhausted);
  EXPECT_EQ(f.usage_loads, 1);

  // 2023-12-01T00:00:00Z renews it; the new month's durable count is loaded.
  f.durable["acme 2023-12"] = 9;
  f.clock.advance(seconds(1'701'388'800 - f.clock.unix_now() - 1));
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)), exhausted);
  f.clock.advance(seconds(1));
  ASSERT_FALSE(f.engine.check_mail("acme", 0));
  EXPECT_EQ(f.engine.usage("acme").month, "2023-12");
  EXPECT_EQ(f.usage_loads, 2);
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)), exhausted);  // 9 + 1
}

TEST(PolicyEngineTest, MessageDoneAcrossTheMonthBoundaryIsNotCountedTwice) {
  Fixture f;
  auto plan = roomy();
  plan.monthly_quota = 100;
  f.plans["acme"] = plan;
  ASSERT_FALSE(f.engine.check_mail("acme", 0));
  f.clock.advance(seconds(1'701'388'800 - f.clock.unix_now()));
  // Queued in December, while `used` still counts November: the December
  // count is loaded from the spool, which already holds the message.
  f.engine.message_done("acme", true);
  EXPECT_EQ(f.engine.usage("acme").used, 0u);
  EXPECT_EQ(f.engine.usage("acme").month, "2023-11");
}

TEST(PolicyEngineTest, RecipientsPerMessageThenSuppressionThenRate) {
  Fixture f;
  auto plan = roomy();
  plan.recipients_per_message = 2;
  plan.recipients_per_hour = 3;
  f.plans["acme"] = plan;
  f.suppressed[{"acme", "gone@example.net"}] = "bounces";
  f.suppressed[{"acme", "bad@example.net"}] = "invalid";
  f.suppressed[{"acme", "no@example.net"}] = "unsubscribes";
  f.suppressed[{"acme", "spam@example.net"}] = "spam-reports";
  EXPECT_EQ(text(f.engine.check_rcpt("acme", "a@example.net", 2)),
            "452 4.5.3 Too many recipients (limit 2)\r\n");
  EXPECT_EQ(text(f.engine.check_rcpt("acme", "gone@example.net", 0)),
            "550 5.1.1 <gone@example.net> is on tenant acme's bounces suppression list\r\n");
  EXPECT_EQ(text(f.engine.check_rcpt("acme", "bad@example.net", 0)),
            "550 5.1.1 <bad@example.net> is on tenant acme's invalid suppression list\r\n");
  EXPECT_EQ(text(f.engine.check_rcpt("acme", "no@example.net", 0)),
            "550 5.7.1 <no@example.net> is on tenant acme's unsubscribes suppression list\r\n");
  EXPECT_EQ(text(f.engine.check_rcpt("acme", "spam@example.net", 1)),
            "550 5.7.1 <spam@example.net> is on tenant acme's spam-reports suppression list\r\n");
  // Refused recipients took no token from the hourly bucket.
  EXPECT_FALSE(f.engine.check_rcpt("acme", "a@example.net", 0));
  EXPECT_FALSE(f.engine.check_rcpt("acme", "b@example.net", 1));
  EXPECT_FALSE(f.engine.check_rcpt("acme", "c@example.net", 0));
  EXPECT_EQ(text(f.engine.check_rcpt("acme", "d@example.net", 1)),
            "451 4.7.1 Rate limit: 3 recipients per hour for tenant acme; try again in 1200 s\r\n");
  EXPECT_EQ(f.counted, (std::vector<std::string>{"acme rejected_limits", "acme suppressed",
                                                 "acme suppressed", "acme suppressed",
                                                 "acme suppressed", "acme rejected_limits"}));
}

TEST(PolicyEngineTest, SuppressionAppliesWithoutAPlan) {
  Fixture f;
  f.suppressed[{"free", "gone@example.net"}] = "blocks";
  EXPECT_EQ(text(f.engine.check_rcpt("free", "gone@example.net", 0)),
            "550 5.7.1 <gone@example.net> is on tenant free's blocks suppression list\r\n");
}

TEST(PolicyEngineTest, ReloadResizesBucketsKeepingFewerTokens) {
  Fixture f;
  auto plan = roomy();
  plan.messages_per_minute = 10;
  f.plans["acme"] = plan;
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(f.engine.check_mail("acme", 0));
  }
  // 6 tokens left; the new plan allows 2 a minute: min(6, 2) = 2.
  f.plans["acme"].messages_per_minute = 2;
  ASSERT_FALSE(f.engine.check_mail("acme", 0));
  ASSERT_FALSE(f.engine.check_mail("acme", 0));
  EXPECT_EQ(text(f.engine.check_mail("acme", 0)),
            "451 4.7.1 Rate limit: 2 messages per minute for tenant acme; try again in 30 s\r\n");
  // Raised again: the bucket keeps its 0 tokens and refills at the new rate.
  f.plans["acme"].messages_per_minute = 60;
  EXPECT_TRUE(f.engine.check_mail("acme", 0));
  f.clock.advance(seconds(1));
  EXPECT_FALSE(f.engine.check_mail("acme", 0));
  // Connection limit lowered below the current count: new ones wait.
  f.plans["acme"].max_connections = 1;
  ASSERT_FALSE(f.engine.open_connection("acme"));
  EXPECT_TRUE(f.engine.open_connection("acme"));
}

TEST(PolicyEngineTest, ConcurrentCallersShareOneBucket) {
  Fixture f;
  auto plan = roomy();
  plan.messages_per_minute = 1000;
  plan.messages_per_hour = 1000;
  f.plans["acme"] = plan;
  f.engine.check_mail("acme", 0);  // creates the state before the threads start
  f.engine.message_done("acme", true);
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (!f.engine.check_mail("acme", 0)) {
          passed.fetch_add(1);
          f.engine.message_done("acme", true);
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(passed.load(), 999);
  EXPECT_EQ(f.engine.usage("acme").reserved, 0u);
  EXPECT_EQ(f.engine.usage("acme").used, 1000u);
}

}  // namespace
}  // namespace portcullis::relay::policy
