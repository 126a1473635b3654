#include "gateway/core/control/api_queue_events.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "gateway/core/asio.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/control/client.hpp"
#include "gateway/core/control/control_server.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;

class RecordingQueue : public QueueView {
 public:
  std::vector<QueuedMessageSummary> list(std::size_t) const override { return {}; }
  std::optional<QueuedMessageDetail> get(std::string_view id) const override {
    if (id != "0001AAAA") {
      return std::nullopt;
    }
    QueuedMessageDetail d;
    d.id = "0001AAAA";
    d.recipients = {"a@example.org", "b@example.org"};
    d.recipient_states = {{0, "a@example.org", "delivered", 1, std::nullopt, "250 ok",
                           "mx.example.org [198.18.2.10]", std::nullopt, 1700000100},
                          {1, "b@example.org", "deferred", 2, 1700000900, "451 4.7.1 later",
                           "mx.example.org [198.18.2.10]", 1700000100, 1700000200}};
    return d;
  }
  std::size_t size() const override { return present ? 1 : 0; }
  Result<bool> retry(std::string_view id) override {
    if (id == "broken") {
      return make_error("database is locked");
    }
    retried.emplace_back(id);
    return present && id == "0001AAAA";
  }
  Result<bool> remove(std::string_view id) override {
    const bool found = present && id == "0001AAAA";
    present = present && !found;
    return found;
  }

  Result<QueueShape> summary(std::size_t top) const override {
    last_top = top;
    QueueShape shape;
    shape.now = 1700000000;
    shape.buckets = {"0-5m", "5-10m"};
    shape.total = {"TOTAL", 3, 5, 2, 1, 2, {4, 1}};
    shape.held_messages = 1;
    shape.destinations = {{"big.example", 2, 3, 1, 1, 1, {3, 0}}};
    shape.destination_count = 2;
    shape.tenants = {{"acme", 2, 3, 2, 1, 0, {3, 0}}};
    shape.tenant_count = 1;
    return shape;
  }
  Result<QueueActionResult> act(QueueAction action, const QueueFilter& filter) override {
    actions.emplace_back(action, filter);
    if (filter.tenant == "broken") {
      return make_error("database is locked");
    }
    return QueueActionResult{4, 7};
  }

  bool present = true;
  std::vector<std::string> retried;
  mutable std::size_t last_top = 0;
  std::vector<std::pair<QueueAction, QueueFilter>> actions;
};

class RecordingEvents : public EventView {
 public:
  std::vector<events::DeliveryEvent> events(const events::EventFilter& filter) const override {
    last = filter;
    return {{.id = 7,
             .time = 1700000000,
             .type = events::DeliveryEventType::bounced,
             .tenant_id = "acme",
             .message_id = "0001AAAA",
             .recipient = "b@example.org",
             .detail = "550 5.1.1 no such user",
             .remote = "mx.example.org [198.18.2.10]"}};
  }
  mutable events::EventFilter last;
};

class QueueEventsApi : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/portcullis-qe-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_ / "state");
    context_ = std::make_unique<ApiContext>(ApiContext{*store_, config_, nullptr, queue_, {}});
    context_->events = &events_;
    start();
  }

  void start() {
    Router router;
    register_api(router, *context_);
    socket_ = dir_ / "control.sock";
    server_ = std::make_unique<ControlServer>(io_.get_executor(), socket_, std::move(router));
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
    client_ = std::make_unique<ControlClient>(socket_, std::chrono::seconds(5));
  }

  void TearDown() override {
    client_.reset();
    if (thread_.joinable()) {
      asio::post(io_, [this] { server_->stop(); });
      io_.stop();
      thread_.join();
    }
    server_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  struct Reply {
    int status = 0;
    json::value body;
  };

  Reply call(std::string_view method, std::string_view target, std::string_view body = {}) {
    auto r = client_->request(method, target, body);
    EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
    if (!r) {
      return {};
    }
    return {r->status, json::parse(r->body)};
  }

  static std::string error_of(const Reply& r) {
    if (const auto* o = r.body.if_object()) {
      if (const auto* e = o->if_contains("error"); e != nullptr && e->is_string()) {
        return std::string(e->get_string());
      }
    }
    return "<no error field>";
  }

  std::filesystem::path dir_;
  std::filesystem::path socket_;
  std::unique_ptr<store::Store> store_;
  config::Config config_;
  RecordingQueue queue_;
  RecordingEvents events_;
  std::unique_ptr<ApiContext> context_;
  asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::unique_ptr<ControlClient> client_;
};

TEST_F(QueueEventsApi, Retry) {
  auto r = call("POST", "/v1/queue/0001AAAA/retry");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("id").as_string(), "0001AAAA");
  EXPECT_TRUE(r.body.at("retried").as_bool());
  EXPECT_EQ(queue_.retried, std::vector<std::string>{"0001AAAA"});

  r = call("POST", "/v1/queue/nope/retry");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "no queued message 'nope'");
  r = call("POST", "/v1/queue/broken/retry");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(error_of(r).find("database is locked"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/queue/0001AAAA/retry").status, 405);
}

TEST_F(QueueEventsApi, Delete) {
  auto r = call("DELETE", "/v1/queue/0001AAAA");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_TRUE(r.body.at("removed").as_bool());
  EXPECT_FALSE(queue_.present);
  r = call("DELETE", "/v1/queue/0001AAAA");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "no queued message '0001AAAA'");
}

TEST_F(QueueEventsApi, ShowIncludesRecipientStates) {
  auto r = call("GET", "/v1/queue/0001AAAA");
  ASSERT_EQ(r.status, 200);
  const auto& states = r.body.at("recipient_states").as_array();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].at("status").as_string(), "delivered");
  EXPECT_TRUE(states[0].at("next_attempt_at").is_null());
  EXPECT_EQ(states[0].at("remote").as_string(), "mx.example.org [198.18.2.10]");
  EXPECT_EQ(states[1].at("address").as_string(), "b@example.org");
  EXPECT_EQ(states[1].at("status").as_string(), "deferred");
  EXPECT_EQ(states[1].at("attempts").as_int64(), 2);
  EXPECT_EQ(states[1].at("next_attempt_at").as_int64(), 1700000900);
  EXPECT_EQ(states[1].at("last_reply").as_string(), "451 4.7.1 later");
  EXPECT_EQ(states[1].at("first_failure_at").as_int64(), 1700000100);
}

TEST_F(QueueEventsApi, EventsWithFilter) {
  auto r = call("GET", "/v1/events?tenant=acme&since=1699999999&message=0001AAAA&limit=5");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(events_.last.tenant, "acme");
  EXPECT_EQ(events_.last.since, 1699999999);
  EXPECT_EQ(events_.last.message_id, "0001AAAA");
  EXPECT_EQ(events_.last.limit, 5u);
  const auto& list = r.body.at("events").as_array();
  ASSERT_EQ(list.size(), 1u);
  const auto& e = list[0];
  EXPECT_EQ(e.at("id").as_int64(), 7);
  EXPECT_EQ(e.at("time").as_int64(), 1700000000);
  EXPECT_EQ(e.at("type").as_string(), "bounced");
  EXPECT_EQ(e.at("tenant_id").as_string(), "acme");
  EXPECT_EQ(e.at("message_id").as_string(), "0001AAAA");
  EXPECT_EQ(e.at("recipient").as_string(), "b@example.org");
  EXPECT_EQ(e.at("detail").as_string(), "550 5.1.1 no such user");
  EXPECT_EQ(e.at("remote").as_string(), "mx.example.org [198.18.2.10]");

  r = call("GET", "/v1/events");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(events_.last.tenant, "");
  EXPECT_EQ(events_.last.since, 0);
  EXPECT_EQ(events_.last.limit, kDefaultEventLimit);
}

TEST_F(QueueEventsApi, EventsRejectsBadParameters) {
  EXPECT_EQ(call("GET", "/v1/events?since=1h").status, 400);
  EXPECT_EQ(call("GET", "/v1/events?since=-5").status, 400);
  EXPECT_EQ(call("GET", "/v1/events?limit=0").status, 400);
  EXPECT_EQ(call("GET", "/v1/events?limit=100001").status, 400);
  auto r = call("GET", "/v1/events?colour=red");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("colour"), std::string::npos);
}

TEST_F(QueueEventsApi, EventsWithoutLogIs503) {
  context_->events = nullptr;
  auto r = call("GET", "/v1/events");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(error_of(r), "the event log is not available");
}

TEST_F(QueueEventsApi, Summary) {
  auto r = call("GET", "/v1/queue-summary?top=5");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(queue_.last_top, 5u);
  EXPECT_EQ(r.body.at("buckets").as_array().size(), 2u);
  EXPECT_EQ(r.body.at("total").at("recipients").to_number<std::uint64_t>(), 5u);
  EXPECT_EQ(r.body.at("total").at("held").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(r.body.at("held_messages").to_number<std::uint64_t>(), 1u);
  const auto& dest = r.body.at("destinations").as_array().at(0);
  EXPECT_EQ(dest.at("name").as_string(), "big.example");
  EXPECT_EQ(dest.at("messages").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(dest.at("deferred").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(dest.at("ages").as_array().at(0).to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(r.body.at("destination_count").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(r.body.at("tenants").as_array().at(0).at("name").as_string(), "acme");

  EXPECT_EQ(call("GET", "/v1/queue-summary").status, 200);
  EXPECT_EQ(queue_.last_top, kDefaultSummaryTop);
  EXPECT_EQ(call("GET", "/v1/queue-summary?top=0").status, 400);
  EXPECT_EQ(call("GET", "/v1/queue-summary?top=1001").status, 400);
  EXPECT_EQ(call("GET", "/v1/queue-summary?depth=3").status, 400);
}

TEST_F(QueueEventsApi, ActionsByFilter) {
  auto r = call("POST", "/v1/queue/hold",
                R"({"tenant": "acme", "destination": "@Big.Example", "sender": "<>",
                    "older_than": 3600})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("action").as_string(), "hold");
  EXPECT_EQ(r.body.at("messages").to_number<std::uint64_t>(), 4u);
  EXPECT_EQ(r.body.at("recipients").to_number<std::uint64_t>(), 7u);
  ASSERT_EQ(queue_.actions.size(), 1u);
  EXPECT_EQ(queue_.actions[0].first, QueueAction::hold);
  const auto& f = queue_.actions[0].second;
  EXPECT_EQ(f.tenant, "acme");
  EXPECT_EQ(f.destination, "Big.Example");  // the leading @ dropped; the case is the view's
  EXPECT_EQ(f.sender, "");                  // <> is the null sender
  EXPECT_EQ(f.older_than, 3600);
  EXPECT_FALSE(f.id);
  EXPECT_EQ(r.body.at("filter").at("sender").as_string(), "");

  const std::pair<const char*, QueueAction> kRoutes[] = {{"release", QueueAction::release},
                                                         {"retry", QueueAction::retry},
                                                         {"delete", QueueAction::remove},
                                                         {"bounce", QueueAction::bounce}};
  for (const auto& [path, action] : kRoutes) {
    r = call("POST", std::string("/v1/queue/") + path, R"({"id": "0001AAAA"})");
    ASSERT_EQ(r.status, 200) << path << ": " << error_of(r);
    EXPECT_EQ(queue_.actions.back().first, action);
    EXPECT_EQ(queue_.actions.back().second.id, "0001AAAA");
  }
  // The whole queue only when asked for by name.
  r = call("POST", "/v1/queue/retry", R"({"all": true})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_TRUE(queue_.actions.back().second.empty());
}

TEST_F(QueueEventsApi, ActionsRefuseAMissingOrBadFilter) {
  const auto before = queue_.actions.size();
  auto r = call("POST", "/v1/queue/delete");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("\"all\": true"), std::string::npos);
  EXPECT_EQ(call("POST", "/v1/queue/delete", "{}").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/delete", R"({"all": false})").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/bounce", R"({"tenant": ""})").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/bounce", R"({"older_than": -1})").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/bounce", R"({"older_than": "1h"})").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/hold", R"({"tenant": "a\u0001b"})").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/hold", R"({"tenant": 5})").status, 400);
  EXPECT_EQ(call("POST", "/v1/queue/hold", "[1]").status, 400);
  r = call("POST", "/v1/queue/hold", R"({"colour": "red"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("colour"), std::string::npos);
  EXPECT_EQ(queue_.actions.size(), before);  // none reached the queue

  r = call("POST", "/v1/queue/hold", R"({"tenant": "broken"})");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(error_of(r).find("database is locked"), std::string::npos);
  EXPECT_EQ(call("GET", "/v1/queue/hold").status, 404);  // GET /v1/queue/{id}: no such message
}

TEST(DeliveryEventType, RoundTrips) {
  for (auto t : {events::DeliveryEventType::accepted, events::DeliveryEventType::delivered,
                 events::DeliveryEventType::deferred, events::DeliveryEventType::bounced,
                 events::DeliveryEventType::expired, events::DeliveryEventType::deleted}) {
    EXPECT_EQ(events::parse_delivery_event_type(events::to_string(t)), t);
  }
  EXPECT_FALSE(events::parse_delivery_event_type("Delivered").has_value());
}

TEST(EventBus, PublishesToEverySubscriberAndAllowsReentry) {
  events::EventBus bus;
  int first = 0;
  int second = 0;
  bus.subscribe([&](const events::DeliveryEvent& e) {
    first += static_cast<int>(e.id);
    if (e.id == 1) {
      bus.subscribe([&](const events::DeliveryEvent&) { ++second; });  // no deadlock
    }
  });
  bus.publish({.id = 1});
  bus.publish({.id = 2});
  EXPECT_EQ(first, 3);
  EXPECT_EQ(second, 1);

  std::atomic<int> count{0};
  events::EventBus shared;
  shared.subscribe([&](const events::DeliveryEvent&) { count.fetch_add(1); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        shared.publish({});
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(count.load(), 4000);
}

}  // namespace
}  // namespace portcullis::control
