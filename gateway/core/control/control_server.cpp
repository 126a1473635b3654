#include "gateway/core/control/control_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "gateway/core/log/log.hpp"

namespace portcullis::control {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using Protocol = asio::local::stream_protocol;
using Stream = beast::basic_stream<Protocol>;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;

// The peer's uid, for the request log: who administered what.
long peer_uid(Protocol::socket& socket) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return -1;
  }
  return static_cast<long>(cred.uid);
}

std::string_view path_of(std::string_view target) {
  return target.substr(0, target.find('?'));
}

}  // namespace

namespace detail {

// Shared with every connection coroutine, so it outlives a stopped server.
struct ServerState {
  ServerState(asio::any_io_executor ex, Router r, ControlServerOptions o)
      : executor(std::move(ex)), acceptor(executor), router(std::move(r)), options(o) {}

  asio::any_io_executor executor;
  Protocol::acceptor acceptor;
  Router router;
  ControlServerOptions options;
};

}  // namespace detail

namespace {

using detail::ServerState;

http::response<http::string_body> make_response(const Response& r, unsigned version, bool keep) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "portcullisd");
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep);
  res.body() = boost::json::serialize(r.body);
  res.body() += '\n';
  res.prepare_payload();
  return res;
}

awaitable<void> write_response(Stream& stream,
                               const std::shared_ptr<ServerState>& state,
                               http::response<http::string_body>& res,
                               bool& ok) {
  stream.expires_after(state->options.io_timeout);
  auto [ec, n] = co_await http::async_write(stream, res, asio_nothrow);
  ok = !ec;
}

awaitable<void> serve_connection(std::shared_ptr<ServerState> state, Stream stream) {
  const long uid = peer_uid(stream.socket());
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(state->options.body_limit);
    stream.expires_after(state->options.io_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio_nothrow);
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
      break;
    }
    if (ec) {
      // The request cannot be trusted past this point: answer and close.
      Response r =
          ec == http::error::body_limit
              ? error_response(413, "the request body is larger than " +
                                        std::to_string(state->options.body_limit) + " bytes")
              : error_response(400, "malformed HTTP request: " + ec.message());
      log::warning("control_bad_request",
                   {{"uid", uid}, {"status", r.status}, {"error", ec.message()}});
      auto res = make_response(r, 11, false);
      bool ok = false;
      co_await write_response(stream, state, res, ok);
      break;
    }

    auto& req = parser.get();
    const std::string_view method(req.method_string().data(), req.method_string().size());
    const std::string_view target(req.target().data(), req.target().size());
    const auto started = std::chrono::steady_clock::now();
    Response r = state->router.route(method, target, req.body());
    const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    log::info("control_request", {{"uid", uid},
                                  {"method", method},
                                  {"path", path_of(target)},
                                  {"status", r.status},
                                  {"us", elapsed.count()}});
    const bool keep = req.keep_alive();
    auto res = make_response(r, req.version(), keep);
    bool ok = false;
    co_await write_response(stream, state, res, ok);
    if (!ok || !keep) {
      break;
    }
  }
  beast::error_code ignored;
  stream.socket().shutdown(Protocol::socket::shutdown_send, ignored);
  stream.socket().close(ignored);
}

awaitable<void> accept_loop(std::shared_ptr<ServerState> state) {
  for (;;) {
    auto [ec, socket] =
        co_await state->acceptor.async_accept(asio::make_strand(state->executor), asio_nothrow);
    if (ec == asio::error::operation_aborted || !state->acceptor.is_open()) {
      co_return;
    }
    if (ec) {
      // EMFILE and friends: back off instead of spinning on the error.
      log::warning("control_accept_failed", {{"error", ec.message()}});
      asio::steady_timer pause(state->executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(asio_nothrow);
      continue;
    }
    auto executor = socket.get_executor();
    asio::co_spawn(executor, serve_connection(state, Stream(std::move(socket))),
                   [](const std::exception_ptr& e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         log::error("control_connection_failed", {{"error", ex.what()}});
                       } catch (...) {
                         log::error("control_connection_failed");
                       }
                     }
                   });
  }
}

}  // namespace

ControlServer::ControlServer(asio::any_io_executor executor,
                             std::filesystem::path socket_path,
                             Router router,
                             ControlServerOptions options)
    : socket_path_(std::move(socket_path)),
      state_(std::make_shared<ServerState>(std::move(executor), std::move(router), options)) {
  std::error_code fec;
  const auto status = std::filesystem::symlink_status(socket_path_, fec);
  if (!fec && std::filesystem::exists(status)) {
    if (!std::filesystem::is_socket(status)) {
      throw std::runtime_error("control socket " + socket_path_.string() +
                               " exists and is not a socket");
    }
    // A socket someone still answers on belongs to a running daemon: never steal it.
    Protocol::socket probe(state_->executor);
    boost::system::error_code ec;
    probe.connect(Protocol::endpoint(socket_path_.string()), ec);
    if (!ec) {
      throw std::runtime_error("control socket " + socket_path_.string() +
                               " is in use: is another portcullisd running?");
    }
    std::filesystem::remove(socket_path_, fec);
  }

  boost::system::error_code ec;
  auto fail = [&](std::string_view what) {
    throw std::runtime_error("cannot " + std::string(what) + " control socket " +
                             socket_path_.string() + ": " + ec.message());
  };
  state_->acceptor.open(Protocol(), ec);
  if (ec) {
    fail("open");
  }
  state_->acceptor.bind(Protocol::endpoint(socket_path_.string()), ec);
  if (ec) {
    fail("bind");
  }
  // With the usual umask the fresh socket is not connectable by others (connect
  // needs write permission), so tightening it after bind leaves no window.
  if (::chmod(socket_path_.c_str(), S_IRUSR | S_IWUSR) != 0) {
    ec.assign(errno, boost::system::system_category());
    fail("chmod");
  }
  state_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    fail("listen on");
  }
}

ControlServer::~ControlServer() {
  boost::system::error_code ec;
  if (state_->acceptor.is_open()) {
    state_->acceptor.close(ec);
    std::error_code fec;
    std::filesystem::remove(socket_path_, fec);
  }
}

void ControlServer::start() {
  log::info("control_listening", {{"socket", socket_path_.string()}});
  asio::co_spawn(state_->executor, accept_loop(state_), asio::detached);
}

void ControlServer::stop() {
  boost::system::error_code ec;
  if (state_->acceptor.is_open()) {
    state_->acceptor.close(ec);
    std::error_code fec;
    std::filesystem::remove(socket_path_, fec);
  }
}

}  // namespace portcullis::control
