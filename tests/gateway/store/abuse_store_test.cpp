#include "gateway/core/store/abuse_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <ctime>
#include <filesystem>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "gateway/core/store/abuse_types.hpp"
#include "gateway/core/store/migrations.hpp"
#include "gateway/core/store/sqlite.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::store {
namespace {

namespace fs = std::filesystem;

fs::path make_temp_dir() {
  std::string pattern = (fs::path(testing::TempDir()) / "portcullis-abuse-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  return pattern;
}

unsigned mode_of(const fs::path& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::int64_t now() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

// ---- names ----

TEST(AbuseTypes, EveryNameRoundTrips) {
  ASSERT_EQ(all_signal_kinds().size(), 7u);
  std::vector<std::string> names;
  for (const auto kind : all_signal_kinds()) {
    names.emplace_back(to_string(kind));
    EXPECT_EQ(parse_signal_kind(to_string(kind)), kind);
  }
  EXPECT_EQ(names,
            (std::vector<std::string>{"dnsbl", "complaint", "bounce_rate", "unknown_recipients",
                                      "rbl_rejection", "egress", "volume"}));
  for (const auto c : {TicketCategory::spam, TicketCategory::compromised_host,
                       TicketCategory::blacklisting, TicketCategory::complaint}) {
    EXPECT_EQ(parse_ticket_category(to_string(c)), c);
  }
  EXPECT_EQ(to_string(TicketCategory::compromised_host), "compromised_host");
  for (const auto s :
       {TicketStatus::open, TicketStatus::waiting, TicketStatus::resolved, TicketStatus::closed}) {
    EXPECT_EQ(parse_ticket_status(to_string(s)), s);
  }
  for (const auto k : {ActionKind::throttle, ActionKind::suspend, ActionKind::block_host,
                       ActionKind::revoke_exception}) {
    EXPECT_EQ(parse_action_kind(to_string(k)), k);
  }
  EXPECT_EQ(to_string(ActionKind::revoke_exception), "revoke_exception");
  for (const auto s : {ExceptionStatus::pending, ExceptionStatus::approved, ExceptionStatus::denied,
                       ExceptionStatus::revoked, ExceptionStatus::expired}) {
    EXPECT_EQ(parse_exception_status(to_string(s)), s);
  }
  for (const auto k : {ReportKind::arf, ReportKind::xarf, ReportKind::dsn, ReportKind::unknown}) {
    EXPECT_EQ(parse_report_kind(to_string(k)), k);
  }
  for (const auto s : {ReportStatus::received, ReportStatus::attributed, ReportStatus::unattributed,
                       ReportStatus::rejected}) {
    EXPECT_EQ(parse_report_status(to_string(s)), s);
  }
  EXPECT_EQ(to_string(ReportStatus::unattributed), "unattributed");
}

TEST(AbuseTypes, ParsingRefusesOtherWords) {
  EXPECT_FALSE(parse_signal_kind("DNSBL"));
  EXPECT_FALSE(parse_signal_kind(""));
  EXPECT_FALSE(parse_ticket_category("compromised-host"));
  EXPECT_FALSE(parse_ticket_status("opened"));
  EXPECT_FALSE(parse_action_kind("block"));
  EXPECT_FALSE(parse_exception_status("approved "));
  EXPECT_FALSE(parse_report_kind("ARF"));
  EXPECT_FALSE(parse_report_status("new"));
}

TEST(AbuseTypes, CategoryOfEachSignalKind) {
  EXPECT_EQ(category_of(SignalKind::dnsbl), TicketCategory::blacklisting);
  EXPECT_EQ(category_of(SignalKind::complaint), TicketCategory::complaint);
  EXPECT_EQ(category_of(SignalKind::egress), TicketCategory::compromised_host);
  EXPECT_EQ(category_of(SignalKind::bounce_rate), TicketCategory::spam);
  EXPECT_EQ(category_of(SignalKind::unknown_recipients), TicketCategory::spam);
  EXPECT_EQ(category_of(SignalKind::rbl_rejection), TicketCategory::spam);
  EXPECT_EQ(category_of(SignalKind::volume), TicketCategory::spam);
  EXPECT_TRUE(is_active(TicketStatus::open));
  EXPECT_TRUE(is_active(TicketStatus::waiting));
  EXPECT_FALSE(is_active(TicketStatus::resolved));
  EXPECT_FALSE(is_active(TicketStatus::closed));
}

// ---- the store ----

Signal make_signal(std::string tenant,
                   SignalKind kind,
                   std::int64_t time,
                   std::string host = "",
                   std::string evidence = "") {
  Signal s;
  s.tenant_id = std::move(tenant);
  s.kind = kind;
  s.time = time;
  s.host = std::move(host);
  s.evidence = std::move(evidence);
  return s;
}

Ticket make_ticket(std::string tenant,
                   TicketCategory category = TicketCategory::spam,
                   TicketStatus status = TicketStatus::open) {
  Ticket t;
  t.tenant_id = std::move(tenant);
  t.category = category;
  t.status = status;
  t.summary = "summary of " + t.tenant_id;
  t.opened_by = "auto";
  return t;
}

ExceptionRequest make_exception(std::string tenant, const char* prefix) {
  ExceptionRequest r;
  r.tenant_id = std::move(tenant);
  r.prefix = net::Prefix::parse(prefix).value();
  r.reason = "our own MX";
  r.use_case = "transactional mail from a mail server we run";
  r.reverse_dns = "mx1.acme.example";
  r.expected_volume = 5000;
  r.requested_by = "tenant:acme";
  return r;
}

class AbuseStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = make_temp_dir();
    state_dir_ = root_ / "state";
    // The Store creates and migrates state.db; the abuse store only opens it.
    store_ = Store::open(state_dir_);
    abuse_ = AbuseStore::open(state_dir_);
  }
  void TearDown() override {
    abuse_.reset();
    store_.reset();
    fs::remove_all(root_);
  }
  void reopen() {
    abuse_.reset();
    store_.reset();
    store_ = Store::open(state_dir_);
    abuse_ = AbuseStore::open(state_dir_);
  }
  Ticket open(Ticket t, std::string_view note = "") {
    auto opened = abuse_->open_ticket(std::move(t), note);
    EXPECT_TRUE(opened) << (opened ? "" : opened.error().message);
    return opened ? *opened : Ticket{};
  }
  static std::vector<std::int64_t> ids(const std::vector<Ticket>& tickets) {
    std::vector<std::int64_t> out;
    for (const auto& t : tickets) {
      out.push_back(t.id);
    }
    return out;
  }

  fs::path root_;
  fs::path state_dir_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AbuseStore> abuse_;
};

TEST_F(AbuseStoreTest, SignalsRoundTripOldestFirstPerTenant) {
  auto late = abuse_->add_signal(
      make_signal("acme", SignalKind::dnsbl, 300, "198.18.0.5", "listed by zen: 127.0.0.2"));
  ASSERT_TRUE(late) << late.error().message;
  EXPECT_GT(late->id, 0);
  auto early = make_signal("acme", SignalKind::bounce_rate, 100);
  early.strength = 2.5;
  ASSERT_TRUE(abuse_->add_signal(early));
  ASSERT_TRUE(abuse_->add_signal(make_signal("beta", SignalKind::complaint, 200)));
  ASSERT_TRUE(abuse_->add_signal(make_signal("", SignalKind::dnsbl, 250, "192.0.2.1")));

  const auto acme = abuse_->signals("acme", 0);
  ASSERT_EQ(acme.size(), 2u);
  EXPECT_EQ(acme[0].kind, SignalKind::bounce_rate);
  EXPECT_EQ(acme[0].time, 100);
  EXPECT_DOUBLE_EQ(acme[0].strength, 2.5);
  EXPECT_FALSE(acme[0].ticket_id);
  EXPECT_EQ(acme[1].id, late->id);
  EXPECT_EQ(acme[1].host, "198.18.0.5");
  EXPECT_EQ(acme[1].evidence, "listed by zen: 127.0.0.2");
  EXPECT_DOUBLE_EQ(acme[1].strength, 1.0);

  // since is inclusive.
  EXPECT_EQ(abuse_->signals("acme", 300).size(), 1u);
  EXPECT_TRUE(abuse_->signals("acme", 301).empty());
  // "" is the gateway's own, not "every tenant".
  const auto gateway = abuse_->signals("", 0);
  ASSERT_EQ(gateway.size(), 1u);
  EXPECT_EQ(gateway[0].host, "192.0.2.1");
  EXPECT_TRUE(abuse_->signals("nobody", 0).empty());
}

TEST_F(AbuseStoreTest, SignalTimeZeroIsNowAndStrengthMustBeFinite) {
  const auto before = now();
  auto signal = abuse_->add_signal(make_signal("acme", SignalKind::volume, 0));
  ASSERT_TRUE(signal);
  EXPECT_GE(signal->time, before);
  EXPECT_LE(signal->time, now());

  auto bad = make_signal("acme", SignalKind::volume, 5);
  bad.strength = std::nan("");
  EXPECT_FALSE(abuse_->add_signal(bad));
  bad.strength = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(abuse_->add_signal(bad));

  auto orphan = make_signal("acme", SignalKind::volume, 5);
  orphan.ticket_id = 999;
  const auto refused = abuse_->add_signal(orphan);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "no ticket 999");
  EXPECT_EQ(abuse_->signals("acme", 0).size(), 1u);
}

TEST_F(AbuseStoreTest, LastSignalPicksTheNewestOfTenantKindAndHost) {
  EXPECT_FALSE(abuse_->last_signal("acme", SignalKind::dnsbl, "198.18.0.5"));
  for (const std::int64_t t : {10, 30, 20}) {
    ASSERT_TRUE(abuse_->add_signal(
        make_signal("acme", SignalKind::dnsbl, t, "198.18.0.5", "at " + std::to_string(t))));
  }
  // Newer, but each differs in one of tenant, kind or host.
  ASSERT_TRUE(abuse_->add_signal(make_signal("acme", SignalKind::dnsbl, 50, "198.18.0.6")));
  ASSERT_TRUE(abuse_->add_signal(make_signal("acme", SignalKind::egress, 50, "198.18.0.5")));
  ASSERT_TRUE(abuse_->add_signal(make_signal("beta", SignalKind::dnsbl, 50, "198.18.0.5")));
  ASSERT_TRUE(abuse_->add_signal(make_signal("acme", SignalKind::dnsbl, 50, "")));

  const auto last = abuse_->last_signal("acme", SignalKind::dnsbl, "198.18.0.5");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->time, 30);
  EXPECT_EQ(last->evidence, "at 30");
  const auto whole = abuse_->last_signal("acme", SignalKind::dnsbl, "");
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->time, 50);
  EXPECT_FALSE(abuse_->last_signal("acme", SignalKind::complaint, "198.18.0.5"));

  // Same time: the later one stored wins.
  ASSERT_TRUE(
      abuse_->add_signal(make_signal("acme", SignalKind::dnsbl, 30, "198.18.0.5", "again")));
  EXPECT_EQ(abuse_->last_signal("acme", SignalKind::dnsbl, "198.18.0.5")->evidence, "again");
}

TEST_F(AbuseStoreTest, TicketRoundTripNormalizesHostsAndAuditsTheOpening) {
  auto t = make_ticket("acme", TicketCategory::compromised_host);
  t.hosts = {"198.18.0.9", "198.18.0.10", "", "198.18.0.9", "fd00::1"};
  t.opened_by = "desk:alice";
  t.opened_at = 1000;
  t.notified_at = 0;
  const auto opened = open(t, "port 25 storm from two hosts");
  EXPECT_GT(opened.id, 0);
  EXPECT_EQ(opened.hosts, (std::vector<std::string>{"198.18.0.10", "198.18.0.9", "fd00::1"}));
  EXPECT_EQ(opened.opened_at, 1000);
  EXPECT_EQ(opened.updated_at, 1000);

  const auto got = abuse_->get_ticket(opened.id);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->tenant_id, "acme");
  EXPECT_EQ(got->category, TicketCategory::compromised_host);
  EXPECT_EQ(got->status, TicketStatus::open);
  EXPECT_EQ(got->hosts, opened.hosts);
  EXPECT_EQ(got->summary, "summary of acme");
  EXPECT_EQ(got->opened_by, "desk:alice");
  EXPECT_EQ(got->opened_at, 1000);
  EXPECT_EQ(got->updated_at, 1000);
  EXPECT_EQ(got->notified_at, 0);
  EXPECT_EQ(got->reminders, 0);

  const auto trail = abuse_->audit_trail("ticket", opened.id);
  ASSERT_EQ(trail.size(), 1u);
  EXPECT_EQ(trail[0].action, "opened");
  EXPECT_EQ(trail[0].actor, "desk:alice");
  EXPECT_EQ(trail[0].time, 1000);
  EXPECT_EQ(trail[0].text, "port 25 storm from two hosts");

  // opened_at 0 = now.
  const auto before = now();
  const auto fresh = open(make_ticket("beta"));
  EXPECT_GE(fresh.opened_at, before);
  EXPECT_EQ(fresh.updated_at, fresh.opened_at);
  EXPECT_TRUE(abuse_->get_ticket(fresh.id)->hosts.empty());

  const auto missing = abuse_->get_ticket(9999);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no ticket 9999");
}

TEST_F(AbuseStoreTest, OpenTicketRefusesBadInput) {
  auto nobody = make_ticket("acme");
  nobody.opened_by = "";
  EXPECT_FALSE(abuse_->open_ticket(nobody, ""));
  auto forged = make_ticket("acme");
  forged.hosts = {"198.18.0.1\n198.18.0.2"};
  const auto refused = abuse_->open_ticket(forged, "");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("control characters"), std::string::npos);
  EXPECT_TRUE(abuse_->list_tickets({}).empty());
}

TEST_F(AbuseStoreTest, ListTicketsFilters) {
  const auto a1 = open(make_ticket("acme", TicketCategory::spam)).id;
  const auto a2 = open(make_ticket("acme", TicketCategory::complaint, TicketStatus::resolved)).id;
  const auto b1 = open(make_ticket("beta", TicketCategory::spam, TicketStatus::waiting)).id;
  const auto g1 = open(make_ticket("", TicketCategory::blacklisting)).id;

  // Newest first.
  EXPECT_EQ(ids(abuse_->list_tickets({})), (std::vector<std::int64_t>{g1, b1, a2, a1}));
  EXPECT_EQ(ids(abuse_->list_tickets({.tenant_id = "acme"})), (std::vector<std::int64_t>{a2, a1}));
  EXPECT_EQ(ids(abuse_->list_tickets({.tenant_id = "acme", .any_tenant = false})),
            (std::vector<std::int64_t>{a2, a1}));
  // any_tenant false with "": the gateway's own tickets only.
  EXPECT_EQ(ids(abuse_->list_tickets({.tenant_id = "", .any_tenant = false})),
            (std::vector<std::int64_t>{g1}));
  EXPECT_EQ(ids(abuse_->list_tickets({.status = TicketStatus::open})),
            (std::vector<std::int64_t>{g1, a1}));
  EXPECT_EQ(ids(abuse_->list_tickets({.category = TicketCategory::spam})),
            (std::vector<std::int64_t>{b1, a1}));
  EXPECT_EQ(ids(abuse_->list_tickets({.tenant_id = "acme",
                                      .status = TicketStatus::resolved,
                                      .category = TicketCategory::complaint})),
            (std::vector<std::int64_t>{a2}));
  EXPECT_TRUE(abuse_->list_tickets({.tenant_id = "acme", .category = TicketCategory::blacklisting})
                  .empty());
  EXPECT_TRUE(abuse_->list_tickets({.tenant_id = "nobody", .any_tenant = false}).empty());
  EXPECT_EQ(ids(abuse_->list_tickets({.limit = 2})), (std::vector<std::int64_t>{g1, b1}));
  EXPECT_TRUE(abuse_->list_tickets({.limit = 0}).empty());
}

TEST_F(AbuseStoreTest, ActiveTicketIsTheOpenOrWaitingOneOfTheCategory) {
  EXPECT_FALSE(abuse_->active_ticket("acme", TicketCategory::spam));
  open(make_ticket("acme", TicketCategory::spam, TicketStatus::resolved));
  open(make_ticket("acme", TicketCategory::spam, TicketStatus::closed));
  open(make_ticket("acme", TicketCategory::complaint, TicketStatus::open));
  open(make_ticket("beta", TicketCategory::spam, TicketStatus::open));
  open(make_ticket("", TicketCategory::spam, TicketStatus::open));
  EXPECT_FALSE(abuse_->active_ticket("acme", TicketCategory::spam));

  const auto waiting = open(make_ticket("acme", TicketCategory::spam, TicketStatus::waiting));
  auto active = abuse_->active_ticket("acme", TicketCategory::spam);
  ASSERT_TRUE(active);
  EXPECT_EQ(active->id, waiting.id);
  EXPECT_EQ(active->status, TicketStatus::waiting);

  auto resolved = *active;
  resolved.status = TicketStatus::resolved;
  ASSERT_TRUE(abuse_->update_ticket(resolved));
  EXPECT_FALSE(abuse_->active_ticket("acme", TicketCategory::spam));
  // The gateway's own ("") is a tenant like any other here.
  ASSERT_TRUE(abuse_->active_ticket("", TicketCategory::spam));
  EXPECT_EQ(abuse_->active_ticket("", TicketCategory::spam)->tenant_id, "");
}

TEST_F(AbuseStoreTest, UpdateTicketReplacesTheMutableFields) {
  auto t = make_ticket("acme", TicketCategory::blacklisting);
  t.opened_at = 100;
  const auto opened = open(t);

  auto changed = opened;
  changed.status = TicketStatus::waiting;
  changed.hosts = {"198.18.0.7", "198.18.0.3", "198.18.0.7"};
  changed.summary = "listed on two zones";
  changed.notified_at = 500;
  changed.reminders = 2;
  // Not replaced by update_ticket:
  changed.tenant_id = "beta";
  changed.category = TicketCategory::spam;
  changed.opened_by = "desk:mallory";
  changed.opened_at = 1;
  const auto before = now();
  ASSERT_TRUE(abuse_->update_ticket(changed));

  const auto got = abuse_->get_ticket(opened.id).value();
  EXPECT_EQ(got.status, TicketStatus::waiting);
  EXPECT_EQ(got.hosts, (std::vector<std::string>{"198.18.0.3", "198.18.0.7"}));
  EXPECT_EQ(got.summary, "listed on two zones");
  EXPECT_EQ(got.notified_at, 500);
  EXPECT_EQ(got.reminders, 2);
  EXPECT_GE(got.updated_at, before);
  EXPECT_EQ(got.tenant_id, "acme");
  EXPECT_EQ(got.category, TicketCategory::blacklisting);
  EXPECT_EQ(got.opened_by, "auto");
  EXPECT_EQ(got.opened_at, 100);

  auto ghost = changed;
  ghost.id = 9999;
  const auto missing = abuse_->update_ticket(ghost);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no ticket 9999");
  changed.hosts = {"bad\rhost"};
  EXPECT_FALSE(abuse_->update_ticket(changed));
}

TEST_F(AbuseStoreTest, AttachSignalAndTicketDetail) {
  auto t = make_ticket("acme", TicketCategory::spam);
  t.opened_at = 100;
  const auto ticket = open(t, "bounce rate 12%");
  const auto s2 = abuse_->add_signal(make_signal("acme", SignalKind::bounce_rate, 200)).value();
  const auto s1 =
      abuse_->add_signal(make_signal("acme", SignalKind::unknown_recipients, 150)).value();
  auto direct = make_signal("acme", SignalKind::volume, 300);
  direct.ticket_id = ticket.id;
  const auto s3 = abuse_->add_signal(direct).value();
  const auto loose = abuse_->add_signal(make_signal("acme", SignalKind::volume, 400)).value();

  ASSERT_TRUE(abuse_->attach_signal(s2.id, ticket.id));
  ASSERT_TRUE(abuse_->attach_signal(s1.id, ticket.id));
  const auto no_ticket = abuse_->attach_signal(loose.id, 9999);
  ASSERT_FALSE(no_ticket);
  EXPECT_EQ(no_ticket.error().message, "no ticket 9999");
  const auto no_signal = abuse_->attach_signal(9999, ticket.id);
  ASSERT_FALSE(no_signal);
  EXPECT_EQ(no_signal.error().message, "no signal 9999");

  ASSERT_TRUE(abuse_->audit({.time = 250,
                             .actor = "auto",
                             .subject = "ticket",
                             .subject_id = ticket.id,
                             .action = "signal",
                             .text = "bounce_rate attached"}));
  const auto action = abuse_->add_action({.ticket_id = ticket.id,
                                          .kind = ActionKind::throttle,
                                          .target = "",
                                          .previous = R"({"messages_per_minute":null})",
                                          .applied_at = 260});
  ASSERT_TRUE(action) << action.error().message;

  const auto detail = abuse_->ticket_detail(ticket.id);
  ASSERT_TRUE(detail) << detail.error().message;
  EXPECT_EQ(detail->ticket.id, ticket.id);
  ASSERT_EQ(detail->signals.size(), 3u);  // oldest first, not the loose one
  EXPECT_EQ(detail->signals[0].id, s1.id);
  EXPECT_EQ(detail->signals[1].id, s2.id);
  EXPECT_EQ(detail->signals[2].id, s3.id);
  for (const auto& s : detail->signals) {
    EXPECT_EQ(s.ticket_id, ticket.id);
  }
  ASSERT_EQ(detail->actions.size(), 1u);
  EXPECT_EQ(detail->actions[0].id, action->id);
  EXPECT_EQ(detail->actions[0].previous, R"({"messages_per_minute":null})");
  ASSERT_EQ(detail->history.size(), 2u);
  EXPECT_EQ(detail->history[0].action, "opened");
  EXPECT_EQ(detail->history[0].text, "bounce rate 12%");
  EXPECT_EQ(detail->history[1].action, "signal");

  EXPECT_FALSE(abuse_->signals("acme", 0)[3].ticket_id);  // the loose one stays loose
  EXPECT_FALSE(abuse_->ticket_detail(9999));
}

TEST_F(AbuseStoreTest, ActionsRecordWhatTheyReplacedAndTheirRevert) {
  const auto ticket = open(make_ticket("acme", TicketCategory::compromised_host));
  const auto before = now();
  auto block = abuse_->add_action({.ticket_id = ticket.id,
                                   .kind = ActionKind::block_host,
                                   .target = "198.18.0.9/32",
                                   .previous = R"({"mode":"exempt","reason":"own MX"})"});
  ASSERT_TRUE(block) << block.error().message;
  EXPECT_GT(block->id, 0);
  EXPECT_GE(block->applied_at, before);
  EXPECT_FALSE(block->reverted_at);
  const auto suspend =
      abuse_->add_action({.ticket_id = ticket.id, .kind = ActionKind::suspend, .applied_at = 7});
  ASSERT_TRUE(suspend);

  const auto orphan = abuse_->add_action({.ticket_id = 9999, .kind = ActionKind::throttle});
  ASSERT_FALSE(orphan);
  EXPECT_EQ(orphan.error().message, "no ticket 9999");

  ASSERT_TRUE(abuse_->mark_action_reverted(block->id, "desk:alice"));
  const auto again = abuse_->mark_action_reverted(block->id, "desk:bob");
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("already reverted"), std::string::npos);
  const auto missing = abuse_->mark_action_reverted(9999, "desk:bob");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no action 9999");

  const auto actions = abuse_->ticket_detail(ticket.id).value().actions;
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].kind, ActionKind::block_host);
  EXPECT_EQ(actions[0].target, "198.18.0.9/32");
  EXPECT_EQ(actions[0].previous, R"({"mode":"exempt","reason":"own MX"})");
  ASSERT_TRUE(actions[0].reverted_at);
  EXPECT_GE(*actions[0].reverted_at, before);
  EXPECT_EQ(actions[0].reverted_by, "desk:alice");
  EXPECT_EQ(actions[1].kind, ActionKind::suspend);
  EXPECT_EQ(actions[1].applied_at, 7);
  EXPECT_FALSE(actions[1].reverted_at);
  EXPECT_EQ(actions[1].reverted_by, "");
}

TEST_F(AbuseStoreTest, ExceptionRequestsRoundTripListAndUpdate) {
  const auto before = now();
  auto first = abuse_->add_exception(make_exception("acme", "198.18.0.25"));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_GT(first->id, 0);
  EXPECT_GE(first->requested_at, before);
  auto v6 = make_exception("acme", "fd00:1::/64");
  v6.requested_at = 42;
  const auto second = abuse_->add_exception(v6).value();
  const auto other = abuse_->add_exception(make_exception("beta", "198.19.0.0/24")).value();

  const auto got = abuse_->get_exception(second.id);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->tenant_id, "acme");
  EXPECT_EQ(got->prefix.to_string(), "fd00:1::/64");
  EXPECT_EQ(got->reason, "our own MX");
  EXPECT_EQ(got->use_case, "transactional mail from a mail server we run");
  EXPECT_EQ(got->reverse_dns, "mx1.acme.example");
  EXPECT_EQ(got->expected_volume, 5000u);
  EXPECT_EQ(got->status, ExceptionStatus::pending);
  EXPECT_EQ(got->requested_by, "tenant:acme");
  EXPECT_EQ(got->requested_at, 42);
  EXPECT_EQ(got->decided_by, "");
  EXPECT_EQ(got->decided_at, 0);
  EXPECT_FALSE(got->expires_at);
  EXPECT_EQ(abuse_->get_exception(first->id)->prefix.to_string(), "198.18.0.25/32");

  auto approved = *got;
  approved.status = ExceptionStatus::approved;
  approved.decided_by = "desk:alice";
  approved.decided_at = 50;
  approved.decision_reason = "PTR and SPF check out";
  approved.expires_at = 86400 * 90;
  approved.previous_mode = "block";
  approved.previous_reason = "default";
  approved.reason = "not replaced";
  ASSERT_TRUE(abuse_->update_exception(approved));
  const auto decided = abuse_->get_exception(second.id).value();
  EXPECT_EQ(decided.status, ExceptionStatus::approved);
  EXPECT_EQ(decided.decided_by, "desk:alice");
  EXPECT_EQ(decided.decided_at, 50);
  EXPECT_EQ(decided.decision_reason, "PTR and SPF check out");
  EXPECT_EQ(decided.expires_at, 86400 * 90);
  EXPECT_EQ(decided.previous_mode, "block");
  EXPECT_EQ(decided.previous_reason, "default");
  EXPECT_EQ(decided.reason, "our own MX");

  auto until_revoked = decided;
  until_revoked.expires_at.reset();
  ASSERT_TRUE(abuse_->update_exception(until_revoked));
  EXPECT_FALSE(abuse_->get_exception(second.id)->expires_at);

  auto list_ids = [&](std::string_view tenant, std::optional<ExceptionStatus> status) {
    std::vector<std::int64_t> out;
    for (const auto& r : abuse_->list_exceptions(tenant, status)) {
      out.push_back(r.id);
    }
    return out;
  };
  // Newest first.
  EXPECT_EQ(list_ids("", std::nullopt),
            (std::vector<std::int64_t>{other.id, second.id, first->id}));
  EXPECT_EQ(list_ids("acme", std::nullopt), (std::vector<std::int64_t>{second.id, first->id}));
  EXPECT_EQ(list_ids("", ExceptionStatus::pending),
            (std::vector<std::int64_t>{other.id, first->id}));
  EXPECT_EQ(list_ids("acme", ExceptionStatus::approved), (std::vector<std::int64_t>{second.id}));
  EXPECT_TRUE(list_ids("beta", ExceptionStatus::approved).empty());

  auto ghost = decided;
  ghost.id = 9999;
  const auto missing = abuse_->update_exception(ghost);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no exception request 9999");
  EXPECT_FALSE(abuse_->get_exception(9999));
}

TEST_F(AbuseStoreTest, AuditTrailIsOldestFirstPerSubject) {
  ASSERT_TRUE(abuse_->audit({.time = 30,
                             .actor = "desk:alice",
                             .subject = "exception",
                             .subject_id = 1,
                             .action = "approved",
                             .text = "ok"}));
  ASSERT_TRUE(abuse_->audit(
      {.time = 10, .actor = "auto", .subject = "exception", .subject_id = 1, .action = "expired"}));
  ASSERT_TRUE(abuse_->audit(
      {.time = 20, .actor = "auto", .subject = "ticket", .subject_id = 1, .action = "note"}));
  ASSERT_TRUE(abuse_->audit(
      {.time = 5, .actor = "auto", .subject = "exception", .subject_id = 2, .action = "denied"}));
  const auto before = now();
  const auto stamped = abuse_->audit({.actor = "tenant:acme",
                                      .subject = "exception",
                                      .subject_id = 1,
                                      .action = "note",
                                      .text = "please hurry"});
  ASSERT_TRUE(stamped);
  EXPECT_GT(stamped->id, 0);
  EXPECT_GE(stamped->time, before);

  // In the order written (ids), whatever times the callers gave.
  const auto trail = abuse_->audit_trail("exception", 1);
  ASSERT_EQ(trail.size(), 3u);
  EXPECT_EQ(trail[0].action, "approved");
  EXPECT_EQ(trail[0].actor, "desk:alice");
  EXPECT_EQ(trail[0].text, "ok");
  EXPECT_EQ(trail[0].time, 30);
  EXPECT_EQ(trail[1].action, "expired");
  EXPECT_EQ(trail[2].id, stamped->id);
  EXPECT_EQ(trail[2].text, "please hurry");
  EXPECT_LT(trail[0].id, trail[1].id);
  EXPECT_EQ(abuse_->audit_trail("ticket", 1).size(), 1u);
  EXPECT_TRUE(abuse_->audit_trail("ticket", 2).empty());

  EXPECT_FALSE(abuse_->audit({.actor = "auto", .subject = "tenant", .action = "note"}));
  EXPECT_FALSE(abuse_->audit({.actor = "auto", .subject = "ticket", .action = ""}));
}

TEST_F(AbuseStoreTest, ReportsKeepRawBytesExactlyAndListWithoutThem) {
  std::string raw = "From: fbl@isp.example\r\nContent-Type: multipart/report\r\n\r\n";
  raw += std::string("\0\x01\x7f\x80\xfe\xff", 6);
  raw += "caf\xc3\xa9 \xe9\r\n.\r\n";
  raw.push_back('\0');
  InboundReport report;
  report.client_address = "192.0.2.7";
  report.mail_from = "fbl@isp.example";
  report.recipient = "abuse@relay.example";
  report.raw = raw;
  const auto before = now();
  const auto stored = abuse_->add_report(report);
  ASSERT_TRUE(stored) << stored.error().message;
  EXPECT_GT(stored->id, 0);
  EXPECT_GE(stored->received_at, before);

  const auto got = abuse_->get_report(stored->id);
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->raw.size(), raw.size());
  EXPECT_EQ(got->raw, raw);
  EXPECT_EQ(got->client_address, "192.0.2.7");
  EXPECT_EQ(got->mail_from, "fbl@isp.example");
  EXPECT_EQ(got->recipient, "abuse@relay.example");
  EXPECT_EQ(got->kind, ReportKind::unknown);
  EXPECT_EQ(got->status, ReportStatus::received);

  auto empty = report;
  empty.raw.clear();
  empty.received_at = 5;
  const auto second = abuse_->add_report(empty).value();
  EXPECT_EQ(abuse_->get_report(second.id)->raw, "");
  EXPECT_EQ(abuse_->get_report(second.id)->received_at, 5);

  auto parsed = *got;
  parsed.kind = ReportKind::arf;
  parsed.status = ReportStatus::attributed;
  parsed.tenant_id = "acme";
  parsed.summary = "abuse from 198.18.0.5, Message-ID <x@acme.example>";
  parsed.raw = "not replaced";
  parsed.mail_from = "not replaced";
  ASSERT_TRUE(abuse_->update_report(parsed));
  const auto updated = abuse_->get_report(stored->id).value();
  EXPECT_EQ(updated.kind, ReportKind::arf);
  EXPECT_EQ(updated.status, ReportStatus::attributed);
  EXPECT_EQ(updated.tenant_id, "acme");
  EXPECT_EQ(updated.summary, "abuse from 198.18.0.5, Message-ID <x@acme.example>");
  EXPECT_EQ(updated.raw, raw);
  EXPECT_EQ(updated.mail_from, "fbl@isp.example");

  const auto all = abuse_->list_reports(std::nullopt);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, second.id);  // newest first
  EXPECT_EQ(all[1].id, stored->id);
  EXPECT_EQ(all[1].summary, updated.summary);
  for (const auto& r : all) {
    EXPECT_TRUE(r.raw.empty()) << r.id;
  }
  const auto attributed = abuse_->list_reports(ReportStatus::attributed);
  ASSERT_EQ(attributed.size(), 1u);
  EXPECT_EQ(attributed[0].id, stored->id);
  EXPECT_EQ(abuse_->list_reports(ReportStatus::received).size(), 1u);
  EXPECT_TRUE(abuse_->list_reports(ReportStatus::rejected).empty());
  const auto one = abuse_->list_reports(std::nullopt, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].id, second.id);

  auto ghost = parsed;
  ghost.id = 9999;
  const auto missing = abuse_->update_report(ghost);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "no report 9999");
  EXPECT_FALSE(abuse_->get_report(9999));
}

TEST_F(AbuseStoreTest, EverythingSurvivesReopening) {
  auto t = make_ticket("acme", TicketCategory::blacklisting, TicketStatus::waiting);
  t.hosts = {"198.18.0.5"};
  const auto ticket = open(t, "listed");
  auto signal = make_signal("acme", SignalKind::dnsbl, 77, "198.18.0.5", "zen");
  signal.ticket_id = ticket.id;
  ASSERT_TRUE(abuse_->add_signal(signal));
  ASSERT_TRUE(abuse_->add_action(
      {.ticket_id = ticket.id, .kind = ActionKind::block_host, .target = "198.18.0.5/32"}));
  const auto exception = abuse_->add_exception(make_exception("acme", "198.18.0.25")).value();
  InboundReport report;
  report.raw = std::string("x\0y", 3);
  const auto stored = abuse_->add_report(report).value();

  reopen();

  const auto detail = abuse_->ticket_detail(ticket.id).value();
  EXPECT_EQ(detail.ticket.status, TicketStatus::waiting);
  EXPECT_EQ(detail.ticket.hosts, (std::vector<std::string>{"198.18.0.5"}));
  ASSERT_EQ(detail.signals.size(), 1u);
  EXPECT_EQ(detail.signals[0].evidence, "zen");
  ASSERT_EQ(detail.actions.size(), 1u);
  EXPECT_EQ(detail.actions[0].target, "198.18.0.5/32");
  ASSERT_EQ(detail.history.size(), 1u);
  EXPECT_EQ(detail.history[0].text, "listed");
  EXPECT_EQ(abuse_->get_exception(exception.id)->prefix.to_string(), "198.18.0.25/32");
  EXPECT_EQ(abuse_->get_report(stored.id)->raw, std::string("x\0y", 3));
  EXPECT_EQ(abuse_->last_signal("acme", SignalKind::dnsbl, "198.18.0.5")->time, 77);
  EXPECT_EQ(abuse_->active_ticket("acme", TicketCategory::blacklisting)->id, ticket.id);
}

TEST_F(AbuseStoreTest, StateFileStaysOwnerOnly) {
  InboundReport report;
  report.raw = "private";
  ASSERT_TRUE(abuse_->add_report(report));
  open(make_ticket("acme"));
  EXPECT_EQ(mode_of(state_dir_ / "state.db"), 0600u);
  if (fs::exists(state_dir_ / "state.db-wal")) {
    EXPECT_EQ(mode_of(state_dir_ / "state.db-wal"), 0600u);
  }
  // A file loosened behind our back is narrowed again when the abuse store opens it.
  abuse_.reset();
  ASSERT_EQ(::chmod((state_dir_ / "state.db").c_str(), 0644), 0);
  abuse_ = AbuseStore::open(state_dir_);
  EXPECT_EQ(mode_of(state_dir_ / "state.db"), 0600u);
}

TEST_F(AbuseStoreTest, ARemovedTenantLeavesItsAbuseRecords) {
  Tenant tenant;
  tenant.id = "acme";
  tenant.plan = "standard";
  tenant.subnets = {net::Prefix::parse("198.18.0.0/24").value()};
  ASSERT_TRUE(store_->add_tenant(tenant));
  const auto ticket = open(make_ticket("acme", TicketCategory::complaint), "fbl report");
  auto signal = make_signal("acme", SignalKind::complaint, 10);
  signal.ticket_id = ticket.id;
  ASSERT_TRUE(abuse_->add_signal(signal));
  ASSERT_TRUE(abuse_->add_action({.ticket_id = ticket.id, .kind = ActionKind::suspend}));
  const auto exception = abuse_->add_exception(make_exception("acme", "198.18.0.25")).value();
  ASSERT_TRUE(abuse_->audit({.actor = "desk:alice",
                             .subject = "exception",
                             .subject_id = exception.id,
                             .action = "approved"}));

  ASSERT_TRUE(store_->remove_tenant("acme"));
  EXPECT_FALSE(store_->get_tenant("acme"));

  const auto detail = abuse_->ticket_detail(ticket.id);
  ASSERT_TRUE(detail) << detail.error().message;
  EXPECT_EQ(detail->ticket.tenant_id, "acme");
  EXPECT_EQ(detail->signals.size(), 1u);
  EXPECT_EQ(detail->actions.size(), 1u);
  EXPECT_EQ(detail->history.size(), 1u);
  EXPECT_TRUE(abuse_->get_exception(exception.id));
  EXPECT_EQ(abuse_->audit_trail("exception", exception.id).size(), 1u);
  EXPECT_EQ(abuse_->list_tickets({.tenant_id = "acme"}).size(), 1u);
  // Nor does the tenant have to exist to be written about.
  EXPECT_TRUE(abuse_->add_signal(make_signal("acme", SignalKind::complaint, 20)));
}

TEST_F(AbuseStoreTest, WritesBesideTheStoreConnection) {
  // Two connections to one WAL database: the busy timeout lets both finish.
  std::thread tenants([&] {
    for (int i = 0; i < 20; ++i) {
      Tenant t;
      t.id = "t" + std::to_string(i);
      t.plan = "standard";
      EXPECT_TRUE(store_->add_tenant(t));
    }
  });
  for (int i = 0; i < 20; ++i) {
    EXPECT_TRUE(abuse_->add_signal(make_signal("t", SignalKind::volume, i + 1)));
  }
  tenants.join();
  EXPECT_EQ(abuse_->signals("t", 0).size(), 20u);
  EXPECT_EQ(store_->list_tenants().size(), 20u);
}

// ---- opening and the schema ----

TEST(AbuseStoreOpen, NeedsTheStoreToHaveCreatedStateDb) {
  const auto root = make_temp_dir();
  try {
    AbuseStore::open(root);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("does not exist"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(root / "state.db"));  // and it did not create one
  fs::remove_all(root);
}

TEST(AbuseStoreOpen, RefusesADatabaseBeforeTheAbuseMigration) {
  const auto root = make_temp_dir();
  {
    auto db = Database::open(root / "state.db").value();
    ASSERT_EQ(apply_migrations(db, state_migrations().first(8)).value(), 8);
  }
  try {
    AbuseStore::open(root);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("has schema version 8"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("open the Store first"), std::string::npos) << e.what();
  }
  // The Store brings it up to date; then the abuse store opens.
  auto store = Store::open(root);
  EXPECT_EQ(store->schema_version(), static_cast<int>(state_migrations().size()));
  EXPECT_TRUE(AbuseStore::open(root));
  fs::remove_all(root);
}

TEST(AbuseStoreMigration, UpgradesADatabaseAtVersionEightKeepingTenants) {
  const auto root = make_temp_dir();
  {
    auto db = Database::open(root / "state.db").value();
    ASSERT_EQ(apply_migrations(db, state_migrations().first(8)).value(), 8);
    ASSERT_TRUE(db.exec(
        "INSERT INTO tenants (id, plan, port25_mode, abuse_contact, status, status_reason, "
        "created_at, updated_at) VALUES ('old', 'standard', 'block', '', 'active', '', 5, 5)"));
  }
  auto store = Store::open(root);
  ASSERT_GE(store->schema_version(), 9);
  EXPECT_EQ(store->schema_version(), static_cast<int>(state_migrations().size()));
  EXPECT_TRUE(store->get_tenant("old"));
  auto abuse = AbuseStore::open(root);
  EXPECT_TRUE(abuse->open_ticket(make_ticket("old"), "after the upgrade"));

  // None of the abuse tables names tenants in a foreign key.
  auto db = Database::open(root / "state.db").value();
  for (const char* table :
       {"signals", "tickets", "ticket_actions", "exception_requests", "audit", "inbound_reports"}) {
    auto keys =
        db.prepare(std::string("SELECT \"table\" FROM pragma_foreign_key_list('") + table + "')")
            .value();
    while (keys.step().value()) {
      EXPECT_NE(keys.column_text(0), "tenants") << table;
    }
  }
  auto count = db.prepare(
                     "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                     "('signals', 'tickets', 'ticket_actions', 'exception_requests', 'audit', "
                     "'inbound_reports')")
                   .value();
  ASSERT_TRUE(count.step().value());
  EXPECT_EQ(count.column_int64(0), 6);
  fs::remove_all(root);
}

TEST(AbuseStoreMigration, ChecksRefuseWordsTheTypesDoNotKnow) {
  const auto root = make_temp_dir();
  auto store = Store::open(root);
  auto db = Database::open(root / "state.db").value();
  EXPECT_FALSE(db.exec(
      "INSERT INTO signals (tenant_id, kind, time, strength) VALUES ('a', 'rumour', 1, 1.0)"));
  EXPECT_FALSE(
      db.exec("INSERT INTO tickets (tenant_id, category, status, opened_by, opened_at, updated_at) "
              "VALUES ('a', 'spam', 'pending', 'auto', 1, 1)"));
  EXPECT_FALSE(db.exec(
      "INSERT INTO audit (time, actor, subject, subject_id, action) VALUES (1, 'a', 'tenant', 1, "
      "'x')"));
  // Every name the types produce passes the CHECKs.
  for (const auto kind : all_signal_kinds()) {
    auto insert =
        db.prepare("INSERT INTO signals (tenant_id, kind, time, strength) VALUES ('a', ?, 1, 1.0)")
            .value();
    EXPECT_TRUE(insert.bind(1, to_string(kind)).run()) << to_string(kind);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace portcullis::store
