#include "relay/delivery/smtp_client.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

#include "gateway/core/tls/self_signed.hpp"
#include "relay/delivery/dot_stuffing.hpp"

extern char** environ;

namespace portcullis::relay::delivery {
namespace {

using tcp = asio::ip::tcp;
using Kind = RecipientResult::Kind;
namespace fs = std::filesystem;

constexpr const char* kMxName = "mx.test.example";

// What the scripted server answers; every field has a harmless default.
struct Script {
  std::string greeting = "220 mx.test.example ESMTP test";
  std::string raw_greeting;  // sent verbatim instead of greeting (for garbage)
  bool silent = false;       // never says anything
  std::vector<std::string> extensions = {"PIPELINING", "SIZE 1000000", "8BITMIME"};
  bool ehlo_unknown = false;     // 502 to EHLO
  bool starttls = false;         // offer STARTTLS (before TLS only)
  bool break_handshake = false;  // 220 to STARTTLS, then hang up
  std::string mail_reply = "250 2.1.0 ok";
  std::map<std::string, std::string> rcpt_replies;  // default 250
  std::string data_reply = "354 go ahead";
  std::string final_reply = "250 2.0.0 queued as X1";
  bool stall_after_data = false;  // never answers the end of data
};

// A real SMTP peer on 127.0.0.1: one thread, blocking sockets, one
// connection at a time. Records what the client sent.
class ScriptedServer {
 public:
  explicit ScriptedServer(Script script, const fs::path& cert = {}, const fs::path& key = {})
      : script_(std::move(script)),
        tls_(asio::ssl::context::tls_server),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    if (!cert.empty()) {
      tls_.use_certificate_chain_file(cert.string());
      tls_.use_private_key_file(key.string(), asio::ssl::context::pem);
    }
    thread_ = std::thread([this] { serve(); });
  }

  ~ScriptedServer() {
    stopping_ = true;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    const int fd = active_fd_.load();
    if (fd >= 0) {
      ::shutdown(fd, SHUT_RDWR);
    }
    thread_.join();
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  Target target() const { return Target{kMxName, asio::ip::make_address("127.0.0.1"), port(), 10}; }

  std::vector<std::string> commands() const {
    std::lock_guard lock(mutex_);
    return commands_;
  }
  std::vector<std::string> reads() const {
    std::lock_guard lock(mutex_);
    return reads_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  int connections() const { return connections_.load(); }
  bool saw(std::string_view prefix) const {
    for (const auto& c : commands()) {
      if (c.starts_with(prefix)) {
        return true;
      }
    }
    return false;
  }

 private:
  using Stream = asio::ssl::stream<tcp::socket>;

  void serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) {
        return;
      }
      ++connections_;
      active_fd_ = socket.native_handle();
      Stream stream(std::move(socket), tls_);
      handle(stream);
      active_fd_ = -1;
      stream.next_layer().close(ec);
    }
  }

  bool fill(Stream& s, bool tls, std::string& in, bool record) {
    std::array<char, 65536> buf;
    boost::system::error_code ec;
    const std::size_t n =
        tls ? s.read_some(asio::buffer(buf), ec) : s.next_layer().read_some(asio::buffer(buf), ec);
    if (ec) {
      return false;
    }
    in.append(buf.data(), n);
    if (record) {
      std::lock_guard lock(mutex_);
      reads_.emplace_back(buf.data(), n);
    }
    return true;
  }

  bool send(Stream& s, bool tls, const std::string& text) {
    boost::system::error_code ec;
    if (tls) {
      asio::write(s, asio::buffer(text), ec);
    } else {
      asio::write(s.next_layer(), asio::buffer(text), ec);
    }
    return !ec;
  }

  void handle(Stream& s) {
    bool tls = false;
    std::string in;
    if (script_.silent) {
      while (fill(s, false, in, true)) {
      }
      return;
    }
    send(s, false, script_.raw_greeting.empty() ? script_.greeting + "\r\n" : script_.raw_greeting);
    if (!script_.greeting.starts_with("2") || !script_.raw_greeting.empty()) {
      while (fill(s, false, in, true)) {
      }
      return;
    }
    for (;;) {
      auto lf = in.find("\r\n");
      while (lf == std::string::npos) {
        if (!fill(s, tls, in, true)) {
          return;
        }
        lf = in.find("\r\n");
      }
      const std::string line = in.substr(0, lf);
      in.erase(0, lf + 2);
      {
        std::lock_guard lock(mutex_);
        commands_.push_back(line);
      }
      std::string verb = line.substr(0, line.find_first_of(" :"));
      std::transform(verb.begin(), verb.end(), verb.begin(), ::toupper);
      std::string reply;
      if (verb == "EHLO") {
        if (script_.ehlo_unknown) {
          reply = "502 5.5.2 EHLO not implemented\r\n";
        } else {
          std::vector<std::string> ext = script_.extensions;
          if (script_.starttls && !tls) {
            ext.push_back("STARTTLS");
          }
          reply = std::string("250") + (ext.empty() ? " " : "-") + kMxName + "\r\n";
          for (std::size_t i = 0; i < ext.size(); ++i) {
            reply += "250" + std::string(i + 1 == ext.size() ? " " : "-") + ext[i] + "\r\n";
          }
        }
      } else if (verb == "HELO") {
        reply = std::string("250 ") + kMxName + "\r\n";
      } else if (verb == "STARTTLS") {
        send(s, tls, "220 2.0.0 ready\r\n");
        if (script_.break_handshake) {
          return;
        }
        boost::system::error_code ec;
        s.handshake(asio::ssl::stream_base::server, ec);
        if (ec) {
          return;
        }
        tls = true;
        in.clear();
        continue;
      } else if (verb == "MAIL") {
        reply = script_.mail_reply + "\r\n";
      } else if (verb == "RCPT") {
        const auto open = line.find('<');
        const auto close = line.find('>');
        const std::string rcpt = line.substr(open + 1, close - open - 1);
        auto it = script_.rcpt_replies.find(rcpt);
        reply = (it == script_.rcpt_replies.end() ? "250 2.1.5 ok" : it->second) + "\r\n";
      } else if (verb == "DATA") {
        send(s, tls, script_.data_reply + "\r\n");
        if (!script_.data_reply.starts_with("354")) {
          continue;
        }
        std::size_t end = std::string::npos;
        for (;;) {
          end = in.starts_with(".\r\n") ? 0 : in.find("\r\n.\r\n");
          if (end != std::string::npos) {
            end += in.starts_with(".\r\n") ? 3 : 5;
            break;
          }
          if (!fill(s, tls, in, false)) {
            return;
          }
        }
        {
          std::lock_guard lock(mutex_);
          messages_.push_back(in.substr(0, end));
        }
        in.erase(0, end);
        if (script_.stall_after_data) {
          while (fill(s, tls, in, false)) {
          }
          return;
        }
        reply = script_.final_reply + "\r\n";
      } else if (verb == "RSET") {
        reply = "250 2.0.0 ok\r\n";
      } else if (verb == "QUIT") {
        send(s, tls, "221 2.0.0 bye\r\n");
        return;
      } else {
        reply = "500 5.5.1 unknown command\r\n";
      }
      if (!send(s, tls, reply)) {
        return;
      }
    }
  }

  Script script_;
  asio::io_context io_;
  asio::ssl::context tls_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> active_fd_{-1};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> commands_;
  std::vector<std::string> reads_;
  std::vector<std::string> messages_;
};

// Runs one coroutine on a fresh io_context until everything (the client's
// watchdog included) has finished.
void run(const std::function<awaitable<void>(asio::any_io_executor)>& body) {
  asio::io_context io;
  bool finished = false;
  std::exception_ptr error;
  asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
    error = e;
    finished = true;
  });
  io.run();
  ASSERT_TRUE(finished);
  if (error) {
    std::rethrow_exception(error);
  }
}

ClientSettings fast_settings() {
  ClientSettings s;
  s.helo_hostname = "relay.gw.test";
  s.connect_timeout = s.greeting_timeout = s.mail_timeout = s.rcpt_timeout = s.data_init_timeout =
      s.data_block_timeout = s.data_term_timeout = std::chrono::seconds(5);
  return s;
}

OutboundEnvelope envelope(std::vector<std::string> rcpts) {
  return OutboundEnvelope{"sender@tenant.test", std::move(rcpts), false, false};
}

const std::string kMessage = "From: a@tenant.test\r\nSubject: hi\r\n\r\nHello.\r\n";

class SmtpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("smtp_client_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    cert_ = dir_ / "cert.pem";
    key_ = dir_ / "key.pem";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void make_cert() { ASSERT_TRUE(tls::ensure_self_signed(cert_, key_, kMxName)); }

  // Connects, sends each message, quits; collects what happened.
  struct Outcome {
    std::optional<SessionFailure> connect_failure;
    std::vector<ClientResult<std::vector<RecipientResult>>> sends;
    bool tls = false;
    std::string remote;
  };
  Outcome deliver(const Target& target,
                  const ClientSettings& settings,
                  asio::ssl::context& tls,
                  const std::vector<std::pair<OutboundEnvelope, std::string>>& messages) {
    Outcome out;
    run([&](asio::any_io_executor ex) -> awaitable<void> {
      auto client = co_await SmtpClient::connect(ex, target, settings, tls);
      if (!client) {
        out.connect_failure = client.error();
        co_return;
      }
      out.tls = (*client)->tls_active();
      out.remote = (*client)->remote();
      for (const auto& [env, data] : messages) {
        out.sends.push_back(co_await (*client)->send(env, data));
      }
      co_await (*client)->quit();
    });
    return out;
  }

  fs::path dir_;
  fs::path cert_;
  fs::path key_;
  asio::ssl::context client_tls_ = make_client_tls_context(std::nullopt);
};

TEST_F(SmtpClientTest, PlainDelivery) {
  ScriptedServer server(Script{});
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"a@dest.test", "b@dest.test"}), kMessage}});
  ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
  EXPECT_FALSE(out.tls);
  EXPECT_EQ(out.remote, "mx.test.example [127.0.0.1]");
  ASSERT_EQ(out.sends.size(), 1u);
  ASSERT_TRUE(out.sends[0]);
  const auto& results = *out.sends[0];
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.kind, Kind::delivered);
    EXPECT_EQ(r.reply, "250 2.0.0 queued as X1");
  }
  EXPECT_EQ(results[0].recipient, "a@dest.test");
  EXPECT_EQ(server.commands(),
            (std::vector<std::string>{
                "EHLO relay.gw.test",
                "MAIL FROM:<sender@tenant.test> SIZE=" + std::to_string(kMessage.size()),
                "RCPT TO:<a@dest.test>", "RCPT TO:<b@dest.test>", "DATA", "QUIT"}));
  ASSERT_EQ(server.messages().size(), 1u);
  EXPECT_EQ(server.messages()[0], kMessage + ".\r\n");
}

TEST_F(SmtpClientTest, NullSenderAndHeloFallback) {
  Script script;
  script.ehlo_unknown = true;
  ScriptedServer server(script);
  auto env = envelope({"a@dest.test"});
  env.mail_from = "";
  auto out = deliver(server.target(), fast_settings(), client_tls_, {{env, kMessage}});
  ASSERT_FALSE(out.connect_failure);
  ASSERT_TRUE(out.sends[0]);
  EXPECT_EQ((*out.sends[0])[0].kind, Kind::delivered);
  const auto commands = server.commands();
  EXPECT_EQ(commands[0], "EHLO relay.gw.test");
  EXPECT_EQ(commands[1], "HELO relay.gw.test");
  EXPECT_EQ(commands[2], "MAIL FROM:<>");  // no SIZE: HELO means no extensions
}

bool mail_and_rcpts_in_one_read(const ScriptedServer& server, int rcpts) {
  for (const auto& chunk : server.reads()) {
    if (chunk.find("MAIL FROM:") != std::string::npos) {
      int n = 0;
      for (auto pos = chunk.find("RCPT TO:"); pos != std::string::npos;
           pos = chunk.find("RCPT TO:", pos + 1)) {
        ++n;
      }
      return n == rcpts;
    }
  }
  return false;
}

TEST_F(SmtpClientTest, PipeliningSendsMailAndRcptsInOneWrite) {
  ScriptedServer server(Script{});
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"a@dest.test", "b@dest.test", "c@dest.test"}), kMessage}});
  ASSERT_TRUE(out.sends.at(0));
  EXPECT_TRUE(mail_and_rcpts_in_one_read(server, 3));
}

TEST_F(SmtpClientTest, NoPipeliningWhenNotOffered) {
  Script script;
  script.extensions = {"SIZE 1000000", "8BITMIME"};
  ScriptedServer server(script);
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"a@dest.test", "b@dest.test"}), kMessage}});
  ASSERT_TRUE(out.sends.at(0));
  EXPECT_EQ((*out.sends[0])[1].kind, Kind::delivered);
  EXPECT_TRUE(mail_and_rcpts_in_one_read(server, 0));
}

TEST_F(SmtpClientTest, PerRecipientResults) {
  for (bool pipelining : {true, false}) {
    Script script;
    if (!pipelining) {
      script.extensions = {"8BITMIME"};
    }
    script.rcpt_replies = {{"busy@dest.test", "450 4.2.1 mailbox busy"},
                           {"gone@dest.test", "550-5.1.1 no such user\r\n550 5.1.1 really"}};
    ScriptedServer server(script);
    auto out =
        deliver(server.target(), fast_settings(), client_tls_,
                {{envelope({"ok@dest.test", "busy@dest.test", "gone@dest.test"}), kMessage}});
    ASSERT_TRUE(out.sends.at(0));
    const auto& r = *out.sends[0];
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r[0].kind, Kind::delivered);
    EXPECT_EQ(r[0].reply, "250 2.0.0 queued as X1");
    EXPECT_EQ(r[1].kind, Kind::temporary);
    EXPECT_EQ(r[1].reply, "450 4.2.1 mailbox busy");
    EXPECT_EQ(r[2].kind, Kind::permanent);
    EXPECT_EQ(r[2].reply, "550 5.1.1 no such user really");
    EXPECT_EQ(server.messages().size(), 1u);
  }
}

TEST_F(SmtpClientTest, NoDataWhenEveryRecipientRefused) {
  Script script;
  script.rcpt_replies = {{"gone@dest.test", "550 5.1.1 no such user"}};
  ScriptedServer server(script);
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"gone@dest.test"}), kMessage}});
  ASSERT_TRUE(out.sends.at(0));
  EXPECT_EQ((*out.sends[0])[0].kind, Kind::permanent);
  EXPECT_FALSE(server.saw("DATA"));
}

TEST_F(SmtpClientTest, DotStuffingIsByteExact) {
  ScriptedServer server(Script{});
  const std::string data = "Subject: dots\r\n\r\n.leading\r\nmid.dle\r\n..two\r\n.\r\n. \r\nend";
  auto out =
      deliver(server.target(), fast_settings(), client_tls_, {{envelope({"a@dest.test"}), data}});
  ASSERT_TRUE(out.sends.at(0));
  ASSERT_EQ(server.messages().size(), 1u);
  EXPECT_EQ(server.messages()[0],
            "Subject: dots\r\n\r\n..leading\r\nmid.dle\r\n...two\r\n..\r\n.. \r\nend\r\n.\r\n");
}

TEST_F(SmtpClientTest, LargeMessageArrivesIntact) {
  ScriptedServer server(Script{});
  std::string data = "Subject: big\r\n\r\n";
  while (data.size() < 300 * 1024) {
    data += (data.size() % 7 == 0 ? "." : "") + std::string(70, 'x') + "\r\n";
  }
  auto out =
      deliver(server.target(), fast_settings(), client_tls_, {{envelope({"a@dest.test"}), data}});
  ASSERT_TRUE(out.sends.at(0));
  ASSERT_EQ(server.messages().size(), 1u);
  EXPECT_EQ(server.messages()[0], dot_stuff(data));
}

TEST_F(SmtpClientTest, DataRepliesApplyToAcceptedRecipients) {
  struct Case {
    std::string data_reply;
    std::string final_reply;
    Kind expected;
  };
  for (const auto& c : {Case{"354 go", "250 2.0.0 ok", Kind::delivered},
                        Case{"354 go", "451 4.3.0 try later", Kind::temporary},
                        Case{"354 go", "554 5.6.0 content rejected", Kind::permanent},
                        Case{"451 4.3.0 no data now", "", Kind::temporary},
                        Case{"554 5.5.1 no valid recipients", "", Kind::permanent}}) {
    Script script;
    script.data_reply = c.data_reply;
    script.final_reply = c.final_reply;
    script.rcpt_replies = {{"gone@dest.test", "550 5.1.1 no such user"}};
    ScriptedServer server(script);
    auto out = deliver(server.target(), fast_settings(), client_tls_,
                       {{envelope({"a@dest.test", "gone@dest.test"}), kMessage}});
    ASSERT_TRUE(out.sends.at(0));
    const auto& r = *out.sends[0];
    EXPECT_EQ(r[0].kind, c.expected) << c.final_reply;
    EXPECT_EQ(r[0].reply, c.data_reply.starts_with("354") ? c.final_reply : c.data_reply);
    EXPECT_EQ(r[1].kind, Kind::permanent);
    EXPECT_EQ(r[1].reply, "550 5.1.1 no such user");
  }
}

TEST_F(SmtpClientTest, MailRefused) {
  for (const auto& [reply, permanent] :
       {std::pair{"451 4.3.0 later", false}, std::pair{"550 5.7.1 sender refused", true}}) {
    Script script;
    script.mail_reply = reply;
    ScriptedServer server(script);
    auto out = deliver(server.target(), fast_settings(), client_tls_,
                       {{envelope({"a@dest.test"}), kMessage}});
    ASSERT_FALSE(out.sends.at(0));
    EXPECT_EQ(out.sends[0].error().permanent, permanent);
    EXPECT_EQ(out.sends[0].error().reason, reply);
    EXPECT_FALSE(server.saw("DATA"));
  }
}

TEST_F(SmtpClientTest, StartTlsOpportunistic) {
  make_cert();
  Script script;
  script.starttls = true;
  ScriptedServer server(script, cert_, key_);
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"a@dest.test"}), kMessage}});
  ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
  EXPECT_TRUE(out.tls);
  ASSERT_TRUE(out.sends.at(0));
  EXPECT_EQ((*out.sends[0])[0].kind, Kind::delivered);
  const auto commands = server.commands();
  ASSERT_GE(commands.size(), 3u);
  EXPECT_EQ(commands[1], "STARTTLS");
  EXPECT_EQ(commands[2], "EHLO relay.gw.test");
  EXPECT_EQ(server.messages().at(0), kMessage + ".\r\n");
}

TEST_F(SmtpClientTest, OpportunisticFallsBackToPlainWhenHandshakeFails) {
  make_cert();
  Script script;
  script.starttls = true;
  script.break_handshake = true;
  ScriptedServer server(script, cert_, key_);
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"a@dest.test"}), kMessage}});
  ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
  EXPECT_FALSE(out.tls);
  EXPECT_EQ(server.connections(), 2);
  ASSERT_TRUE(out.sends.at(0));
  EXPECT_EQ((*out.sends[0])[0].kind, Kind::delivered);
}

TEST_F(SmtpClientTest, RequiredTlsNotOffered) {
  ScriptedServer server(Script{});
  auto settings = fast_settings();
  settings.tls = config::TlsPolicyKind::require;
  auto out = deliver(server.target(), settings, client_tls_, {});
  ASSERT_TRUE(out.connect_failure);
  EXPECT_FALSE(out.connect_failure->permanent);
  EXPECT_NE(out.connect_failure->reason.find("TLS required by policy but not offered"),
            std::string::npos);
  EXPECT_FALSE(server.saw("MAIL"));
}

TEST_F(SmtpClientTest, RequiredTlsAcceptsSelfSigned) {
  make_cert();
  Script script;
  script.starttls = true;
  ScriptedServer server(script, cert_, key_);
  auto settings = fast_settings();
  settings.tls = config::TlsPolicyKind::require;
  auto out =
      deliver(server.target(), settings, client_tls_, {{envelope({"a@dest.test"}), kMessage}});
  ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
  EXPECT_TRUE(out.tls);
}

TEST_F(SmtpClientTest, VerifyPolicy) {
  make_cert();
  Script script;
  script.starttls = true;
  auto settings = fast_settings();
  settings.tls = config::TlsPolicyKind::verify;
  {
    // The system trust store does not know the test's certificate.
    ScriptedServer server(script, cert_, key_);
    auto out = deliver(server.target(), settings, client_tls_, {});
    ASSERT_TRUE(out.connect_failure);
    EXPECT_FALSE(out.connect_failure->permanent);
    EXPECT_NE(out.connect_failure->reason.find("TLS handshake"), std::string::npos)
        << out.connect_failure->reason;
    EXPECT_EQ(server.connections(), 1);  // no plain-text retry under verify
    EXPECT_FALSE(server.saw("MAIL"));
  }
  auto trusting = make_client_tls_context(cert_);
  {
    ScriptedServer server(script, cert_, key_);
    auto out =
        deliver(server.target(), settings, trusting, {{envelope({"a@dest.test"}), kMessage}});
    ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
    EXPECT_TRUE(out.tls);
    ASSERT_TRUE(out.sends.at(0));
  }
  {
    // Trusted CA, but the certificate names another host.
    ScriptedServer server(script, cert_, key_);
    auto target = server.target();
    target.host = "other.test.example";
    auto out = deliver(target, settings, trusting, {});
    ASSERT_TRUE(out.connect_failure);
    EXPECT_NE(out.connect_failure->reason.find("TLS handshake"), std::string::npos);
  }
}

TEST_F(SmtpClientTest, SizeTooLargeRefusedLocally) {
  Script script;
  script.extensions = {"PIPELINING", "SIZE 100"};
  ScriptedServer server(script);
  const std::string big = "Subject: big\r\n\r\n" + std::string(200, 'x') + "\r\n";
  Outcome out = deliver(server.target(), fast_settings(), client_tls_,
                        {{envelope({"a@dest.test"}), big}, {envelope({"a@dest.test"}), "Hi\r\n"}});
  ASSERT_FALSE(out.sends.at(0));
  EXPECT_TRUE(out.sends[0].error().permanent);
  EXPECT_TRUE(out.sends[0].error().reason.starts_with("5.3.4 ")) << out.sends[0].error().reason;
  // The connection stays good for the next message.
  ASSERT_TRUE(out.sends.at(1));
  EXPECT_EQ((*out.sends[1])[0].kind, Kind::delivered);
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST_F(SmtpClientTest, EightBitNeeds8BitMime) {
  auto env = envelope({"a@dest.test"});
  env.eight_bit = true;
  const std::string data = "Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0\r\n";
  {
    Script script;
    script.extensions = {"PIPELINING"};
    ScriptedServer server(script);
    auto out = deliver(server.target(), fast_settings(), client_tls_, {{env, data}});
    ASSERT_FALSE(out.sends.at(0));
    EXPECT_TRUE(out.sends[0].error().permanent);
    EXPECT_TRUE(out.sends[0].error().reason.starts_with("5.6.3 "));
    EXPECT_FALSE(server.saw("MAIL"));
  }
  {
    ScriptedServer server(Script{});
    auto out = deliver(server.target(), fast_settings(), client_tls_, {{env, data}});
    ASSERT_TRUE(out.sends.at(0));
    EXPECT_TRUE(server.saw("MAIL FROM:<sender@tenant.test> SIZE=" + std::to_string(data.size()) +
                           " BODY=8BITMIME"));
    EXPECT_EQ(server.messages().at(0), data + ".\r\n");
  }
}

TEST_F(SmtpClientTest, SmtpUtf8NeedsExtension) {
  auto env = envelope({"j\xc3\xb6rg@dest.test"});
  env.smtputf8 = true;
  env.eight_bit = true;
  {
    ScriptedServer server(Script{});
    auto out = deliver(server.target(), fast_settings(), client_tls_, {{env, kMessage}});
    ASSERT_FALSE(out.sends.at(0));
    EXPECT_TRUE(out.sends[0].error().permanent);
    EXPECT_TRUE(out.sends[0].error().reason.starts_with("5.6.7 "));
    EXPECT_FALSE(server.saw("MAIL"));
  }
  {
    Script script;
    script.extensions = {"8BITMIME", "SMTPUTF8"};
    ScriptedServer server(script);
    auto out = deliver(server.target(), fast_settings(), client_tls_, {{env, kMessage}});
    ASSERT_TRUE(out.sends.at(0));
    EXPECT_TRUE(server.saw("MAIL FROM:<sender@tenant.test> BODY=8BITMIME SMTPUTF8"));
    EXPECT_TRUE(server.saw("RCPT TO:<j\xc3\xb6rg@dest.test>"));
  }
}

TEST_F(SmtpClientTest, ConnectionReuseWithRset) {
  ScriptedServer server(Script{});
  auto out = deliver(server.target(), fast_settings(), client_tls_,
                     {{envelope({"a@dest.test"}), kMessage},
                      {envelope({"b@dest.test"}), "Subject: two\r\n\r\nSecond.\r\n"}});
  ASSERT_TRUE(out.sends.at(0));
  ASSERT_TRUE(out.sends.at(1));
  EXPECT_EQ((*out.sends[1])[0].kind, Kind::delivered);
  EXPECT_EQ(server.connections(), 1);
  const auto c = server.commands();
  const auto rset = std::find(c.begin(), c.end(), "RSET");
  ASSERT_NE(rset, c.end());
  EXPECT_EQ(std::count(c.begin(), c.end(), "DATA"), 2);
  EXPECT_TRUE(std::find(c.begin(), rset, "DATA") != rset);  // RSET comes after the first DATA
  EXPECT_EQ(server.messages().size(), 2u);
}

TEST_F(SmtpClientTest, GreetingRefusals) {
  for (const std::string greeting : {"421 4.3.2 busy, try later", "554 5.7.1 no service"}) {
    Script script;
    script.greeting = greeting;
    ScriptedServer server(script);
    auto out = deliver(server.target(), fast_settings(), client_tls_, {});
    ASSERT_TRUE(out.connect_failure);
    // Even a 5xx greeting means only "not this server": try the next MX, then retry.
    EXPECT_FALSE(out.connect_failure->permanent);
    EXPECT_EQ(out.connect_failure->reason, greeting);
    EXPECT_FALSE(server.saw("EHLO"));
  }
}

TEST_F(SmtpClientTest, GarbageReplyIsTemporary) {
  for (const std::string& garbage :
       {std::string("HTTP/1.1 400 Bad Request\r\n\r\n"), std::string(10000, 'A'),
        std::string("220-a\r\n220-b\r\n250 c\r\n")}) {
    Script script;
    script.raw_greeting = garbage;
    ScriptedServer server(script);
    auto out = deliver(server.target(), fast_settings(), client_tls_, {});
    ASSERT_TRUE(out.connect_failure);
    EXPECT_FALSE(out.connect_failure->permanent);
    EXPECT_NE(out.connect_failure->reason.find("bad reply"), std::string::npos)
        << out.connect_failure->reason;
  }
}

TEST_F(SmtpClientTest, TimeoutIsTemporary) {
  Script script;
  script.silent = true;
  ScriptedServer server(script);
  auto settings = fast_settings();
  settings.greeting_timeout = std::chrono::seconds(1);
  const auto start = std::chrono::steady_clock::now();
  auto out = deliver(server.target(), settings, client_tls_, {});
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(out.connect_failure);
  EXPECT_FALSE(out.connect_failure->permanent);
  EXPECT_NE(out.connect_failure->reason.find("timeout after 1s"), std::string::npos)
      << out.connect_failure->reason;
  EXPECT_LT(elapsed, std::chrono::seconds(3));
}

TEST_F(SmtpClientTest, TimeoutAfterDataIsTemporaryAndEndsTheConnection) {
  Script script;
  script.stall_after_data = true;
  ScriptedServer server(script);
  auto settings = fast_settings();
  settings.data_term_timeout = std::chrono::seconds(1);
  bool usable_after = true;
  std::optional<ClientResult<std::vector<RecipientResult>>> sent;
  // Built outside the coroutine: GCC 12 mishandles initializer lists inside co_await expressions.
  const auto env = envelope({"a@dest.test"});
  run([&](asio::any_io_executor ex) -> awaitable<void> {
    auto client = co_await SmtpClient::connect(ex, server.target(), settings, client_tls_);
    if (!client) {
      co_return;
    }
    sent = co_await (*client)->send(env, kMessage);
    usable_after = (*client)->usable();
    co_await (*client)->quit();
  });
  ASSERT_TRUE(sent);
  ASSERT_FALSE(*sent);
  EXPECT_FALSE(sent->error().permanent);
  EXPECT_NE(sent->error().reason.find("timeout after 1s waiting for the reply to end of data"),
            std::string::npos)
      << sent->error().reason;
  EXPECT_FALSE(usable_after);
  EXPECT_EQ(server.messages().size(), 1u);
}

TEST_F(SmtpClientTest, ConnectionRefusedIsTemporary) {
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  auto out = deliver(Target{"down.test", asio::ip::make_address("127.0.0.1"), port, 0},
                     fast_settings(), client_tls_, {});
  ASSERT_TRUE(out.connect_failure);
  EXPECT_FALSE(out.connect_failure->permanent);
  EXPECT_NE(out.connect_failure->reason.find("connect to down.test [127.0.0.1]"),
            std::string::npos);
}

TEST_F(SmtpClientTest, SourceAddressIsBound) {
  ScriptedServer server(Script{});
  auto settings = fast_settings();
  settings.source = asio::ip::make_address("127.0.0.2");
  auto out =
      deliver(server.target(), settings, client_tls_, {{envelope({"a@dest.test"}), kMessage}});
  ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
  ASSERT_TRUE(out.sends.at(0));
  settings.source = asio::ip::make_address("::1");
  out = deliver(server.target(), settings, client_tls_, {});
  ASSERT_TRUE(out.connect_failure);
  EXPECT_NE(out.connect_failure->reason.find("other address family"), std::string::npos);
}

// Interop with Postfix's smtp-sink.
TEST_F(SmtpClientTest, PostfixSmtpSink) {
  if (::access("/usr/sbin/smtp-sink", X_OK) != 0) {
    GTEST_SKIP() << "smtp-sink not installed";
  }
  std::uint16_t port = 0;
  {
    asio::io_context io;
    tcp::acceptor probe(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }
  const std::string listen = "127.0.0.1:" + std::to_string(port);
  std::vector<std::string> args = {"smtp-sink"};
  if (::geteuid() == 0) {
    args.insert(args.end(), {"-u", "nobody"});
  }
  args.insert(args.end(), {"-c", listen, "10"});
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/usr/sbin/smtp-sink", &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  // Wait until it listens.
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    asio::io_context io;
    tcp::socket s(io);
    boost::system::error_code ec;
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    up = !ec;
    if (!up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  ASSERT_TRUE(up);
  const Target target{"sink.test", asio::ip::make_address("127.0.0.1"), port, 0};
  auto env = envelope({"a@dest.test", "b@dest.test"});
  env.eight_bit = true;
  auto out = deliver(
      target, fast_settings(), client_tls_,
      {{env, "Subject: sink\r\n\r\n.dot\r\n\xc3\xa9\r\n"}, {envelope({"c@dest.test"}), kMessage}});
  ASSERT_FALSE(out.connect_failure) << out.connect_failure->reason;
  for (const auto& s : out.sends) {
    ASSERT_TRUE(s) << s.error().reason;
    for (const auto& r : *s) {
      EXPECT_EQ(r.kind, Kind::delivered) << r.reply;
      EXPECT_TRUE(r.reply.starts_with("250")) << r.reply;
    }
  }
}

}  // namespace
}  // namespace portcullis::relay::delivery
