#pragma once
// An asynchronous DNS stub resolver: c-ares driven by the Asio loop, with no
// threads. c-ares's sockets are watched with posix::stream_descriptor waits
// and its retransmit timeouts with a steady_timer, all on one executor: use a
// Resolver only from the thread running that executor (one per io_context).
//
// Untrusted input: DNS answers (parsed by c-ares's ares_parse_*_reply, which
// bound-check the packet) and the names asked for (mail domains from SMTP
// clients), which are validated before a query is sent. At most
// max_queries queries are outstanding at once; more fail as temporary at once.

#include <chrono>
#include <memory>
#include <optional>

#include "gateway/core/config/config.hpp"
#include "gateway/core/dns/lookup.hpp"

namespace portcullis::dns {

class Resolver : public Lookup {
 public:
  static constexpr std::size_t kDefaultMaxQueries = 256;

  // server: a literal address, or nullopt for /etc/resolv.conf. timeout is
  // c-ares's first-try timeout (later tries double it); tries counts sends
  // per query. Throws std::runtime_error when c-ares cannot be set up
  // (start-up only).
  Resolver(asio::any_io_executor executor,
           std::optional<config::Endpoint> server,
           std::chrono::milliseconds timeout = std::chrono::seconds(5),
           int tries = 2,
           std::size_t max_queries = kDefaultMaxQueries);
  // Cancels every outstanding query; their coroutines resume with temporary errors.
  ~Resolver() override;
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  asio::awaitable<DnsResult<std::vector<MxRecord>>> mx(std::string name) override;
  asio::awaitable<DnsResult<std::vector<asio::ip::address>>> a(std::string name) override;
  asio::awaitable<DnsResult<std::vector<asio::ip::address>>> aaaa(std::string name) override;
  asio::awaitable<DnsResult<std::vector<std::string>>> txt(std::string name) override;

  // Queries sent and not yet answered (for tests and metrics).
  std::size_t outstanding() const;

  class Channel;  // the c-ares channel and its Asio watchers (resolver.cpp)

 private:
  std::shared_ptr<Channel> channel_;
};

}  // namespace portcullis::dns
