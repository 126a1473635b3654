#include "gateway/core/net/prefix.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace portcullis::net {
namespace {

using boost::asio::ip::address;
using boost::asio::ip::address_v4;
using boost::asio::ip::address_v6;

constexpr std::uint32_t mask_v4(std::uint8_t length) {
  return length == 0 ? 0 : ~std::uint32_t{0} << (32 - length);
}

address_v6::bytes_type mask_v6(address_v6::bytes_type bytes, std::uint8_t length) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int bits = std::clamp(static_cast<int>(length) - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<unsigned char>(0xff00u >> bits);
  }
  return bytes;
}

// The network of `a` with only its first `length` bits kept.
address masked(const address& a, std::uint8_t length) {
  if (a.is_v4()) {
    return address_v4(a.to_v4().to_uint() & mask_v4(length));
  }
  return address_v6(mask_v6(a.to_v6().to_bytes(), length));
}

}  // namespace

address normalize(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

Result<Prefix> Prefix::parse(std::string_view text) {
  if (text.empty()) {
    return make_error("an empty string is not a network prefix");
  }
  const auto quoted = "'" + std::string(text) + "'";
  const auto slash = text.find('/');
  const auto address_text = std::string(text.substr(0, slash));

  // make_address accepts "%scope" suffixes; a zone never belongs in a prefix.
  if (address_text.empty() || address_text.find('%') != std::string::npos) {
    return make_error(quoted + " is not an IP address");
  }
  boost::system::error_code ec;
  const auto network = boost::asio::ip::make_address(address_text, ec);
  if (ec) {
    return make_error(quoted + " is not an IP address");
  }
  const int max_length = network.is_v4() ? 32 : 128;
  const auto family = network.is_v4() ? "IPv4" : "IPv6";

  int length = max_length;
  if (slash != std::string_view::npos) {
    const auto length_text = text.substr(slash + 1);
    const auto* first = length_text.data();
    const auto* last = first + length_text.size();
    const bool digits_only = !length_text.empty() && length_text.size() <= 3 &&
                             std::all_of(first, last, [](char c) { return c >= '0' && c <= '9'; });
    if (!digits_only || std::from_chars(first, last, length).ec != std::errc{}) {
      return make_error(quoted + " has an invalid prefix length; expected a number after '/'");
    }
    if (length > max_length) {
      return make_error("prefix length " + std::to_string(length) + " is too long for " + family);
    }
  }

  Prefix prefix{network, static_cast<std::uint8_t>(length)};
  const auto expected = masked(network, prefix.length);
  if (expected != network) {
    return make_error(quoted + " has host bits set; the network is " +
                      Prefix{expected, prefix.length}.to_string());
  }
  if (network.is_v6() && network.to_v6().is_v4_mapped() && length >= 96) {
    prefix = Prefix{normalize(network), static_cast<std::uint8_t>(length - 96)};
  }
  return prefix;
}

bool Prefix::contains(const address& a) const {
  const auto candidate = normalize(a);
  if (candidate.is_v4() != network.is_v4()) {
    return false;
  }
  return masked(candidate, length) == network;
}

bool Prefix::overlaps(const Prefix& other) const {
  if (network.is_v4() != other.network.is_v4()) {
    return false;
  }
  const auto shorter = std::min(length, other.length);
  return masked(network, shorter) == masked(other.network, shorter);
}

std::string Prefix::to_string() const {
  return network.to_string() + "/" + std::to_string(length);
}

}  // namespace portcullis::net
