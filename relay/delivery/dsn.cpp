#include "relay/delivery/dsn.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <ctime>
#include <random>

namespace portcullis::relay::delivery {
namespace {

constexpr std::size_t kMaxHeaders = 64 * 1024;  // original header section kept
constexpr std::size_t kMaxDiagnostic = 1000;    // per recipient
constexpr std::size_t kMaxRecipients = 1000;    // listed in one notice
constexpr std::size_t kFoldAt = 76;

std::string rfc5322_date(std::int64_t unix_seconds) {
  static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                       "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %d %s %04d %02d:%02d:%02d +0000",
                kDays[static_cast<std::size_t>(tm.tm_wday) % 7], tm.tm_mday,
                kMonths[static_cast<std::size_t>(tm.tm_mon) % 12], tm.tm_year + 1900, tm.tm_hour,
                tm.tm_min, tm.tm_sec);
  return buf;
}

std::string random_hex(std::size_t bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  for (std::size_t i = 0; i < bytes; ++i) {
    const auto b = static_cast<unsigned>(rd()) & 0xffu;
    out += kHex[b >> 4];
    out += kHex[b & 0xf];
  }
  return out;
}

// One line of printable ASCII: controls (CR, LF, TAB too) become spaces,
// 8-bit bytes '?', runs of spaces collapse; trimmed and bounded.
std::string clean_ascii(std::string_view text, std::size_t max) {
  std::string out;
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    char mapped = c >= 0x80 ? '?' : (c < 0x20 || c == 0x7f) ? ' ' : ch;
    if (mapped == ' ' && (out.empty() || out.back() == ' ')) {
      continue;
    }
    out += mapped;
    if (out.size() >= max) {
      out += "...";
      break;
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

// "Name: value" folded at spaces (RFC 5322 2.2.3), CRLF-terminated.
std::string field(std::string_view name, std::string_view value) {
  std::string out(name);
  out += ":";
  std::size_t line = out.size();
  std::size_t pos = 0;
  while (pos < value.size()) {
    auto space = value.find(' ', pos + 1);
    const auto word = value.substr(pos, space == std::string_view::npos ? space : space - pos);
    std::string_view w = word;
    if (pos == 0) {
      out += ' ';
      ++line;
    } else if (line + w.size() > kFoldAt) {
      out += "\r\n";  // the word's leading space starts the continuation line
      line = 0;
    }
    out += w;
    line += w.size();
    pos += word.size();
  }
  out += "\r\n";
  return out;
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

// RFC 6533 utf-8-addr-xtext: non-ASCII code points (and the characters xtext
// reserves) as \x{HEX}; an invalid byte is escaped as its own value.
std::string utf8_xtext(std::string_view address) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  const auto escape = [](std::uint32_t cp) {
    std::string hex;
    do {
      hex.insert(hex.begin(), kHex[cp & 0xf]);
      cp >>= 4;
    } while (cp != 0);
    return "\\x{" + hex + "}";
  };
  std::string out;
  for (std::size_t i = 0; i < address.size();) {
    const auto c = static_cast<unsigned char>(address[i]);
    if (c < 0x80) {
      out += (c <= 0x20 || c == '+' || c == '=' || c == '\\' || c == 0x7f)
                 ? escape(c)
                 : std::string(1, static_cast<char>(c));
      ++i;
      continue;
    }
    const std::size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    std::uint32_t cp = len == 4 ? c & 0x07u : len == 3 ? c & 0x0fu : c & 0x1fu;
    bool valid = len > 1 && i + len <= address.size();
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(address[i + k]);
      valid = (cc & 0xc0) == 0x80;
      cp = (cp << 6) | (cc & 0x3fu);
    }
    if (!valid) {
      out += escape(c);
      ++i;
      continue;
    }
    out += escape(cp);
    i += len;
  }
  return out;
}

std::string address_field_value(std::string_view address) {
  if (is_ascii(address)) {
    return "rfc822; " + clean_ascii(address, 512);
  }
  return "utf-8; " + clean_ascii(utf8_xtext(address), 1024);
}

// Quoted-printable (RFC 2045 6.7) of CRLF text; lines stay CRLF.
std::string quoted_printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  std::size_t line = 0;
  const auto put = [&](std::string_view piece) {
    if (line + piece.size() > 75) {
      out += "=\r\n";
      line = 0;
    }
    out += piece;
    line += piece.size();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // Trailing whitespace before a line break must be encoded.
      if (!out.empty() && (out.back() == ' ' || out.back() == '\t')) {
        const char ws = out.back();
        out.pop_back();
        --line;
        put(ws == ' ' ? "=20" : "=09");
      }
      out += "\r\n";
      line = 0;
      ++i;
      continue;
    }
    if ((c >= 33 && c <= 126 && c != '=') || c == ' ' || c == '\t') {
      put(std::string_view(reinterpret_cast<const char*>(&text[i]), 1));
    } else {
      const char enc[3] = {'=', kHex[c >> 4], kHex[c & 0xf]};
      put(std::string_view(enc, 3));
    }
  }
  return out;
}

// A text part body and its Content-Transfer-Encoding.
std::pair<std::string, std::string_view> encode_text(std::string text) {
  if (is_ascii(text)) {
    return {std::move(text), "7bit"};
  }
  return {quoted_printable(text), "quoted-printable"};
}

// "mx.example.org [198.18.2.10]" → "mx.example.org"; "[198.18.2.10]" → "198.18.2.10".
std::string remote_host(std::string_view remote) {
  auto host = remote.substr(0, remote.find(' '));
  if (host.starts_with('[') && host.ends_with(']')) {
    host = host.substr(1, host.size() - 2);
  }
  return clean_ascii(host, 255);
}

std::string bounded_headers(std::string_view headers) {
  std::string out(headers.substr(0, kMaxHeaders));
  if (headers.size() > kMaxHeaders) {
    // Cut at a line end, so no header line is left half.
    const auto end = out.rfind("\r\n");
    out.resize(end == std::string::npos ? 0 : end + 2);
  }
  if (!out.empty() && !out.ends_with("\r\n")) {
    out += "\r\n";
  }
  return out;
}

std::string advice(const DsnRecipient& r) {
  const std::string_view s = r.status;
  if (s.size() >= 3 && s.substr(1, 2) == ".1") {
    return "The address may be misspelled or may no longer exist. Check it and send the "
           "message again.";
  }
  if (s == kStatusExpired || s.ends_with(".4.7")) {
    return "The recipient's mail system could not be reached or kept refusing the message "
           "temporarily for too long. You can try again later, or reach the recipient another "
           "way.";
  }
  if (s.size() >= 3 && s.substr(1, 2) == ".4") {
    return "The recipient's domain has no working mail server. Check the domain part of the "
           "address.";
  }
  if (s.size() >= 3 && (s.substr(1, 2) == ".3" || s.substr(1, 2) == ".2") &&
      r.diagnostic.find("size") != std::string::npos) {
    return "The message is too large for the recipient's mail system. Send a smaller message, "
           "for example a link instead of large attachments.";
  }
  if (s.size() >= 3 && s.substr(1, 2) == ".7") {
    return "The recipient's mail system refused the message for policy reasons (for example "
           "spam filtering or sender authentication). Contact the recipient another way, or "
           "your administrator with this report.";
  }
  return "Check the address and the reason above. If the problem persists, contact your mail "
         "administrator and include this report.";
}

std::string human_text(const DsnReport& report, std::size_t listed) {
  std::string t;
  t += "This is the mail system at host " + clean_ascii(report.reporting_host, 255) + ".\r\n\r\n";
  if (report.delayed) {
    t += "Your message has not been delivered yet to the recipients listed below. The mail\r\n"
         "system will keep trying; you do not need to do anything now. If delivery still\r\n"
         "fails when the retry period ends, you will receive another message.\r\n";
  } else {
    t += "Your message could not be delivered to the recipients listed below. It has not\r\n"
         "been delivered to them and will not be retried.\r\n";
  }
  t += "\r\n";
  for (std::size_t i = 0; i < listed; ++i) {
    const auto& r = report.recipients[i];
    t += "<" + r.final_recipient + ">:\r\n";
    const auto diagnostic = clean_ascii(r.diagnostic, kMaxDiagnostic);
    if (!r.remote_mta.empty()) {
      t += "    the mail server " + clean_ascii(r.remote_mta, 300) + " said:\r\n";
      t += "    " + (diagnostic.empty() ? std::string("(no reply)") : diagnostic) + "\r\n";
    } else {
      t += "    " + (diagnostic.empty() ? std::string("delivery failed") : diagnostic) + "\r\n";
    }
    if (report.delayed) {
      if (r.will_retry_until != 0) {
        t += "    Retrying until " + rfc5322_date(r.will_retry_until) + ".\r\n";
      }
    } else {
      t += "    What you can do: " + advice(r) + "\r\n";
    }
    t += "\r\n";
  }
  if (listed < report.recipients.size()) {
    t += "(" + std::to_string(report.recipients.size() - listed) +
         " more recipients are not listed.)\r\n\r\n";
  }
  if (!report.original_message_id.empty()) {
    t += "Queue id of your message: " + clean_ascii(report.original_message_id, 100) + "\r\n";
  }
  t += "The headers of your message are attached.\r\n";
  return t;
}

bool valid_status(std::string_view s) {
  // class "." subject "." detail, 1-3 digits each (RFC 3463), class 2, 4 or 5.
  if (s.size() < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.') {
    return false;
  }
  const auto digits = [](std::string_view part) {
    return !part.empty() && part.size() <= 3 &&
           std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  const auto rest = s.substr(2);
  const auto dot = rest.find('.');
  return dot != std::string_view::npos && digits(rest.substr(0, dot)) &&
         digits(rest.substr(dot + 1));
}

}  // namespace

std::string dsn_status(std::string_view reply, char klass) {
  const std::string fallback = std::string(1, klass) + ".0.0";
  // "550-5.1.1 text" or "550 5.1.1 text": the enhanced code follows the basic code.
  if (reply.size() < 3 ||
      !std::all_of(reply.begin(), reply.begin() + 3, [](char c) { return c >= '0' && c <= '9'; })) {
    return fallback;
  }
  if (reply.size() > 4 && (reply[3] == ' ' || reply[3] == '-')) {
    auto rest = reply.substr(4);
    const auto end = rest.find_first_of(" \r\n");
    const auto code = rest.substr(0, end);
    if (valid_status(code)) {
      std::string out(code);
      out[0] = klass;
      return out;
    }
  }
  return fallback;
}

std::string make_dsn(const DsnReport& report, std::string_view unique_id) {
  const std::int64_t now =
      report.now != 0 ? report.now : static_cast<std::int64_t>(::time(nullptr));
  const std::string host = clean_ascii(report.reporting_host, 255);
  const std::string boundary = "=_portcullis_" + random_hex(16);
  std::string id_left = clean_ascii(unique_id, 64);
  id_left.erase(std::remove_if(id_left.begin(), id_left.end(),
                               [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); }),
                id_left.end());
  const std::string message_id =
      "<" + (id_left.empty() ? std::string() : id_left + ".") + random_hex(8) + "@" + host + ">";
  const std::size_t listed = std::min(report.recipients.size(), kMaxRecipients);

  std::string m;
  m += "From: Mail Delivery System <MAILER-DAEMON@" + host + ">\r\n";
  m += field("To", "<" + clean_ascii(report.original_mail_from, 512) + ">");
  m += report.delayed ? "Subject: Delayed Mail (still being retried)\r\n"
                      : "Subject: Undelivered Mail Returned to Sender\r\n";
  m += "Date: " + rfc5322_date(now) + "\r\n";
  m += "Message-ID: " + message_id + "\r\n";
  m += "Auto-Submitted: auto-replied\r\n";
  m += "MIME-Version: 1.0\r\n";
  m += "Content-Type: multipart/report; report-type=delivery-status;\r\n";
  m += "\tboundary=\"" + boundary + "\"\r\n";
  m += "\r\n";
  m += "This is a MIME-encapsulated delivery status notification.\r\n";

  // 1: for people.
  auto [text, text_cte] = encode_text(human_text(report, listed));
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Type: text/plain; charset=utf-8\r\n";
  m += "Content-Description: Notification\r\n";
  m += "Content-Transfer-Encoding: " + std::string(text_cte) + "\r\n\r\n";
  m += text;

  // 2: for programs (RFC 3464).
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Type: message/delivery-status\r\n";
  m += "Content-Description: Delivery report\r\n\r\n";
  m += "Reporting-MTA: dns; " + host + "\r\n";
  if (!report.original_message_id.empty()) {
    m += field("X-Portcullis-Queue-ID", clean_ascii(report.original_message_id, 100));
  }
  if (report.arrival_time != 0) {
    m += "Arrival-Date: " + rfc5322_date(report.arrival_time) + "\r\n";
  }
  for (std::size_t i = 0; i < listed; ++i) {
    const auto& r = report.recipients[i];
    const char klass = r.action == DsnAction::delayed ? '4' : '5';
    std::string status = valid_status(r.status) ? r.status : std::string(1, klass) + ".0.0";
    status[0] = klass;  // Action and Status must agree (RFC 3464 2.3.4)
    m += "\r\n";
    m += field("Final-Recipient", address_field_value(r.final_recipient));
    m += r.action == DsnAction::delayed ? "Action: delayed\r\n" : "Action: failed\r\n";
    m += "Status: " + status + "\r\n";
    const auto remote = remote_host(r.remote_mta);
    if (!remote.empty()) {
      m += field("Remote-MTA", "dns; " + remote);
    }
    const auto diagnostic = clean_ascii(r.diagnostic, kMaxDiagnostic);
    if (!diagnostic.empty()) {
      // An SMTP reply when a server answered, otherwise our own reason.
      m += field("Diagnostic-Code", (remote.empty() ? "X-Portcullis; " : "smtp; ") + diagnostic);
    }
    if (r.last_attempt != 0) {
      m += "Last-Attempt-Date: " + rfc5322_date(r.last_attempt) + "\r\n";
    }
    if (r.action == DsnAction::delayed && r.will_retry_until != 0) {
      m += "Will-Retry-Until: " + rfc5322_date(r.will_retry_until) + "\r\n";
    }
  }

  // 3: the original header section (RFC 6522 text/rfc822-headers).
  auto [headers, headers_cte] = encode_text(bounded_headers(report.original_headers));
  m += "\r\n--" + boundary + "\r\n";
  m += "Content-Type: text/rfc822-headers\r\n";
  m += "Content-Description: Undelivered message headers\r\n";
  m += "Content-Transfer-Encoding: " + std::string(headers_cte) + "\r\n\r\n";
  m += headers;
  m += "\r\n--" + boundary + "--\r\n";
  return m;
}

bool should_bounce(const queue::Envelope& envelope) {
  return !envelope.mail_from.empty() && envelope.listener != "bounce";
}

std::string_view header_section_of(std::string_view data) {
  if (data.starts_with("\r\n")) {
    return {};
  }
  if (const auto end = data.find("\r\n\r\n"); end != std::string_view::npos) {
    return data.substr(0, end + 2);
  }
  return data;
}

}  // namespace portcullis::relay::delivery
