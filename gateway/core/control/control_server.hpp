#pragma once
// The control API's HTTP/1.1 server on a Unix domain socket: one coroutine per
// connection, keep-alive, a deadline on every read and write, a body limit.
// Untrusted input: HTTP requests from local processes that can open the socket.
// The socket is chmod 0600, so only root and the daemon's user get that far;
// still, a malformed request only ever gets a 4xx and a closed connection.
// Privilege: creating the socket needs write access to its directory.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>

#include "gateway/core/asio.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

namespace detail {
struct ServerState;
}

struct ControlServerOptions {
  std::chrono::milliseconds io_timeout{std::chrono::seconds(30)};  // per read and per write
  std::size_t body_limit = 1024 * 1024;                            // larger bodies get 413
};

class ControlServer {
 public:
  // Removes a stale socket file, binds, chmods it 0600 and listens. Throws
  // std::runtime_error (start-up only) when the path cannot be bound or another
  // process is already answering on it.
  ControlServer(asio::any_io_executor executor,
                std::filesystem::path socket_path,
                Router router,
                ControlServerOptions options = {});
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Starts the accept loop on the executor.
  void start();
  // Stops accepting and removes the socket file; open connections finish their
  // current request. Call it (and the destructor) on the executor's thread or
  // once the io_context has stopped, and before the io_context is destroyed.
  void stop();

  const std::filesystem::path& socket_path() const { return socket_path_; }

 private:
  std::filesystem::path socket_path_;
  std::shared_ptr<detail::ServerState> state_;
};

}  // namespace portcullis::control
