#pragma once
// The strict parser for a tenant's webhook URL. Untrusted input: the URL comes
// from the control API (an operator, on a tenant's behalf) and ends up in a
// TCP connect, a TLS name check and an HTTP request line, so anything that
// could smuggle a second header, another host or credentials is refused rather
// than repaired. Needs no privilege.

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/core/result.hpp"

namespace portcullis::webhooks {

inline constexpr std::size_t kMaxWebhookUrl = 2048;

struct WebhookUrl {
  std::string host;  // lower-case DNS name, dotted IPv4, or IPv6 without brackets
  std::uint16_t port = 443;
  std::string target;            // path and query for the request line; "/" when the URL has none
  bool host_is_address = false;  // an IP literal: verified against an IP SAN, no SNI

  // The Host header: the port only when it is not 443, brackets around IPv6.
  std::string host_header() const;
  // host:port for logs and errors (never the path: it may carry a token).
  std::string authority() const;

  friend bool operator==(const WebhookUrl&, const WebhookUrl&) = default;
};

// https://host[:port][/path][?query], printable ASCII only, at most
// kMaxWebhookUrl octets. Refused: other schemes, userinfo ("user@"),
// fragments, blanks and control characters, characters RFC 3986 does not
// allow in a path or query, bad percent escapes, ports outside 1..65535,
// IPv6 zone ids, and a host whose last label is numeric but which is not a
// dotted IPv4 address ("127.1", "1.2.3.256"), which resolvers read in
// surprising ways.
Result<WebhookUrl> parse_webhook_url(std::string_view url);

}  // namespace portcullis::webhooks
