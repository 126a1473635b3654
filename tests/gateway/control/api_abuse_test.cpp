#include "gateway/core/control/api_abuse.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <memory>

#include "gateway/core/abuse/abuse_desk.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;
using store::ExceptionStatus;
using store::TicketStatus;

class EmptyQueueView : public QueueView {
 public:
  std::vector<QueuedMessageSummary> list(std::size_t) const override { return {}; }
  std::optional<QueuedMessageDetail> get(std::string_view) const override { return std::nullopt; }
  std::size_t size() const override { return 0; }
  Result<bool> retry(std::string_view) override { return false; }
  Result<bool> remove(std::string_view) override { return false; }
};

// Knows tenant "acme" (and the gateway, ""), ticket 7, exception 3 and report
// 5; remembers the arguments of the last call; `fail` makes every call that
// can fail answer that sentence.
class FakeDesk : public abuse::AbuseDesk {
 public:
  std::string fail;
  mutable std::string last_tenant;
  mutable store::TicketFilter last_filter;
  mutable std::optional<ExceptionStatus> last_exception_status;
  mutable std::optional<store::ReportStatus> last_report_status;
  abuse::NewTicket last_ticket;
  abuse::NewException last_exception;
  std::int64_t last_id = 0;
  std::string last_actor;
  std::string last_text;
  std::optional<TicketStatus> last_status;
  std::optional<std::int64_t> last_action;
  std::optional<std::int64_t> last_expires;
  std::string report_raw = "From: fbl@isp.example\r\nSubject: spam\r\n\r\nbody\x01\xff\\\r\n";

  Result<abuse::Reputation> reputation(const std::string& tenant) const override {
    last_tenant = tenant;
    if (!fail.empty()) {
      return make_error(fail);
    }
    if (tenant != "acme" && !tenant.empty()) {
      return make_error("no tenant '" + tenant + "'");
    }
    abuse::Reputation r;
    r.tenant_id = tenant;
    r.score = 7.5;
    r.ticket_threshold = 10;
    r.window_seconds = 86400;
    r.terms = {{store::SignalKind::complaint, 3, 3.0, 2.0, 6.0},
               {store::SignalKind::bounce_rate, 1, 1.5, 1.0, 1.5}};
    r.recent = {signal()};
    r.tickets = {ticket()};
    return r;
  }

  Result<store::Ticket> open_ticket(const abuse::NewTicket& t) override {
    last_ticket = t;
    if (!fail.empty()) {
      return make_error(fail);
    }
    auto out = ticket();
    out.id = 8;
    out.tenant_id = t.tenant_id;
    out.category = t.category;
    out.hosts = t.hosts;
    out.summary = t.summary;
    out.opened_by = t.actor;
    return out;
  }

  std::vector<store::Ticket> list_tickets(const store::TicketFilter& filter) const override {
    last_filter = filter;
    return {ticket()};
  }

  Result<store::TicketDetail> ticket(std::int64_t id) const override {
    if (auto e = check(id, 7, "ticket")) {
      return *e;
    }
    store::TicketDetail d;
    d.ticket = ticket();
    d.signals = {signal()};
    d.actions = {store::TicketAction{.id = 2,
                                     .ticket_id = 7,
                                     .kind = store::ActionKind::throttle,
                                     .previous = "{}",
                                     .applied_at = 1700000100}};
    d.history = {store::AuditEntry{.id = 1,
                                   .time = 1700000000,
                                   .actor = "auto",
                                   .subject = "ticket",
                                   .subject_id = 7,
                                   .action = "opened",
                                   .text = "score 10 reached"}};
    return d;
  }

  Result<void> add_note(std::int64_t id,
                        const std::string& actor,
                        const std::string& text) override {
    record(id, actor, text);
    if (auto e = check(id, 7, "ticket")) {
      return *e;
    }
    return {};
  }

  Result<store::Ticket> set_status(std::int64_t id,
                                   TicketStatus status,
                                   const std::string& actor,
                                   const std::string& note) override {
    record(id, actor, note);
    last_status = status;
    if (auto e = check(id, 7, "ticket")) {
      return *e;
    }
    auto t = ticket();
    t.status = status;
    return t;
  }

  Result<store::TicketDetail> revert(std::int64_t id,
                                     std::optional<std::int64_t> action,
                                     const std::string& actor) override {
    record(id, actor, "");
    last_action = action;
    if (auto e = check(id, 7, "ticket")) {
      return *e;
    }
    return ticket(id);
  }

  Result<store::ExceptionRequest> request_exception(const abuse::NewException& e) override {
    last_exception = e;
    if (!fail.empty()) {
      return make_error(fail);
    }
    auto out = exception_request();
    out.id = 4;
    out.requested_by = e.actor;
    return out;
  }

  std::vector<store::ExceptionRequest> list_exceptions(
      const std::string& tenant, std::optional<ExceptionStatus> status) const override {
    last_tenant = tenant;
    last_exception_status = status;
    return {exception_request()};
  }

  Result<abuse::ExceptionReview> exception(std::int64_t id) const override {
    if (auto e = check(id, 3, "exception request")) {
      return *e;
    }
    abuse::ExceptionReview r;
    r.request = exception_request();
    r.reputation = *reputation("acme");
    r.audit = {store::AuditEntry{.id = 9,
                                 .time = 1700000000,
                                 .actor = "tenant:acme",
                                 .subject = "exception",
                                 .subject_id = 3,
                                 .action = "requested",
                                 .text = "newsletter host"}};
    return r;
  }

  Result<store::ExceptionRequest> approve(std::int64_t id,
                                          const std::string& actor,
                                          std::optional<std::int64_t> expires,
                                          const std::string& note) override {
    record(id, actor, note);
    last_expires = expires;
    return decided(id, ExceptionStatus::approved);
  }

  Result<store::ExceptionRequest> deny(std::int64_t id,
                                       const std::string& actor,
                                       const std::string& reason) override {
    record(id, actor, reason);
    return decided(id, ExceptionStatus::denied);
  }

  Result<store::ExceptionRequest> revoke(std::int64_t id,
                                         const std::string& actor,
                                         const std::string& reason) override {
    record(id, actor, reason);
    return decided(id, ExceptionStatus::revoked);
  }

  std::vector<store::InboundReport> list_reports(
      std::optional<store::ReportStatus> status) const override {
    last_report_status = status;
    return {report_summary()};
  }

  Result<store::InboundReport> report(std::int64_t id) const override {
    if (auto e = check(id, 5, "report")) {
      return *e;
    }
    auto r = report_summary();
    r.raw = report_raw;
    return r;
  }

 private:
  static store::Signal signal() {
    return {.id = 11,
            .tenant_id = "acme",
            .host = "198.18.1.10",
            .kind = store::SignalKind::complaint,
            .time = 1700000000,
            .strength = 1.0,
            .evidence = "Feedback-Type: abuse\nFrom: victim@isp.example",
            .ticket_id = 7};
  }
  static store::Ticket ticket() {
    return {.id = 7,
            .tenant_id = "acme",
            .category = store::TicketCategory::complaint,
            .hosts = {"198.18.1.10"},
            .summary = "complaints",
            .opened_by = "auto",
            .opened_at = 1700000000,
            .updated_at = 1700000050};
  }
  static store::ExceptionRequest exception_request() {
    store::ExceptionRequest e;
    e.id = 3;
    e.tenant_id = "acme";
    e.prefix = *net::Prefix::parse("198.18.1.20");
    e.reason = "own MTA";
    e.expected_volume = 500;
    e.requested_by = "tenant:acme";
    e.requested_at = 1700000000;
    return e;
  }
  static store::InboundReport report_summary() {
    return {.id = 5,
            .received_at = 1700000000,
            .client_address = "203.0.113.5",
            .kind = store::ReportKind::arf,
            .status = store::ReportStatus::attributed,
            .tenant_id = "acme",
            .summary = "abuse from victim@isp.example"};
  }

  std::optional<Error> check(std::int64_t id, std::int64_t known, std::string_view what) const {
    if (!fail.empty()) {
      return make_error(fail);
    }
    if (id != known) {
      return make_error("no " + std::string(what) + " " + std::to_string(id));
    }
    return std::nullopt;
  }
  void record(std::int64_t id, const std::string& actor, const std::string& text) {
    last_id = id;
    last_actor = actor;
    last_text = text;
  }
  Result<store::ExceptionRequest> decided(std::int64_t id, ExceptionStatus status) {
    if (auto e = check(id, 3, "exception request")) {
      return *e;
    }
    auto r = exception_request();
    r.status = status;
    r.decided_by = last_actor;
    return r;
  }
};

class AbuseApi : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/portcullis-abuse-api-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_ / "state");
    context_ = std::make_unique<ApiContext>(
        ApiContext{.store = *store_, .config = config_, .queue = queue_, .abuse = &desk_});
    register_api(router_, *context_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Response call(std::string_view method, std::string_view target, std::string_view body = {}) {
    return router_.route(method, target, body);
  }
  static std::string error_of(const Response& r) {
    const auto* o = r.body.if_object();
    if (o == nullptr || !o->contains("error")) {
      return "(no error: " + json::serialize(r.body) + ")";
    }
    return std::string(o->at("error").as_string());
  }
  void expect_400(std::string_view method,
                  std::string_view target,
                  std::string_view body,
                  std::string_view mentions) {
    auto r = call(method, target, body);
    EXPECT_EQ(r.status, 400) << target << " " << body << ": " << json::serialize(r.body);
    EXPECT_NE(error_of(r).find(mentions), std::string::npos)
        << body << ": '" << error_of(r) << "' should mention '" << mentions << "'";
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
  config::Config config_;
  EmptyQueueView queue_;
  FakeDesk desk_;
  std::unique_ptr<ApiContext> context_;
  Router router_;
};

TEST_F(AbuseApi, ReputationExplainsTheScore) {
  auto r = call("GET", "/v1/tenants/acme/reputation");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  const auto& o = r.body.as_object();
  EXPECT_EQ(o.at("tenant_id").as_string(), "acme");
  EXPECT_DOUBLE_EQ(o.at("score").as_double(), 7.5);
  EXPECT_DOUBLE_EQ(o.at("threshold").as_double(), 10.0);
  EXPECT_EQ(o.at("window_seconds").as_int64(), 86400);
  const auto& term = o.at("terms").as_array().at(0).as_object();
  EXPECT_EQ(term.at("kind").as_string(), "complaint");
  EXPECT_EQ(term.at("signals").as_uint64(), 3u);
  EXPECT_DOUBLE_EQ(term.at("weight").as_double(), 2.0);
  EXPECT_DOUBLE_EQ(term.at("points").as_double(), 6.0);
  EXPECT_EQ(o.at("recent").as_array().at(0).at("ticket_id").as_int64(), 7);
  EXPECT_EQ(o.at("tickets").as_array().at(0).at("id").as_int64(), 7);

  EXPECT_EQ(call("GET", "/v1/tenants/-/reputation").status, 200);
  EXPECT_EQ(desk_.last_tenant, "");  // "-" is the gateway itself
  auto missing = call("GET", "/v1/tenants/ghost/reputation");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_of(missing), "no tenant 'ghost'");
}

TEST_F(AbuseApi, ListsTicketsWithFilters) {
  auto r = call("GET", "/v1/tickets");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(desk_.last_filter.any_tenant);
  EXPECT_EQ(desk_.last_filter.limit, 100u);
  const auto& t = r.body.at("tickets").as_array().at(0).as_object();
  EXPECT_EQ(t.at("status").as_string(), "open");
  EXPECT_EQ(t.at("category").as_string(), "complaint");
  EXPECT_EQ(t.at("hosts").as_array().at(0).as_string(), "198.18.1.10");

  ASSERT_EQ(call("GET", "/v1/tickets?tenant=acme&status=waiting&category=spam&limit=5").status,
            200);
  EXPECT_FALSE(desk_.last_filter.any_tenant);
  EXPECT_EQ(desk_.last_filter.tenant_id, "acme");
  EXPECT_EQ(desk_.last_filter.status, TicketStatus::waiting);
  EXPECT_EQ(desk_.last_filter.category, store::TicketCategory::spam);
  EXPECT_EQ(desk_.last_filter.limit, 5u);

  ASSERT_EQ(call("GET", "/v1/tickets?tenant=-").status, 200);
  EXPECT_FALSE(desk_.last_filter.any_tenant);
  EXPECT_EQ(desk_.last_filter.tenant_id, "");

  expect_400("GET", "/v1/tickets?status=pending", "", "status 'pending'");
  expect_400("GET", "/v1/tickets?category=virus", "", "category 'virus'");
  expect_400("GET", "/v1/tickets?limit=0", "", "limit");
  expect_400("GET", "/v1/tickets?limit=1001", "", "limit");
  expect_400("GET", "/v1/tickets?color=red", "", "unknown parameter 'color'");
}

TEST_F(AbuseApi, OpensATicketByHand) {
  auto r = call("POST", "/v1/tickets",
                R"({"tenant":"acme","category":"compromised_host","hosts":["198.18.1.10"],)"
                R"("summary":"bot","note":"seen on\nthe monitor","actor":"desk:alice"})");
  ASSERT_EQ(r.status, 201) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("id").as_int64(), 8);
  EXPECT_EQ(r.body.at("category").as_string(), "compromised_host");
  EXPECT_EQ(desk_.last_ticket.tenant_id, "acme");
  EXPECT_EQ(desk_.last_ticket.hosts, std::vector<std::string>{"198.18.1.10"});
  EXPECT_EQ(desk_.last_ticket.note, "seen on\nthe monitor");
  EXPECT_EQ(desk_.last_ticket.actor, "desk:alice");

  ASSERT_EQ(call("POST", "/v1/tickets",
                 R"({"tenant":"-","category":"blacklisting","summary":"relay listed",)"
                 R"("actor":"desk:bob"})")
                .status,
            201);
  EXPECT_EQ(desk_.last_ticket.tenant_id, "");
  EXPECT_TRUE(desk_.last_ticket.hosts.empty());

  const std::string ok_tail = R"(,"summary":"s","actor":"desk:a"})";
  expect_400("POST", "/v1/tickets", R"({"category":"spam")" + ok_tail, "'tenant'");
  expect_400("POST", "/v1/tickets", R"({"tenant":"acme","category":5)" + ok_tail, "'category'");
  expect_400("POST", "/v1/tickets", R"({"tenant":"acme","category":"virus")" + ok_tail,
             "'category'");
  expect_400("POST", "/v1/tickets", R"({"tenant":"acme","category":"spam","hosts":"x")" + ok_tail,
             "'hosts'");
  expect_400("POST", "/v1/tickets",
             R"({"tenant":"acme","category":"spam","hosts":["not an ip"])" + ok_tail, "'hosts'");
  expect_400("POST", "/v1/tickets", R"({"tenant":"acme","category":"spam","actor":"desk:a"})",
             "'summary'");
  expect_400("POST", "/v1/tickets", R"({"tenant":"acme","category":"spam","summary":"a\u0007"})",
             "'summary'");
  expect_400("POST", "/v1/tickets", R"({"tenant":"acme","category":"spam","summary":"s"})",
             "'actor'");
  expect_400("POST", "/v1/tickets",
             R"({"tenant":"acme","category":"spam","summary":"s","actor":"alice"})", "'actor'");
  expect_400("POST", "/v1/tickets",
             R"({"tenant":"acme","category":"spam","summary":"s","actor":"desk:a b"})", "'actor'");
  expect_400("POST", "/v1/tickets",
             R"({"tenant":"acme","category":"spam","summary":"s","actor":"tenant:acme"})",
             "'actor'");
  expect_400("POST", "/v1/tickets",
             R"({"tenant":"acme","category":"spam","summary":"s","actor":"desk:a","x":1})",
             "unknown field 'x'");
  expect_400("POST", "/v1/tickets", "[]", "JSON object");

  desk_.fail = "no tenant 'ghost'";
  EXPECT_EQ(call("POST", "/v1/tickets", R"({"tenant":"ghost","category":"spam")" + ok_tail).status,
            404);
}

TEST_F(AbuseApi, ShowsATicketWithEvidenceActionsAndHistory) {
  auto r = call("GET", "/v1/tickets/7");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("ticket").at("id").as_int64(), 7);
  EXPECT_EQ(r.body.at("signals").as_array().at(0).at("evidence").as_string(),
            "Feedback-Type: abuse\nFrom: victim@isp.example");
  const auto& action = r.body.at("actions").as_array().at(0).as_object();
  EXPECT_EQ(action.at("kind").as_string(), "throttle");
  EXPECT_TRUE(action.at("reverted_at").is_null());
  EXPECT_EQ(r.body.at("history").as_array().at(0).at("action").as_string(), "opened");

  auto missing = call("GET", "/v1/tickets/99");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(error_of(missing), "no ticket 99");
  expect_400("GET", "/v1/tickets/abc", "", "ticket id 'abc'");
  expect_400("GET", "/v1/tickets/-1", "", "ticket id '-1'");
}

TEST_F(AbuseApi, AddsNotes) {
  auto r = call("POST", "/v1/tickets/7/notes", R"({"actor":"desk:alice","text":"called them"})");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("ticket").at("id").as_int64(), 7);
  EXPECT_EQ(desk_.last_actor, "desk:alice");
  EXPECT_EQ(desk_.last_text, "called them");
  expect_400("POST", "/v1/tickets/7/notes", R"({"actor":"desk:alice"})", "'text'");
  expect_400("POST", "/v1/tickets/7/notes", R"({"actor":"desk:alice","text":["x"]})", "'text'");
  EXPECT_EQ(call("POST", "/v1/tickets/8/notes", R"({"actor":"desk:a","text":"x"})").status, 404);
}

TEST_F(AbuseApi, ChangesStatus) {
  auto r = call("POST", "/v1/tickets/7/status",
                R"({"status":"resolved","actor":"desk:alice","note":"host cleaned"})");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("status").as_string(), "resolved");
  EXPECT_EQ(desk_.last_status, TicketStatus::resolved);
  EXPECT_EQ(desk_.last_text, "host cleaned");
  expect_400("POST", "/v1/tickets/7/status", R"({"status":"done","actor":"desk:a"})", "'status'");
  expect_400("POST", "/v1/tickets/7/status", R"({"actor":"desk:a"})", "'status'");

  desk_.fail = "conflict: ticket 7 is closed";
  auto conflict = call("POST", "/v1/tickets/7/status", R"({"status":"open","actor":"desk:a"})");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(error_of(conflict), "ticket 7 is closed");
}

TEST_F(AbuseApi, RevertsActions) {
  auto r = call("POST", "/v1/tickets/7/revert", R"({"action":2,"actor":"desk:alice"})");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(desk_.last_action, 2);
  EXPECT_EQ(r.body.at("actions").as_array().size(), 1u);
  ASSERT_EQ(call("POST", "/v1/tickets/7/revert", R"({"actor":"desk:alice"})").status, 200);
  EXPECT_EQ(desk_.last_action, std::nullopt);
  expect_400("POST", "/v1/tickets/7/revert", R"({"action":"2","actor":"desk:a"})", "'action'");
  expect_400("POST", "/v1/tickets/7/revert", R"({"action":0,"actor":"desk:a"})", "'action'");

  desk_.fail = "action 2 is already reverted";
  EXPECT_EQ(call("POST", "/v1/tickets/7/revert", R"({"action":2,"actor":"desk:a"})").status, 409);
}

TEST_F(AbuseApi, RequestsAnException) {
  auto r = call("POST", "/v1/exceptions",
                R"({"tenant":"acme","prefix":"198.18.1.20","reason":"own MTA",)"
                R"("use_case":"newsletters","reverse_dns":"mx.acme.example",)"
                R"("expected_volume":500,"actor":"tenant:acme"})");
  ASSERT_EQ(r.status, 201) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("id").as_int64(), 4);
  EXPECT_EQ(r.body.at("prefix").as_string(), "198.18.1.20/32");
  EXPECT_EQ(r.body.at("status").as_string(), "pending");
  EXPECT_TRUE(r.body.at("expires_at").is_null());
  EXPECT_EQ(desk_.last_exception.prefix, "198.18.1.20");
  EXPECT_EQ(desk_.last_exception.use_case, "newsletters");
  EXPECT_EQ(desk_.last_exception.reverse_dns, "mx.acme.example");
  EXPECT_EQ(desk_.last_exception.expected_volume, 500u);
  EXPECT_EQ(desk_.last_exception.actor, "tenant:acme");

  ASSERT_EQ(call("POST", "/v1/exceptions",
                 R"({"tenant":"acme","prefix":"198.18.1.0/28","reason":"r","actor":"desk:bob"})")
                .status,
            201);
  EXPECT_EQ(desk_.last_exception.expected_volume, 0u);

  const std::string head = R"({"tenant":"acme","reason":"r","actor":"desk:a",)";
  expect_400("POST", "/v1/exceptions", head + R"("prefix":"198.18.1.1/24"})", "'prefix'");
  expect_400("POST", "/v1/exceptions", head + R"("prefix":7})", "'prefix'");
  expect_400("POST", "/v1/exceptions", head + R"("prefix":"198.18.1.1","expected_volume":-1})",
             "'expected_volume'");
  expect_400("POST", "/v1/exceptions", head + R"("prefix":"198.18.1.1","expected_volume":"5"})",
             "'expected_volume'");
  expect_400("POST", "/v1/exceptions",
             R"({"tenant":"acme","prefix":"198.18.1.1","actor":"desk:a"})", "'reason'");
  expect_400("POST", "/v1/exceptions",
             R"({"tenant":"acme","prefix":"198.18.1.1","reason":"r","actor":"tenant:other"})",
             "cannot act for tenant 'acme'");

  desk_.fail = "198.18.9.1/32 is not inside tenant acme's subnets";
  EXPECT_EQ(call("POST", "/v1/exceptions", head + R"("prefix":"198.18.9.1"})").status, 400);
}

TEST_F(AbuseApi, ListsAndReviewsExceptions) {
  auto r = call("GET", "/v1/exceptions?tenant=acme&status=pending");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("exceptions").as_array().at(0).at("id").as_int64(), 3);
  EXPECT_EQ(desk_.last_tenant, "acme");
  EXPECT_EQ(desk_.last_exception_status, ExceptionStatus::pending);
  ASSERT_EQ(call("GET", "/v1/exceptions").status, 200);
  EXPECT_EQ(desk_.last_tenant, "");
  EXPECT_EQ(desk_.last_exception_status, std::nullopt);
  expect_400("GET", "/v1/exceptions?status=open", "", "status 'open'");

  auto review = call("GET", "/v1/exceptions/3");
  ASSERT_EQ(review.status, 200) << json::serialize(review.body);
  EXPECT_EQ(review.body.at("request").at("id").as_int64(), 3);
  EXPECT_DOUBLE_EQ(review.body.at("reputation").at("score").as_double(), 7.5);
  EXPECT_TRUE(review.body.at("history").as_array().empty());
  EXPECT_EQ(review.body.at("audit").as_array().at(0).at("actor").as_string(), "tenant:acme");
  EXPECT_EQ(call("GET", "/v1/exceptions/4").status, 404);
}

TEST_F(AbuseApi, ApprovesWithAnOptionalExpiry) {
  auto r = call("POST", "/v1/exceptions/3/approve",
                R"({"actor":"desk:alice","expires_in":3600,"note":"trial"})");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("status").as_string(), "approved");
  EXPECT_EQ(desk_.last_expires, 3600);
  EXPECT_EQ(desk_.last_text, "trial");
  ASSERT_EQ(call("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a","expires":"2d"})").status,
            200);
  EXPECT_EQ(desk_.last_expires, 2 * 86400);
  ASSERT_EQ(call("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a"})").status, 200);
  EXPECT_EQ(desk_.last_expires, std::nullopt);

  expect_400("POST", "/v1/exceptions/3/approve",
             R"({"actor":"desk:a","expires":"1h","expires_in":60})", "not both");
  expect_400("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a","expires":"soon"})",
             "'expires'");
  expect_400("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a","expires":"0s"})",
             "'expires'");
  expect_400("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a","expires_in":0})",
             "'expires_in'");
  expect_400("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a","expires_in":"1h"})",
             "'expires_in'");
  expect_400("POST", "/v1/exceptions/3/approve", R"({"expires_in":60})", "'actor'");

  desk_.fail = "conflict: exception 3 is denied, not pending";
  auto conflict = call("POST", "/v1/exceptions/3/approve", R"({"actor":"desk:a"})");
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(error_of(conflict), "exception 3 is denied, not pending");
  desk_.fail.clear();
  EXPECT_EQ(call("POST", "/v1/exceptions/9/approve", R"({"actor":"desk:a"})").status, 404);
}

TEST_F(AbuseApi, DeniesAndRevokesWithAReason) {
  auto denied =
      call("POST", "/v1/exceptions/3/deny", R"({"actor":"desk:alice","reason":"no rDNS"})");
  ASSERT_EQ(denied.status, 200) << json::serialize(denied.body);
  EXPECT_EQ(denied.body.at("status").as_string(), "denied");
  EXPECT_EQ(desk_.last_text, "no rDNS");
  auto revoked = call("POST", "/v1/exceptions/3/revoke", R"({"actor":"desk:bob","reason":"spam"})");
  ASSERT_EQ(revoked.status, 200);
  EXPECT_EQ(revoked.body.at("status").as_string(), "revoked");
  EXPECT_EQ(revoked.body.at("decided_by").as_string(), "desk:bob");
  expect_400("POST", "/v1/exceptions/3/deny", R"({"actor":"desk:a"})", "'reason'");
  expect_400("POST", "/v1/exceptions/3/revoke", R"({"actor":"desk:a","reason":""})", "'reason'");
  EXPECT_EQ(call("POST", "/v1/exceptions/4/revoke", R"({"actor":"desk:a","reason":"r"})").status,
            404);
  desk_.fail = "conflict: exception 3 is pending, not approved";
  EXPECT_EQ(call("POST", "/v1/exceptions/3/revoke", R"({"actor":"desk:a","reason":"r"})").status,
            409);
}

TEST_F(AbuseApi, ShowsReportsWithTheRawMessageEscaped) {
  auto list = call("GET", "/v1/abuse/reports?status=attributed");
  ASSERT_EQ(list.status, 200) << json::serialize(list.body);
  EXPECT_EQ(desk_.last_report_status, store::ReportStatus::attributed);
  const auto& summary = list.body.at("reports").as_array().at(0).as_object();
  EXPECT_EQ(summary.at("kind").as_string(), "arf");
  EXPECT_FALSE(summary.contains("raw"));
  expect_400("GET", "/v1/abuse/reports?status=new", "", "status 'new'");

  auto r = call("GET", "/v1/abuse/reports/5");
  ASSERT_EQ(r.status, 200) << json::serialize(r.body);
  EXPECT_EQ(r.body.at("raw").as_string(),
            "From: fbl@isp.example\nSubject: spam\n\nbody\\x01\\xff\\\\\n");
  EXPECT_EQ(r.body.at("raw_size").as_uint64(), desk_.report_raw.size());
  EXPECT_FALSE(r.body.at("raw_truncated").as_bool());
  EXPECT_EQ(call("GET", "/v1/abuse/reports/6").status, 404);

  desk_.report_raw = std::string(kMaxReportRaw + 10, 'a');
  auto big = call("GET", "/v1/abuse/reports/5");
  EXPECT_EQ(big.body.at("raw").as_string().size(), kMaxReportRaw);
  EXPECT_TRUE(big.body.at("raw_truncated").as_bool());
}

TEST_F(AbuseApi, EveryRouteAnswers503WithoutADesk) {
  context_->abuse = nullptr;
  const std::pair<const char*, const char*> routes[] = {
      {"GET", "/v1/tenants/acme/reputation"},
      {"GET", "/v1/tickets"},
      {"POST", "/v1/tickets"},
      {"GET", "/v1/tickets/7"},
      {"POST", "/v1/tickets/7/notes"},
      {"POST", "/v1/tickets/7/status"},
      {"POST", "/v1/tickets/7/revert"},
      {"POST", "/v1/exceptions"},
      {"GET", "/v1/exceptions"},
      {"GET", "/v1/exceptions/3"},
      {"POST", "/v1/exceptions/3/approve"},
      {"POST", "/v1/exceptions/3/deny"},
      {"POST", "/v1/exceptions/3/revoke"},
      {"GET", "/v1/abuse/reports"},
      {"GET", "/v1/abuse/reports/5"},
  };
  for (const auto& [method, target] : routes) {
    auto r = call(method, target, method == std::string_view("POST") ? "{}" : "");
    EXPECT_EQ(r.status, 503) << method << " " << target;
    EXPECT_EQ(error_of(r), "abuse desk not running") << target;
  }
}

TEST(AbuseApiErrors, DeskSentencesMapToStatuses) {
  EXPECT_EQ(desk_error_status("no ticket 4"), 404);
  EXPECT_EQ(desk_error_status("no tenant 'x'"), 404);
  EXPECT_EQ(desk_error_status("conflict: exception 3 is denied, not pending"), 409);
  EXPECT_EQ(desk_error_status("action 2 is already reverted"), 409);
  EXPECT_EQ(desk_error_status("198.18.9.1 is not inside tenant acme's subnets"), 400);
  EXPECT_EQ(desk_error_status("nothing here"), 400);  // "no " only as the first word
  EXPECT_EQ(desk_error_text("conflict: ticket 7 is closed"), "ticket 7 is closed");
  EXPECT_EQ(desk_error_text("no ticket 4"), "no ticket 4");
}

TEST(AbuseApiErrors, EscapesRawBytes) {
  EXPECT_EQ(escape_raw("a\r\nb\rc\t\x1b[31m", 100), "a\nb\\x0dc\t\\x1b[31m");
  EXPECT_EQ(escape_raw("caf\xc3\xa9", 100), "caf\\xc3\\xa9");
  EXPECT_EQ(escape_raw("abcdef", 3), "abc");
}

}  // namespace
}  // namespace portcullis::control
