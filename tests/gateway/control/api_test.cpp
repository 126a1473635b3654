#include "gateway/core/control/api.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "gateway/core/asio.hpp"
#include "gateway/core/auth/password.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/control/client.hpp"
#include "gateway/core/control/control_server.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;
using Protocol = asio::local::stream_protocol;

class FakeQueueView : public QueueView {
 public:
  std::vector<QueuedMessageSummary> list(std::size_t limit) const override {
    std::vector<QueuedMessageSummary> out;
    for (const auto& m : messages) {
      if (out.size() == limit) {
        break;
      }
      out.push_back({m.id, m.tenant_id, m.mail_from, m.recipients.size(), m.size, m.received_at});
    }
    return out;
  }
  std::optional<QueuedMessageDetail> get(std::string_view id) const override {
    for (const auto& m : messages) {
      if (m.id == id) {
        return m;
      }
    }
    return std::nullopt;
  }
  std::size_t size() const override { return messages.size(); }
  Result<bool> retry(std::string_view id) override { return get(id).has_value(); }
  Result<bool> remove(std::string_view id) override {
    return std::erase_if(messages, [&](const auto& m) { return m.id == id; }) > 0;
  }

  std::vector<QueuedMessageDetail> messages;
};

QueuedMessageDetail make_message(std::string id, std::string from) {
  QueuedMessageDetail m;
  m.id = std::move(id);
  m.tenant_id = "acme";
  m.credential = "acme.abcdefgh";
  m.listener = "submission";
  m.client_address = "198.18.1.10";
  m.helo = "host.acme.example";
  m.mail_from = std::move(from);
  m.recipients = {"a@example.org", "b@example.org"};
  m.body_type = "8BITMIME";
  m.received_at = 1700000000;
  m.headers = "Subject: hi\r\nFrom: x@acme.example\r\n";
  m.size = 1234;
  return m;
}

class ControlApi : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/portcullis-control-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = store::Store::open(dir_ / "state");
    config_.node.name = "gw-test";
    config_.plans["standard"] = config::Plan{};
    config_.plans["bulk"] = config::Plan{};
    queue_.messages = {make_message("0001AAAA", "x@acme.example"), make_message("0002BBBB", "")};
    context_ = std::make_unique<ApiContext>(
        ApiContext{*store_, config_, &registry_, queue_, [this] { ++tenant_changes_; }});
    Router router;
    register_api(router, *context_);
    socket_ = dir_ / "control.sock";
    ControlServerOptions options;
    options.io_timeout = std::chrono::milliseconds(1000);
    server_ =
        std::make_unique<ControlServer>(io_.get_executor(), socket_, std::move(router), options);
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

  Reply add_acme() {
    return call("POST", "/v1/tenants",
                R"({"id":"acme","plan":"standard","subnets":["198.18.1.0/24","fd00:1::/64"],
                    "port25_mode":"redirect","abuse_contact":"abuse@acme.example"})");
  }

  std::filesystem::path dir_;
  std::filesystem::path socket_;
  std::unique_ptr<store::Store> store_;
  config::Config config_;
  tenants::TenantRegistry registry_;
  FakeQueueView queue_;
  int tenant_changes_ = 0;
  std::unique_ptr<ApiContext> context_;
  asio::io_context io_;
  std::unique_ptr<ControlServer> server_;
  std::thread thread_;
  std::unique_ptr<ControlClient> client_;
};

TEST_F(ControlApi, Health) {
  auto r = call("GET", "/v1/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("status").as_string(), "ok");
  EXPECT_EQ(r.body.at("node").as_string(), "gw-test");
  EXPECT_EQ(r.body.at("version").as_string(), "0.1.0");
}

TEST_F(ControlApi, SocketIsOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ControlApi, TenantLifecycle) {
  auto r = add_acme();
  ASSERT_EQ(r.status, 201) << error_of(r);
  EXPECT_EQ(r.body.at("id").as_string(), "acme");
  EXPECT_EQ(r.body.at("plan").as_string(), "standard");
  EXPECT_EQ(r.body.at("subnets").as_array().size(), 2u);
  EXPECT_EQ(r.body.at("subnets").at(0).as_string(), "198.18.1.0/24");
  EXPECT_EQ(r.body.at("port25_mode").as_string(), "redirect");
  EXPECT_EQ(r.body.at("abuse_contact").as_string(), "abuse@acme.example");
  EXPECT_EQ(r.body.at("status").as_string(), "active");
  EXPECT_EQ(r.body.at("status_reason").as_string(), "");
  EXPECT_GT(r.body.at("created_at").as_int64(), 0);
  EXPECT_EQ(tenant_changes_, 1);

  // The relay's view changes at once.
  auto snapshot = registry_.snapshot();
  const auto* found = snapshot->find_by_address(asio::ip::make_address("198.18.1.77"));
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->id, "acme");

  r = call("GET", "/v1/tenants");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.at("tenants").as_array().size(), 1u);
  EXPECT_EQ(r.body.at("tenants").at(0).at("id").as_string(), "acme");

  r = call("GET", "/v1/tenants/acme");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("port25_mode").as_string(), "redirect");

  r = call("PATCH", "/v1/tenants/acme",
           R"({"status":"suspended","status_reason":"spam run","plan":"bulk"})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(r.body.at("status").as_string(), "suspended");
  EXPECT_EQ(r.body.at("status_reason").as_string(), "spam run");
  EXPECT_EQ(r.body.at("plan").as_string(), "bulk");
  EXPECT_EQ(r.body.at("subnets").as_array().size(), 2u);  // untouched fields stay
  EXPECT_EQ(registry_.snapshot()->find("acme")->status, store::TenantStatus::suspended);

  r = call("PATCH", "/v1/tenants/acme", R"({"subnets":["198.18.9.0/24"]})");
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_EQ(registry_.snapshot()->find_by_address(asio::ip::make_address("198.18.1.77")), nullptr);

  r = call("PATCH", "/v1/tenants/acme", R"({"status":"active"})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("status_reason").as_string(), "");

  r = call("PATCH", "/v1/tenants/acme", R"({"id":"other"})");
  EXPECT_EQ(r.status, 400);

  r = call("DELETE", "/v1/tenants/acme");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(registry_.snapshot()->find("acme"), nullptr);

  r = call("GET", "/v1/tenants/acme");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(error_of(r), "no tenant 'acme'");
  EXPECT_EQ(call("DELETE", "/v1/tenants/acme").status, 404);
  EXPECT_EQ(call("PATCH", "/v1/tenants/acme", R"({"plan":"bulk"})").status, 404);
}

TEST_F(ControlApi, InvalidSubnetIs400WithMessage) {
  auto r =
      call("POST", "/v1/tenants", R"({"id":"acme","plan":"standard","subnets":["198.18.1.1/24"]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("198.18.1.0/24"), std::string::npos) << error_of(r);

  r = call("POST", "/v1/tenants", R"({"id":"acme","plan":"standard","subnets":["nonsense"]})");
  EXPECT_EQ(r.status, 400);
  r = call("POST", "/v1/tenants", R"({"id":"acme","plan":"standard","subnets":"198.18.1.0/24"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "field 'subnets' must be a list of strings");
  EXPECT_EQ(tenant_changes_, 0);
}

TEST_F(ControlApi, FieldValidation) {
  EXPECT_EQ(call("POST", "/v1/tenants", R"({"id":"Bad Id","plan":"standard"})").status, 400);
  EXPECT_EQ(call("POST", "/v1/tenants", R"({"plan":"standard"})").status, 400);
  EXPECT_EQ(call("POST", "/v1/tenants", R"({"id":"acme"})").status, 400);
  auto r = call("POST", "/v1/tenants", R"({"id":"acme","plan":"standard","port25_mode":"open"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("block, redirect, exempt"), std::string::npos);
  r = call("POST", "/v1/tenants", R"({"id":"acme","plan":"standard","colour":"red"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(error_of(r), "unknown field 'colour'");
  EXPECT_EQ(call("POST", "/v1/tenants", R"(["acme"])").status, 400);
  EXPECT_EQ(call("POST", "/v1/tenants", R"({"id":7,"plan":"standard"})").status, 400);
}

TEST_F(ControlApi, UnknownPlanIs400) {
  auto r = call("POST", "/v1/tenants", R"({"id":"acme","plan":"platinum"})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("unknown plan 'platinum'"), std::string::npos) << error_of(r);
  EXPECT_NE(error_of(r).find("bulk, standard"), std::string::npos) << error_of(r);
}

TEST_F(ControlApi, DuplicateIs409OverlapIs400) {
  ASSERT_EQ(add_acme().status, 201);
  auto r = add_acme();
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(error_of(r), "tenant 'acme' already exists");

  r = call("POST", "/v1/tenants",
           R"({"id":"beta","plan":"standard","subnets":["198.18.1.128/25"]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("overlaps"), std::string::npos) << error_of(r);
}

TEST_F(ControlApi, CredentialIssueListRevoke) {
  ASSERT_EQ(add_acme().status, 201);
  auto r = call("POST", "/v1/tenants/acme/credentials", R"({"description":"web app"})");
  ASSERT_EQ(r.status, 201) << error_of(r);
  const std::string username(r.body.at("username").as_string());
  const std::string password(r.body.at("password").as_string());
  EXPECT_EQ(r.body.at("tenant_id").as_string(), "acme");
  EXPECT_EQ(r.body.at("description").as_string(), "web app");
  EXPECT_GE(password.size(), 32u);

  auto secret = store_->find_credential(username);
  ASSERT_TRUE(secret.has_value());
  EXPECT_TRUE(auth::verify_password(secret->password_hash, password));
  EXPECT_FALSE(auth::verify_password(secret->password_hash, password + "x"));

  r = call("GET", "/v1/tenants/acme/credentials");
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.at("credentials").as_array().size(), 1u);
  const auto& listed = r.body.at("credentials").at(0).as_object();
  EXPECT_EQ(listed.at("username").as_string(), username);
  EXPECT_TRUE(listed.at("revoked_at").is_null());
  EXPECT_FALSE(listed.contains("password"));

  // An empty body is an empty description.
  EXPECT_EQ(call("POST", "/v1/tenants/acme/credentials").status, 201);
  EXPECT_EQ(call("POST", "/v1/tenants/acme/credentials", R"({"secret":1})").status, 400);
  EXPECT_EQ(call("POST", "/v1/tenants/nobody/credentials", "{}").status, 404);
  EXPECT_EQ(call("GET", "/v1/tenants/nobody/credentials").status, 404);

  r = call("DELETE", "/v1/credentials/" + username);
  ASSERT_EQ(r.status, 200) << error_of(r);
  EXPECT_TRUE(r.body.at("revoked_at").is_int64());
  EXPECT_FALSE(store_->find_credential(username).has_value());
  EXPECT_EQ(call("DELETE", "/v1/credentials/" + username).status, 409);
  EXPECT_EQ(call("DELETE", "/v1/credentials/acme.nosuchone").status, 404);
  EXPECT_EQ(call("DELETE", "/v1/credentials/nodot").status, 404);
}

TEST_F(ControlApi, QueueListAndShow) {
  auto r = call("GET", "/v1/queue");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("total").to_number<std::uint64_t>(), 2u);
  ASSERT_EQ(r.body.at("messages").as_array().size(), 2u);
  const auto& first = r.body.at("messages").at(0);
  EXPECT_EQ(first.at("id").as_string(), "0001AAAA");
  EXPECT_EQ(first.at("tenant_id").as_string(), "acme");
  EXPECT_EQ(first.at("mail_from").as_string(), "x@acme.example");
  EXPECT_EQ(first.at("recipients").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(first.at("size").to_number<std::uint64_t>(), 1234u);
  EXPECT_EQ(first.at("received_at").as_int64(), 1700000000);

  r = call("GET", "/v1/queue?limit=1");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("messages").as_array().size(), 1u);
  EXPECT_EQ(r.body.at("total").to_number<std::uint64_t>(), 2u);
  EXPECT_EQ(call("GET", "/v1/queue?limit=abc").status, 400);
  EXPECT_EQ(call("GET", "/v1/queue?limit=0").status, 400);

  r = call("GET", "/v1/queue/0002BBBB");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.at("mail_from").as_string(), "");
  EXPECT_EQ(r.body.at("listener").as_string(), "submission");
  EXPECT_EQ(r.body.at("recipients").as_array().size(), 2u);
  EXPECT_EQ(r.body.at("headers").as_string(), "Subject: hi\r\nFrom: x@acme.example\r\n");
  EXPECT_EQ(r.body.at("size").to_number<std::uint64_t>(), 1234u);
  EXPECT_EQ(r.body.at("body_type").as_string(), "8BITMIME");
  EXPECT_FALSE(r.body.at("smtputf8").as_bool());

  EXPECT_EQ(call("GET", "/v1/queue/nope").status, 404);
}

TEST_F(ControlApi, BadJsonIs400) {
  auto r = call("POST", "/v1/tenants", R"({"id": "acme", )");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(error_of(r).find("not valid JSON"), std::string::npos);
  // The connection stays usable.
  EXPECT_EQ(call("GET", "/v1/health").status, 200);
}

TEST_F(ControlApi, OversizedBodyIs413) {
  std::string big = R"({"description":")" + std::string(2 * 1024 * 1024, 'a') + R"("})";
  auto r = call("POST", "/v1/tenants/acme/credentials", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_NE(error_of(r).find("larger than"), std::string::npos);
  // The client reconnects after the server closed.
  EXPECT_EQ(call("GET", "/v1/health").status, 200);
}

TEST_F(ControlApi, UnknownRouteIs404WrongMethodIs405) {
  auto r = call("GET", "/v1/nothing");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(error_of(r), "<no error field>");
  EXPECT_EQ(call("PUT", "/v1/tenants").status, 405);
}

TEST_F(ControlApi, MalformedHttpGets400AndClose) {
  asio::io_context io;
  Protocol::socket socket(io);
  socket.connect(Protocol::endpoint(socket_.string()));
  asio::write(socket, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));
  std::string reply;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(reply), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_TRUE(reply.starts_with("HTTP/1.1 400")) << reply;
}

TEST_F(ControlApi, IdleConnectionIsClosedAfterDeadline) {
  asio::io_context io;
  Protocol::socket socket(io);
  socket.connect(Protocol::endpoint(socket_.string()));
  const auto started = std::chrono::steady_clock::now();
  std::string reply;
  boost::system::error_code ec;
  asio::read(socket, asio::dynamic_buffer(reply), ec);
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_TRUE(reply.empty());
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5));
}

TEST_F(ControlApi, RefusesToStealALiveSocket) {
  asio::io_context other;
  EXPECT_THROW(ControlServer(other.get_executor(), socket_, Router{}), std::runtime_error);
}

TEST(ControlClient, ReportsMissingDaemon) {
  ControlClient client("/tmp/portcullis-no-such-dir/control.sock");
  auto r = client.request("GET", "/v1/health");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().message,
            "cannot connect to /tmp/portcullis-no-such-dir/control.sock: No such file or "
            "directory (is portcullisd running?)");
}

}  // namespace
}  // namespace portcullis::control
