#pragma once
// One HTTPS POST to a webhook receiver, as a coroutine: resolve, connect,
// TLS 1.2+ handshake with certificate and name verification, write, read the
// status line and headers, close. No keep-alive and no redirects: a 3xx is
// just a status like any other. Untrusted input: everything the receiver
// sends back (read with a header limit, under one deadline for the whole
// exchange); only the status code is used. Needs no privilege.

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gateway/core/asio.hpp"
#include "gateway/core/result.hpp"
#include "gateway/core/webhooks/webhook_url.hpp"

namespace portcullis::webhooks {

// Client context: TLS 1.2 or later, peers verified. ca_file "" = the system
// trust store; otherwise that file alone (a receiver with a private CA, and
// the tests), not the system store as well.
Result<std::unique_ptr<asio::ssl::context>> make_webhook_tls_context(
    const std::filesystem::path& ca_file);

struct PostRequest {
  WebhookUrl url;
  // Sent as given, after Host, User-Agent, Content-Type and Content-Length.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // application/json
  // For the whole exchange, from resolving the name to reading the status.
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};

struct PostOutcome {
  unsigned status = 0;  // 0: no HTTP answer (see error)
  std::string error;    // "" when a status was read; else what failed, for the log

  bool accepted() const { return status >= 200 && status <= 299; }
};

// Lets the owner of a request abandon it (shutdown, endpoint removed): abort()
// closes the connection in progress, and the post ends with error "aborted".
// Use it on the executor the post runs on.
class PostAbort {
 public:
  void abort() {
    aborted_ = true;
    if (close_) {
      close_();
    }
  }
  bool aborted() const { return aborted_; }

  // Set by https_post while it has something to close.
  void on_abort(std::function<void()> close) { close_ = std::move(close); }

 private:
  bool aborted_ = false;
  std::function<void()> close_;
};

// The request's executor should be a strand when the io_context has several
// threads. tls must outlive the coroutine. abort may be null.
awaitable<PostOutcome> https_post(asio::any_io_executor executor,
                                  asio::ssl::context& tls,
                                  const PostRequest& request,
                                  PostAbort* abort = nullptr);

}  // namespace portcullis::webhooks
