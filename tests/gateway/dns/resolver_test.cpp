#include "gateway/core/dns/resolver.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

#include "tests/support/dnsmasq_server.hpp"

namespace portcullis::dns {
namespace {

using namespace std::chrono_literals;
using Addresses = std::vector<asio::ip::address>;

std::string long_text(char c, std::size_t n) {
  return std::string(n, c);
}

// Records shared by the suite. "test" is local: unknown names under it are NXDOMAIN.
std::vector<std::string> records() {
  return {
      "--local=/test/",
      "--mx-host=example.test,mx1.example.test,10",
      "--mx-host=example.test,mx2.example.test,20",
      "--address=/mx1.example.test/198.18.2.10",
      "--host-record=mx2.example.test,198.18.2.11,fd00:2::11",
      "--host-record=plain.test,198.18.2.20",
      "--mx-host=nullmx.test,.,0",
      "--txt-record=txt.example.test,v=spf1 -all",
      "--txt-record=split.example.test,first part,second part",
      // Over 1232 octets: the UDP answer is truncated and c-ares retries over TCP.
      "--txt-record=big.example.test," + long_text('a', 250) + "," + long_text('b', 250) + "," +
          long_text('c', 250) + "," + long_text('d', 250) + "," + long_text('e', 250) + "," +
          long_text('f', 250),
  };
}

class ResolverTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<testing::DnsmasqServer>(records()); }
  static void TearDownTestSuite() { server_.reset(); }

  config::Endpoint endpoint() const { return {"127.0.0.1", server_->port()}; }

  // Runs one coroutine to completion on io_ and returns its value.
  template <class T>
  T run(asio::awaitable<T> task) {
    std::optional<T> out;
    asio::co_spawn(io_, std::move(task), [&](std::exception_ptr e, T value) {
      if (e) {
        std::rethrow_exception(e);
      }
      out = std::move(value);
    });
    io_.run_for(30s);
    io_.restart();
    EXPECT_TRUE(out.has_value()) << "the coroutine did not finish";
    return out.value_or(T{DnsError{DnsErrorKind::temporary, "did not finish"}});
  }

  asio::io_context io_;
  static std::unique_ptr<testing::DnsmasqServer> server_;
};

std::unique_ptr<testing::DnsmasqServer> ResolverTest::server_;

TEST_F(ResolverTest, MxRecordsInAnswerOrder) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto mx = run(resolver.mx("example.test"));
  ASSERT_TRUE(mx.has_value()) << mx.error().message;
  auto records = *mx;
  std::sort(records.begin(), records.end(),
            [](auto& a, auto& b) { return a.preference < b.preference; });
  EXPECT_EQ(records, (std::vector<MxRecord>{{10, "mx1.example.test"}, {20, "mx2.example.test"}}));
}

TEST_F(ResolverTest, AddressesOfBothFamilies) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto a = run(resolver.a("mx2.example.test"));
  ASSERT_TRUE(a.has_value()) << a.error().message;
  EXPECT_EQ(*a, Addresses{asio::ip::make_address("198.18.2.11")});
  auto aaaa = run(resolver.aaaa("mx2.example.test"));
  ASSERT_TRUE(aaaa.has_value()) << aaaa.error().message;
  EXPECT_EQ(*aaaa, Addresses{asio::ip::make_address("fd00:2::11")});
  auto trailing_dot = run(resolver.a("mx1.example.test."));
  ASSERT_TRUE(trailing_dot.has_value()) << trailing_dot.error().message;
  EXPECT_EQ(*trailing_dot, Addresses{asio::ip::make_address("198.18.2.10")});
}

TEST_F(ResolverTest, NoRecordOfTheTypeIsNodata) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto mx = run(resolver.mx("plain.test"));
  ASSERT_FALSE(mx.has_value());
  EXPECT_EQ(mx.error().kind, DnsErrorKind::nodata) << mx.error().message;
  auto aaaa = run(resolver.aaaa("plain.test"));
  ASSERT_FALSE(aaaa.has_value());
  EXPECT_EQ(aaaa.error().kind, DnsErrorKind::nodata) << aaaa.error().message;
}

TEST_F(ResolverTest, UnknownNameIsNxdomain) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto mx = run(resolver.mx("nowhere.test"));
  ASSERT_FALSE(mx.has_value());
  EXPECT_EQ(mx.error().kind, DnsErrorKind::nxdomain) << mx.error().message;
  EXPECT_NE(mx.error().message.find("nowhere.test"), std::string::npos);
}

TEST_F(ResolverTest, NullMxIsOneRecordWithAnEmptyHost) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto mx = run(resolver.mx("nullmx.test"));
  ASSERT_TRUE(mx.has_value()) << mx.error().message;
  EXPECT_EQ(*mx, (std::vector<MxRecord>{{0, ""}}));
}

TEST_F(ResolverTest, TxtStringsOfARecordAreJoined) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto txt = run(resolver.txt("txt.example.test"));
  ASSERT_TRUE(txt.has_value()) << txt.error().message;
  EXPECT_EQ(*txt, std::vector<std::string>{"v=spf1 -all"});
  auto split = run(resolver.txt("split.example.test"));
  ASSERT_TRUE(split.has_value()) << split.error().message;
  EXPECT_EQ(*split, std::vector<std::string>{"first partsecond part"});
}

TEST_F(ResolverTest, TruncatedAnswerIsRetriedOverTcp) {
  Resolver resolver(io_.get_executor(), endpoint());
  auto txt = run(resolver.txt("big.example.test"));
  ASSERT_TRUE(txt.has_value()) << txt.error().message;
  ASSERT_EQ(txt->size(), 1u);
  EXPECT_EQ((*txt)[0].size(), 1500u);
  EXPECT_EQ((*txt)[0].substr(1250), long_text('f', 250));
}

TEST_F(ResolverTest, ManyConcurrentQueriesAllComplete) {
  Resolver resolver(io_.get_executor(), endpoint());
  int ok = 0;
  for (int i = 0; i < 40; ++i) {
    asio::co_spawn(
        io_,
        [&resolver, i]() -> asio::awaitable<bool> {
          // (Not `co_await (c ? x() : y())`: GCC 12 destroys that temporary twice.)
          std::string name = i % 2 == 0 ? "mx1.example.test" : "mx2.example.test";
          auto r = co_await resolver.a(name);
          co_return r.has_value();
        },
        [&](std::exception_ptr, bool success) { ok += success ? 1 : 0; });
  }
  io_.run_for(30s);
  EXPECT_EQ(ok, 40);
  EXPECT_EQ(resolver.outstanding(), 0u);
}

TEST_F(ResolverTest, InvalidNamesAreRefusedWithoutAQuery) {
  Resolver resolver(io_.get_executor(), config::Endpoint{"127.0.0.1", 9});
  for (std::string name :
       {std::string(254, 'a'), std::string("bad\nname.test"), std::string("sp ace.test"),
        std::string(""), std::string("a..b"), std::string(64, 'x') + ".test"}) {
    auto r = run(resolver.a(name));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().kind, DnsErrorKind::nxdomain) << r.error().message;
  }
  EXPECT_TRUE(is_valid_query_name(std::string(63, 'x') + ".test."));
  EXPECT_TRUE(is_valid_query_name("_dmarc.example.test"));
}

// A UDP socket that is bound but never read: queries to it just time out.
class BlackHole {
 public:
  BlackHole() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~BlackHole() { ::close(fd_); }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

TEST_F(ResolverTest, ClosedPortIsTemporary) {
  config::Endpoint closed{"127.0.0.1", testing::free_port(SOCK_DGRAM)};
  Resolver resolver(io_.get_executor(), closed, 500ms, 2);
  const auto start = std::chrono::steady_clock::now();
  auto r = run(resolver.mx("example.test"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, DnsErrorKind::temporary) << r.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST_F(ResolverTest, SilentServerTimesOutAsTemporary) {
  BlackHole hole;
  Resolver resolver(io_.get_executor(), config::Endpoint{"127.0.0.1", hole.port()}, 200ms, 2);
  const auto start = std::chrono::steady_clock::now();
  auto r = run(resolver.a("example.test"));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, DnsErrorKind::temporary) << r.error().message;
  // 200ms, then 400ms for the second try (c-ares doubles per round).
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(ResolverTest, DestroyingTheResolverCompletesPendingQueries) {
  BlackHole hole;
  auto resolver = std::make_unique<Resolver>(io_.get_executor(),
                                             config::Endpoint{"127.0.0.1", hole.port()}, 10s, 2);
  std::vector<std::optional<DnsErrorKind>> outcomes(3);
  for (std::size_t i = 0; i < outcomes.size(); ++i) {
    asio::co_spawn(
        io_,
        [r = resolver.get()]() -> asio::awaitable<DnsResult<Addresses>> {
          co_return co_await r->a("example.test");
        },
        [&outcomes, i](std::exception_ptr, DnsResult<Addresses> result) {
          outcomes[i] = result.has_value() ? std::nullopt : std::optional(result.error().kind);
        });
  }
  asio::steady_timer later(io_, 100ms);
  later.async_wait([&](boost::system::error_code) {
    EXPECT_EQ(resolver->outstanding(), 3u);
    resolver.reset();
  });
  const auto start = std::chrono::steady_clock::now();
  io_.run_for(5s);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s) << "handlers left behind";
  for (const auto& outcome : outcomes) {
    ASSERT_TRUE(outcome.has_value());
    EXPECT_EQ(*outcome, DnsErrorKind::temporary);
  }
}

TEST_F(ResolverTest, QueriesBeyondTheBoundFailAtOnce) {
  BlackHole hole;
  Resolver resolver(io_.get_executor(), config::Endpoint{"127.0.0.1", hole.port()}, 10s, 1, 2);
  std::vector<std::string> messages;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io_,
        [&resolver]() -> asio::awaitable<DnsResult<Addresses>> {
          co_return co_await resolver.a("example.test");
        },
        [&messages](std::exception_ptr, DnsResult<Addresses> result) {
          messages.push_back(result.has_value() ? "ok" : result.error().message);
        });
  }
  io_.run_for(300ms);
  ASSERT_EQ(messages.size(), 1u);
  EXPECT_NE(messages[0].find("too many DNS queries"), std::string::npos) << messages[0];
  EXPECT_EQ(resolver.outstanding(), 2u);
}

}  // namespace
}  // namespace portcullis::dns
