#pragma once
// A small synchronous HTTP/1.1 client for the control socket, used by
// portcullisctl and the tests. Untrusted input: the daemon's responses, read
// with a header and body limit and a timeout.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/core/result.hpp"

namespace portcullis::control {

struct ClientResponse {
  int status = 0;
  std::string body;
};

class ControlClient {
 public:
  explicit ControlClient(std::filesystem::path socket_path,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  // One request on a kept-alive connection (connects on first use and again
  // after the daemon closed it). Errors read like
  // "cannot connect to /run/portcullis/control.sock: No such file or directory
  // (is portcullisd running?)".
  Result<ClientResponse> request(std::string_view method,
                                 std::string_view target,
                                 std::string_view body = {});

 private:
  struct Connection;
  Result<void> connect();
  std::filesystem::path socket_path_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace portcullis::control
