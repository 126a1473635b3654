#include "abuse/report/original_message.hpp"

#include "abuse/mime/address.hpp"
#include "abuse/mime/header_fields.hpp"
#include "abuse/mime/text.hpp"

namespace portcullis::abuse {
namespace {

constexpr std::size_t kMaxTenant = 128;
constexpr std::size_t kMaxQueueId = 64;
constexpr std::size_t kMaxHost = 255;
constexpr std::size_t kMaxSubject = 200;

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

// A token of id characters only, or "" when it has anything else or is too long.
std::string id_token(std::string_view text, std::size_t max) {
  if (text.empty() || text.size() > max) {
    return {};
  }
  for (const char c : text) {
    if (!is_id_char(c)) {
      return {};
    }
  }
  return std::string(text);
}

std::string_view word_at(std::string_view text, std::size_t pos) {
  while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t')) {
    ++pos;
  }
  const std::size_t end = text.find_first_of(" \t;()", pos);
  return text.substr(pos, (end == std::string_view::npos ? text.size() : end) - pos);
}

// "... by HOST (Portcullis) with ESMTPSA id ID; date" → HOST and ID.
bool read_relay_received(std::string_view value, OriginalMessage& out) {
  const auto mark = mime::ifind(value, kRelayReceivedMark);
  if (mark == std::string_view::npos) {
    return false;
  }
  // The "by" clause word, not "by " at the end of some other word ("nearby ").
  std::size_t by = value.substr(0, mark).rfind("by ");
  while (by != std::string_view::npos && by > 0 && value[by - 1] != ' ' && value[by - 1] != '\t') {
    by = value.substr(0, by).rfind("by ");
  }
  if (by == std::string_view::npos) {
    return false;
  }
  const std::string host = id_token(mime::trim(value.substr(by + 3, mark - by - 3)), kMaxHost);
  const std::size_t id = mime::ifind(value, " id ", mark);
  if (id == std::string_view::npos) {
    return false;
  }
  const std::string queue_id = id_token(word_at(value, id + 4), kMaxQueueId);
  if (queue_id.empty()) {
    return false;
  }
  out.relay_host = host;
  out.queue_id = queue_id;
  return true;
}

}  // namespace

OriginalMessage read_original_message(std::string_view text,
                                      bool headers_only,
                                      const mime::Limits& limits,
                                      mime::Warnings& warnings) {
  OriginalMessage out;
  out.present = true;
  out.headers_only = headers_only;
  const mime::EntityText split = mime::split_entity(text);
  // text/rfc822-headers is a header section alone; a trailing non-field line is still cut off.
  std::string_view section = split.header_section;
  if (section.size() > limits.max_original_headers_bytes) {
    warnings.add("original header section of " + std::to_string(section.size()) + " bytes cut to " +
                 std::to_string(limits.max_original_headers_bytes));
    section = section.substr(0, limits.max_original_headers_bytes);
  }
  out.headers = std::string(section);
  // Kept byte for byte for the desk (UTF-8 headers included), except control characters, which
  // have no business in a header and could mislead a terminal or a log reader.
  for (char& c : out.headers) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t' && c != '\r' && c != '\n') || u == 0x7f) {
      c = '?';
    }
  }
  auto headers = mime::parse_header_fields(section, limits, warnings);
  if (!headers) {
    warnings.add("original message: " + headers.error().message);
    return out;
  }
  if (headers->empty()) {
    warnings.add("original message has no header fields");
    return out;
  }

  const auto tenants = headers->all(kTenantHeader);
  if (!tenants.empty()) {
    const std::string_view tenant = mime::trim(tenants.back());
    const std::string clean = mime::sanitize(tenant, kMaxTenant);
    if (clean != tenant || tenant.empty()) {
      warnings.add("original message has an unusable " + std::string(kTenantHeader) + " \"" +
                   mime::sanitize(tenant, 80) + "\"");
    } else {
      out.tenant = clean;
    }
    for (const auto t : tenants) {
      if (mime::trim(t) != tenant) {
        warnings.add("original message has conflicting " + std::string(kTenantHeader) +
                     " fields; the last one is used");
        break;
      }
    }
  }

  // Received fields are prepended hop by hop: the first one carrying our mark is the relay's
  // own; lower ones could have been written by the client to point at someone else.
  for (const auto received : headers->all("Received")) {
    if (read_relay_received(received, out)) {
      break;
    }
  }

  if (const auto id = headers->first("Message-ID")) {
    if (auto parsed = mime::message_id(*id)) {
      out.message_id = std::move(*parsed);
    } else {
      warnings.add("original message has an unreadable Message-ID \"" + mime::sanitize(*id, 80) +
                   "\"");
    }
  }
  if (const auto to = headers->first("To")) {
    out.to = mime::first_mailbox(*to).value_or("");
  }
  if (const auto from = headers->first("From")) {
    out.from = mime::first_mailbox(*from).value_or("");
  }
  if (const auto subject = headers->first("Subject")) {
    out.subject = mime::sanitize(*subject, kMaxSubject);
  }
  return out;
}

}  // namespace portcullis::abuse
