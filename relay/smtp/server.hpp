#pragma once
// The relay's listeners: submission (STARTTLS + AUTH), smtps (implicit TLS +
// AUTH), intercept (redirected port-25 flows, tenant by source address) and
// feedback (mail to the gateway's own mailboxes: no AUTH, local RCPT only).
// Binds at start-up (before privileges are dropped), then accepts and runs one
// session coroutine per connection within the connection limits.
//
// Untrusted input: connections from anywhere the listeners are reachable.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "gateway/core/asio.hpp"
#include "relay/smtp/session.hpp"

namespace portcullis::relay::smtp {

class SmtpServer {
 public:
  SmtpServer(asio::io_context& io, SessionServices& services);

  // Binds every configured listener; throws std::runtime_error naming the
  // endpoint that cannot be bound (start-up only).
  void bind();
  void start();
  void stop();

  std::size_t active_sessions() const { return active_; }

 private:
  struct Listener {
    ListenerKind kind;
    std::string endpoint;
    asio::ip::tcp::acceptor acceptor;
  };

  asio::awaitable<void> accept_loop(Listener& listener);
  bool admit(const asio::ip::address& client);
  void release(const asio::ip::address& client);

  asio::io_context& io_;
  SessionServices& services_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::size_t active_ = 0;
  std::map<asio::ip::address, std::size_t> per_client_;
  std::uint64_t next_session_id_ = 1;
};

}  // namespace portcullis::relay::smtp
