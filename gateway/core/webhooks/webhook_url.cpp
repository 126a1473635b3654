#include "gateway/core/webhooks/webhook_url.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>

namespace portcullis::webhooks {
namespace {

// The messages never quote the URL: its query may hold the receiver's token.
Error bad(std::string_view why) {
  return make_error("invalid webhook URL: " + std::string(why));
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 3986 pchar plus '/' and '?': unreserved, sub-delims, ':' and '@'
// ('%' is checked separately, with its two hex digits).
bool is_target_char(char c) {
  if (is_alpha(c) || is_digit(c)) {
    return true;
  }
  constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?";
  return kAllowed.find(c) != std::string_view::npos;
}

// Result<std::string> needs the tag: Error is constructible from a string too.
Result<std::string> target_text(std::string text) {
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

Result<std::string> parse_target(std::string_view rest) {
  for (std::size_t i = 0; i < rest.size(); ++i) {
    const char c = rest[i];
    if (c == '%') {
      if (i + 2 >= rest.size() || !is_hex(rest[i + 1]) || !is_hex(rest[i + 2])) {
        return bad("a '%' in the path is not followed by two hex digits");
      }
      i += 2;
      continue;
    }
    if (!is_target_char(c)) {
      return bad(std::string("the path or query contains '") + c + "'");
    }
  }
  if (rest.empty()) {
    return target_text("/");
  }
  if (rest.front() == '?') {
    return target_text("/" + std::string(rest));
  }
  return target_text(std::string(rest));
}

Result<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), is_digit)) {
    return bad("the port must be a number from 1 to 65535");
  }
  unsigned value = 0;
  for (char c : text) {
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) {
    return bad("the port must be a number from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

// Decimal, octal or hex ("0x7f"), the way inet_aton reads each part.
bool is_numeric_label(std::string_view label) {
  if (label.size() >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X')) {
    return std::all_of(label.begin() + 2, label.end(), is_hex);
  }
  return std::all_of(label.begin(), label.end(), is_digit);
}

// Letters, digits and inner hyphens, labels of 1..63, at most 253 in all.
bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t start = 0;
  std::string_view last;
  while (start <= name.size()) {
    const auto end = std::min(name.find('.', start), name.size());
    const auto label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!is_alpha(c) && !is_digit(c) && c != '-') {
        return false;
      }
    }
    last = label;
    start = end + 1;
  }
  // A numeric last label is an address in disguise: inet_aton, which resolvers
  // fall back on, reads "127.1" and "0x7f000001" as 127.0.0.1.
  return !is_numeric_label(last);
}

}  // namespace

std::string WebhookUrl::host_header() const {
  std::string out = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != 443) {
    out += ":" + std::to_string(port);
  }
  return out;
}

std::string WebhookUrl::authority() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

Result<WebhookUrl> parse_webhook_url(std::string_view url) {
  if (url.empty()) {
    return bad("it is empty");
  }
  if (url.size() > kMaxWebhookUrl) {
    return bad("it is longer than " + std::to_string(kMaxWebhookUrl) + " octets");
  }
  for (char c : url) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return bad("it contains blanks, control characters or non-ASCII octets");
    }
  }
  constexpr std::string_view kScheme = "https://";
  if (url.size() < kScheme.size() || !std::equal(kScheme.begin(), kScheme.end(), url.begin(),
                                                 [](char a, char b) { return a == lower(b); })) {
    // Payloads carry recipients' addresses and are signed: never in clear.
    return bad("it must start with https://");
  }
  const auto rest = url.substr(kScheme.size());
  if (rest.find('#') != std::string_view::npos) {
    return bad("it has a fragment ('#')");
  }
  const auto authority_end = std::min(rest.find_first_of("/?"), rest.size());
  const auto authority = rest.substr(0, authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return bad("it has a user name or password ('@' before the host)");
  }

  WebhookUrl out;
  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      return bad("an IPv6 address is missing its ']'");
    }
    host = authority.substr(1, close - 1);
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return bad("unexpected text after the IPv6 address");
      }
      has_port = true;
      port_text = after.substr(1);
    }
    if (host.find('%') != std::string_view::npos) {
      return bad("IPv6 zone ids are not allowed");
    }
    boost::system::error_code ec;
    const auto v6 = boost::asio::ip::make_address_v6(std::string(host), ec);
    if (ec) {
      return bad("the IPv6 address in brackets is not valid");
    }
    out.host = v6.to_string();
    out.host_is_address = true;
  } else {
    const auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) {
      return bad("it has no host");
    }
    boost::system::error_code ec;
    const auto v4 = boost::asio::ip::make_address_v4(std::string(host), ec);
    if (!ec) {
      out.host = v4.to_string();
      out.host_is_address = true;
    } else if (is_dns_name(host)) {
      out.host.resize(host.size());
      std::transform(host.begin(), host.end(), out.host.begin(), lower);
    } else {
      return bad("the host is neither a DNS name nor an IP address");
    }
  }
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port) {
      return port.error();
    }
    out.port = *port;
  }
  auto target = parse_target(rest.substr(authority_end));
  if (!target) {
    return target.error();
  }
  out.target = std::move(*target);
  return out;
}

}  // namespace portcullis::webhooks
