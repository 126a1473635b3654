#pragma once
// DNSBL query names (RFC 5782 2.1, 2.4): the address's octets reversed for IPv4
// ("192.0.2.1" in zen.example → "1.2.0.192.zen.example"), its 32 nibbles reversed for IPv6.
// IPv4-mapped IPv6 addresses are queried as the IPv4 address they carry: that is how a
// dual-stack socket reports an IPv4 peer, and what the lists index.
//
// Input: an address from the gateway's own config or store, and a zone from the config; the zone
// is checked here so that a typo never turns into a query for some other name.

#include <boost/asio/ip/address.hpp>
#include <string>
#include <string_view>

#include "gateway/core/result.hpp"

namespace portcullis::abuse::dnsbl {

// The zone in lowercase without a trailing dot; error unless it is a host name (labels of
// 1..63 letters, digits, '-' or '_', not starting or ending with '-', at least two labels) short
// enough for an IPv6 query under it (253 - 64 octets).
Result<std::string> normalize_zone(std::string_view zone);

Result<std::string> query_name(const boost::asio::ip::address& address, std::string_view zone);

// As above for an address in text ("192.0.2.1", "2001:db8::1"); error for anything else.
Result<std::string> query_name(std::string_view address, std::string_view zone);

}  // namespace portcullis::abuse::dnsbl
