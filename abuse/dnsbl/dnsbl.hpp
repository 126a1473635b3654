#pragma once
// Reading a DNSBL answer: the A records (and, when listed, the TXT reason) for a query name
// built by query_name.hpp, classified per zone into listed / not listed / error.
//
//   - NXDOMAIN or no A record: not listed.
//   - SERVFAIL, timeout, REFUSED (dns::DnsErrorKind::temporary): error; try again later.
//   - Any answer outside 127.0.0.0/8 (an NXDOMAIN-rewriting resolver, a zone that has been
//     retired to a wildcard): error. Such an answer is never read as a listing.
//   - Any answer among the zone's error codes (127.255.255.254: "query refused via public
//     resolver"): error, not listed.
//   - Otherwise the answers among the listing codes make it listed, with their meanings; answers
//     in 127.0.0.0/8 that are neither (a code the config does not know) alone are an error.
//
// Untrusted input: DNS answers (the zone's operator, or anyone who can spoof or rewrite them).
// The TXT text is sanitised to printable ASCII and bounded before it becomes evidence.

#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "abuse/dnsbl/zone_config.hpp"
#include "gateway/core/dns/lookup.hpp"

namespace portcullis::abuse::dnsbl {

inline constexpr std::size_t kMaxEvidence = 512;
// More A records than this in one answer are not looked at: lists answer with a handful.
inline constexpr std::size_t kMaxAnswers = 32;

enum class Status { listed, not_listed, error };
std::string_view to_string(Status status);

struct ListingCode {
  boost::asio::ip::address_v4 code;
  std::string meaning;  // from the zone's config, or "" when it gave none
};

struct Verdict {
  Status status = Status::not_listed;
  std::vector<ListingCode> codes;  // listed: each listing code answered, ascending, no repeats
  std::string reason;              // one line for logs and the desk: why this status
  std::string evidence;            // the TXT reason, sanitised and bounded ("" when none)
  double weight = 0;               // the zone's weight when listed, else 0
};

// `answer` is the A lookup of the query name; `txt` its TXT records (ask for them only when the
// A answer lists: many lists rate-limit TXT queries).
Verdict classify(const ZoneConfig& zone,
                 const dns::DnsResult<std::vector<boost::asio::ip::address>>& answer,
                 const std::vector<std::string>& txt = {});

// TXT records joined with " | ", printable ASCII only, at most max_bytes.
std::string sanitize_txt(const std::vector<std::string>& records,
                         std::size_t max_bytes = kMaxEvidence);

}  // namespace portcullis::abuse::dnsbl
