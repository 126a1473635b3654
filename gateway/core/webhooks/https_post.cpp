#include "gateway/core/webhooks/https_post.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <variant>

namespace portcullis::webhooks {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

constexpr std::uint32_t kHeaderLimit = 16 * 1024;
constexpr std::string_view kUserAgent = "portcullis-webhook/1";

// https_post's closers point into its frame: they must be gone before it is.
class AbortHook {
 public:
  explicit AbortHook(PostAbort* abort) : abort_(abort) {}
  ~AbortHook() { set({}); }
  AbortHook(const AbortHook&) = delete;
  AbortHook& operator=(const AbortHook&) = delete;
  void set(std::function<void()> close) {
    if (abort_ != nullptr) {
      abort_->on_abort(std::move(close));
    }
  }
  bool aborted() const { return abort_ != nullptr && abort_->aborted(); }

 private:
  PostAbort* abort_;
};

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) {
    return std::to_string(d.count() / 1000) + "s";
  }
  return std::to_string(d.count()) + "ms";
}

PostOutcome failed(std::string error) {
  return PostOutcome{0, std::move(error)};
}

}  // namespace

Result<std::unique_ptr<asio::ssl::context>> make_webhook_tls_context(
    const std::filesystem::path& ca_file) {
  auto context = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  context->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_compression);
  if (SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION) != 1) {
    return make_error("webhooks: cannot require TLS 1.2 or later");
  }
  boost::system::error_code ec;
  if (ca_file.empty()) {
    context->set_default_verify_paths(ec);
    if (ec) {
      return make_error("webhooks: cannot load the system trust store: " + ec.message());
    }
  } else {
    context->load_verify_file(ca_file.string(), ec);
    if (ec) {
      return make_error("webhooks: cannot load CA file " + ca_file.string() + ": " + ec.message());
    }
  }
  context->set_verify_mode(asio::ssl::verify_peer);
  return context;
}

awaitable<PostOutcome> https_post(asio::any_io_executor executor,
                                  asio::ssl::context& tls,
                                  const PostRequest& request,
                                  PostAbort* abort) {
  AbortHook hook(abort);
  if (hook.aborted()) {
    co_return failed("aborted");
  }
  const auto& url = request.url;
  const auto deadline = asio::steady_timer::clock_type::now() + request.timeout;
  const std::string timed_out = "timeout after " + seconds_text(request.timeout);

  std::vector<tcp::endpoint> endpoints;
  if (url.host_is_address) {
    endpoints.emplace_back(asio::ip::make_address(url.host), url.port);
  } else {
    // getaddrinfo cannot be interrupted: the deadline just stops waiting for it.
    tcp::resolver resolver(executor);
    asio::steady_timer timer(executor, deadline);
    hook.set([&] {
      resolver.cancel();
      timer.cancel();
    });
    const std::string service = std::to_string(url.port);
    auto resolved = co_await (resolver.async_resolve(url.host, service, asio_nothrow) ||
                              timer.async_wait(asio_nothrow));
    hook.set({});
    if (hook.aborted()) {
      co_return failed("aborted");
    }
    if (resolved.index() == 1) {
      co_return failed("resolving " + url.host + ": " + timed_out);
    }
    auto& [ec, results] = std::get<0>(resolved);
    if (ec) {
      co_return failed("resolving " + url.host + ": " + ec.message());
    }
    for (const auto& entry : results) {
      endpoints.push_back(entry.endpoint());
    }
    if (endpoints.empty()) {
      co_return failed("resolving " + url.host + ": no addresses");
    }
  }

  beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
  auto& socket = beast::get_lowest_layer(stream);
  hook.set([&socket] { socket.close(); });
  // One deadline for connect, handshake, write and read together.
  socket.expires_at(deadline);
  const auto step_error = [&](std::string_view step, const boost::system::error_code& ec) {
    if (hook.aborted()) {
      return failed("aborted");
    }
    const std::string why = ec == beast::error::timeout ? timed_out : ec.message();
    return failed(std::string(step) + " " + url.authority() + ": " + why);
  };

  {
    auto [ec, connected] = co_await socket.async_connect(endpoints, asio_nothrow);
    if (ec || hook.aborted()) {
      co_return step_error("connecting to", ec);
    }
  }

  SSL* ssl = stream.native_handle();
  const bool bound =
      url.host_is_address
          // An IP literal is checked against the certificate's IP SANs; no SNI (RFC 6066).
          ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), url.host.c_str()) == 1
          : SSL_set_tlsext_host_name(ssl, url.host.c_str()) == 1 &&
                SSL_set1_host(ssl, url.host.c_str()) == 1;
  if (!bound) {
    co_return failed("cannot set the name to verify for " + url.authority());
  }
  {
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, asio_nothrow);
    if (ec || hook.aborted()) {
      auto outcome = step_error("TLS handshake with", ec);
      const long verify = SSL_get_verify_result(ssl);
      if (!hook.aborted() && verify != X509_V_OK) {
        outcome.error += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      }
      co_return outcome;
    }
  }

  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host_header());
  req.set(http::field::user_agent, kUserAgent);
  req.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : request.headers) {
    req.set(name, value);
  }
  req.keep_alive(false);
  req.body() = request.body;
  req.prepare_payload();
  {
    auto [ec, n] = co_await http::async_write(stream, req, asio_nothrow);
    if (ec || hook.aborted()) {
      co_return step_error("sending to", ec);
    }
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(kHeaderLimit);
  {
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, asio_nothrow);
    if (ec || hook.aborted()) {
      co_return step_error("reading the answer of", ec);
    }
  }
  // The status is all we need. No TLS close_notify: a receiver that never
  // answers one must not hold up the next batch; the socket just closes.
  co_return PostOutcome{parser.get().result_int(), {}};
}

}  // namespace portcullis::webhooks
