#include "relay/smtp/server.hpp"

#include <stdexcept>

#include "gateway/core/log/log.hpp"
#include "relay/smtp/original_destination.hpp"

namespace portcullis::relay::smtp {
namespace {

using tcp = asio::ip::tcp;

tcp::endpoint to_endpoint(const config::Endpoint& e) {
  return tcp::endpoint(asio::ip::make_address(e.host), e.port);
}

}  // namespace

SmtpServer::SmtpServer(asio::io_context& io, SessionServices& services)
    : io_(io), services_(services) {}

void SmtpServer::bind() {
  const auto& listen = services_.config.listen;
  const auto add = [&](ListenerKind kind, const std::vector<config::Endpoint>& endpoints) {
    for (const auto& e : endpoints) {
      auto listener = std::make_unique<Listener>(Listener{kind, e.to_string(), tcp::acceptor(io_)});
      const tcp::endpoint endpoint = to_endpoint(e);
      boost::system::error_code ec;
      listener->acceptor.open(endpoint.protocol(), ec);
      if (!ec) {
        listener->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
      }
      if (!ec && endpoint.address().is_v6()) {
        // "[::]:587" and "0.0.0.0:587" may both be configured.
        listener->acceptor.set_option(asio::ip::v6_only(true), ec);
      }
      if (!ec) {
        listener->acceptor.bind(endpoint, ec);
      }
      if (!ec) {
        listener->acceptor.listen(asio::socket_base::max_listen_connections, ec);
      }
      if (ec) {
        throw std::runtime_error("cannot listen on " + e.to_string() + " (" +
                                 std::string(to_string(kind)) + "): " + ec.message());
      }
      listeners_.push_back(std::move(listener));
    }
  };
  add(ListenerKind::submission, listen.submission);
  add(ListenerKind::smtps, listen.smtps);
  add(ListenerKind::intercept, listen.intercept);
  add(ListenerKind::feedback, listen.feedback);
}

void SmtpServer::start() {
  for (auto& listener : listeners_) {
    log::info("listening",
              {{"listener", to_string(listener->kind)}, {"endpoint", listener->endpoint}});
    asio::co_spawn(io_, accept_loop(*listener), asio::detached);
  }
}

void SmtpServer::stop() {
  for (auto& listener : listeners_) {
    boost::system::error_code ignored;
    listener->acceptor.close(ignored);
  }
}

bool SmtpServer::admit(const asio::ip::address& client) {
  const auto& limits = services_.config.limits;
  auto& count = per_client_[client];
  if (active_ >= limits.max_connections || count >= limits.max_connections_per_client) {
    if (count == 0) {
      per_client_.erase(client);
    }
    return false;
  }
  ++active_;
  ++count;
  return true;
}

void SmtpServer::release(const asio::ip::address& client) {
  --active_;
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) {
    per_client_.erase(it);
  }
}

asio::awaitable<void> SmtpServer::accept_loop(Listener& listener) {
  for (;;) {
    auto [ec, socket] = co_await listener.acceptor.async_accept(asio_nothrow);
    if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      log::warning("accept_failed",
                   {{"listener", to_string(listener.kind)}, {"error", ec.message()}});
      asio::steady_timer pause(io_, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio_nothrow);
      continue;
    }
    boost::system::error_code endpoint_ec;
    // Replies are whole lines written at once: Nagle only delays them (after
    // a TLS handshake the banner waited ~45 ms for the client's delayed ACK).
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    const tcp::endpoint client = socket.remote_endpoint(endpoint_ec);
    if (endpoint_ec) {
      continue;
    }
    if (!admit(client.address())) {
      log::warning("connection_refused_limit", {{"listener", to_string(listener.kind)},
                                                {"client", client.address().to_string()}});
      if (listener.kind != ListenerKind::smtps) {
        static constexpr std::string_view kBusy =
            "421 4.7.0 Too many connections, try again later\r\n";
        socket.non_blocking(true, endpoint_ec);
        socket.write_some(asio::buffer(kBusy), endpoint_ec);
      }
      continue;
    }
    SessionOrigin origin{listener.kind, next_session_id_++, client, {}};
    if (listener.kind == ListenerKind::intercept) {
      origin.original_destination = original_destination(socket);
    }
    asio::co_spawn(io_, run_session(std::move(socket), std::move(origin), services_),
                   [this, address = client.address()](std::exception_ptr e) {
                     release(address);
                     if (e) {
                       // An exception escaping a session is a bug: log it, close only that session.
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         log::error("session_crashed", {{"error", ex.what()}});
                       }
                     }
                   });
  }
}

}  // namespace portcullis::relay::smtp
