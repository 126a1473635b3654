#include "gateway/core/control/api_policy.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <mutex>
#include <thread>

#include "gateway/core/asio.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/control/client.hpp"
#include "gateway/core/control/control_server.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;

class EmptyQueueView : public QueueView {
 public:
  std::vector<QueuedMessageSummary> list(std::size_t) const override { return {}; }
  std::optional<QueuedMessageDetail> get(std::string_view) const override { return std::nullopt; }
  std::size_t size() const override { return 0; }
  Result<bool> retry(std::string_view) override { return false; }
  Result<bool> remove(std::string_view) override { return false; }
};

// Answers two fixed rows and remembers what it was asked.
class FakeStatsView : public StatsView {
 public:
  struct Query {
    std::string tenant;
    std::int64_t from = 0;
    std::int64_t to = 0;
    bool by_day = false;
  };
  std::vector<StatsRow> stats(std::string_view tenant,
                              std::int64_t from,
                              std::int64_t to,
                              bool by_day) const override {
    std::lock_guard lock(mutex_);
    last_ = Query{std::string(tenant), from, to, by_day};
    return {StatsRow{.start = from,
                     .requested = 10,
                     .delivered = 7,
                     .deferred = 2,
                     .bounced_hard = 1,
                     .suppressed = 3,
                     .rejected_limits = 4},
            StatsRow{.start = from + 3600,
                     .requested = 5,
                     .delivered = 5,
                     .bounced_soft = 1,
                     .complained = 1}};
  }
  Query last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }

 private:
  mutable std::mutex mutex_;
  mutable Query last_;
};

class PolicyApi : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/portcullis-policy-api-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_ / "state");
    config_.node.name = "gw-test";
    config_.plans["standard"] = config::Plan{};
    context_ =
        std::make_unique<ApiContext>(ApiContext{.store = *store_,
                                                .config = config_,
                                                .registry = &registry_,
                                                .queue = queue_,
                                                .on_tenants_changed = [this] { ++tenant_changes_; },
                                                .stats = &stats_});
    Router router;
    register_api(router, *context_);
    socket_ = dir_ / "control.sock";
    ControlServerOptions options;
    options.io_timeout = std::chrono::milliseconds(1000);
    server_ =
        std::make_unique<ControlServer>(io_.get_executor(), socket_, std::move(router), options);
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
    client_ = std::make_unique<ControlClient>(socket_, std::chrono::seconds(10));
    for (const char* id : {"acme", "other"}) {
      store::Tenant t;
      t.id = id;
      t.plan = "standard";
      ASSERT_TRUE(store_->add_tenant(t));
    }
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
    boost::system::error_code ec;
    auto parsed = json::parse(r->body, ec);
    EXPECT_FALSE(ec) << r->body;
    return {r->status, parsed};
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
  tenants::TenantRegistry registry_;
  EmptyQueueView queue_;
  FakeStatsView stats_;
  int tenant_changes_ = 0;
  std::unique_ptr<ApiContext> context_;
  asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::unique_ptr<ControlClient> client_;
};

// ---- limits ----

TEST_F(PolicyApi, LimitsShowPlanOverridesAndEffective) {
  auto r = call("GET", "/v1/tenants/acme/limits");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("plan").as_string(), "standard");
  EXPECT_TRUE(r.body.at("overrides").at("messages_per_minute").is_null());
  EXPECT_TRUE(r.body.at("overrides").at("dedicated_ip").is_null());
  EXPECT_EQ(r.body.at("effective").at("messages_per_minute").to_number<std::uint64_t>(), 60U);

  r = call("PUT", "/v1/tenants/acme/limits",
           R"({"messages_per_minute": 5, "max_connections": 2, "dedicated_ip": "192.0.2.9",
               "monthly_quota": null})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(tenant_changes_, 1);
  const auto& overrides = r.body.at("overrides");
  EXPECT_EQ(overrides.at("messages_per_minute").to_number<std::uint64_t>(), 5U);
  EXPECT_TRUE(overrides.at("monthly_quota").is_null());
  const auto& effective = r.body.at("effective");
  EXPECT_EQ(effective.at("messages_per_minute").to_number<std::uint64_t>(), 5U);
  EXPECT_EQ(effective.at("max_connections").to_number<std::uint64_t>(), 2U);
  EXPECT_EQ(effective.at("messages_per_hour").to_number<std::uint64_t>(), 1000U);  // the plan's
  EXPECT_EQ(effective.at("dedicated_ip").as_string(), "192.0.2.9");
  EXPECT_EQ(r.body.at("plan_limits").at("messages_per_minute").to_number<std::uint64_t>(), 60U);
  EXPECT_EQ(r.body.at("plan_limits").at("dedicated_ip").as_string(), "");
  // The relay's directory carries the overrides.
  const auto* t = registry_.snapshot()->find("acme");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->limits.messages_per_minute, 5U);

  // GET's "overrides" can be sent back; PUT replaces, so missing fields are unset.
  r = call("PUT", "/v1/tenants/acme/limits", R"({"recipients_per_message": 7})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_TRUE(r.body.at("overrides").at("messages_per_minute").is_null());
  EXPECT_EQ(r.body.at("effective").at("recipients_per_message").to_number<std::uint64_t>(), 7U);
  EXPECT_EQ(store_->limit_overrides("acme").recipients_per_message, 7U);
  r = call("PUT", "/v1/tenants/acme/limits", "{}");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_TRUE(store_->limit_overrides("acme").empty());
}

TEST_F(PolicyApi, LimitsErrors) {
  auto r = call("PUT", "/v1/tenants/acme/limits", R"({"messages_per_minute": 0})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "messages_per_minute must be a number from 1 to 1000000, not 0");
  r = call("PUT", "/v1/tenants/acme/limits", R"({"messages_per_minute": -1})");
  EXPECT_EQ(error_of(r), "field 'messages_per_minute' must be a whole number or null");
  r = call("PUT", "/v1/tenants/acme/limits", R"({"messages_per_minute": 1.5})");
  EXPECT_EQ(error_of(r), "field 'messages_per_minute' must be a whole number or null");
  r = call("PUT", "/v1/tenants/acme/limits", R"({"burst": 1})");
  EXPECT_EQ(error_of(r), "unknown field 'burst'");
  r = call("PUT", "/v1/tenants/acme/limits", R"({"dedicated_ip": "pool-1"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "dedicated_ip 'pool-1' is not an IP address");
  r = call("PUT", "/v1/tenants/acme/limits", R"({"dedicated_ip": 7})");
  EXPECT_EQ(error_of(r), "field 'dedicated_ip' must be an IP address or null");
  r = call("PUT", "/v1/tenants/acme/limits", "[]");
  EXPECT_EQ(r.status, 400);
  r = call("PUT", "/v1/tenants/ghost/limits", "{}");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "no tenant 'ghost'");
  r = call("GET", "/v1/tenants/ghost/limits");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(tenant_changes_, 0);
  EXPECT_TRUE(store_->limit_overrides("acme").empty());
}

TEST_F(PolicyApi, LimitsOfATenantWhosePlanIsGone) {
  store::Tenant t;
  t.id = "legacy";
  t.plan = "retired";
  ASSERT_TRUE(store_->add_tenant(t));
  auto r = call("GET", "/v1/tenants/legacy/limits");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("plan").as_string(), "retired");
  EXPECT_TRUE(r.body.at("effective").is_null());
  EXPECT_TRUE(r.body.at("plan_limits").is_null());
}

// ---- suppressions ----

TEST_F(PolicyApi, SuppressionsAddListRemove) {
  auto r = call("POST", "/v1/tenants/acme/suppressions",
                R"({"address": " Jane@Example.com ", "list": "bounces", "reason": "550 5.1.1"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  EXPECT_EQ(r.body.at("address").as_string(), "jane@example.com");
  EXPECT_EQ(r.body.at("list").as_string(), "bounces");
  r = call("POST", "/v1/tenants/acme/suppressions", R"({"address": "bob@example.com"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  EXPECT_EQ(r.body.at("list").as_string(), "blocks");  // the defaults
  EXPECT_EQ(r.body.at("reason").as_string(), "operator");
  EXPECT_TRUE(store_->find_suppression("acme", "JANE@example.com"));

  r = call("GET", "/v1/tenants/acme/suppressions");
  ASSERT_EQ(r.status, 200) << error_of(r);
  ASSERT_EQ(r.body.at("suppressions").as_array().size(), 2U);
  EXPECT_EQ(r.body.at("suppressions").as_array()[0].at("address").as_string(), "bob@example.com");
  r = call("GET", "/v1/tenants/acme/suppressions?list=bounces");
  ASSERT_EQ(r.body.at("suppressions").as_array().size(), 1U);
  r = call("GET", "/v1/tenants/other/suppressions");
  EXPECT_TRUE(r.body.at("suppressions").as_array().empty());

  r = call("DELETE", "/v1/tenants/acme/suppressions/jane%40example.com?list=blocks");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r),
            "tenant 'acme' has no suppression of 'jane@example.com' on its blocks list");
  r = call("DELETE", "/v1/tenants/acme/suppressions/Jane@Example.com");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("address").as_string(), "jane@example.com");
  EXPECT_FALSE(store_->find_suppression("acme", "jane@example.com"));
  r = call("DELETE", "/v1/tenants/acme/suppressions/jane@example.com");
  EXPECT_EQ(r.status, 404);
}

TEST_F(PolicyApi, SuppressionErrors) {
  auto r = call("POST", "/v1/tenants/acme/suppressions", R"({"address": "nope"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "'nope' is not an email address");
  r = call("POST", "/v1/tenants/acme/suppressions", R"({"address": "a@b", "list": "spam"})");
  EXPECT_EQ(error_of(r),
            "'spam' is not a suppression list (bounces, blocks, spam-reports, invalid, "
            "unsubscribes)");
  r = call("POST", "/v1/tenants/acme/suppressions", R"({"list": "blocks"})");
  EXPECT_EQ(error_of(r), "field 'address' is required");
  r = call("POST", "/v1/tenants/acme/suppressions", R"({"address": "a@b", "why": "x"})");
  EXPECT_EQ(error_of(r), "unknown field 'why'");
  r = call("POST", "/v1/tenants/ghost/suppressions", R"({"address": "a@b"})");
  EXPECT_EQ(r.status, 404);
  r = call("GET", "/v1/tenants/acme/suppressions?list=nope");
  EXPECT_EQ(r.status, 400);
  r = call("GET", "/v1/tenants/ghost/suppressions");
  EXPECT_EQ(r.status, 404);
}

TEST_F(PolicyApi, SuppressionsExportAndImport) {
  const std::string csv =
      "address,list,reason\n"
      "a@example.com,bounces,\"550 5.1.1 unknown, \"\"really\"\"\"\n"
      "b@example.com,,\n";
  json::object body{{"csv", csv}};
  auto r =
      call("POST", "/v1/tenants/acme/suppressions/import?list=unsubscribes", json::serialize(body));
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("imported").to_number<std::uint64_t>(), 2U);
  EXPECT_EQ(store_->find_suppression("acme", "b@example.com")->list,
            store::SuppressionList::unsubscribes);
  EXPECT_EQ(store_->find_suppression("acme", "a@example.com")->reason,
            "550 5.1.1 unknown, \"really\"");

  r = call("GET", "/v1/tenants/acme/suppressions/export");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("count").to_number<std::uint64_t>(), 2U);
  const std::string exported(r.body.at("csv").as_string());
  EXPECT_EQ(exported, store_->export_suppressions_csv("acme"));

  // The export imports into another tenant as it is; a bare JSON string is a body too.
  r = call("POST", "/v1/tenants/other/suppressions/import", json::serialize(json::value(exported)));
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("imported").to_number<std::uint64_t>(), 2U);
  r = call("GET", "/v1/tenants/other/suppressions/export?list=bounces");
  EXPECT_EQ(r.body.at("count").to_number<std::uint64_t>(), 1U);

  // A bad line: 400 naming it, nothing imported.
  body["csv"] = "address,list\nc@example.com,blocks\nbroken,blocks\n";
  r = call("POST", "/v1/tenants/acme/suppressions/import", json::serialize(body));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "line 3: 'broken' is not an email address");
  EXPECT_FALSE(store_->find_suppression("acme", "c@example.com"));
  r = call("POST", "/v1/tenants/acme/suppressions/import", "7");
  EXPECT_EQ(r.status, 400);
  r = call("POST", "/v1/tenants/ghost/suppressions/import", R"({"csv": "address\n"})");
  EXPECT_EQ(r.status, 404);
}

// ---- stats ----

TEST(StatsTime, Parse) {
  EXPECT_EQ(parse_stats_time("1700000000", false), 1'700'000'000);
  EXPECT_EQ(parse_stats_time("0", true), 0);
  EXPECT_EQ(parse_stats_time("2026-11-01", false), 1'793'491'200);
  EXPECT_EQ(parse_stats_time("2026-11-01", true), 1'793'491'200 + 86'400);
  EXPECT_EQ(parse_stats_time("2026-11-01T13", false), 1'793'491'200 + 13 * 3600);
  EXPECT_EQ(parse_stats_time("2026-11-01T13", true), 1'793'491'200 + 14 * 3600);
  EXPECT_EQ(parse_stats_time("2024-02-29", false), 1'709'164'800);
  for (const char* bad :
       {"", "-5", "12a", "2026-11-1", "2026-13-01", "2026-02-30", "2025-02-29", "2026-11-01T24",
        "2026-11-01 13", "2026-11-01T1", "1969-12-31", "99999999999999999999"}) {
    EXPECT_EQ(parse_stats_time(bad, false), std::nullopt) << bad;
  }
}

TEST_F(PolicyApi, StatsRowsAndTotal) {
  auto r = call("GET", "/v1/tenants/acme/stats?from=2026-11-01&to=2026-11-02&by=day");
  ASSERT_EQ(r.status, 200) << error_of(r);
  auto asked = stats_.last();
  EXPECT_EQ(asked.tenant, "acme");
  EXPECT_EQ(asked.from, 1'793'491'200);
  EXPECT_EQ(asked.to, 1'793'491'200 + 2 * 86'400);
  EXPECT_TRUE(asked.by_day);
  EXPECT_EQ(r.body.at("by").as_string(), "day");
  ASSERT_EQ(r.body.at("rows").as_array().size(), 2U);
  EXPECT_EQ(r.body.at("rows").as_array()[1].at("start").to_number<std::int64_t>(),
            1'793'491'200 + 3600);
  const auto& total = r.body.at("total");
  EXPECT_EQ(total.at("requested").to_number<std::uint64_t>(), 15U);
  EXPECT_EQ(total.at("delivered").to_number<std::uint64_t>(), 12U);
  EXPECT_EQ(total.at("deferred").to_number<std::uint64_t>(), 2U);
  EXPECT_EQ(total.at("bounced_hard").to_number<std::uint64_t>(), 1U);
  EXPECT_EQ(total.at("bounced_soft").to_number<std::uint64_t>(), 1U);
  EXPECT_EQ(total.at("suppressed").to_number<std::uint64_t>(), 3U);
  EXPECT_EQ(total.at("rejected_limits").to_number<std::uint64_t>(), 4U);
  EXPECT_EQ(total.at("complained").to_number<std::uint64_t>(), 1U);

  // Defaults: by hour, from the start of today (UTC) to now.
  const auto before = static_cast<std::int64_t>(std::time(nullptr));
  r = call("GET", "/v1/tenants/acme/stats");
  ASSERT_EQ(r.status, 200) << error_of(r);
  asked = stats_.last();
  EXPECT_FALSE(asked.by_day);
  EXPECT_GE(asked.to, before);
  EXPECT_LE(asked.to, before + 5);
  EXPECT_EQ(asked.from % 86'400, 0);
  EXPECT_LE(asked.to - asked.from, 86'400);
  // Only `to`: from the start of that day.
  r = call("GET", "/v1/tenants/acme/stats?to=1793500000");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(stats_.last().from, 1'793'491'200);
}

TEST_F(PolicyApi, StatsErrors) {
  auto r = call("GET", "/v1/tenants/acme/stats?from=yesterday");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r),
            "from 'yesterday' is not a time (unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH, UTC)");
  r = call("GET", "/v1/tenants/acme/stats?by=week");
  EXPECT_EQ(error_of(r), "by 'week' is not one of hour, day");
  r = call("GET", "/v1/tenants/acme/stats?from=2026-11-02&to=2026-11-01");
  EXPECT_EQ(error_of(r), "from must be before to");
  r = call("GET", "/v1/tenants/acme/stats?since=1");
  EXPECT_EQ(error_of(r), "unknown parameter 'since' (from, to, by)");
  r = call("GET", "/v1/tenants/ghost/stats");
  EXPECT_EQ(r.status, 404);
  context_->stats = nullptr;
  r = call("GET", "/v1/tenants/acme/stats");
  EXPECT_EQ(r.status, 503);
}

// ---- webhook ----

TEST_F(PolicyApi, WebhookSetShowRemove) {
  auto r = call("GET", "/v1/tenants/acme/webhook");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "tenant 'acme' has no webhook");
  r = call("PUT", "/v1/tenants/acme/webhook", R"({"url": "https://hooks.acme.example/pc"})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  const std::string secret(r.body.at("secret").as_string());
  EXPECT_EQ(secret.size(), 64U);
  EXPECT_EQ(secret, store_->get_webhook("acme")->secret);

  r = call("GET", "/v1/tenants/acme/webhook");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("url").as_string(), "https://hooks.acme.example/pc");
  EXPECT_FALSE(r.body.as_object().contains("secret"));
  EXPECT_EQ(r.body.at("secret_prefix").as_string(), secret.substr(0, 4) + "\u2026");

  r = call("PUT", "/v1/tenants/acme/webhook", R"({"url": "http://hooks.acme.example/pc"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "invalid webhook URL: it must start with https://");
  r = call("PUT", "/v1/tenants/acme/webhook", R"({})");
  EXPECT_EQ(error_of(r), "field 'url' is required");
  r = call("PUT", "/v1/tenants/ghost/webhook", R"({"url": "https://x.example/"})");
  EXPECT_EQ(r.status, 404);

  r = call("DELETE", "/v1/tenants/acme/webhook");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_FALSE(store_->get_webhook("acme"));
  r = call("DELETE", "/v1/tenants/acme/webhook");
  EXPECT_EQ(r.status, 404);
}

TEST_F(PolicyApi, RemovingTheTenantRemovesItsPolicy) {
  ASSERT_EQ(call("PUT", "/v1/tenants/acme/limits", R"({"max_connections": 1})").status, 200);
  ASSERT_EQ(call("POST", "/v1/tenants/acme/suppressions", R"({"address": "a@b"})").status, 201);
  ASSERT_EQ(call("PUT", "/v1/tenants/acme/webhook", R"({"url": "https://x.example/"})").status,
            200);
  ASSERT_EQ(call("DELETE", "/v1/tenants/acme").status, 200);
  EXPECT_TRUE(store_->list_suppressions("acme").empty());
  EXPECT_FALSE(store_->get_webhook("acme"));
  EXPECT_TRUE(store_->limit_overrides("acme").empty());
}

}  // namespace
}  // namespace portcullis::control
