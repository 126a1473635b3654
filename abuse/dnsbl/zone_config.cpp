#include "abuse/dnsbl/zone_config.hpp"

#include <charconv>
#include <cmath>

#include "abuse/dnsbl/query_name.hpp"
#include "abuse/mime/text.hpp"

namespace portcullis::abuse::dnsbl {
namespace {

constexpr std::uint32_t kLoopbackFirst = 0x7f000000;  // 127.0.0.0
constexpr std::uint32_t kLoopbackLast = 0x7fffffff;   // 127.255.255.255

Result<std::uint32_t> parse_v4(std::string_view text) {
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address_v4(std::string(mime::trim(text)), ec);
  if (ec) {
    return make_error("\"" + mime::sanitize(text, 60) + "\" is not an IPv4 address");
  }
  return address.to_uint();
}

std::string v4_text(std::uint32_t value) {
  return boost::asio::ip::address_v4(value).to_string();
}

std::string range_text(const CodeRange& r) {
  return r.first == r.last ? v4_text(r.first) : v4_text(r.first) + "-" + v4_text(r.last);
}

}  // namespace

bool CodeRange::contains(const boost::asio::ip::address_v4& code) const {
  const std::uint32_t v = code.to_uint();
  return v >= first && v <= last;
}

Result<CodeRange> parse_code_range(std::string_view text, std::string meaning) {
  const std::string_view t = mime::trim(text);
  CodeRange range;
  range.meaning = std::move(meaning);
  if (const auto slash = t.find('/'); slash != std::string_view::npos) {
    auto base = parse_v4(t.substr(0, slash));
    if (!base) {
      return base.error();
    }
    const std::string_view len_text = mime::trim(t.substr(slash + 1));
    unsigned len = 0;
    const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc() || end != len_text.data() + len_text.size() || len > 32) {
      return make_error("\"" + mime::sanitize(t, 60) + "\" has a bad prefix length");
    }
    const std::uint32_t mask = len == 0 ? 0 : ~std::uint32_t{0} << (32 - len);
    if ((*base & ~mask) != 0) {
      return make_error("\"" + mime::sanitize(t, 60) + "\" has host bits set");
    }
    range.first = *base;
    range.last = *base | ~mask;
    return range;
  }
  if (const auto dash = t.find('-'); dash != std::string_view::npos) {
    auto first = parse_v4(t.substr(0, dash));
    auto last = parse_v4(t.substr(dash + 1));
    if (!first) {
      return first.error();
    }
    if (!last) {
      return last.error();
    }
    if (*first > *last) {
      return make_error("\"" + mime::sanitize(t, 60) + "\" ends before it starts");
    }
    range.first = *first;
    range.last = *last;
    return range;
  }
  auto single = parse_v4(t);
  if (!single) {
    return single.error();
  }
  range.first = range.last = *single;
  return range;
}

std::vector<CodeRange> default_listing_codes() {
  return {CodeRange{0x7f000002, 0x7f0000ff, "listed"}};
}

std::vector<CodeRange> default_error_codes() {
  return {CodeRange{0x7fffff00, 0x7fffffff, "query refused or rate limited"}};
}

Result<ZoneConfig> validate(ZoneConfig config) {
  auto zone = normalize_zone(config.zone);
  if (!zone) {
    return zone.error();
  }
  config.zone = std::move(*zone);
  const std::string where = "DNSBL zone " + config.zone + ": ";
  if (config.listing_codes.empty()) {
    return make_error(where + "no listing codes");
  }
  for (const auto& listing : config.listing_codes) {
    if (listing.first > listing.last) {
      return make_error(where + "a listing code range ends before it starts");
    }
    if (listing.first < kLoopbackFirst || listing.last > kLoopbackLast) {
      return make_error(where + "listing code " + range_text(listing) +
                        " is outside 127.0.0.0/8, where no list answers");
    }
    for (const auto& error : config.error_codes) {
      if (listing.first <= error.last && error.first <= listing.last) {
        return make_error(where + "listing code " + range_text(listing) + " overlaps error code " +
                          range_text(error));
      }
    }
  }
  if (!std::isfinite(config.weight) || config.weight < 0) {
    return make_error(where + "weight must be a finite number >= 0");
  }
  return config;
}

}  // namespace portcullis::abuse::dnsbl
