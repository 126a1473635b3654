#pragma once
// IP network prefixes (CIDR) for tenant subnets. parse() handles untrusted
// text from the control API, the CLI and the config; it refuses anything that
// is not exactly a network so that a typo never silently widens a tenant.

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/core/result.hpp"

namespace portcullis::net {

struct Prefix {
  boost::asio::ip::address network;
  std::uint8_t length = 0;

  // "198.18.0.0/24", "fd00:1::/64"; a bare address is a /32 or /128. Host bits
  // set is an error naming the intended network. A v4-mapped IPv6 prefix of
  // length >= 96 ("::ffff:198.18.0.0/120") is stored as the IPv4 prefix it
  // denotes, so that overlap checks see it.
  static Result<Prefix> parse(std::string_view text);

  // v4-mapped IPv6 addresses (dual-stack sockets) are matched by IPv4 prefixes.
  bool contains(const boost::asio::ip::address& address) const;
  // Prefixes of different families never overlap.
  bool overlaps(const Prefix& other) const;
  std::string to_string() const;

  bool operator==(const Prefix&) const = default;
};

// ::ffff:a.b.c.d → a.b.c.d; any other address unchanged.
boost::asio::ip::address normalize(const boost::asio::ip::address& address);

}  // namespace portcullis::net
