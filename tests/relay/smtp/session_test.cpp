#include "relay/smtp/session.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <random>
#include <string>
#include <thread>

#include "gateway/core/store/store.hpp"
#include "relay/auth/auth_limiter.hpp"
#include "relay/auth/credential_verifier.hpp"
#include "relay/policy/policy_engine.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::relay::smtp {
namespace {

namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("portcullis-session-" + std::to_string(rd()) + "-" + std::to_string(rd()));
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

config::RelayConfig relay_config() {
  config::RelayConfig c;
  c.hostname = "relay.test";
  return c;
}

// The intercept listener on 127.0.0.1 for tenant acme (127.0.0.0/8), with the
// policy engine wired as the daemon wires it; sessions run on their own thread.
class InterceptFixture {
 public:
  explicit InterceptFixture(config::Plan plan)
      : plan_(plan),
        config_(relay_config()),
        store_(store::Store::open(dir_.path() / "store")),
        spool_(queue::Spool::open(dir_.path() / "queue")),
        verifier_(*store_),
        auth_limiter_(config_.auth, clock_),
        engine_(clock_, hooks()),
        services_{config_, tls_, registry_, *spool_, verifier_, auth_limiter_, clock_},
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    store::Tenant acme;
    acme.id = "acme";
    acme.plan = "basic";
    acme.subnets = {net::Prefix::parse("127.0.0.0/8").value()};
    acme.port25_mode = store::Port25Mode::redirect;
    registry_.publish(std::make_shared<const tenants::TenantDirectory>(
        std::vector<store::Tenant>{std::move(acme)}));
    services_.policy = &engine_;
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~InterceptFixture() {
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    io_.stop();
    thread_.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  policy::PolicyEngine& engine() { return engine_; }
  queue::Spool& spool() { return *spool_; }

  // Polls (the session ends on its own thread) until pred or a 10 s deadline.
  template <class Pred>
  bool eventually(Pred pred) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) {
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  policy::PolicyHooks hooks() {
    policy::PolicyHooks h;
    h.limits = [this](std::string_view tenant) -> std::optional<config::Plan> {
      if (tenant != "acme") {
        return std::nullopt;
      }
      return plan_;
    };
    h.month_usage = [this](std::string_view tenant, std::string_view month) {
      return spool_->messages_in_month(tenant, month);
    };
    return h;
  }

  asio::awaitable<void> accept_loop() {
    std::uint64_t id = 1;
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio_nothrow);
      if (ec) {
        co_return;
      }
      boost::system::error_code endpoint_ec;
      const tcp::endpoint client = socket.remote_endpoint(endpoint_ec);
      asio::co_spawn(
          io_,
          run_session(std::move(socket), SessionOrigin{ListenerKind::intercept, id++, client, {}},
                      services_),
          asio::detached);
    }
  }

  TempDir dir_;
  config::Plan plan_;
  config::RelayConfig config_;
  SystemClock clock_;
  asio::io_context io_{1};
  asio::ssl::context tls_{asio::ssl::context::tlsv12_server};
  tenants::TenantRegistry registry_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<queue::Spool> spool_;
  auth::CredentialVerifier verifier_;
  auth::AuthLimiter auth_limiter_;
  policy::PolicyEngine engine_;
  SessionServices services_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// A blocking SMTP client for the test thread.
class Client {
 public:
  explicit Client(std::uint16_t port) : socket_(io_) {
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  // The whole reply, "250-a\r\n250 b\r\n"; "" at end of stream.
  std::string reply() {
    std::string out;
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = asio::read_until(socket_, asio::dynamic_buffer(buffer_), "\r\n", ec);
      if (ec) {
        return out;
      }
      const std::string line = buffer_.substr(0, n);
      buffer_.erase(0, n);
      out += line;
      if (line.size() < 4 || line[3] != '-') {
        return out;
      }
    }
  }
  void send(const std::string& text) { asio::write(socket_, asio::buffer(text)); }
  std::string command(const std::string& line) {
    send(line + "\r\n");
    return reply();
  }
  bool closed_by_peer() {
    boost::system::error_code ec;
    char c;
    socket_.read_some(asio::buffer(&c, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

 private:
  asio::io_context io_;
  tcp::socket socket_;
  std::string buffer_;
};

config::Plan plan_with(std::size_t max_connections,
                       std::uint64_t quota,
                       std::uint64_t max_size = 10'000'000) {
  config::Plan p;
  p.max_connections = max_connections;
  p.monthly_quota = quota;
  p.max_message_size = max_size;
  return p;
}

TEST(SessionPolicyTest, InterceptOverTheTenantsConnectionLimitGets421AtConnect) {
  InterceptFixture f(plan_with(1, 100));
  Client first(f.port());
  EXPECT_EQ(first.reply(), "220 relay.test ESMTP Portcullis\r\n");
  Client second(f.port());
  EXPECT_EQ(second.reply(),
            "421 4.7.0 Too many connections for tenant acme (limit 1), try again later\r\n");
  EXPECT_TRUE(second.closed_by_peer());
  EXPECT_EQ(first.command("QUIT").substr(0, 4), "221 ");
  ASSERT_TRUE(f.eventually([&] { return f.engine().usage("acme").connections == 0; }));
  Client third(f.port());
  EXPECT_EQ(third.reply(), "220 relay.test ESMTP Portcullis\r\n");
}

TEST(SessionPolicyTest, QueuedMessageCountsAgainstTheQuota) {
  InterceptFixture f(plan_with(10, 1));
  Client c(f.port());
  c.reply();
  EXPECT_EQ(c.command("EHLO client.test").substr(0, 4), "250-");
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(c.command("RCPT TO:<r@example.net>"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  EXPECT_EQ(c.command("Subject: hi\r\n\r\nbody\r\n.").substr(0, 24), "250 2.0.0 Ok: queued as ");
  EXPECT_EQ(f.engine().usage("acme").used, 1u);
  EXPECT_EQ(f.engine().usage("acme").reserved, 0u);
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"),
            "550 5.7.1 Monthly quota of 1 messages exhausted for tenant acme; it renews on the "
            "1st (UTC)\r\n");
  EXPECT_EQ(f.spool().messages_in_month("acme", policy::month_of(SystemClock().unix_now())), 1u);
}

TEST(SessionPolicyTest, TenantSizeLimitCapsDataAndDisconnectReleasesTheReservation) {
  InterceptFixture f(plan_with(10, 100, 1024));
  Client c(f.port());
  c.reply();
  c.command("EHLO client.test");
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test> SIZE=1025"),
            "552 5.3.4 Message size exceeds the tenant's limit of 1024 bytes\r\n");
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(c.command("RCPT TO:<r@example.net>"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  std::string big = "Subject: big\r\n\r\n";
  for (int i = 0; i < 20; ++i) {
    big += std::string(98, 'x') + "\r\n";
  }
  EXPECT_EQ(c.command(big + "."), "552 5.3.4 Message size exceeds fixed maximum message size\r\n");
  EXPECT_EQ(f.engine().usage("acme").reserved, 0u);
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(f.engine().usage("acme").reserved, 1u);
  c.close();  // mid-transaction
  ASSERT_TRUE(f.eventually([&] {
    const auto u = f.engine().usage("acme");
    return u.reserved == 0 && u.connections == 0;
  }));
  EXPECT_EQ(f.engine().usage("acme").used, 0u);
}

}  // namespace
}  // namespace portcullis::relay::smtp
