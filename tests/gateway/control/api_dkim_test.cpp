#include "gateway/core/control/api_dkim.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <thread>

#include "gateway/core/asio.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/control/client.hpp"
#include "gateway/core/control/control_server.hpp"
#include "gateway/core/dkim/key_generator.hpp"
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

class DkimApi : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/portcullis-dkim-api-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_ / "state");
    config_.node.name = "gw-test";
    config_.plans["standard"] = config::Plan{};
    context_ = std::make_unique<ApiContext>(
        ApiContext{.store = *store_,
                   .config = config_,
                   .registry = &registry_,
                   .queue = queue_,
                   .on_dkim_keys_changed = [this] { ++key_changes_; }});
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
  int key_changes_ = 0;
  std::unique_ptr<ApiContext> context_;
  asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::unique_ptr<ControlClient> client_;
};

TEST_F(DkimApi, GenerateListShowRemove) {
  auto r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"Acme.Example"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  EXPECT_EQ(key_changes_, 1);
  const auto& key = r.body.as_object();
  EXPECT_EQ(key.at("tenant_id").as_string(), "acme");
  EXPECT_EQ(key.at("domain").as_string(), "acme.example");
  EXPECT_EQ(key.at("algorithm").as_string(), "rsa-sha256");  // the default
  const std::string selector(key.at("selector").as_string());
  EXPECT_TRUE(selector.starts_with("pc")) << selector;
  const std::string public_key(key.at("public_key").as_string());
  EXPECT_EQ(key.at("dns_name").as_string(), selector + "._domainkey.acme.example");
  EXPECT_EQ(key.at("dns_txt").as_string(), "v=DKIM1; k=rsa; p=" + public_key);
  EXPECT_TRUE(std::string(key.at("zone_record").as_string())
                  .starts_with(selector + "._domainkey.acme.example IN TXT \"v=DKIM1; k=rsa; p="));
  EXPECT_FALSE(key.contains("private_key_pem"));
  // The stored private key matches the published public key.
  auto stored = store_->get_dkim_key("acme", "acme.example").value();
  auto pkey = dkim::load_private_key(stored.private_key_pem, dkim::Algorithm::rsa_sha256).value();
  EXPECT_EQ(dkim::dns_public_key(pkey.get(), dkim::Algorithm::rsa_sha256).value(), public_key);

  // A second key the same day gets the next default selector.
  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"acme.example","algorithm":"ed25519"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  EXPECT_EQ(r.body.at("selector").as_string(), selector + "-2");
  EXPECT_EQ(r.body.at("algorithm").as_string(), "ed25519-sha256");
  EXPECT_EQ(r.body.at("public_key").as_string().size(), 44u);

  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"b.example","selector":"s1"})");
  ASSERT_EQ(r.status, 201) << error_of(r);

  r = call("GET", "/v1/tenants/acme/dkim");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.at("keys").as_array().size(), 3u);
  for (const auto& k : r.body.at("keys").as_array()) {
    EXPECT_FALSE(k.as_object().contains("private_key_pem"));
  }

  // show: the newest key of the domain.
  r = call("GET", "/v1/tenants/acme/dkim/acme.example");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("selector").as_string(), selector + "-2");

  r = call("DELETE", "/v1/tenants/acme/dkim/acme.example?selector=" + selector + "-2");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("removed").as_array().size(), 1u);
  r = call("GET", "/v1/tenants/acme/dkim/acme.example");
  EXPECT_EQ(r.body.at("selector").as_string(), selector);

  const int before = key_changes_;
  r = call("DELETE", "/v1/tenants/acme/dkim/acme.example");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(key_changes_, before + 1);
  r = call("GET", "/v1/tenants/acme/dkim/acme.example");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "tenant 'acme' has no DKIM key for 'acme.example'");
  r = call("DELETE", "/v1/tenants/acme/dkim/acme.example");
  EXPECT_EQ(r.status, 404);
}

TEST_F(DkimApi, Errors) {
  auto r = call("POST", "/v1/tenants/ghost/dkim", R"({"domain":"ghost.example"})");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "no tenant 'ghost'");
  r = call("GET", "/v1/tenants/ghost/dkim");
  EXPECT_EQ(r.status, 404);

  r = call("POST", "/v1/tenants/acme/dkim", "");
  EXPECT_EQ(r.status, 400);
  r = call("POST", "/v1/tenants/acme/dkim", R"({"selector":"s"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "field 'domain' is required");
  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"acme.example","bits":4096})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "unknown field 'bits'");
  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"acme.example","algorithm":"dsa"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "algorithm 'dsa' is not one of rsa, ed25519");
  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"not a domain"})");
  EXPECT_EQ(r.status, 400);
  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":"acme.example","selector":"a b"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("not a valid selector"), std::string::npos);
  r = call("POST", "/v1/tenants/acme/dkim", R"({"domain":7})");
  EXPECT_EQ(r.status, 400);

  r = call("POST", "/v1/tenants/acme/dkim",
           R"({"domain":"acme.example","selector":"s","algorithm":"ed25519"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  r = call("POST", "/v1/tenants/acme/dkim",
           R"({"domain":"acme.example","selector":"s","algorithm":"ed25519"})");
  EXPECT_EQ(r.status, 409);
  r = call("POST", "/v1/tenants/other/dkim", R"({"domain":"acme.example","algorithm":"ed25519"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_of(r), "domain 'acme.example' already has DKIM keys of tenant 'acme'");
  EXPECT_EQ(key_changes_, 1);
}

TEST_F(DkimApi, RemovingTheTenantRemovesItsKeys) {
  auto r =
      call("POST", "/v1/tenants/acme/dkim", R"({"domain":"acme.example","algorithm":"ed25519"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  r = call("DELETE", "/v1/tenants/acme");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_TRUE(store_->list_dkim_keys().empty());
}

}  // namespace
}  // namespace portcullis::control
