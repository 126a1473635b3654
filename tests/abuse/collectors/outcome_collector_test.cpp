#include "abuse/collectors/outcome_collector.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"

namespace portcullis::abuse {
namespace {

using namespace std::chrono_literals;
using events::DeliveryEvent;
using events::DeliveryEventType;
using store::SignalKind;

class RecordingSink final : public SignalSink {
 public:
  void record_signal(store::Signal signal) override { signals.push_back(std::move(signal)); }
  std::vector<store::Signal> signals;

  std::vector<store::Signal> of(SignalKind kind) const {
    std::vector<store::Signal> out;
    for (const auto& s : signals) {
      if (s.kind == kind) {
        out.push_back(s);
      }
    }
    return out;
  }
};

constexpr const char* kFull = "552 5.2.2 <r@example.net>: mailbox full";
constexpr const char* kUnknown = "550 5.1.1 <bounce0@example.net>: no such user";

class OutcomeCollectorTest : public testing::Test {
 protected:
  OutcomeCollectorTest() {
    config_.abuse.bounces.window = 3600s;
    config_.abuse.bounces.min_messages = 10;
    config_.abuse.bounces.bounce_rate = 0.2;
    config_.abuse.bounces.unknown_recipient_rate = 0.1;
    config_.abuse.volume.factor = 10;
    config_.abuse.volume.min_messages = 50;
    make();
  }
  void make() { collector_ = std::make_unique<OutcomeCollector>(config_, clock_, sink_); }

  void event(DeliveryEventType type,
             std::string detail = {},
             std::string tenant = "acme",
             std::int64_t time = 0) {
    DeliveryEvent e;
    e.time = time;
    e.type = type;
    e.tenant_id = std::move(tenant);
    e.message_id = "Q" + std::to_string(++next_id_);
    e.recipient = "r" + std::to_string(next_id_) + "@example.net";
    e.detail = std::move(detail);
    e.remote = "mx.example.net [198.18.2.10]";
    collector_->on_event(e);
  }
  void delivered(int n, std::int64_t time = 0) {
    for (int i = 0; i < n; ++i) {
      event(DeliveryEventType::delivered, "250 2.0.0 Ok: queued", "acme", time);
    }
  }
  void bounced(int n, const char* detail = kFull, std::int64_t time = 0) {
    for (int i = 0; i < n; ++i) {
      event(DeliveryEventType::bounced, detail, "acme", time);
    }
  }
  void accepted(std::int64_t time, int messages, int recipients_each = 1) {
    for (int m = 0; m < messages; ++m) {
      DeliveryEvent e;
      e.time = time;
      e.type = DeliveryEventType::accepted;
      e.tenant_id = "acme";
      e.message_id = "M" + std::to_string(++next_id_);
      e.detail = "submission as alice";
      e.remote = "198.18.1.10";
      for (int r = 0; r < recipients_each; ++r) {
        e.recipient = "r" + std::to_string(r) + "@example.net";
        collector_->on_event(e);
      }
    }
  }

  config::Config config_;
  FakeClock clock_;
  RecordingSink sink_;
  std::unique_ptr<OutcomeCollector> collector_;
  int next_id_ = 0;
};

TEST_F(OutcomeCollectorTest, NothingUnderMinMessages) {
  bounced(9, kUnknown);
  EXPECT_TRUE(sink_.signals.empty());
}

TEST_F(OutcomeCollectorTest, GatewayMailIsIgnored) {
  for (int i = 0; i < 20; ++i) {
    event(DeliveryEventType::bounced, kUnknown, "");
    event(DeliveryEventType::bounced, "554 5.7.1 blocked using zen.spamhaus.example", "");
    event(DeliveryEventType::accepted, "", "");
  }
  EXPECT_TRUE(sink_.signals.empty());
}

TEST_F(OutcomeCollectorTest, CrossingGivesOneSignalWhileBouncesContinue) {
  delivered(8);
  bounced(1);
  EXPECT_TRUE(sink_.signals.empty());
  bounced(1);  // 2 of 10: at the threshold
  ASSERT_EQ(sink_.signals.size(), 1U);
  const auto& s = sink_.signals[0];
  EXPECT_EQ(s.kind, SignalKind::bounce_rate);
  EXPECT_EQ(s.tenant_id, "acme");
  EXPECT_EQ(s.host, "");
  EXPECT_DOUBLE_EQ(s.strength, 1.0);
  EXPECT_EQ(s.time, clock_.unix_now());
  EXPECT_EQ(s.evidence,
            "2 of 10 recipients bounced within 1h (20%); e.g. r10@example.net: 552 5.2.2 "
            "<r@example.net>: mailbox full");
  bounced(10);
  EXPECT_EQ(sink_.of(SignalKind::bounce_rate).size(), 1U);
  EXPECT_TRUE(sink_.of(SignalKind::unknown_recipients).empty());
}

TEST_F(OutcomeCollectorTest, DroppingBelowReArms) {
  delivered(8);
  bounced(2);
  ASSERT_EQ(sink_.signals.size(), 1U);
  delivered(10);  // 2 of 20
  EXPECT_EQ(sink_.signals.size(), 1U);
  bounced(2);  // 4 of 22: below still
  EXPECT_EQ(sink_.signals.size(), 1U);
  bounced(1);  // 5 of 23
  ASSERT_EQ(sink_.signals.size(), 2U);
  EXPECT_NE(sink_.signals[1].evidence.find("5 of 23 recipients bounced"), std::string::npos)
      << sink_.signals[1].evidence;
  EXPECT_NEAR(sink_.signals[1].strength, (5.0 / 23) / 0.2, 1e-9);
}

TEST_F(OutcomeCollectorTest, UnknownRecipients) {
  delivered(9);
  bounced(1, kUnknown);  // 1 of 10 unknown; 10% bounces stays under 20%
  ASSERT_EQ(sink_.signals.size(), 1U);
  const auto& s = sink_.signals[0];
  EXPECT_EQ(s.kind, SignalKind::unknown_recipients);
  EXPECT_EQ(s.evidence,
            "1 of 10 recipients bounced as unknown addresses within 1h (10%); e.g. "
            "r10@example.net: 550 5.1.1 <bounce0@example.net>: no such user");
  bounced(1, kFull);  // 1 of 11 unknown: re-armed
  bounced(1, kUnknown);
  EXPECT_EQ(sink_.of(SignalKind::unknown_recipients).size(), 2U);
  EXPECT_EQ(sink_.of(SignalKind::bounce_rate).size(), 1U);  // 3 of 12 bounced in all
}

TEST_F(OutcomeCollectorTest, WindowExpiry) {
  delivered(5);
  bounced(5);  // 50%
  ASSERT_EQ(sink_.signals.size(), 1U);
  clock_.advance(3601s);
  delivered(10);  // the old outcomes left the window: 0 of 10, re-armed
  EXPECT_EQ(sink_.signals.size(), 1U);
  bounced(3);  // 3 of 13; with the old ones it would be 8 of 23, never re-armed
  ASSERT_EQ(sink_.signals.size(), 2U);
  EXPECT_NE(sink_.signals[1].evidence.find("3 of 13 recipients bounced"), std::string::npos)
      << sink_.signals[1].evidence;
}

TEST_F(OutcomeCollectorTest, EventTimesDriveTheWindowAndLateOnesAreDropped) {
  const std::int64_t t0 = 1'800'000'000;
  delivered(5, t0);
  bounced(5, kFull, t0);
  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_EQ(sink_.signals[0].time, t0);
  delivered(10, t0 + 3601);
  bounced(20, kFull, t0);  // reported late: outside the window
  bounced(2, kFull, t0 + 3602);
  EXPECT_EQ(sink_.signals.size(), 1U);  // 2 of 12
  bounced(1, kFull, t0 + 3603);         // 3 of 13
  EXPECT_EQ(sink_.signals.size(), 2U);
}

TEST_F(OutcomeCollectorTest, QuietTenantIsReArmed) {
  delivered(5);
  bounced(5);
  ASSERT_EQ(sink_.signals.size(), 1U);
  clock_.advance(3601s);
  bounced(4);  // fewer than half of min_messages in the window: re-armed, too few to judge
  EXPECT_EQ(sink_.signals.size(), 1U);
  bounced(6);
  EXPECT_EQ(sink_.signals.size(), 2U);
}

TEST_F(OutcomeCollectorTest, OutcomesPerTenantAreCapped) {
  delivered(static_cast<int>(OutcomeCollector::kMaxOutcomes));
  bounced(30'000);
  // The oldest deliveries made room: the rate reached 20% at 20000 of 100000, not 25000 of 125000.
  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_NE(sink_.signals[0].evidence.find("20000 of 100000 recipients bounced"), std::string::npos)
      << sink_.signals[0].evidence;
}

TEST_F(OutcomeCollectorTest, ZeroThresholdTurnsARateOff) {
  config_.abuse.bounces.bounce_rate = 0;
  make();
  bounced(20);
  EXPECT_TRUE(sink_.of(SignalKind::bounce_rate).empty());
}

TEST(OutcomeCollectorReplyTest, UnknownRecipientTable) {
  struct Case {
    const char* reply;
    bool unknown;
  };
  const std::vector<Case> cases = {
      {"550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown", true},
      {"550-5.1.1 The email account that you tried to reach does not exist.", true},
      {"550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
       true},
      {"550 5.1.0 Address rejected", true},
      {"550 No such user here", true},
      {"550 Requested action not taken: mailbox unavailable", true},
      {"554 delivery error: dd This user does not exist", true},
      {"550 5.0.0 <bob@example.net>: unknown user", true},
      {"552 5.2.2 mailbox full", false},
      {"550 5.7.1 Mailbox unavailable; client blocked using zen.spamhaus.example", false},
      {"550 5.1.2 Host unknown", false},
      {"451 4.1.1 user unknown (try again)", false},
      {"450 mailbox unavailable", false},
      {"550 5.1.100 nonsense code", false},
      {"", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(names_an_unknown_recipient(c.reply), c.unknown) << c.reply;
  }
}

TEST(OutcomeCollectorReplyTest, BlocklistTable) {
  struct Case {
    const char* reply;
    bool blocklist;
  };
  const std::vector<Case> cases = {
      {"554 5.7.1 Service unavailable; client [198.18.2.1] blocked using zen.spamhaus.example",
       true},
      {"550 5.7.1 Your IP is on our block list (S3150)", true},
      {"550-5.7.1 [198.18.2.1] Our system has detected that this message is likely unsolicited "
       "mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
       true},
      {"421 4.7.0 [198.18.2.1] Messages from 198.18.2.1 temporarily deferred due to low "
       "reputation",
       true},
      {"451 4.7.1 Client host rejected: listed at bl.spamcop.example", true},
      {"550 Rejected: 198.18.2.1 is BLACKLISTED by b.barracudacentral.example", true},
      {"554 Your access to this mail system has been rejected due to the sending MTA's poor "
       "reputation",
       true},
      {"550 5.0.0 Message rejected: listed in an RBL", true},
      {"554 5.7.1 Message rejected as spam by Content Filtering", true},
      {"550 5.1.1 no such user", false},
      {"550 5.1.1 recipient not listed in public Name & Address Book", false},
      {"550 Recipient not listed", false},
      {"550 5.7.1 Relaying denied", false},
      {"550 5.7.26 Unauthenticated email is not accepted (DMARC policy)", false},
      {"550 5.7.1 sender not whitelisted", false},
      {"451 4.3.0 Temporary failure, spam filter unavailable", false},
      {"552 5.3.4 Message too big; spam or not", false},
      {"421 Too many connections from your host, listed for a while", false},
      {"connect to mx.example.net[198.18.2.10]:25: Connection refused", false},
      {"", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(names_a_blocklist(c.reply), c.blocklist) << c.reply;
  }
}

TEST_F(OutcomeCollectorTest, RblRejectionIsOneSignalPerEvent) {
  event(DeliveryEventType::bounced,
        "554 5.7.1 Service unavailable; client [198.18.2.1] blocked using zen.spamhaus.example");
  event(DeliveryEventType::deferred, "451 4.7.1 Client host rejected: poor reputation\r\nX\x01");
  event(DeliveryEventType::deferred, "451 4.3.0 try again later");
  event(DeliveryEventType::bounced, kUnknown);
  event(DeliveryEventType::delivered, "250 spam-free since 1999");
  const auto rbl = sink_.of(SignalKind::rbl_rejection);
  ASSERT_EQ(rbl.size(), 2U);
  EXPECT_EQ(rbl[0].host, "");
  EXPECT_EQ(rbl[0].tenant_id, "acme");
  EXPECT_EQ(rbl[0].evidence,
            "mx.example.net [198.18.2.10] refused mail to r1@example.net citing a blocklist or "
            "spam: 554 5.7.1 Service unavailable; client [198.18.2.1] blocked using "
            "zen.spamhaus.example");
  EXPECT_EQ(rbl[1].evidence,
            "mx.example.net [198.18.2.10] deferred mail to r2@example.net citing a blocklist or "
            "spam: 451 4.7.1 Client host rejected: poor reputation X?");
}

TEST_F(OutcomeCollectorTest, RblEvidenceIsBounded) {
  event(DeliveryEventType::bounced, "554 5.7.1 spam " + std::string(5000, 'x'));
  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_LE(sink_.signals[0].evidence.size(), 1000U);
}

// Hours on the unix clock: H(k) is the start of hour k after a round base.
std::int64_t H(int k) {
  return (1'800'000'000 / 3600 + k) * 3600;
}

TEST_F(OutcomeCollectorTest, VolumeAgainstBaseline) {
  accepted(H(0) + 1800, 5);  // partial first hour: no baseline from it
  accepted(H(1) + 10, 10);   // complete: baseline 10
  accepted(H(2) + 10, 99);
  EXPECT_TRUE(sink_.signals.empty());
  accepted(H(2) + 20, 1);  // 100 = 10 x 10
  ASSERT_EQ(sink_.signals.size(), 1U);
  const auto& s = sink_.signals[0];
  EXPECT_EQ(s.kind, SignalKind::volume);
  EXPECT_EQ(s.tenant_id, "acme");
  EXPECT_EQ(s.time, H(2) + 20);
  EXPECT_DOUBLE_EQ(s.strength, 1.0);
  EXPECT_EQ(s.evidence, "100 messages accepted this hour, baseline 10.0 per hour (10.0 times)");
  accepted(H(2) + 30, 500);  // once per hour
  EXPECT_EQ(sink_.signals.size(), 1U);
  // Baseline now 0.3 x 600 + 0.7 x 10 = 187: 1870 are needed.
  accepted(H(3) + 10, 1860);
  EXPECT_EQ(sink_.signals.size(), 1U);
  accepted(H(3) + 20, 20);
  EXPECT_EQ(sink_.signals.size(), 2U);
}

TEST_F(OutcomeCollectorTest, NoBaselineNoVolumeSignal) {
  accepted(H(0) + 1800, 1000);
  accepted(H(1), 1000);  // the first complete hour: still no baseline during it
  EXPECT_TRUE(sink_.signals.empty());
}

TEST_F(OutcomeCollectorTest, VolumeNeedsMinMessages) {
  accepted(H(0) + 1800, 1);
  accepted(H(1), 1);  // baseline 1
  accepted(H(2), 49);
  EXPECT_TRUE(sink_.signals.empty());
  accepted(H(2), 1);
  EXPECT_EQ(sink_.signals.size(), 1U);
}

TEST_F(OutcomeCollectorTest, VolumeCountsMessagesNotRecipients) {
  accepted(H(0) + 1800, 1);
  accepted(H(1), 10);
  accepted(H(2), 60, 20);  // 60 messages, 1200 accepted events
  EXPECT_TRUE(sink_.signals.empty());
}

TEST_F(OutcomeCollectorTest, IdleHoursDecayTheBaseline) {
  accepted(H(0) + 1800, 1);
  accepted(H(1), 100);  // baseline 100
  // Hours 2-4 without mail: 100 x 0.7^3 = 34.3, so about 343 are needed in hour 5.
  accepted(H(5), 340);
  EXPECT_TRUE(sink_.signals.empty());
  accepted(H(5), 5);
  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_NE(sink_.signals[0].evidence.find("baseline 34.3 per hour"), std::string::npos)
      << sink_.signals[0].evidence;
}

TEST_F(OutcomeCollectorTest, SilentHoursAfterTheFirstGiveAZeroBaseline) {
  accepted(H(0) + 1800, 3);
  accepted(H(3), 49);
  EXPECT_TRUE(sink_.signals.empty());
  accepted(H(3), 1);
  ASSERT_EQ(sink_.signals.size(), 1U);
  EXPECT_EQ(sink_.signals[0].evidence,
            "50 messages accepted this hour, baseline 0.0 per hour (no mail in the hours before)");
}

}  // namespace
}  // namespace portcullis::abuse
