#include "abuse/dnsbl/dnsbl.hpp"

#include <algorithm>

#include "abuse/mime/text.hpp"

namespace portcullis::abuse::dnsbl {
namespace {

constexpr std::uint32_t kLoopbackNet = 0x7f000000;
constexpr std::uint32_t kLoopbackMask = 0xff000000;
constexpr std::size_t kMaxTxtRecords = 8;

const CodeRange* find_code(const std::vector<CodeRange>& ranges,
                           const boost::asio::ip::address_v4& code) {
  for (const auto& r : ranges) {
    if (r.contains(code)) {
      return &r;
    }
  }
  return nullptr;
}

Verdict error(std::string reason, std::string evidence) {
  Verdict v;
  v.status = Status::error;
  v.reason = std::move(reason);
  v.evidence = std::move(evidence);
  return v;
}

}  // namespace

std::string_view to_string(Status status) {
  switch (status) {
    case Status::listed:
      return "listed";
    case Status::error:
      return "error";
    case Status::not_listed:
      break;
  }
  return "not-listed";
}

std::string sanitize_txt(const std::vector<std::string>& records, std::size_t max_bytes) {
  std::string joined;
  for (std::size_t i = 0; i < records.size() && i < kMaxTxtRecords; ++i) {
    if (!joined.empty()) {
      joined += " | ";
    }
    // Each record is bounded before joining, so one huge record cannot hide the others.
    joined += mime::sanitize(records[i], max_bytes);
    if (joined.size() > max_bytes) {
      break;
    }
  }
  return mime::sanitize(joined, max_bytes);
}

Verdict classify(const ZoneConfig& zone,
                 const dns::DnsResult<std::vector<boost::asio::ip::address>>& answer,
                 const std::vector<std::string>& txt) {
  const std::string evidence = sanitize_txt(txt);
  if (!answer) {
    const auto& e = answer.error();
    if (e.kind == dns::DnsErrorKind::nxdomain || e.kind == dns::DnsErrorKind::nodata) {
      Verdict v;
      v.status = Status::not_listed;
      v.reason = e.kind == dns::DnsErrorKind::nxdomain ? "not listed (NXDOMAIN)"
                                                       : "not listed (no A record)";
      return v;
    }
    return error("lookup failed: " + mime::sanitize(e.message, 200), evidence);
  }
  const auto& addresses = *answer;
  if (addresses.empty()) {
    Verdict v;
    v.reason = "not listed (empty answer)";
    return v;
  }
  const std::size_t n = std::min(addresses.size(), kMaxAnswers);
  std::vector<boost::asio::ip::address_v4> codes;
  codes.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& a = addresses[i];
    if (!a.is_v4()) {
      return error("answer " + a.to_string() + " is not IPv4; not read as a listing", evidence);
    }
    const auto v4 = a.to_v4();
    if ((v4.to_uint() & kLoopbackMask) != kLoopbackNet) {
      return error("answer " + v4.to_string() +
                       " is outside 127.0.0.0/8 (a rewriting resolver or a retired zone); not read "
                       "as a listing",
                   evidence);
    }
    codes.push_back(v4);
  }
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());

  // Error codes first: a refusal next to a listing code means the answer cannot be trusted.
  for (const auto& code : codes) {
    if (const auto* r = find_code(zone.error_codes, code)) {
      return error("answer " + code.to_string() + " is an error code of " + zone.zone +
                       (r->meaning.empty() ? std::string() : " (" + r->meaning + ")") +
                       "; not read as a listing",
                   evidence);
    }
  }
  Verdict v;
  std::vector<std::string> unknown;
  for (const auto& code : codes) {
    if (const auto* r = find_code(zone.listing_codes, code)) {
      v.codes.push_back({code, r->meaning});
    } else {
      unknown.push_back(code.to_string());
    }
  }
  std::string unknown_text;
  for (const auto& u : unknown) {
    unknown_text += (unknown_text.empty() ? "" : ", ") + u;
  }
  if (v.codes.empty()) {
    return error("answer " + unknown_text + " is not a listing code of " + zone.zone +
                     "; not read as a listing",
                 evidence);
  }
  v.status = Status::listed;
  v.weight = zone.weight;
  v.evidence = evidence;
  v.reason = "listed in " + zone.zone + ":";
  for (const auto& c : v.codes) {
    v.reason += " " + c.code.to_string() + (c.meaning.empty() ? "" : " (" + c.meaning + ")");
  }
  if (!unknown.empty()) {
    v.reason += "; also unknown codes " + unknown_text;
  }
  return v;
}

}  // namespace portcullis::abuse::dnsbl
