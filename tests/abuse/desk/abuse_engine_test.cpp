#include "abuse/desk/abuse_engine.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gateway/core/store/abuse_store.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::abuse {
namespace {

namespace fs = std::filesystem;
using store::ExceptionStatus;
using store::SignalKind;
using store::TicketCategory;
using store::TicketStatus;

class RecordingMailer final : public mail::MailSubmitter {
 public:
  void submit(mail::OutboundMessage message, Done done) override {
    sent.push_back(std::move(message));
    if (fail) {
      done(make_error("queue full"));
    } else {
      done(Result<std::string>(boost::system::in_place_value, "Q" + std::to_string(sent.size())));
    }
  }
  std::vector<mail::OutboundMessage> sent;
  bool fail = false;
};

class AbuseEngineTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::path(testing::TempDir()) / "portcullis-engine-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_);
    abuse_store_ = store::AbuseStore::open(dir_);
    config_.relay.hostname = "relay.gw.example";
    config_.abuse.notify_from = "abuse@relay.gw.example";
    config_.abuse.desk_address = "desk@gw.example";
    add_tenant("acme", "198.18.1.0/24", "abuse@acme.test");
    add_tenant("quiet", "198.18.3.0/24", "");
    make_engine();
  }
  void TearDown() override {
    engine_.reset();
    abuse_store_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  void make_engine() {
    engine_ = std::make_unique<AbuseEngine>(
        io_.get_executor(),
        DeskServices{config_, *store_, *abuse_store_, clock_, &mailer_, [this] { ++changes_; }});
  }

  void add_tenant(const std::string& id, const std::string& subnet, const std::string& contact) {
    store::Tenant t;
    t.id = id;
    t.plan = "standard";
    t.subnets = {net::Prefix::parse(subnet).value()};
    t.abuse_contact = contact;
    ASSERT_TRUE(store_->add_tenant(t));
  }

  void signal(const std::string& tenant,
              SignalKind kind,
              const std::string& host,
              double strength,
              const std::string& evidence) {
    store::Signal s;
    s.tenant_id = tenant;
    s.kind = kind;
    s.host = host;
    s.strength = strength;
    s.evidence = evidence;
    engine_->record_signal(s);
    io_.poll();
    io_.restart();
  }

  std::vector<store::Ticket> tickets(const std::string& tenant) {
    store::TicketFilter f;
    f.tenant_id = tenant;
    f.any_tenant = false;
    return engine_->list_tickets(f);
  }

  std::vector<std::string> audit_actions(std::string_view subject, std::int64_t id) {
    std::vector<std::string> out;
    for (const auto& e : abuse_store_->audit_trail(subject, id)) {
      out.push_back(e.action);
    }
    return out;
  }

  std::optional<store::HostOverride> override_of(const std::string& tenant,
                                                 const std::string& prefix) {
    const auto t = store_->get_tenant(tenant).value();
    for (const auto& o : t.host_overrides) {
      if (o.prefix.to_string() == prefix) {
        return o;
      }
    }
    return std::nullopt;
  }

  store::ExceptionRequest request(const std::string& prefix = "198.18.1.20") {
    NewException e;
    e.tenant_id = "acme";
    e.prefix = prefix;
    e.reason = "own MTA";
    e.use_case = "invoices";
    e.reverse_dns = "mail.acme.test";
    e.expected_volume = 300;
    e.actor = "tenant:acme";
    auto r = engine_->request_exception(e);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : store::ExceptionRequest{};
  }

  fs::path dir_;
  config::Config config_;
  FakeClock clock_;
  asio::io_context io_;
  RecordingMailer mailer_;
  int changes_ = 0;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<store::AbuseStore> abuse_store_;
  std::unique_ptr<AbuseEngine> engine_;
};

// ---- scoring and tickets ----

TEST_F(AbuseEngineTest, SignalsBelowTheThresholdOpenNoTicketAndTheCrossingOneOpensOne) {
  // complaint weight 2, threshold 10: four complaints are 8 points, the fifth makes 10.
  for (int i = 0; i < 4; ++i) {
    signal("acme", SignalKind::complaint, "198.18.1." + std::to_string(10 + i), 1, "complaint");
  }
  EXPECT_TRUE(tickets("acme").empty());
  signal("acme", SignalKind::complaint, "198.18.1.14", 1, "complaint five");
  const auto opened = tickets("acme");
  ASSERT_EQ(opened.size(), 1u);
  EXPECT_EQ(opened[0].category, TicketCategory::complaint);
  EXPECT_EQ(opened[0].opened_by, "auto");
  const auto detail = engine_->ticket(opened[0].id).value();
  EXPECT_EQ(detail.signals.size(), 5u);
  EXPECT_EQ(detail.ticket.hosts.size(), 5u);
  EXPECT_EQ(audit_actions("ticket", opened[0].id)[0], "opened");
}

TEST_F(AbuseEngineTest, LaterSignalsAttachToTheOpenTicketInsteadOfOpeningAnother) {
  config_.abuse.signal_cooldown = std::chrono::seconds(0);
  signal("acme", SignalKind::bounce_rate, "", 1, "7 of 20 recipients bounced");
  ASSERT_EQ(tickets("acme").size(), 1u);
  const auto id = tickets("acme")[0].id;
  signal("acme", SignalKind::rbl_rejection, "", 1, "554 5.7.1 blocked using zen");
  signal("acme", SignalKind::bounce_rate, "", 2, "9 of 20 recipients bounced");
  signal("acme", SignalKind::volume, "198.18.1.30", 1, "500 messages this hour");
  ASSERT_EQ(tickets("acme").size(), 1u);
  const auto detail = engine_->ticket(id).value();
  EXPECT_EQ(detail.signals.size(), 4u);
  EXPECT_EQ(detail.ticket.hosts, std::vector<std::string>{"198.18.1.30"});
  const auto history = audit_actions("ticket", id);
  EXPECT_EQ(std::count(history.begin(), history.end(), "signal"), 3);
  // Another category is another problem: its own ticket.
  signal("acme", SignalKind::dnsbl, "198.18.1.40", 1, "listed in bl.test");
  EXPECT_EQ(tickets("acme").size(), 2u);
}

TEST_F(AbuseEngineTest, TheCooldownDropsARepeatOfTheSameKindAndHost) {
  config_.abuse.signal_cooldown = std::chrono::seconds(3600);
  signal("quiet", SignalKind::unknown_recipients, "198.18.3.1", 0.1, "one");
  signal("quiet", SignalKind::unknown_recipients, "198.18.3.1", 0.1, "again, too soon");
  signal("quiet", SignalKind::unknown_recipients, "198.18.3.2", 0.1, "another host");
  EXPECT_EQ(abuse_store_->signals("quiet", 0).size(), 2u);
  clock_.advance(std::chrono::seconds(3600));
  signal("quiet", SignalKind::unknown_recipients, "198.18.3.1", 0.1, "an hour later");
  EXPECT_EQ(abuse_store_->signals("quiet", 0).size(), 3u);
}

TEST_F(AbuseEngineTest, EveryComplaintCountsWhateverTheCooldown) {
  config_.abuse.signal_cooldown = std::chrono::seconds(3600);
  for (int i = 0; i < 5; ++i) {
    signal("quiet", SignalKind::complaint, "", 1, "report " + std::to_string(i));
  }
  EXPECT_EQ(abuse_store_->signals("quiet", 0).size(), 5u);
  EXPECT_EQ(tickets("quiet").size(), 1u);
}

TEST_F(AbuseEngineTest, SignalsOutsideTheWindowDoNotCount) {
  config_.abuse.signal_cooldown = std::chrono::seconds(0);
  config_.abuse.score_window = std::chrono::seconds(3600);
  for (int i = 0; i < 4; ++i) {
    signal("acme", SignalKind::complaint, "", 1, "old");
  }
  clock_.advance(std::chrono::seconds(3601));
  signal("acme", SignalKind::complaint, "", 1, "new");
  EXPECT_TRUE(tickets("acme").empty());
  EXPECT_DOUBLE_EQ(engine_->reputation("acme")->score, 2.0);
}

TEST_F(AbuseEngineTest, ReputationExplainsEachKindsShare) {
  config_.abuse.signal_cooldown = std::chrono::seconds(0);
  signal("quiet", SignalKind::complaint, "", 1, "c1");
  signal("quiet", SignalKind::complaint, "", 1.5, "c2");
  signal("quiet", SignalKind::unknown_recipients, "", 0.5, "u1");
  const auto r = engine_->reputation("quiet").value();
  EXPECT_DOUBLE_EQ(r.score, 2 * 2.5 + 5 * 0.5);
  ASSERT_EQ(r.terms.size(), 2u);
  EXPECT_EQ(r.terms[0].kind, SignalKind::complaint);  // 5 points before 2.5
  EXPECT_EQ(r.terms[0].signals, 2u);
  EXPECT_DOUBLE_EQ(r.terms[0].points, 5.0);
  EXPECT_EQ(r.recent.front().evidence, "u1");  // newest first
  EXPECT_EQ(engine_->reputation("nobody").error().message, "no tenant 'nobody'");
  EXPECT_TRUE(engine_->reputation(""));  // the gateway's own
}

// ---- automatic actions ----

TEST_F(AbuseEngineTest, ACompromisedHostIsBlockedAndTheDeskCanRevertIt) {
  store::HostOverride before;
  before.prefix = net::Prefix::parse("198.18.1.10").value();
  before.mode = store::Port25Mode::redirect;
  before.reason = "operator: relay it";
  ASSERT_TRUE(store_->set_host_override("acme", before));
  signal("acme", SignalKind::egress, "198.18.1.10", 2.4,
         "198.18.1.10 made 48 direct port-25 attempts");
  const auto t = tickets("acme").at(0);
  EXPECT_EQ(t.category, TicketCategory::compromised_host);
  EXPECT_EQ(override_of("acme", "198.18.1.10/32")->mode, store::Port25Mode::block);
  EXPECT_GE(changes_, 1);
  auto detail = engine_->ticket(t.id).value();
  ASSERT_EQ(detail.actions.size(), 1u);
  EXPECT_EQ(detail.actions[0].kind, store::ActionKind::block_host);
  EXPECT_EQ(detail.actions[0].target, "198.18.1.10/32");

  const auto reverted = engine_->revert(t.id, std::nullopt, "desk:alice").value();
  EXPECT_TRUE(reverted.actions[0].reverted_at);
  EXPECT_EQ(reverted.actions[0].reverted_by, "desk:alice");
  const auto restored = override_of("acme", "198.18.1.10/32");
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->mode, store::Port25Mode::redirect);
  EXPECT_EQ(restored->reason, "operator: relay it");
  const auto again = engine_->revert(t.id, reverted.actions[0].id, "desk:alice");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already reverted"), std::string::npos);
  EXPECT_EQ(engine_->revert(t.id, 999, "desk:alice").error().message,
            "no action 999 on ticket " + std::to_string(t.id));
}

TEST_F(AbuseEngineTest, ABlockedHostWithoutAPreviousOverrideLosesTheOverrideOnRevert) {
  signal("acme", SignalKind::egress, "198.18.1.11", 1, "attempts");
  const auto t = tickets("acme").at(0);
  ASSERT_TRUE(override_of("acme", "198.18.1.11/32"));
  ASSERT_TRUE(engine_->revert(t.id, std::nullopt, "desk:bob"));
  EXPECT_FALSE(override_of("acme", "198.18.1.11/32"));
}

TEST_F(AbuseEngineTest, ThrottleAndSuspendByPolicyAreRecordedAndReversible) {
  config_.abuse.actions["spam"] = config::AbuseAction::throttle;
  config_.abuse.actions["complaint"] = config::AbuseAction::suspend;
  store::LimitOverrides mine;
  mine.messages_per_hour = 500;
  mine.monthly_quota = 1000;
  ASSERT_TRUE(store_->set_limit_overrides("acme", mine));
  signal("acme", SignalKind::bounce_rate, "", 1, "bounced");
  auto limits = store_->limit_overrides("acme");
  EXPECT_EQ(limits.messages_per_minute, 5u);
  EXPECT_EQ(limits.messages_per_hour, 50u);
  EXPECT_EQ(limits.monthly_quota, 1000u);
  signal("acme", SignalKind::complaint, "", 5, "complaints");
  EXPECT_EQ(store_->get_tenant("acme")->status, store::TenantStatus::suspended);

  for (const auto& t : tickets("acme")) {
    ASSERT_TRUE(engine_->revert(t.id, std::nullopt, "desk:carol"));
  }
  limits = store_->limit_overrides("acme");
  EXPECT_EQ(limits.messages_per_minute, std::nullopt);
  EXPECT_EQ(limits.messages_per_hour, 500u);
  EXPECT_EQ(limits.monthly_quota, 1000u);
  EXPECT_EQ(store_->get_tenant("acme")->status, store::TenantStatus::active);
}

// ---- notifications ----

TEST_F(AbuseEngineTest, TheAbuseContactIsMailedTheEvidenceAndTheTicketWaitsOnTheTenant) {
  signal("acme", SignalKind::egress, "198.18.1.10", 1,
         "198.18.1.10 made 48 direct port-25 attempts\r\nBcc: victim@example.net\r\n\r\n.\r\n");
  ASSERT_EQ(mailer_.sent.size(), 1u);
  const auto& m = mailer_.sent[0];
  EXPECT_EQ(m.mail_from, "abuse@relay.gw.example");
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"abuse@acme.test", "desk@gw.example"}));
  const auto headers = m.data.substr(0, m.data.find("\r\n\r\n"));
  const auto body = m.data.substr(m.data.find("\r\n\r\n"));
  EXPECT_NE(headers.find("Subject: [Portcullis abuse #"), std::string::npos);
  EXPECT_NE(headers.find("compromised_host: 198.18.1.10 (tenant acme)"), std::string::npos);
  EXPECT_NE(headers.find("Auto-Submitted: auto-generated"), std::string::npos);
  EXPECT_EQ(headers.find("Bcc:"), std::string::npos);
  EXPECT_NE(body.find("48 direct port-25 attempts"), std::string::npos);
  EXPECT_NE(body.find("what you did to prevent it"), std::string::npos);
  EXPECT_NE(body.find("block_host 198.18.1.10/32"), std::string::npos);
  // Evidence lines are indented: none of them can be a lone "." or a header.
  EXPECT_EQ(m.data.find("\r\n.\r\n"), std::string::npos);
  EXPECT_EQ(m.data.find("\r\nBcc:"), std::string::npos);
  for (const char c : m.data) {
    ASSERT_TRUE(c == '\r' || c == '\n' || (c >= 0x20 && c < 0x7f)) << static_cast<int>(c);
  }
  const auto t = tickets("acme").at(0);
  EXPECT_EQ(t.status, TicketStatus::waiting);
  EXPECT_GT(t.notified_at, 0);
  const auto history = audit_actions("ticket", t.id);
  EXPECT_NE(std::find(history.begin(), history.end(), "notified"), history.end());
}

TEST_F(AbuseEngineTest, RemindersFollowUntilTheLimitAndStopOnceResolved) {
  config_.abuse.reminder_after = std::chrono::seconds(100);
  config_.abuse.max_reminders = 2;
  signal("acme", SignalKind::egress, "198.18.1.10", 1, "attempts");
  ASSERT_EQ(mailer_.sent.size(), 1u);
  engine_->tick();
  EXPECT_EQ(mailer_.sent.size(), 1u);
  // The store stamps notified_at with the wall clock: move the fake one past it.
  clock_.advance(std::chrono::seconds(std::time(nullptr) - clock_.unix_now() + 100));
  for (int round = 0; round < 4; ++round) {
    engine_->tick();
    io_.poll();
    io_.restart();
    clock_.advance(std::chrono::seconds(100));
  }
  ASSERT_EQ(mailer_.sent.size(), 3u);
  EXPECT_NE(mailer_.sent[1].data.find("Subject: Reminder: [Portcullis abuse #"), std::string::npos);
  EXPECT_NE(mailer_.sent[2].data.find("This is reminder 2"), std::string::npos);
  const auto t = tickets("acme").at(0);
  EXPECT_EQ(t.reminders, 2);
}

TEST_F(AbuseEngineTest, TheGatewaysOwnListingGoesToTheDeskAndStaysOpen) {
  signal("", SignalKind::dnsbl, "198.18.2.1", 1,
         "198.18.2.1 is listed in bl.test (127.0.0.2): Listed");
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent[0].recipients, std::vector<std::string>{"desk@gw.example"});
  EXPECT_NE(mailer_.sent[0].data.find("blacklisting: 198.18.2.1 (this gateway)"),
            std::string::npos);
  const auto t = tickets("").at(0);
  EXPECT_EQ(t.status, TicketStatus::open);
  EXPECT_EQ(t.tenant_id, "");
}

TEST_F(AbuseEngineTest, AFailedSubmissionIsAuditedAndLeavesTheTicketOpen) {
  mailer_.fail = true;
  signal("acme", SignalKind::egress, "198.18.1.10", 1, "attempts");
  const auto t = tickets("acme").at(0);
  EXPECT_EQ(t.status, TicketStatus::open);
  EXPECT_EQ(t.notified_at, 0);
  const auto history = audit_actions("ticket", t.id);
  EXPECT_NE(std::find(history.begin(), history.end(), "notify_failed"), history.end());
}

// ---- the desk's hand ----

TEST_F(AbuseEngineTest, TheDeskOpensNotesAndClosesTicketsAndEveryStepIsAudited) {
  NewTicket n;
  n.tenant_id = "quiet";
  n.category = TicketCategory::spam;
  n.hosts = {"198.18.3.5"};
  n.summary = "phishing kit reported by phone";
  n.note = "caller: NOC of example.net";
  n.actor = "desk:alice";
  const auto t = engine_->open_ticket(n).value();
  EXPECT_EQ(t.opened_by, "desk:alice");
  io_.poll();
  // No abuse contact: the desk gets the mail, and the ticket is not waiting on anyone.
  ASSERT_EQ(mailer_.sent.size(), 1u);
  EXPECT_EQ(mailer_.sent[0].recipients, std::vector<std::string>{"desk@gw.example"});
  EXPECT_EQ(engine_->ticket(t.id)->ticket.status, TicketStatus::open);
  ASSERT_TRUE(engine_->add_note(t.id, "desk:alice", "asked the tenant by phone"));
  EXPECT_FALSE(engine_->add_note(t.id, "desk:alice", ""));
  EXPECT_EQ(engine_->add_note(999, "desk:alice", "x").error().message, "no ticket 999");
  EXPECT_EQ(engine_->set_status(t.id, TicketStatus::resolved, "desk:bob", "kit removed")->status,
            TicketStatus::resolved);
  EXPECT_EQ(audit_actions("ticket", t.id),
            (std::vector<std::string>{"opened", "notified", "note", "status"}));
  const auto trail = abuse_store_->audit_trail("ticket", t.id);
  EXPECT_EQ(trail.back().actor, "desk:bob");
  EXPECT_EQ(trail.back().text, "open -> resolved: kit removed");
  n.tenant_id = "ghost";
  EXPECT_EQ(engine_->open_ticket(n).error().message, "no tenant 'ghost'");
  n.tenant_id = "quiet";
  n.hosts = {"not-an-address"};
  EXPECT_FALSE(engine_->open_ticket(n));
}

TEST_F(AbuseEngineTest, AResolvedTicketsSignalsDoNotReopenItButNewOnesOpenAFreshTicket) {
  signal("acme", SignalKind::egress, "198.18.1.10", 1, "attempts");
  const auto first = tickets("acme").at(0);
  ASSERT_TRUE(engine_->set_status(first.id, TicketStatus::resolved, "desk:alice", "cleaned"));
  clock_.advance(std::chrono::hours(25));
  signal("acme", SignalKind::egress, "198.18.1.10", 1, "attempts again");
  const auto all = tickets("acme");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(engine_->ticket(all[0].id)->signals.size(), 1u);
}

// ---- exception requests ----

TEST_F(AbuseEngineTest, ARequestMustNameAHostOfTheTenantAndNotRepeatAnOpenOne) {
  NewException e;
  e.tenant_id = "acme";
  e.prefix = "198.18.9.1";
  e.reason = "own MTA";
  e.actor = "tenant:acme";
  EXPECT_NE(engine_->request_exception(e).error().message.find("not inside a subnet"),
            std::string::npos);
  e.tenant_id = "ghost";
  EXPECT_EQ(engine_->request_exception(e).error().message, "no tenant 'ghost'");
  const auto first = request("198.18.1.20");
  const auto again = engine_->request_exception([&] {
    NewException d = e;
    d.tenant_id = "acme";
    d.prefix = "198.18.1.16/28";
    return d;
  }());
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "conflict: exception request " + std::to_string(first.id) +
                                       " for 198.18.1.20/32 is already pending");
  EXPECT_EQ(audit_actions("exception", first.id), std::vector<std::string>{"requested"});
}

TEST_F(AbuseEngineTest, ApprovalExemptsTheHostAndExpiryRestoresWhatWasThere) {
  store::HostOverride before;
  before.prefix = net::Prefix::parse("198.18.1.20").value();
  before.mode = store::Port25Mode::redirect;
  before.reason = "relay it";
  ASSERT_TRUE(store_->set_host_override("acme", before));
  const auto r = request();
  const int changes = changes_;
  const auto approved = engine_->approve(r.id, "desk:alice", 60, "rDNS checked").value();
  EXPECT_EQ(approved.status, ExceptionStatus::approved);
  EXPECT_EQ(approved.expires_at, clock_.unix_now() + 60);
  EXPECT_EQ(override_of("acme", "198.18.1.20/32")->mode, store::Port25Mode::exempt);
  EXPECT_EQ(changes_, changes + 1);
  EXPECT_NE(engine_->approve(r.id, "desk:alice", 60, "").error().message.find("not pending"),
            std::string::npos);

  clock_.advance(std::chrono::seconds(59));
  engine_->tick();
  EXPECT_EQ(engine_->exception(r.id)->request.status, ExceptionStatus::approved);
  clock_.advance(std::chrono::seconds(1));
  engine_->tick();
  const auto review = engine_->exception(r.id).value();
  EXPECT_EQ(review.request.status, ExceptionStatus::expired);
  const auto restored = override_of("acme", "198.18.1.20/32");
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->mode, store::Port25Mode::redirect);
  EXPECT_EQ(restored->reason, "relay it");
  EXPECT_EQ(changes_, changes + 2);
  std::vector<std::string> actions;
  for (const auto& a : review.audit) {
    actions.push_back(a.action);
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"requested", "approved", "expired"}));
  EXPECT_EQ(review.audit[0].actor, "tenant:acme");
  EXPECT_EQ(review.audit[1].actor, "desk:alice");
  EXPECT_EQ(review.audit[2].actor, "auto");
  EXPECT_EQ(review.reputation.tenant_id, "acme");
}

TEST_F(AbuseEngineTest, DenyAndRevokeNeedAReasonAndRevokeRemovesTheExemption) {
  const auto denied = request("198.18.1.21");
  EXPECT_FALSE(engine_->deny(denied.id, "desk:alice", ""));
  EXPECT_EQ(engine_->deny(denied.id, "desk:alice", "no rDNS")->status, ExceptionStatus::denied);
  EXPECT_FALSE(override_of("acme", "198.18.1.21/32"));
  EXPECT_NE(engine_->revoke(denied.id, "desk:alice", "x").error().message.find("not approved"),
            std::string::npos);

  const auto r = request("198.18.1.22");
  ASSERT_TRUE(engine_->approve(r.id, "desk:alice", std::nullopt, ""));
  EXPECT_EQ(engine_->exception(r.id)->request.expires_at, std::nullopt);
  engine_->tick();
  EXPECT_EQ(engine_->exception(r.id)->request.status, ExceptionStatus::approved);
  EXPECT_EQ(engine_->revoke(r.id, "desk:bob", "complaints")->status, ExceptionStatus::revoked);
  EXPECT_FALSE(override_of("acme", "198.18.1.22/32"));
  const auto review = engine_->exception(r.id).value();
  EXPECT_EQ(review.audit.back().action, "revoked");
  EXPECT_EQ(review.audit.back().text, "complaints");
  ASSERT_EQ(review.history.size(), 1u);
  EXPECT_EQ(review.history[0].id, denied.id);
}

TEST_F(AbuseEngineTest, ATicketNamingAnExemptHostRevokesItsExceptionAndRevertReinstatesIt) {
  config_.abuse.actions["compromised_host"] = config::AbuseAction::none;
  const auto r = request("198.18.1.20");
  ASSERT_TRUE(engine_->approve(r.id, "desk:alice", std::nullopt, ""));
  signal("acme", SignalKind::egress, "198.18.1.20", 1,
         "198.18.1.20 made 500 direct port-25 attempts");
  EXPECT_EQ(engine_->exception(r.id)->request.status, ExceptionStatus::revoked);
  EXPECT_FALSE(override_of("acme", "198.18.1.20/32"));
  const auto t = tickets("acme").at(0);
  auto detail = engine_->ticket(t.id).value();
  ASSERT_EQ(detail.actions.size(), 1u);
  EXPECT_EQ(detail.actions[0].kind, store::ActionKind::revoke_exception);
  EXPECT_EQ(detail.actions[0].target, std::to_string(r.id));

  ASSERT_TRUE(engine_->revert(t.id, detail.actions[0].id, "desk:alice"));
  EXPECT_EQ(engine_->exception(r.id)->request.status, ExceptionStatus::approved);
  EXPECT_EQ(override_of("acme", "198.18.1.20/32")->mode, store::Port25Mode::exempt);
}

}  // namespace
}  // namespace portcullis::abuse
