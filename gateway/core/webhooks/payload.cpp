#include "gateway/core/webhooks/payload.hpp"

#include <boost/json.hpp>

namespace portcullis::webhooks {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// The length of the well-formed UTF-8 sequence at text[i], 0 if there is none
// (RFC 3629 table: no overlongs, no surrogates, nothing above U+10FFFF).
std::size_t sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    return 1;
  }
  std::size_t n = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    lo = b0 == 0xE0 ? 0xA0 : 0x80;
    hi = b0 == 0xED ? 0x9F : 0xBF;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    lo = b0 == 0xF0 ? 0x90 : 0x80;
    hi = b0 == 0xF4 ? 0x8F : 0xBF;
  } else {
    return 0;
  }
  if (i + n > text.size()) {
    return 0;
  }
  if (byte(i + 1) < lo || byte(i + 1) > hi) {
    return 0;
  }
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) {
      return 0;
    }
  }
  return n;
}

boost::json::string as_json(const std::string& s) {
  return boost::json::string(boost::json::string_view(s.data(), s.size()));
}

}  // namespace

std::string valid_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = sequence_length(text, i);
    if (n == 0) {
      out += kReplacement;
      ++i;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string batch_body(std::string_view tenant, std::span<const events::DeliveryEvent> events) {
  boost::json::array list;
  list.reserve(events.size());
  for (const auto& e : events) {
    boost::json::object item;
    item["id"] = e.id;
    item["type"] = as_json(std::string(events::to_string(e.type)));
    item["time"] = e.time;
    item["message_id"] = as_json(valid_utf8(e.message_id));
    item["recipient"] = as_json(valid_utf8(e.recipient));
    item["detail"] = as_json(valid_utf8(e.detail));
    item["remote"] = as_json(valid_utf8(e.remote));
    list.emplace_back(std::move(item));
  }
  boost::json::object body;
  body["tenant"] = as_json(valid_utf8(tenant));
  body["events"] = std::move(list);
  return boost::json::serialize(body);
}

}  // namespace portcullis::webhooks
