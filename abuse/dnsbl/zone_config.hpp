#pragma once
// How to read one DNSBL zone's answers. Lists differ: Spamhaus ZEN lists with 127.0.0.2-11 and
// refuses queries (public resolvers, over quota) with 127.255.255.252-255; other lists use other
// codes. Reading a refusal as a listing would open blacklisting tickets against every tenant at
// once, so error codes are configured per zone and checked before listing codes, and nothing
// outside 127.0.0.0/8 is ever a listing code (RFC 5782 2.1).
//
// Input: the operator's config (codes as text). Errors name the zone and the offending code.

#include <boost/asio/ip/address_v4.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::abuse::dnsbl {

// An inclusive range of IPv4 answer codes, with what it means ("SBL", "query refused").
struct CodeRange {
  std::uint32_t first = 0;  // host byte order
  std::uint32_t last = 0;
  std::string meaning;

  bool contains(const boost::asio::ip::address_v4& code) const;
  bool operator==(const CodeRange&) const = default;
};

// "127.0.0.2", "127.0.0.2-127.0.0.11" or "127.255.255.0/24".
Result<CodeRange> parse_code_range(std::string_view text, std::string meaning = {});

// 127.0.0.2-127.0.0.255: the RFC 5782 listing range, for zones without their own list.
std::vector<CodeRange> default_listing_codes();
// 127.255.255.0/24: the block Spamhaus and others answer from when they refuse a query.
std::vector<CodeRange> default_error_codes();

struct ZoneConfig {
  std::string zone;
  std::vector<CodeRange> listing_codes = default_listing_codes();
  std::vector<CodeRange> error_codes = default_error_codes();
  double weight = 1.0;  // how much a listing here counts towards a tenant's score
};

// The zone normalised, or an error: a bad zone name, listing codes outside 127.0.0.0/8,
// listing codes that overlap error codes, no listing codes, or a weight that is negative or not
// finite.
Result<ZoneConfig> validate(ZoneConfig config);

}  // namespace portcullis::abuse::dnsbl
