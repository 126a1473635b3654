#include "relay/smtp/message_headers.hpp"

#include <vector>

namespace portcullis::relay::smtp {

namespace {

constexpr std::size_t kFoldWidth = 78;  // RFC 5322 2.1.1 SHOULD

// The next line starting at `pos`, with its LF (or to the end of the message).
std::string_view line_at(std::string_view message, std::size_t pos) {
  const std::size_t lf = message.find('\n', pos);
  return message.substr(pos, lf == std::string_view::npos ? std::string_view::npos : lf + 1 - pos);
}

bool is_empty_line(std::string_view line) {
  return line == "\r\n" || line == "\n";
}

bool is_continuation(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

// The field name if `line` starts a header field: 1*ftext, optional WSP (obs-optional), ":".
std::string_view field_name(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size()) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c < 33 || c > 126 || c == ':') {
      break;
    }
    ++i;
  }
  if (i == 0) {
    return {};
  }
  std::size_t j = i;
  while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) {
    ++j;
  }
  if (j >= line.size() || line[j] != ':') {
    return {};
  }
  return line.substr(0, i);
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    x = (x >= 'a' && x <= 'z') ? static_cast<char>(x - 32) : x;
    y = (y >= 'a' && y <= 'z') ? static_cast<char>(y - 32) : y;
    if (x != y) {
      return false;
    }
  }
  return true;
}

struct Layout {
  std::size_t headers_end = 0;  // end of the last header line
  std::size_t body_start = 0;   // after the empty line, or == headers_end if there is none
  bool has_separator = false;
};

Layout layout(std::string_view message) {
  Layout out;
  std::size_t pos = 0;
  bool in_field = false;
  while (pos < message.size()) {
    const std::string_view line = line_at(message, pos);
    if (is_empty_line(line)) {
      out.headers_end = pos;
      out.body_start = pos + line.size();
      out.has_separator = true;
      return out;
    }
    if (in_field && is_continuation(line)) {
      pos += line.size();
      continue;
    }
    if (field_name(line).empty()) {
      break;  // not a header line: the body starts here
    }
    in_field = true;
    pos += line.size();
  }
  out.headers_end = pos;
  out.body_start = pos;
  return out;
}

// Appends the header lines of `headers` except fields named `name`.
void copy_without(std::string_view headers, std::string_view name, std::string& out) {
  std::size_t pos = 0;
  bool skipping = false;
  while (pos < headers.size()) {
    const std::string_view line = line_at(headers, pos);
    pos += line.size();
    if (is_continuation(line)) {
      if (!skipping) {
        out.append(line);
      }
      continue;
    }
    skipping = iequals(field_name(line), name);
    if (!skipping) {
      out.append(line);
    }
  }
}

void ensure_crlf(std::string& out) {
  if (!out.empty() && out.back() != '\n') {
    out.append("\r\n");
  }
}

// HELO and rDNS names are untrusted: keep what a domain or address literal needs, so nothing a
// client sends can end the field early or pose as another clause.
std::string sanitize_name(std::string_view s) {
  if (s.empty()) {
    return "unknown";
  }
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '[' || c == ']';
    out.push_back(ok ? c : '?');
  }
  return out;
}

struct Token {
  std::string text;
  bool break_before = false;
};

std::string fold(const std::vector<Token>& tokens) {
  std::string out;
  std::size_t line_length = 0;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const Token& t = tokens[i];
    if (i == 0) {
      out = t.text;
      line_length = t.text.size();
      continue;
    }
    if (t.break_before || line_length + 1 + t.text.size() > kFoldWidth) {
      out.append("\r\n\t");
      line_length = 1;
    } else {
      out.push_back(' ');
      ++line_length;
    }
    out.append(t.text);
    line_length += t.text.size();
  }
  out.append("\r\n");
  return out;
}

}  // namespace

std::string replace_controls(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 32 || u == 127 ? '?' : c);
  }
  return out;
}

std::string_view header_section(std::string_view message) {
  return message.substr(0, layout(message).headers_end);
}

bool has_header(std::string_view message, std::string_view name) {
  const std::string_view headers = header_section(message);
  std::size_t pos = 0;
  while (pos < headers.size()) {
    const std::string_view line = line_at(headers, pos);
    pos += line.size();
    if (!is_continuation(line) && iequals(field_name(line), name)) {
      return true;
    }
  }
  return false;
}

std::string remove_headers(std::string_view message, std::string_view name) {
  const Layout l = layout(message);
  std::string out;
  out.reserve(message.size());
  copy_without(message.substr(0, l.headers_end), name, out);
  out.append(message.substr(l.headers_end));
  return out;
}

std::string received_protocol(const ReceivedInfo& info) {
  std::string p = info.smtputf8 ? "UTF8SMTP" : (info.esmtp ? "ESMTP" : "SMTP");
  if (info.tls) {
    p += 'S';
  }
  if (info.authenticated) {
    p += 'A';
  }
  // RFC 3848 defines no SMTPS/SMTPA: those need EHLO; fall back to the plain name.
  if (!info.esmtp && !info.smtputf8) {
    return "SMTP";
  }
  return p;
}

std::string received_header(const ReceivedInfo& info) {
  const std::string ip = info.client_address.find(':') != std::string::npos
                             ? "[IPv6:" + sanitize_name(info.client_address) + "]"
                             : "[" + sanitize_name(info.client_address) + "]";
  const bool single = !info.recipient.empty();
  // Split wherever RFC 5322 allows folding; the forced breaks keep the usual three-line shape.
  std::vector<Token> tokens;
  tokens.push_back({"Received: from", false});
  tokens.push_back({sanitize_name(info.helo), false});
  tokens.push_back({"(" + sanitize_name(info.client_rdns), false});
  tokens.push_back({ip + ")", false});
  tokens.push_back({"by " + sanitize_name(info.hostname), true});
  tokens.push_back({"(Portcullis)", false});
  tokens.push_back({"with " + received_protocol(info), false});
  tokens.push_back({"id " + sanitize_name(info.queue_id) + (single ? "" : ";"), false});
  if (single) {
    tokens.push_back({"for <" + replace_controls(info.recipient) + ">;", true});
  }
  tokens.push_back({rfc5322_date(info.unix_time), false});
  return fold(tokens);
}

std::string finalize_message(std::string_view message, const FinalizeInfo& info) {
  const Layout l = layout(message);
  const std::string_view headers = message.substr(0, l.headers_end);
  std::string out;
  out.reserve(message.size() + 512);
  out.append(received_header(info.received));
  copy_without(headers, kTenantHeader, out);
  ensure_crlf(out);
  out.append(kTenantHeader);
  out.append(": ");
  out.append(replace_controls(info.tenant_id));
  out.append("\r\n");
  if (!has_header(headers, "Message-ID")) {
    const std::string& id = info.message_id.empty() ? info.received.queue_id : info.message_id;
    const std::string& host = info.hostname.empty() ? info.received.hostname : info.hostname;
    out.append("Message-ID: <" + sanitize_name(id) + "@" + sanitize_name(host) + ">\r\n");
  }
  if (!has_header(headers, "Date")) {
    out.append("Date: " + rfc5322_date(info.received.unix_time) + "\r\n");
  }
  out.append("\r\n");
  out.append(message.substr(l.body_start));
  return out;
}

std::string trace_message(std::string_view message, const ReceivedInfo& received) {
  std::string out = received_header(received);
  out.append(remove_headers(message, kTenantHeader));
  return out;
}

}  // namespace portcullis::relay::smtp
