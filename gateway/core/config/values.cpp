#include "gateway/core/config/values.hpp"

#include <array>
#include <boost/asio/ip/address.hpp>
#include <charconv>
#include <limits>

namespace portcullis::config {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Reads the leading run of digits; nullopt when there is none or it overflows.
std::optional<std::uint64_t> take_number(std::string_view& text) {
  std::size_t end = 0;
  while (end < text.size() && is_digit(text[end])) {
    ++end;
  }
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (end == 0 || ec != std::errc{}) {
    return std::nullopt;
  }
  text.remove_prefix(end);
  return value;
}

struct Unit {
  char suffix;
  std::uint64_t factor;
};

constexpr std::array<Unit, 4> kDurationUnits{{{'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}}};

constexpr std::array<Unit, 3> kSizeUnits{{{'G', 1ULL << 30}, {'M', 1ULL << 20}, {'K', 1ULL << 10}}};

std::optional<std::uint64_t> duration_factor(char c) {
  for (const auto& unit : kDurationUnits) {
    if (unit.suffix == c) {
      return unit.factor;
    }
  }
  return std::nullopt;
}

std::optional<std::uint64_t> size_factor(char c) {
  char upper = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  for (const auto& unit : kSizeUnits) {
    if (unit.suffix == upper) {
      return unit.factor;
    }
  }
  return std::nullopt;
}

bool multiply_add(std::uint64_t& total, std::uint64_t value, std::uint64_t factor) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max();
  if (value > kMax / factor || total > kMax - value * factor) {
    return false;
  }
  total += value * factor;
  return true;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  std::uint64_t port = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), port);
  if (text.empty() || ec != std::errc{} || ptr != text.data() + text.size() || port == 0 ||
      port > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

}  // namespace

std::string quote_value(std::string_view text) {
  constexpr std::size_t kMaxShown = 80;
  std::string out = "'";
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + (text.size() > kMaxShown ? "...'" : "'");
}

Result<std::chrono::seconds> parse_duration(std::string_view text) {
  const auto bad = [&] {
    return make_error(quote_value(text) + " is not a duration (use e.g. 30s, 5m, 1h, 5d)");
  };
  std::string_view rest = text;
  std::uint64_t total = 0;
  if (rest.empty()) {
    return bad();
  }
  while (!rest.empty()) {
    auto value = take_number(rest);
    if (!value || rest.empty()) {
      return bad();
    }
    auto factor = duration_factor(rest.front());
    if (!factor) {
      return bad();
    }
    rest.remove_prefix(1);
    if (!multiply_add(total, *value, *factor)) {
      return make_error(quote_value(text) + " is too long");
    }
  }
  return std::chrono::seconds(static_cast<std::int64_t>(total));
}

std::string format_duration(std::chrono::seconds value) {
  auto rest = static_cast<std::uint64_t>(value.count() < 0 ? 0 : value.count());
  if (rest == 0) {
    return "0s";
  }
  std::string out;
  for (const auto& unit : kDurationUnits) {
    if (rest >= unit.factor) {
      out += std::to_string(rest / unit.factor) + unit.suffix;
      rest %= unit.factor;
    }
  }
  return out;
}

Result<std::uint64_t> parse_size(std::string_view text) {
  const auto bad = [&] {
    return make_error(quote_value(text) +
                      " is not a size (use bytes or a number with K, M or G, e.g. 25M)");
  };
  std::string_view rest = text;
  auto value = take_number(rest);
  if (!value) {
    return bad();
  }
  std::uint64_t factor = 1;
  if (!rest.empty()) {
    auto suffix = size_factor(rest.front());
    if (!suffix || rest.size() != 1) {
      return bad();
    }
    factor = *suffix;
  }
  std::uint64_t total = 0;
  if (!multiply_add(total, *value, factor)) {
    return make_error(quote_value(text) + " is too large");
  }
  return total;
}

std::string format_size(std::uint64_t bytes) {
  for (const auto& unit : kSizeUnits) {
    if (bytes != 0 && bytes % unit.factor == 0) {
      return std::to_string(bytes / unit.factor) + unit.suffix;
    }
  }
  return std::to_string(bytes);
}

Result<Endpoint> parse_endpoint(std::string_view text) {
  const std::string example = " (e.g. 0.0.0.0:587 or [::]:587)";
  std::string_view host;
  std::string_view port;
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos) {
      return make_error(quote_value(text) + " has no closing ']'" + example);
    }
    host = text.substr(1, close - 1);
    std::string_view after = text.substr(close + 1);
    if (!after.starts_with(':')) {
      return make_error(quote_value(text) + " has no port" + example);
    }
    port = after.substr(1);
    if (host.find(':') == std::string_view::npos || !is_ip_address(host)) {
      return make_error(quote_value(text) + ": '" + std::string(host) + "' is not an IPv6 address");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return make_error(quote_value(text) + " has no port" + example);
    }
    if (text.find(':') != colon) {
      return make_error(quote_value(text) + ": an IPv6 address needs brackets, e.g. [::1]:587");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!is_ip_address(host)) {
      return make_error(quote_value(text) + ": '" + std::string(host) + "' is not an IP address");
    }
  }
  auto number = parse_port(port);
  if (!number) {
    return make_error(quote_value(text) + " is not a valid port (1-65535)");
  }
  boost::system::error_code ec;
  auto address = boost::asio::ip::make_address(std::string(host), ec);
  return Endpoint{address.to_string(), *number};
}

bool is_ip_address(std::string_view text) {
  boost::system::error_code ec;
  // make_address accepts an IPv6 scope ("fe80::1%eth0"); a listener or
  // source address in the config never needs one.
  if (text.empty() || text.find('%') != std::string_view::npos) {
    return false;
  }
  boost::asio::ip::make_address(std::string(text), ec);
  return !ec;
}

bool is_host_name(std::string_view text) {
  if (text.ends_with('.')) {
    text.remove_suffix(1);
  }
  if (text.empty() || text.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  char previous = '.';
  for (char c : text) {
    const bool alnum = is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (c == '.') {
      if (label == 0 || previous == '-') {
        return false;
      }
      label = 0;
    } else if (alnum || (c == '-' && label > 0)) {
      if (++label > 63) {
        return false;
      }
    } else {
      return false;
    }
    previous = c;
  }
  return previous != '-';
}

}  // namespace portcullis::config
