#include "gateway/core/webhooks/webhook_dispatcher.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "tests/gateway/webhooks/test_https_server.hpp"

namespace portcullis::webhooks {
namespace {

using namespace std::chrono_literals;
using events::DeliveryEvent;
using events::DeliveryEventType;
using test_support::ReceivedRequest;
using test_support::TestHttpsServer;
using test_support::TestPki;

constexpr auto kWait = std::chrono::seconds(20);  // a failure guard, never a timing assertion

class FakeEventLog final : public EventLog {
 public:
  std::int64_t append(DeliveryEventType type, const std::string& tenant) {
    std::lock_guard lock(mutex_);
    DeliveryEvent e;
    e.id = ++last_id_;
    e.time = 1700000000 + e.id;
    e.type = type;
    e.tenant_id = tenant;
    e.message_id = "MSG" + std::to_string(e.id);
    e.recipient = "user" + std::to_string(e.id) + "@example.org";
    e.detail = "250 2.0.0 ok " + std::to_string(e.id);
    e.remote = "mx.example.org [198.18.2.10]";
    events_.push_back(e);
    return e.id;
  }

  DeliveryEvent get(std::int64_t id) const {
    std::lock_guard lock(mutex_);
    return events_.at(static_cast<std::size_t>(id - 1));
  }

  std::vector<DeliveryEvent> events_after(std::string_view tenant,
                                          std::int64_t after_id,
                                          std::size_t limit) const override {
    std::lock_guard lock(mutex_);
    queried_.emplace(tenant);
    std::vector<DeliveryEvent> out;
    for (const auto& e : events_) {
      if (e.tenant_id == tenant && e.id > after_id && out.size() < limit) {
        out.push_back(e);
      }
    }
    return out;
  }

  std::int64_t last_event_id() const override {
    std::lock_guard lock(mutex_);
    return last_id_;
  }

  std::set<std::string> queried() const {
    std::lock_guard lock(mutex_);
    return queried_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<DeliveryEvent> events_;
  std::int64_t last_id_ = 0;
  mutable std::set<std::string> queried_;
};

class FakeCursorStore final : public CursorStore {
 public:
  void put_endpoint(Endpoint endpoint) {
    std::lock_guard lock(mutex_);
    std::erase_if(endpoints_, [&](const auto& e) { return e.tenant_id == endpoint.tenant_id; });
    endpoints_.push_back(std::move(endpoint));
  }
  void remove_endpoint(const std::string& tenant) {
    std::lock_guard lock(mutex_);
    std::erase_if(endpoints_, [&](const auto& e) { return e.tenant_id == tenant; });
  }
  // The next n cursor() calls throw, as an adapter reports a storage error.
  void fail_reads(int n) {
    std::lock_guard lock(mutex_);
    failing_reads_ = n;
  }
  // A cursor from an earlier run (not in the history).
  void seed(const std::string& tenant, std::int64_t id) {
    std::lock_guard lock(mutex_);
    cursors_[tenant] = id;
  }

  std::vector<Endpoint> endpoints() const override {
    std::lock_guard lock(mutex_);
    return endpoints_;
  }
  std::optional<std::int64_t> cursor(std::string_view tenant) const override {
    std::lock_guard lock(mutex_);
    if (failing_reads_ > 0) {
      --failing_reads_;
      throw std::runtime_error("database is locked");
    }
    auto it = cursors_.find(std::string(tenant));
    return it == cursors_.end() ? std::nullopt : std::optional(it->second);
  }
  void set_cursor(std::string_view tenant, std::int64_t id) override {
    std::lock_guard lock(mutex_);
    cursors_[std::string(tenant)] = id;
    history_[std::string(tenant)].push_back(id);
    cv_.notify_all();
  }

  bool wait_for_cursor(const std::string& tenant, std::int64_t id) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kWait, [&] {
      auto it = cursors_.find(tenant);
      return it != cursors_.end() && it->second == id;
    });
  }
  std::vector<std::int64_t> history(const std::string& tenant) const {
    std::lock_guard lock(mutex_);
    auto it = history_.find(tenant);
    return it == history_.end() ? std::vector<std::int64_t>{} : it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Endpoint> endpoints_;
  std::map<std::string, std::int64_t> cursors_;
  std::map<std::string, std::vector<std::int64_t>> history_;
  mutable int failing_reads_ = 0;
};

std::string hmac_hex(const std::string& key, const std::string& message) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest, &length);
  std::string out;
  char byte[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(byte, sizeof(byte), "%02x", digest[i]);
    out += byte;
  }
  return out;
}

std::vector<std::int64_t> event_ids(const ReceivedRequest& request) {
  std::vector<std::int64_t> ids;
  const auto body = boost::json::parse(request.body);  // kept: the loop refers into it
  for (const auto& e : body.at("events").as_array()) {
    ids.push_back(e.at("id").as_int64());
  }
  return ids;
}

class WebhookDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/portcullis-webhooks-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    pki_ = test_support::make_pki(dir_, "main", "IP:127.0.0.1");
  }

  void TearDown() override {
    if (dispatcher_) {
      dispatcher_->stop();
    }
    work_.reset();
    io_.stop();
    if (thread_.joinable()) {
      thread_.join();
    }
    dispatcher_.reset();
    std::filesystem::remove_all(dir_);
  }

  DispatcherSettings settings() const {
    DispatcherSettings s;
    s.ca_file = pki_.ca_file.string();
    s.retry_backoff = {10ms, 20ms};
    s.flush_delay = 10ms;
    s.idle_poll = 3600s;  // only notify() wakes an idle endpoint in these tests
    s.request_timeout = 10s;
    return s;
  }

  void start(DispatcherSettings s) {
    dispatcher_ =
        std::make_unique<WebhookDispatcher>(io_.get_executor(), log_, store_, clock_, std::move(s));
    dispatcher_->start();
    thread_ = std::thread([this] { io_.run(); });
  }

  std::string url(std::uint16_t port, const std::string& path = "/hook") const {
    return "https://127.0.0.1:" + std::to_string(port) + path;
  }

  // Polls the dispatcher's status (it has no event to wait on) until pred holds.
  template <class Pred>
  bool wait_for_status(const std::string& tenant, Pred pred) {
    const auto until = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < until) {
      for (const auto& st : dispatcher_->status()) {
        if (st.tenant_id == tenant && pred(st)) {
          return true;
        }
      }
      std::this_thread::sleep_for(2ms);
    }
    return false;
  }

  std::optional<EndpointStatus> status_of(const std::string& tenant) const {
    for (auto& st : dispatcher_->status()) {
      if (st.tenant_id == tenant) {
        return st;
      }
    }
    return std::nullopt;
  }

  std::filesystem::path dir_;
  TestPki pki_;
  FakeEventLog log_;
  FakeCursorStore store_;
  FakeClock clock_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::unique_ptr<WebhookDispatcher> dispatcher_;
  std::thread thread_;
};

TEST_F(WebhookDispatcherTest, PostsASignedBatchAndFollowsNotify) {
  TestHttpsServer server(pki_);
  log_.append(DeliveryEventType::accepted, "acme");     // 1: not sent, still passed
  log_.append(DeliveryEventType::delivered, "acme");    // 2
  log_.append(DeliveryEventType::delivered, "globex");  // 3: another tenant
  log_.append(DeliveryEventType::bounced, "acme");      // 4
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port(), "/in/acme?key=k1"), "s3cret"});
  start(settings());

  ASSERT_TRUE(server.wait_for_requests(1));
  ASSERT_TRUE(store_.wait_for_cursor("acme", 4));
  auto request = server.requests().at(0);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/in/acme?key=k1");
  EXPECT_EQ(request.header("host"), "127.0.0.1:" + std::to_string(server.port()));
  EXPECT_EQ(request.header("content-type"), "application/json");
  EXPECT_EQ(request.header("user-agent"), "portcullis-webhook/1");
  EXPECT_EQ(request.header("x-portcullis-batch"), "2-4");
  const std::string timestamp = request.header("x-portcullis-timestamp");
  EXPECT_EQ(timestamp, std::to_string(clock_.unix_now()));
  // What a receiver does: HMAC of "<timestamp>.<raw body>" with the secret.
  EXPECT_EQ(request.header("x-portcullis-signature"),
            "sha256=" + hmac_hex("s3cret", timestamp + "." + request.body));

  const auto body = boost::json::parse(request.body).as_object();
  EXPECT_EQ(body.at("tenant").as_string(), "acme");
  const auto& list = body.at("events").as_array();
  ASSERT_EQ(list.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto expected = log_.get(i == 0 ? 2 : 4);
    const auto& got = list[i].as_object();
    EXPECT_EQ(got.at("id").as_int64(), expected.id);
    EXPECT_EQ(got.at("type").as_string(), events::to_string(expected.type));
    EXPECT_EQ(got.at("time").as_int64(), expected.time);
    EXPECT_EQ(got.at("message_id").as_string(), expected.message_id);
    EXPECT_EQ(got.at("recipient").as_string(), expected.recipient);
    EXPECT_EQ(got.at("detail").as_string(), expected.detail);
    EXPECT_EQ(got.at("remote").as_string(), expected.remote);
  }
  EXPECT_EQ(store_.history("acme"), (std::vector<std::int64_t>{4}));

  // Idle now (idle_poll is an hour): only notify() brings the next event.
  const auto id = log_.append(DeliveryEventType::deferred, "acme");
  dispatcher_->notify(log_.get(id));
  ASSERT_TRUE(server.wait_for_requests(2));
  ASSERT_TRUE(store_.wait_for_cursor("acme", id));
  EXPECT_EQ(server.requests().at(1).header("x-portcullis-batch"), "5-5");
  EXPECT_EQ(log_.queried(), std::set<std::string>{"acme"});
  EXPECT_TRUE(wait_for_status("acme", [](const auto& st) {
    return st.delivered == 3 && st.failures == 0 && st.cursor == 5;
  }));
}

TEST_F(WebhookDispatcherTest, RetriesTheSameEventsUntil2xx) {
  TestHttpsServer server(pki_);
  server.script({500, 503, 200});
  std::mutex mutex;
  std::vector<std::optional<std::int64_t>> cursor_seen;
  server.on_request([&](const ReceivedRequest&) {
    std::lock_guard lock(mutex);
    cursor_seen.push_back(store_.cursor("acme"));
  });
  for (int i = 0; i < 4; ++i) {
    log_.append(DeliveryEventType::delivered, "acme");
  }
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  start(settings());

  ASSERT_TRUE(server.wait_for_requests(3));
  ASSERT_TRUE(store_.wait_for_cursor("acme", 4));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& r : requests) {
    EXPECT_EQ(event_ids(r), (std::vector<std::int64_t>{1, 2, 3, 4}));  // all of them, in order
    EXPECT_EQ(r.header("x-portcullis-batch"), "1-4");
    EXPECT_EQ(r.header("x-portcullis-signature"),
              "sha256=" + hmac_hex("s3cret", r.header("x-portcullis-timestamp") + "." + r.body));
  }
  {
    std::lock_guard lock(mutex);
    // The cursor had not moved while the receiver was answering 5xx.
    EXPECT_EQ(cursor_seen, (std::vector<std::optional<std::int64_t>>{0, 0, 0}));
  }
  EXPECT_EQ(store_.history("acme"), (std::vector<std::int64_t>{4}));
  EXPECT_TRUE(wait_for_status("acme", [](const auto& st) {
    return st.failures == 0 && st.last_error.empty() && st.delivered == 4;
  }));
}

TEST_F(WebhookDispatcherTest, ReceiverDownThenUp) {
  const auto port = test_support::unused_port();
  log_.append(DeliveryEventType::bounced, "acme");
  log_.append(DeliveryEventType::expired, "acme");
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(port), "s3cret"});
  start(settings());

  ASSERT_TRUE(wait_for_status("acme", [](const auto& st) {
    return st.failures >= 2 && st.last_error.find("connecting to 127.0.0.1") != std::string::npos;
  }));
  EXPECT_EQ(store_.history("acme"), std::vector<std::int64_t>{});

  TestHttpsServer server(pki_, port);
  ASSERT_TRUE(server.wait_for_requests(1));
  ASSERT_TRUE(store_.wait_for_cursor("acme", 2));
  EXPECT_EQ(event_ids(server.requests().at(0)), (std::vector<std::int64_t>{1, 2}));
  EXPECT_EQ(store_.history("acme"), (std::vector<std::int64_t>{2}));
}

TEST_F(WebhookDispatcherTest, BadUrlIsSkippedAndPickedUpOnceFixed) {
  TestHttpsServer server(pki_);
  log_.append(DeliveryEventType::delivered, "acme");
  log_.append(DeliveryEventType::delivered, "plain");
  log_.append(DeliveryEventType::delivered, "creds");
  for (const char* tenant : {"acme", "plain", "creds"}) {
    store_.seed(tenant, 0);
  }
  store_.put_endpoint({"plain", "http://127.0.0.1:" + std::to_string(server.port()) + "/", "x"});
  store_.put_endpoint({"creds", "https://user:pw@127.0.0.1:" + std::to_string(server.port()), "x"});
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  start(settings());

  ASSERT_TRUE(store_.wait_for_cursor("acme", 1));
  dispatcher_->reload();  // the same bad URLs again: still skipped
  // Fixing one URL starts it; its earlier cursor is kept, so its backlog goes out.
  store_.put_endpoint({"plain", url(server.port(), "/plain"), "x"});
  dispatcher_->reload();
  ASSERT_TRUE(store_.wait_for_cursor("plain", 2));
  ASSERT_TRUE(server.wait_for_requests(2));

  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].target, "/plain");
  EXPECT_EQ(event_ids(requests[1]), (std::vector<std::int64_t>{2}));
  EXPECT_EQ(log_.queried(), (std::set<std::string>{"acme", "plain"}));
  std::vector<std::string> tenants;
  for (const auto& st : dispatcher_->status()) {
    tenants.push_back(st.tenant_id);
  }
  EXPECT_EQ(tenants, (std::vector<std::string>{"acme", "plain"}));
  EXPECT_EQ(store_.history("creds"), std::vector<std::int64_t>{});
}

TEST_F(WebhookDispatcherTest, AStorageErrorIsRetriedNotMistakenForANewRegistration) {
  TestHttpsServer server(pki_);
  log_.append(DeliveryEventType::delivered, "acme");
  log_.append(DeliveryEventType::delivered, "acme");
  store_.seed("acme", 0);
  store_.fail_reads(2);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  start(settings());

  ASSERT_TRUE(store_.wait_for_cursor("acme", 2));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(event_ids(requests[0]), (std::vector<std::int64_t>{1, 2}));  // none skipped
  EXPECT_EQ(store_.history("acme"), (std::vector<std::int64_t>{2}));
}

TEST_F(WebhookDispatcherTest, RespectsTheBatchSize) {
  TestHttpsServer server(pki_);
  for (int i = 0; i < 7; ++i) {
    log_.append(DeliveryEventType::delivered, "acme");
  }
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  auto s = settings();
  s.batch_size = 3;
  start(s);

  ASSERT_TRUE(store_.wait_for_cursor("acme", 7));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(event_ids(requests[0]), (std::vector<std::int64_t>{1, 2, 3}));
  EXPECT_EQ(event_ids(requests[1]), (std::vector<std::int64_t>{4, 5, 6}));
  EXPECT_EQ(event_ids(requests[2]), (std::vector<std::int64_t>{7}));
  EXPECT_EQ(requests[2].header("x-portcullis-batch"), "7-7");
  EXPECT_EQ(store_.history("acme"), (std::vector<std::int64_t>{3, 6, 7}));
}

TEST_F(WebhookDispatcherTest, NewRegistrationStartsAfterExistingEvents) {
  TestHttpsServer server(pki_);
  log_.append(DeliveryEventType::delivered, "acme");
  log_.append(DeliveryEventType::bounced, "acme");
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});  // no cursor yet
  start(settings());

  ASSERT_TRUE(store_.wait_for_cursor("acme", 2));
  const auto id = log_.append(DeliveryEventType::bounced, "acme");
  dispatcher_->notify(log_.get(id));
  ASSERT_TRUE(store_.wait_for_cursor("acme", id));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(event_ids(requests[0]), (std::vector<std::int64_t>{3}));
  EXPECT_EQ(store_.history("acme"), (std::vector<std::int64_t>{2, 3}));
}

TEST_F(WebhookDispatcherTest, RemovedEndpointStopsAndNewOneStarts) {
  TestHttpsServer server(pki_);
  store_.seed("acme", 0);
  store_.seed("other", 0);
  store_.put_endpoint({"acme", url(server.port(), "/acme"), "s3cret"});
  start(settings());
  ASSERT_TRUE(wait_for_status("acme", [](const auto&) { return true; }));

  store_.remove_endpoint("acme");
  store_.put_endpoint({"other", url(server.port(), "/other"), "s3cret"});
  dispatcher_->reload();
  ASSERT_TRUE(wait_for_status("other", [](const auto&) { return true; }));
  EXPECT_FALSE(status_of("acme"));

  const auto gone = log_.append(DeliveryEventType::delivered, "acme");
  const auto kept = log_.append(DeliveryEventType::delivered, "other");
  dispatcher_->notify(log_.get(gone));
  dispatcher_->notify(log_.get(kept));
  ASSERT_TRUE(store_.wait_for_cursor("other", kept));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/other");
  EXPECT_EQ(store_.cursor("acme"), 0);
}

// The receiver's certificate comes from a CA the dispatcher does not trust.
TEST_F(WebhookDispatcherTest, UntrustedCertificateIsRefused) {
  const auto other = test_support::make_pki(dir_, "other", "IP:127.0.0.1");
  TestHttpsServer server(other);
  log_.append(DeliveryEventType::delivered, "acme");
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  start(settings());  // trusts only pki_'s CA

  ASSERT_TRUE(wait_for_status("acme", [](const auto& st) {
    return st.failures >= 2 && st.last_error.find("TLS handshake") != std::string::npos;
  }));
  ASSERT_TRUE(server.wait_for_handshake_failures(1));
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(store_.history("acme"), std::vector<std::int64_t>{});
  EXPECT_NE(status_of("acme")->last_error.find("certificate"), std::string::npos)
      << status_of("acme")->last_error;
}

// Trusted CA, but the certificate names another address: an IP literal is
// only ever matched against the IP SANs.
TEST_F(WebhookDispatcherTest, CertificateForAnotherAddressIsRefused) {
  const auto other = test_support::make_pki(dir_, "wrong-ip", "IP:127.0.0.2,DNS:localhost");
  TestHttpsServer server(other);
  log_.append(DeliveryEventType::delivered, "acme");
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  auto s = settings();
  s.ca_file = other.ca_file.string();
  start(s);

  ASSERT_TRUE(wait_for_status("acme", [](const auto& st) {
    return st.failures >= 2 && st.last_error.find("TLS handshake") != std::string::npos;
  }));
  EXPECT_TRUE(server.requests().empty());
  EXPECT_EQ(store_.history("acme"), std::vector<std::int64_t>{});
}

// A DNS name: resolved, sent as SNI and matched against the DNS SANs.
TEST_F(WebhookDispatcherTest, HostNameIsResolvedAndVerified) {
  const auto named = test_support::make_pki(dir_, "named", "DNS:localhost");
  TestHttpsServer server(named);
  log_.append(DeliveryEventType::delivered, "acme");
  store_.seed("acme", 0);
  store_.put_endpoint(
      {"acme", "https://LocalHost:" + std::to_string(server.port()) + "/named", "s3cret"});
  auto s = settings();
  s.ca_file = named.ca_file.string();
  start(s);

  ASSERT_TRUE(store_.wait_for_cursor("acme", 1));
  const auto requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].target, "/named");
  EXPECT_EQ(requests[0].header("host"), "localhost:" + std::to_string(server.port()));
}

TEST_F(WebhookDispatcherTest, AHangingReceiverTimesOut) {
  test_support::SilentServer server;
  log_.append(DeliveryEventType::delivered, "acme");
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  auto s = settings();
  s.request_timeout = 1s;
  start(s);

  ASSERT_TRUE(wait_for_status("acme", [](const auto& st) {
    return st.failures >= 1 && st.last_error.find("timeout after 1s") != std::string::npos;
  })) << status_of("acme")->last_error;
  EXPECT_TRUE(server.wait_for_closed(1));
  EXPECT_EQ(store_.history("acme"), std::vector<std::int64_t>{});
}

TEST_F(WebhookDispatcherTest, StopAbandonsTheRequestInFlight) {
  test_support::SilentServer server;
  log_.append(DeliveryEventType::delivered, "acme");
  store_.seed("acme", 0);
  store_.put_endpoint({"acme", url(server.port()), "s3cret"});
  auto s = settings();
  s.request_timeout = 3600s;  // only stop() can end it
  start(s);

  ASSERT_TRUE(server.wait_for_accepted(1));
  dispatcher_->stop();
  EXPECT_TRUE(server.wait_for_closed(1));
  EXPECT_EQ(store_.history("acme"), std::vector<std::int64_t>{});
}

TEST(WebhookDispatcherSettings, AMissingCaFileFailsAtStartUp) {
  asio::io_context io;
  FakeEventLog log;
  FakeCursorStore store;
  FakeClock clock;
  DispatcherSettings s;
  s.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(WebhookDispatcher(io.get_executor(), log, store, clock, s), std::runtime_error);
}

}  // namespace
}  // namespace portcullis::webhooks
