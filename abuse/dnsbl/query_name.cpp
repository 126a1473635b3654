#include "abuse/dnsbl/query_name.hpp"

#include "abuse/mime/text.hpp"

namespace portcullis::abuse::dnsbl {
namespace {

constexpr std::size_t kMaxName = 253;
constexpr std::size_t kIpv6Prefix = 64;  // 32 nibbles, each with its dot
constexpr std::size_t kMaxLabel = 63;

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

}  // namespace

Result<std::string> normalize_zone(std::string_view zone) {
  std::string z = mime::to_lower(mime::trim(zone));
  if (z.ends_with('.')) {
    z.pop_back();
  }
  const std::string shown = "DNSBL zone \"" + mime::sanitize(zone, 80) + "\"";
  if (z.empty()) {
    return make_error("empty DNSBL zone");
  }
  if (z.size() > kMaxName - kIpv6Prefix) {
    return make_error(shown + " is too long: queries under it would exceed 253 octets");
  }
  std::size_t labels = 0;
  std::size_t start = 0;
  while (start <= z.size()) {
    const auto dot = z.find('.', start);
    const std::string_view label =
        std::string_view(z).substr(start, (dot == std::string::npos ? z.size() : dot) - start);
    if (label.empty() || label.size() > kMaxLabel) {
      return make_error(shown + " has an empty or overlong label");
    }
    if (label.front() == '-' || label.back() == '-') {
      return make_error(shown + " has a label starting or ending with '-'");
    }
    for (const char c : label) {
      if (!is_label_char(c)) {
        return make_error(shown + " has a character that is not a letter, digit, '-' or '_'");
      }
    }
    ++labels;
    if (dot == std::string::npos) {
      break;
    }
    start = dot + 1;
  }
  if (labels < 2) {
    return make_error(shown + " is a single label; a DNSBL zone is a domain such as zen.example");
  }
  return Result<std::string>(boost::system::in_place_value, std::move(z));
}

Result<std::string> query_name(const boost::asio::ip::address& address, std::string_view zone) {
  auto z = normalize_zone(zone);
  if (!z) {
    return z.error();
  }
  std::string name;
  if (address.is_v4() || address.to_v6().is_v4_mapped()) {
    const auto v4 = address.is_v4() ? address.to_v4()
                                    : boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped,
                                                                       address.to_v6());
    const auto bytes = v4.to_bytes();
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
      name += std::to_string(*it);
      name += '.';
    }
  } else {
    constexpr std::string_view kHex = "0123456789abcdef";
    const auto bytes = address.to_v6().to_bytes();
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
      name += kHex[*it & 0x0f];
      name += '.';
      name += kHex[*it >> 4];
      name += '.';
    }
  }
  name += *z;
  return Result<std::string>(boost::system::in_place_value, std::move(name));
}

Result<std::string> query_name(std::string_view address, std::string_view zone) {
  const std::string_view text = mime::trim(address);
  boost::system::error_code ec;
  // A scope ("fe80::1%eth0") names a local link, never a listed sender.
  const auto parsed = text.find('%') == std::string_view::npos
                          ? boost::asio::ip::make_address(std::string(text), ec)
                          : boost::asio::ip::address();
  if (ec || text.empty() || text.find('%') != std::string_view::npos) {
    return make_error("\"" + mime::sanitize(address, 80) + "\" is not an IP address");
  }
  return query_name(parsed, zone);
}

}  // namespace portcullis::abuse::dnsbl
