#include "abuse/collectors/feedback_intake.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/core/store/abuse_store.hpp"
#include "gateway/core/store/store.hpp"

#include "tests/abuse/report_samples.hpp"

namespace portcullis::abuse {
namespace {

namespace fs = std::filesystem;
using store::ReportKind;
using store::ReportStatus;
using store::SuppressionList;
using test::read_sample;
using test::to_crlf;

constexpr auto kWait = std::chrono::seconds(10);

class RecordingSink final : public SignalSink {
 public:
  void record_signal(store::Signal signal) override { signals.push_back(std::move(signal)); }
  std::vector<store::Signal> signals;
};

// A feedback-loop report about the original whose header section is `headers`.
std::string make_arf(const std::string& headers,
                     const std::string& feedback_type = "abuse",
                     const std::string& source_ip = "198.18.0.10") {
  return to_crlf(
      "From: fbl@isp.example\n"
      "To: fbl@relay.gw.example\n"
      "Subject: complaint\n"
      "MIME-Version: 1.0\n"
      "Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n"
      "\n"
      "--b\n"
      "Content-Type: text/plain\n"
      "\n"
      "A recipient complained.\n"
      "\n"
      "--b\n"
      "Content-Type: message/feedback-report\n"
      "\n"
      "Feedback-Type: " +
      feedback_type +
      "\n"
      "User-Agent: TestFBL/1\n"
      "Version: 1\n"
      "Reporting-MTA: dns; mx.isp.example\n"
      "Source-IP: " +
      source_ip +
      "\n"
      "Original-Rcpt-To: <reader@isp.example>\n"
      "\n"
      "--b\n"
      "Content-Type: text/rfc822-headers\n"
      "\n" +
      headers +
      "\n"
      "--b--\n");
}

class FeedbackIntakeTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(testing::TempDir()) / "portcullis-intake-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_);
    abuse_store_ = store::AbuseStore::open(dir_);
    config_.relay.hostname = "relay.gw.example";
    config_.abuse.feedback_addresses = {"fbl@relay.gw.example", "abuse@relay.gw.example"};
    // The tenants the shared samples name.
    add_tenant("acme", "198.18.10.0/24");
    add_tenant("globex", "198.18.11.0/24");
    add_tenant("initech", "198.18.12.0/24");
    make_intake();
  }
  void TearDown() override {
    open_gate();  // a failed assertion must not leave the worker held
    intake_.reset();
    abuse_store_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void make_intake() {
    intake_ = std::make_unique<FeedbackIntake>(
        io_.get_executor(), config_, *abuse_store_, *store_, sink_, clock_,
        [this](std::string_view id) {
          // Called on the intake's worker; "HOLD" keeps it here until the gate opens.
          if (id == "HOLD") {
            held_ = true;
            gate_.wait();
          }
          std::lock_guard lock(queue_mutex_);
          const auto it = queue_tenants_.find(std::string(id));
          return it == queue_tenants_.end() ? std::string() : it->second;
        },
        [this](const std::string& tenant) { complaints_.push_back(tenant); });
  }

  void add_tenant(const std::string& id, const std::string& subnet) {
    store::Tenant t;
    t.id = id;
    t.plan = "standard";
    t.subnets = {net::Prefix::parse(subnet).value()};
    ASSERT_TRUE(store_->add_tenant(t));
  }

  void map_queue_id(const std::string& id, const std::string& tenant) {
    std::lock_guard lock(queue_mutex_);
    queue_tenants_[id] = tenant;
  }

  static mail::InboundMessage message(std::string data,
                                      const std::string& rcpt = "fbl@relay.gw.example") {
    mail::InboundMessage m;
    m.client_address = "198.18.50.1";
    m.helo = "mx.isp.example";
    m.mail_from = "fbl@isp.example";
    m.recipients = {rcpt};
    m.data = std::move(data);
    return m;
  }

  // Delivers and waits for done; returns its result.
  Result<std::string> deliver(mail::InboundMessage m) {
    auto promise = std::make_shared<std::promise<Result<std::string>>>();
    auto future = promise->get_future();
    intake_->deliver(std::move(m),
                     [promise](Result<std::string> r) { promise->set_value(std::move(r)); });
    if (future.wait_for(kWait) != std::future_status::ready) {
      ADD_FAILURE() << "done was not called";
      return make_error("timeout");
    }
    return future.get();
  }

  // Waits until the worker has read the report, then runs what it posted.
  store::InboundReport processed(std::int64_t id) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    for (;;) {
      auto r = abuse_store_->get_report(id);
      if (!r) {
        ADD_FAILURE() << r.error().message;
        return {};
      }
      if (r->status != ReportStatus::received) {
        io_.poll();
        io_.restart();
        return *r;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "report " << id << " was not processed";
        return *r;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  // Delivers `data` and returns the report once processed.
  store::InboundReport run(const std::string& data) {
    auto id = deliver(message(data));
    if (!id) {
      ADD_FAILURE() << id.error().message;
      return {};
    }
    return processed(std::stoll(*id));
  }

  std::vector<store::Suppression> suppressions(const std::string& tenant) const {
    return store_->list_suppressions(tenant);
  }

  fs::path dir_;
  config::Config config_;
  FakeClock clock_;
  asio::io_context io_;
  RecordingSink sink_;
  std::vector<std::string> complaints_;
  void open_gate() {
    if (!gate_opened_.exchange(true)) {
      open_gate_.set_value();
    }
  }
  std::atomic<bool> gate_opened_ = false;
  std::promise<void> open_gate_;
  std::shared_future<void> gate_ = open_gate_.get_future().share();
  std::atomic<bool> held_ = false;
  std::mutex queue_mutex_;
  std::map<std::string, std::string> queue_tenants_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::AbuseStore> abuse_store_;
  std::unique_ptr<FeedbackIntake> intake_;
};

bool printable_lines(std::string_view text) {
  for (const char c : text) {
    if (c != '\n' && (c < 0x20 || c > 0x7e)) {
      return false;
    }
  }
  return true;
}

// ---- the RCPT gate ----

TEST_F(FeedbackIntakeTest, AcceptsOnlyTheFeedbackAddressesInAnyCase) {
  struct Case {
    const char* address;
    bool accepted;
  };
  const Case cases[] = {
      {"fbl@relay.gw.example", true},
      {"abuse@relay.gw.example", true},
      {"FBL@Relay.GW.Example", true},
      {"Abuse@RELAY.gw.example", true},
      {"postmaster@relay.gw.example", false},
      {"fbl@other.example", false},
      {"fbl@relay.gw.example.other", false},
      {"xfbl@relay.gw.example", false},
      {"fbl", false},
      {"", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(intake_->accepts(c.address), c.accepted) << c.address;
  }
}

// ---- complaints ----

TEST_F(FeedbackIntakeTest, ArfWithTenantHeaderIsAttributedSuppressedAndSignalled) {
  LOAD_SAMPLE(raw, "arf/full-message.eml");
  const std::string data = to_crlf(*raw);
  const auto r = run(data);
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.kind, ReportKind::arf);
  EXPECT_EQ(r.tenant_id, "acme");
  EXPECT_EQ(r.raw, data);
  EXPECT_EQ(r.client_address, "198.18.50.1");
  EXPECT_EQ(r.mail_from, "fbl@isp.example");
  EXPECT_EQ(r.recipient, "fbl@relay.gw.example");
  EXPECT_EQ(r.received_at, clock_.unix_now());
  EXPECT_NE(r.summary.find("abuse complaint about <01JD3K9Q7Z@relay.gw.example>"),
            std::string::npos)
      << r.summary;
  EXPECT_NE(r.summary.find("reader@mailbox-provider.example"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("attributed by X-Portcullis-Tenant"), std::string::npos) << r.summary;

  const auto listed = suppressions("acme");
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].list, SuppressionList::spam_reports);
  EXPECT_EQ(listed[0].address, "reader@mailbox-provider.example");
  EXPECT_EQ(listed[0].reason, "complaint: abuse report " + std::to_string(r.id) +
                                  " from mx3.mailbox-provider.example");

  ASSERT_EQ(sink_.signals.size(), 1u);
  const auto& s = sink_.signals[0];
  EXPECT_EQ(s.tenant_id, "acme");
  EXPECT_EQ(s.kind, store::SignalKind::complaint);
  // 198.18.0.10 is in none of acme's subnets (it is whoever handed the mail
  // to the provider, the relay itself for relayed mail): no host is named.
  EXPECT_EQ(s.host, "");
  EXPECT_EQ(s.time, 0);
  EXPECT_EQ(s.strength, 1.0);
  EXPECT_LE(s.evidence.size(), 2000u);
  EXPECT_TRUE(printable_lines(s.evidence)) << s.evidence;
  for (const char* expected : {
           "abuse complaint (ARF report ",
           "Feedback-Type: abuse",
           "Reporting-MTA: mx3.mailbox-provider.example",
           "Arrival-Date: Thu, 19 Nov 2026 09:12:40 +0000",
           "Source-IP: 198.18.0.10",
           "Complainant: reader@mailbox-provider.example",
           "Message-ID: <01JD3K9Q7Z@relay.gw.example>",
           "From: news@shop.acme.test",
           "Subject: Spring sale - 70% off everything",
           "  X-Portcullis-Tenant: acme",
           "by relay.gw.example (Portcullis) with ESMTPSA id 01JD3K9Q7Z",
       }) {
    EXPECT_NE(s.evidence.find(expected), std::string::npos) << expected << "\n" << s.evidence;
  }
  // Only the header section of the original, never its body.
  EXPECT_EQ(s.evidence.find("Everything must go"), std::string::npos) << s.evidence;
  EXPECT_EQ(complaints_, std::vector<std::string>{"acme"});
}

TEST_F(FeedbackIntakeTest, HeadersOnlySampleIsAttributedByTheRelayQueueId) {
  LOAD_SAMPLE(raw, "arf/headers-only.eml");
  map_queue_id("01JD5ZT0AB", "globex");
  const auto r = run(to_crlf(*raw));
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "globex");
  EXPECT_NE(r.summary.find("attributed by queue id 01JD5ZT0AB"), std::string::npos) << r.summary;
  ASSERT_EQ(sink_.signals.size(), 1u);
  EXPECT_EQ(sink_.signals[0].tenant_id, "globex");
  ASSERT_EQ(suppressions("globex").size(), 1u);
  EXPECT_EQ(suppressions("globex")[0].address, "pat@bigmail.example");
  // No Reporting-MTA in this one: the reason names the envelope sender instead.
  EXPECT_NE(suppressions("globex")[0].reason.find("from fbl@isp.example"), std::string::npos);
  EXPECT_EQ(complaints_, std::vector<std::string>{"globex"});
}

TEST_F(FeedbackIntakeTest, AttributesByQueueIdInTheRelaysReceivedField) {
  map_queue_id("Q123", "globex");
  const auto r =
      run(make_arf("Received: from [198.18.11.7] (helo=web.globex.test)\n"
                   " by relay.gw.example (Portcullis) with ESMTPS id Q123;\n"
                   " 20 Nov 2026 17:38:57 +0000\n"
                   "Message-ID: <abc.1@web.globex.test>\n"
                   "From: support@globex.test\n"
                   "To: reader@isp.example\n"
                   "Subject: Hello\n"));
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "globex");
  EXPECT_NE(r.summary.find("queue id Q123"), std::string::npos) << r.summary;
  ASSERT_EQ(sink_.signals.size(), 1u);
  EXPECT_EQ(sink_.signals[0].tenant_id, "globex");
  ASSERT_EQ(suppressions("globex").size(), 1u);
  EXPECT_EQ(suppressions("globex")[0].address, "reader@isp.example");
}

TEST_F(FeedbackIntakeTest, ASourceIpOfTheTenantsOwnIsTheSignalsHost) {
  map_queue_id("Q124", "globex");
  const auto headers =
      "Received: from x by relay.gw.example (Portcullis) with ESMTP id Q124; d\n"
      "To: reader@isp.example\n";
  run(make_arf(headers, "abuse", "198.18.11.7"));
  run(make_arf(headers, "abuse", "198.18.12.7"));  // initech's, not globex's
  ASSERT_EQ(sink_.signals.size(), 2u);
  EXPECT_EQ(sink_.signals[0].host, "198.18.11.7");
  EXPECT_EQ(sink_.signals[1].host, "");
}

TEST_F(FeedbackIntakeTest, AttributesByAMessageIdOfTheRelay) {
  map_queue_id("Q456", "initech");
  map_queue_id("Q457", "acme");
  const auto r =
      run(make_arf("Message-ID: <Q456@relay.gw.example>\n"
                   "From: news@lists.initech.test\n"
                   "To: reader@isp.example\n"));
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "initech");
  EXPECT_NE(r.summary.find("attributed by Message-ID <Q456@relay.gw.example>"), std::string::npos)
      << r.summary;
  // The host name compares case-insensitively.
  const auto upper = run(make_arf("Message-ID: <Q457@RELAY.GW.Example>\nTo: other@isp.example\n"));
  EXPECT_EQ(upper.status, ReportStatus::attributed) << upper.summary;
  EXPECT_EQ(upper.tenant_id, "acme");
  EXPECT_EQ(complaints_, (std::vector<std::string>{"initech", "acme"}));
}

TEST_F(FeedbackIntakeTest, TenantHeaderOfNoTenantFallsBackToTheQueueId) {
  map_queue_id("Q123", "acme");
  const auto r =
      run(make_arf("Received: from x by relay.gw.example (Portcullis) with ESMTP id Q123; date\n"
                   "X-Portcullis-Tenant: ghost\n"
                   "Message-ID: <m1@acme.test>\n"));
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "acme");
  EXPECT_NE(r.summary.find("queue id Q123"), std::string::npos) << r.summary;
}

TEST_F(FeedbackIntakeTest, UnknownTenantIsKeptUnattributed) {
  const std::string data = make_arf(
      "Received: from x by relay.gw.example (Portcullis) with ESMTP id Q999; date\n"
      "X-Portcullis-Tenant: ghost\n"
      "Message-ID: <Q999@relay.gw.example>\n"
      "To: reader@isp.example\n");
  const auto r = run(data);
  EXPECT_EQ(r.status, ReportStatus::unattributed) << r.summary;
  EXPECT_EQ(r.kind, ReportKind::arf);
  EXPECT_EQ(r.tenant_id, "");
  EXPECT_EQ(r.raw, data);
  for (const char* expected :
       {"abuse complaint about <Q999@relay.gw.example>", "no tenant found",
        "X-Portcullis-Tenant 'ghost' is no tenant", "queue id Q999 is unknown"}) {
    EXPECT_NE(r.summary.find(expected), std::string::npos) << expected << ": " << r.summary;
  }
  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_TRUE(complaints_.empty());
  for (const char* tenant : {"acme", "globex", "initech"}) {
    EXPECT_TRUE(suppressions(tenant).empty()) << tenant;
  }
}

TEST_F(FeedbackIntakeTest, NotSpamIsAttributedWithoutSuppressionOrSignal) {
  const auto r = run(
      make_arf("X-Portcullis-Tenant: acme\nMessage-ID: <n1@acme.test>\nTo: reader@isp.example\n",
               "not-spam"));
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "acme");
  EXPECT_NE(r.summary.find("not counted as a complaint"), std::string::npos) << r.summary;
  EXPECT_TRUE(suppressions("acme").empty());
  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_TRUE(complaints_.empty());
}

TEST_F(FeedbackIntakeTest, RedactedRecipientIsSignalledButNotSuppressed) {
  LOAD_SAMPLE(raw, "arf/redacted-recipient.eml");
  const auto r = run(to_crlf(*raw));
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "initech");
  EXPECT_TRUE(suppressions("initech").empty());
  ASSERT_EQ(sink_.signals.size(), 1u);
  EXPECT_NE(sink_.signals[0].evidence.find("Complainant: (redacted by the reporter)"),
            std::string::npos)
      << sink_.signals[0].evidence;
}

// ---- what cannot be read ----

TEST_F(FeedbackIntakeTest, BrokenSamplesAreRejectedAndKept) {
  struct Case {
    const char* sample;
    const char* summary;
  };
  const Case cases[] = {
      {"arf/broken-no-feedback-part.eml",
       "no message/feedback-report part in the multipart/report"},
      {"arf/broken-truncated.eml", "truncated report"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.sample);
    LOAD_SAMPLE(raw, c.sample);
    const std::string data = to_crlf(*raw);
    const auto r = run(data);
    EXPECT_EQ(r.status, ReportStatus::rejected);
    EXPECT_EQ(r.kind, ReportKind::arf);
    EXPECT_EQ(r.tenant_id, "");
    EXPECT_NE(r.summary.find(c.summary), std::string::npos) << r.summary;
    EXPECT_EQ(r.raw, data);
  }
  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_TRUE(complaints_.empty());
  EXPECT_EQ(abuse_store_->list_reports(ReportStatus::rejected).size(), 2u);
}

TEST_F(FeedbackIntakeTest, PlainMailIsRejectedAsUnknown) {
  const std::string data = to_crlf("From: someone@random.example\nSubject: hi\n\nSpam!\n");
  const auto r = run(data);
  EXPECT_EQ(r.status, ReportStatus::rejected);
  EXPECT_EQ(r.kind, ReportKind::unknown);
  EXPECT_NE(r.summary.find("not a multipart/report"), std::string::npos) << r.summary;
  EXPECT_EQ(r.raw, data);
}

// ---- bounces ----

TEST_F(FeedbackIntakeTest, BounceIsFiledAsDsnWithoutSignal) {
  LOAD_SAMPLE(hard, "dsn/hard-bounce.eml");
  const auto r = run(to_crlf(*hard));
  EXPECT_EQ(r.kind, ReportKind::dsn);
  EXPECT_EQ(r.status, ReportStatus::attributed) << r.summary;
  EXPECT_EQ(r.tenant_id, "acme");
  EXPECT_NE(r.summary.find("nobody@remote.example failed 5.1.1"), std::string::npos) << r.summary;
  EXPECT_NE(r.summary.find("X-Portcullis-Tenant"), std::string::npos) << r.summary;

  LOAD_SAMPLE(delayed, "dsn/delayed.eml");
  const auto d = run(to_crlf(*delayed));
  EXPECT_EQ(d.kind, ReportKind::dsn);
  EXPECT_EQ(d.status, ReportStatus::unattributed) << d.summary;
  EXPECT_NE(d.summary.find("ops@slowhost.example delayed 4.4.1"), std::string::npos) << d.summary;

  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_TRUE(complaints_.empty());
  EXPECT_TRUE(suppressions("acme").empty());
}

// ---- the 250 and the worker ----

TEST_F(FeedbackIntakeTest, DoneCarriesTheIdOfTheStoredReportBeforeProcessing) {
  LOAD_SAMPLE(raw, "arf/full-message.eml");
  const std::string data = to_crlf(*raw);
  auto seen = std::make_shared<std::promise<std::pair<std::string, store::InboundReport>>>();
  auto future = seen->get_future();
  intake_->deliver(message(data), [this, seen](Result<std::string> id) {
    ASSERT_TRUE(id) << id.error().message;
    auto stored = abuse_store_->get_report(std::stoll(*id));
    ASSERT_TRUE(stored) << stored.error().message;
    seen->set_value({*id, *stored});
  });
  ASSERT_EQ(future.wait_for(kWait), std::future_status::ready);
  const auto [id, at_done] = future.get();
  EXPECT_EQ(id, std::to_string(at_done.id));
  EXPECT_EQ(at_done.status, ReportStatus::received);
  EXPECT_EQ(at_done.kind, ReportKind::unknown);
  EXPECT_EQ(at_done.raw, data);
  EXPECT_EQ(processed(at_done.id).status, ReportStatus::attributed);
}

TEST_F(FeedbackIntakeTest, DeliverAfterStopAnswersAnErrorRightAway) {
  intake_->stop();
  intake_->stop();  // idempotent
  bool called = false;
  intake_->deliver(message("Subject: x\r\n\r\nx\r\n"), [&called](Result<std::string> r) {
    called = true;
    EXPECT_FALSE(r);
  });
  EXPECT_TRUE(called);
  EXPECT_TRUE(abuse_store_->list_reports(std::nullopt).empty());
}

TEST_F(FeedbackIntakeTest, AFloodBeyondTheQueueIsRefusedAtOnceAndWhatWasQueuedIsKept) {
  // The worker is busy with one report (held in attribution) ...
  ASSERT_TRUE(deliver(message(
      make_arf("Received: from x by relay.gw.example (Portcullis) with ESMTP id HOLD; d\n"))));
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!held_ && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_TRUE(held_);
  // ... so the next kMaxQueued wait, and one more is refused without waiting (a 451).
  std::atomic<int> stored = 0;
  for (std::size_t i = 0; i < FeedbackIntake::kMaxQueued; ++i) {
    intake_->deliver(message("Subject: " + std::to_string(i) + "\r\n\r\nx\r\n"),
                     [&stored](Result<std::string> r) { stored += r ? 1 : 0; });
  }
  bool refused = false;
  intake_->deliver(message("Subject: one too many\r\n\r\nx\r\n"),
                   [&refused](Result<std::string> r) {
                     refused = !r;
                     EXPECT_NE(r ? std::string() : r.error().message, "");
                   });
  EXPECT_TRUE(refused);
  open_gate();
  const auto until = std::chrono::steady_clock::now() + kWait;
  while (stored < static_cast<int>(FeedbackIntake::kMaxQueued) &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(stored, static_cast<int>(FeedbackIntake::kMaxQueued));
  EXPECT_EQ(abuse_store_->list_reports(std::nullopt).size(), FeedbackIntake::kMaxQueued + 1);
}

TEST_F(FeedbackIntakeTest, PostedWorkAfterDestructionDoesNothing) {
  LOAD_SAMPLE(raw, "arf/full-message.eml");
  auto id = deliver(message(to_crlf(*raw)));
  ASSERT_TRUE(id) << id.error().message;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (abuse_store_->get_report(std::stoll(*id))->status == ReportStatus::received &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  intake_.reset();  // the complaint is posted but not run yet
  io_.poll();
  EXPECT_TRUE(sink_.signals.empty());
  EXPECT_TRUE(complaints_.empty());
  // The suppression and the report's status were written by the worker itself.
  EXPECT_EQ(abuse_store_->get_report(std::stoll(*id))->status, ReportStatus::attributed);
  EXPECT_EQ(suppressions("acme").size(), 1u);
}

}  // namespace
}  // namespace portcullis::abuse
