#include "gateway/core/control/client.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>

namespace portcullis::control {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using Protocol = boost::asio::local::stream_protocol;

constexpr std::size_t kResponseBodyLimit = 64 * 1024 * 1024;

std::string describe(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::would_block || ec == boost::asio::error::try_again ||
      ec == boost::asio::error::timed_out) {
    return "timed out waiting for the daemon";
  }
  return ec.message();
}

}  // namespace

struct ControlClient::Connection {
  boost::asio::io_context io;
  Protocol::socket socket{io};
  beast::flat_buffer buffer;
};

ControlClient::ControlClient(std::filesystem::path socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

ControlClient::~ControlClient() = default;

Result<void> ControlClient::connect() {
  auto connection = std::make_unique<Connection>();
  boost::system::error_code ec;
  connection->socket.connect(Protocol::endpoint(socket_path_.string()), ec);
  if (ec) {
    std::string message = "cannot connect to " + socket_path_.string() + ": " + ec.message();
    if (ec == boost::asio::error::not_found ||
        ec == boost::system::errc::no_such_file_or_directory ||
        ec == boost::asio::error::connection_refused) {
      message += " (is portcullisd running?)";
    } else if (ec == boost::system::errc::permission_denied) {
      message += " (run as root or as the daemon's user)";
    }
    return make_error(std::move(message));
  }
  // Synchronous socket operations have no deadline of their own.
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
  ::setsockopt(connection->socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(connection->socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  connection_ = std::move(connection);
  return {};
}

Result<ClientResponse> ControlClient::request(std::string_view method,
                                              std::string_view target,
                                              std::string_view body) {
  // A kept-alive connection may have been closed by the daemon meanwhile;
  // only a request that never reached it is retried on a fresh one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = connection_ != nullptr;
    if (!connection_) {
      if (auto r = connect(); !r) {
        return r.error();
      }
    }
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    if (req.method() == http::verb::unknown) {
      req.method_string(method);
    }
    req.set(http::field::host, "localhost");
    req.set(http::field::user_agent, "portcullisctl");
    if (!body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = std::string(body);
    }
    req.keep_alive(true);
    req.prepare_payload();

    boost::system::error_code write_ec;
    http::write(connection_->socket, req, write_ec);
    // Even when the write failed (the daemon refused a large body and closed),
    // its response may be waiting to be read.
    http::response_parser<http::string_body> parser;
    parser.body_limit(kResponseBodyLimit);
    boost::system::error_code ec;
    http::read(connection_->socket, connection_->buffer, parser, ec);
    if (ec) {
      connection_.reset();
      if (reused &&
          (ec == http::error::end_of_stream || ec == boost::asio::error::eof ||
           ec == boost::asio::error::connection_reset || ec == boost::asio::error::broken_pipe)) {
        continue;
      }
      auto cause = write_ec ? write_ec : ec;
      return make_error("request to " + socket_path_.string() + " failed: " + describe(cause));
    }
    auto& res = parser.get();
    ClientResponse out{static_cast<int>(res.result_int()), std::move(res.body())};
    if (!res.keep_alive()) {
      connection_.reset();
    }
    return out;
  }
  return make_error("request to " + socket_path_.string() + " failed: connection closed");
}

}  // namespace portcullis::control
