#include "relay/smtp/session.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "gateway/core/mail/local_mailbox.hpp"
#include "gateway/core/store/store.hpp"
#include "relay/auth/auth_limiter.hpp"
#include "relay/auth/credential_verifier.hpp"
#include "relay/policy/policy_engine.hpp"
#include "relay/queue/disk_guard.hpp"
#include "relay/queue/spool.hpp"
#include "relay/smtp/message_headers.hpp"

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

// Constructed before ListenerFixture, which keeps a reference to it.
template <class ClockType>
struct ClockHolder {
  ClockType clock_;
};

// A listener of `kind` on 127.0.0.1 whose sessions run on their own thread.
// Subclasses finish services_ (policy, mailbox), then call start(), and call
// stop() first in their destructor: their members outlive no session.
class ListenerFixture {
 public:
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
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

 protected:
  ListenerFixture(ListenerKind kind, const Clock& clock)
      : kind_(kind),
        config_(relay_config()),
        store_(store::Store::open(dir_.path() / "store")),
        spool_(queue::Spool::open(dir_.path() / "queue")),
        verifier_(*store_),
        auth_limiter_(config_.auth, clock),
        services_{config_, tls_, registry_, *spool_, verifier_, auth_limiter_, clock},
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  ~ListenerFixture() { stop(); }

  void start() {
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  void stop() {
    if (!thread_.joinable()) {
      return;
    }
    asio::post(io_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
    });
    io_.stop();
    thread_.join();
  }

  ListenerKind kind_;
  TempDir dir_;
  config::RelayConfig config_;
  asio::io_context io_{1};
  asio::ssl::context tls_{asio::ssl::context::tlsv12_server};
  tenants::TenantRegistry registry_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<queue::Spool> spool_;
  auth::CredentialVerifier verifier_;
  auth::AuthLimiter auth_limiter_;
  SessionServices services_;
  tcp::acceptor acceptor_;
  std::thread thread_;

 private:
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
          io_, run_session(std::move(socket), SessionOrigin{kind_, id++, client, {}}, services_),
          asio::detached);
    }
  }
};

// The intercept listener for tenant acme (127.0.0.0/8), with the policy
// engine wired as the daemon wires it.
class InterceptFixture : private ClockHolder<SystemClock>, public ListenerFixture {
 public:
  explicit InterceptFixture(config::Plan plan)
      : ListenerFixture(ListenerKind::intercept, clock_), plan_(plan), engine_(clock_, hooks()) {
    store::Tenant acme;
    acme.id = "acme";
    acme.plan = "basic";
    acme.subnets = {net::Prefix::parse("127.0.0.0/8").value()};
    acme.port25_mode = store::Port25Mode::redirect;
    registry_.publish(std::make_shared<const tenants::TenantDirectory>(
        std::vector<store::Tenant>{std::move(acme)}));
    services_.policy = &engine_;
    start();
  }
  ~InterceptFixture() { stop(); }

  policy::PolicyEngine& engine() { return engine_; }

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

  config::Plan plan_;
  policy::PolicyEngine engine_;
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
  // Whether any reply bytes have arrived yet (without waiting for them).
  bool has_input() { return !buffer_.empty() || socket_.available() > 0; }
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

Result<std::string> stored(std::string id) {
  return Result<std::string>(boost::system::in_place_value, std::move(id));
}

// Records what the feedback listener hands over; the test decides when (and
// from its own thread) each delivery completes.
class FakeMailbox final : public mail::LocalMailbox {
 public:
  bool accepts(std::string_view address) const override {
    std::string lower(address);
    for (char& c : lower) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return lower == "fbl@relay.test" || lower == "abuse@relay.test";
  }
  void deliver(mail::InboundMessage message, Done done) override {
    std::lock_guard lock(mutex_);
    messages_.push_back(std::move(message));
    pending_.push_back(std::move(done));
  }

  std::size_t delivered() const {
    std::lock_guard lock(mutex_);
    return messages_.size();
  }
  mail::InboundMessage message(std::size_t i) const {
    std::lock_guard lock(mutex_);
    return messages_.at(i);
  }
  // Completes the oldest delivery, as the abuse intake would once stored.
  void finish(Result<std::string> result) {
    Done done;
    {
      std::lock_guard lock(mutex_);
      done = std::move(pending_.front());
      pending_.pop_front();
    }
    done(std::move(result));
  }
  // A broken mailbox: forgets the delivery without ever calling done.
  void drop() {
    std::lock_guard lock(mutex_);
    pending_.pop_front();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<mail::InboundMessage> messages_;
  std::deque<Done> pending_;
};

// The feedback listener with a FakeMailbox (or none) and a FakeClock.
class FeedbackFixture : private ClockHolder<FakeClock>, public ListenerFixture {
 public:
  explicit FeedbackFixture(bool with_mailbox = true)
      : ListenerFixture(ListenerKind::feedback, clock_) {
    if (with_mailbox) {
      services_.mailbox = &mailbox_;
    }
    start();
  }
  ~FeedbackFixture() { stop(); }

  FakeMailbox& mailbox() { return mailbox_; }

 private:
  FakeMailbox mailbox_;  // destroyed after stop(), before the base's io_ it posts to
};

// Greets, says EHLO and opens a transaction for fbl@relay.test.
void open_feedback_transaction(Client& c) {
  ASSERT_EQ(c.reply(), "220 relay.test ESMTP Portcullis\r\n");
  ASSERT_EQ(c.command("EHLO mx.provider.test").substr(0, 4), "250-");
  ASSERT_EQ(c.command("MAIL FROM:<>"), "250 2.1.0 Ok\r\n");
  ASSERT_EQ(c.command("RCPT TO:<FBL@relay.test>"), "250 2.1.5 Ok\r\n");
}

TEST(SessionFeedbackTest, ReportIsAnsweredOnlyOnceTheMailboxStoredIt) {
  FeedbackFixture f;
  Client c(f.port());
  EXPECT_EQ(c.reply(), "220 relay.test ESMTP Portcullis\r\n");
  const std::string ehlo = c.command("EHLO mx.provider.test");
  EXPECT_NE(ehlo.find("250-STARTTLS\r\n"), std::string::npos);
  EXPECT_EQ(ehlo.find("AUTH"), std::string::npos);
  EXPECT_EQ(c.command("MAIL FROM:<>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(c.command("RCPT TO:<victim@example.net>"),
            "550 5.7.1 Relaying denied: <victim@example.net> is not a mailbox of this gateway\r\n");
  EXPECT_EQ(c.command("RCPT TO:<FBL@relay.test>"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  const std::string client_copy =
      "From: fbl@provider.test\r\nX-Portcullis-Tenant: forged\r\nSubject: complaint\r\n"
      "Content-Type: multipart/report; report-type=feedback-report\r\n\r\n"
      "..a dot-stuffed line\r\nFeedback-Type: abuse\r\n";
  const std::string as_written =
      "From: fbl@provider.test\r\nSubject: complaint\r\n"
      "Content-Type: multipart/report; report-type=feedback-report\r\n\r\n"
      ".a dot-stuffed line\r\nFeedback-Type: abuse\r\n";
  c.send(client_copy + ".\r\n");

  ASSERT_TRUE(f.eventually([&] { return f.mailbox().delivered() == 1; }));
  // Stored is not yet durable: no reply until done.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(c.has_input());

  const mail::InboundMessage m = f.mailbox().message(0);
  EXPECT_EQ(m.client_address, "127.0.0.1");
  EXPECT_EQ(m.helo, "mx.provider.test");
  EXPECT_EQ(m.mail_from, "");
  // The refused recipient never reaches the mailbox.
  EXPECT_EQ(m.recipients, (std::vector<std::string>{"FBL@relay.test"}));
  EXPECT_EQ(m.received_at, 1'700'000'000);
  // Byte-exact: our Received field (its id is ours, random), then the message as written,
  // less the client's X-Portcullis-Tenant; no attribution, no Message-ID or Date added.
  const std::size_t id_at = m.data.find(" id ");
  ASSERT_NE(id_at, std::string::npos);
  ReceivedInfo received;
  received.helo = "mx.provider.test";
  received.client_address = "127.0.0.1";
  received.hostname = "relay.test";
  received.queue_id = m.data.substr(id_at + 4, m.data.find('\r', id_at) - id_at - 4);
  received.recipient = "FBL@relay.test";
  received.unix_time = 1'700'000'000;
  EXPECT_EQ(m.data, received_header(received) + as_written);
  EXPECT_NE(m.data.find("by relay.test (Portcullis) with ESMTP id "), std::string::npos);
  EXPECT_FALSE(has_header(m.data, kTenantHeader));

  f.mailbox().finish(stored("R1"));  // from the test thread, as another thread would
  EXPECT_EQ(c.reply(), "250 2.0.0 Ok: report R1 stored\r\n");
  EXPECT_EQ(f.spool().size(), 0u);  // mail to the gateway itself is never queued
  EXPECT_EQ(c.command("QUIT").substr(0, 4), "221 ");
}

TEST(SessionFeedbackTest, MailboxErrorIs451AndTheSessionGoesOn) {
  FeedbackFixture f;
  Client c(f.port());
  open_feedback_transaction(c);
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  c.send("Subject: r\r\n\r\nx\r\n.\r\n");
  ASSERT_TRUE(f.eventually([&] { return f.mailbox().delivered() == 1; }));
  f.mailbox().finish(make_error("disk full"));
  EXPECT_EQ(c.reply(), "451 4.3.0 Could not store message, try again later\r\n");
  // Nothing was claimed and nothing is left of the transaction.
  EXPECT_EQ(c.command("DATA"), "503 5.5.1 Need MAIL command first\r\n");
  EXPECT_EQ(c.command("MAIL FROM:<fbl@provider.test>"), "250 2.1.0 Ok\r\n");
}

TEST(SessionFeedbackTest, MailboxThatNeverAnswersGets451NotAHang) {
  FeedbackFixture f;
  Client c(f.port());
  open_feedback_transaction(c);
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  c.send("Subject: r\r\n\r\nx\r\n.\r\n");
  ASSERT_TRUE(f.eventually([&] { return f.mailbox().delivered() == 1; }));
  f.mailbox().drop();
  EXPECT_EQ(c.reply(), "451 4.3.0 Could not store message, try again later\r\n");
}

TEST(SessionFeedbackTest, BdatReportIsStoredToo) {
  FeedbackFixture f;
  Client c(f.port());
  open_feedback_transaction(c);
  const std::string body = "Subject: r\r\n\r\n.x\r\n";
  c.send("BDAT " + std::to_string(body.size()) + " LAST\r\n" + body);
  ASSERT_TRUE(f.eventually([&] { return f.mailbox().delivered() == 1; }));
  const std::string data = f.mailbox().message(0).data;
  EXPECT_EQ(data.substr(0, 10), "Received: ");
  EXPECT_EQ(data.substr(data.size() - body.size()), body);  // BDAT is never dot-stuffed
  f.mailbox().finish(stored("R2"));
  EXPECT_EQ(c.reply(), "250 2.0.0 Ok: report R2 stored\r\n");
}

TEST(SessionFeedbackTest, BareLfIsRefusedBeforeTheMailbox) {
  FeedbackFixture f;
  Client c(f.port());
  open_feedback_transaction(c);
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  // The SMTP smuggling shape: a bare LF before a dot.
  EXPECT_EQ(c.command("Subject: r\r\n\r\nx\n.\nMAIL FROM:<a@b.test>\r\n."),
            "550 5.6.0 Message contains bare CR or LF; lines must end with CRLF\r\n");
  EXPECT_EQ(c.command("NOOP"), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(f.mailbox().delivered(), 0u);
}

TEST(SessionFeedbackTest, WithoutMailboxEveryRecipientIsRefused) {
  FeedbackFixture f(false);
  Client c(f.port());
  EXPECT_EQ(c.reply(), "220 relay.test ESMTP Portcullis\r\n");
  c.command("EHLO mx.provider.test");
  EXPECT_EQ(c.command("AUTH PLAIN AGEAYg=="), "503 5.5.1 AUTH not available on this service\r\n");
  EXPECT_EQ(c.command("MAIL FROM:<>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(c.command("RCPT TO:<fbl@relay.test>"),
            "550 5.7.1 Relaying denied: <fbl@relay.test> is not a mailbox of this gateway\r\n");
  EXPECT_EQ(c.command("DATA"), "554 5.5.1 No valid recipients\r\n");
}

// The intercept listener with a DiskGuard whose free space the test sets;
// the test calls refresh() itself (no guard thread).
class DiskGuardFixture : public InterceptFixture {
 public:
  DiskGuardFixture() : InterceptFixture(plan_with(10, 100)) { services_.disk_guard = &guard_; }
  ~DiskGuardFixture() { stop(); }  // no session outlives guard_

  void set_available(std::uint64_t bytes) {
    available_ = bytes;
    guard_.refresh();
  }

 private:
  std::atomic<std::uint64_t> available_{1'000'000'000};
  queue::DiskGuard guard_{"/state",
                          {1'000'000, 0},
                          std::chrono::seconds(1),
                          [this](const fs::path&) -> Result<queue::FreeSpace> {
                            return queue::FreeSpace{available_.load(), 10'000'000'000};
                          }};
};

TEST(SessionDiskGuardTest, MailIsRefusedWith452WhileTheDiskIsShortOfSpace) {
  DiskGuardFixture f;
  f.set_available(999'999);
  Client c(f.port());
  c.reply();
  c.command("EHLO client.test");
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(c.command("RCPT TO:<r@example.net>"), "503 5.5.1 Need MAIL command first\r\n");
  EXPECT_EQ(f.engine().usage("acme").reserved, 0u);  // the quota never saw the refused MAIL

  f.set_available(2'000'000);
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(c.command("RCPT TO:<r@example.net>"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  EXPECT_EQ(c.command("Subject: hi\r\n\r\nbody\r\n.").substr(0, 24), "250 2.0.0 Ok: queued as ");
  EXPECT_EQ(f.spool().size(), 1u);
}

TEST(SessionDiskGuardTest, SpaceRunningOutDuringDataRefusesTheMessageWith452) {
  DiskGuardFixture f;
  Client c(f.port());
  c.reply();
  c.command("EHLO client.test");
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(c.command("RCPT TO:<r@example.net>"), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(c.command("DATA").substr(0, 4), "354 ");
  f.set_available(10);
  EXPECT_EQ(c.command("Subject: hi\r\n\r\nbody\r\n."), "452 4.3.1 Insufficient system storage\r\n");
  EXPECT_EQ(f.spool().size(), 0u);
  EXPECT_EQ(f.engine().usage("acme").reserved, 0u);  // the transaction ended unaccepted
  EXPECT_EQ(f.engine().usage("acme").used, 0u);
  // Over the threshold but inside the 5% margin: still refused, no flapping.
  f.set_available(1'040'000);
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "452 4.3.1 Insufficient system storage\r\n");
  f.set_available(1'050'000);
  EXPECT_EQ(c.command("MAIL FROM:<a@acme.test>"), "250 2.1.0 Ok\r\n");
}

}  // namespace
}  // namespace portcullis::relay::smtp
