#include "relay/delivery/reply_parser.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>

namespace portcullis::relay::delivery {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

// Printable ASCII and UTF-8 bytes survive; controls become spaces so a reply
// cannot break a log line, an event or a DSN header.
std::string clean(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

// "x.y.z" at the start of text: class 2, 4 or 5, subject 1-3 digits, detail 1-3 digits.
std::size_t enhanced_status_length(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return 0;
  }
  std::size_t i = 2;
  for (int part = 0; part < 2; ++part) {
    const std::size_t start = i;
    while (i < text.size() && is_digit(text[i]) && i - start < 3) {
      ++i;
    }
    if (i == start) {
      return 0;
    }
    if (part == 0) {
      if (i >= text.size() || text[i] != '.') {
        return 0;
      }
      ++i;
    }
  }
  if (i < text.size() && text[i] != ' ') {
    return 0;
  }
  return i;
}

}  // namespace

std::string Reply::text() const {
  std::string out = std::to_string(code);
  std::string_view first_status;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (i == 0) {
      first_status = line.substr(0, enhanced_status_length(line));
    } else if (!first_status.empty() && line.starts_with(first_status) &&
               enhanced_status_length(line) == first_status.size()) {
      line.remove_prefix(first_status.size());
    }
    while (!line.empty() && line.front() == ' ') {
      line.remove_prefix(1);
    }
    if (line.empty()) {
      continue;
    }
    out.push_back(' ');
    out.append(line);
    if (out.size() > kMaxReplyText) {
      out.resize(kMaxReplyText);
      break;
    }
  }
  return out;
}

ReplyParse parse_reply(std::string_view buffer) {
  ReplyParse result;
  std::size_t pos = 0;
  for (;;) {
    const auto lf = buffer.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (buffer.size() - pos >= kMaxReplyLine) {
        result.status = ReplyStatus::invalid;
        result.error = "reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
      }
      return result;
    }
    if (lf + 1 - pos > kMaxReplyLine) {
      result.status = ReplyStatus::invalid;
      result.error = "reply line longer than " + std::to_string(kMaxReplyLine) + " octets";
      return result;
    }
    std::string_view line = buffer.substr(pos, lf - pos);
    if (!line.empty() && line.back() == '\r') {
      line.remove_suffix(1);
    }
    pos = lf + 1;
    const bool code_ok = line.size() >= 3 && line[0] >= '2' && line[0] <= '5' && line[1] >= '0' &&
                         line[1] <= '5' && is_digit(line[2]) &&
                         (line.size() == 3 || line[3] == ' ' || line[3] == '-');
    if (!code_ok) {
      result.status = ReplyStatus::invalid;
      result.error = "malformed reply line '" + clean(line.substr(0, 80)) + "'";
      return result;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    if (!result.reply.lines.empty() && code != result.reply.code) {
      result.status = ReplyStatus::invalid;
      result.error = "reply code changed from " + std::to_string(result.reply.code) + " to " +
                     std::to_string(code) + " inside one reply";
      return result;
    }
    result.reply.code = code;
    result.reply.lines.push_back(clean(line.size() > 4 ? line.substr(4) : std::string_view{}));
    const bool last = line.size() == 3 || line[3] == ' ';
    if (last) {
      result.status = ReplyStatus::complete;
      result.consumed = pos;
      return result;
    }
    if (result.reply.lines.size() >= kMaxReplyLines) {
      result.status = ReplyStatus::invalid;
      result.error = "reply longer than " + std::to_string(kMaxReplyLines) + " lines";
      return result;
    }
  }
}

Extensions parse_extensions(const Reply& ehlo) {
  Extensions ext;
  for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
    std::string_view line = ehlo.lines[i];
    const auto space = line.find(' ');
    const std::string keyword = upper(line.substr(0, space));
    std::string_view params =
        space == std::string_view::npos ? std::string_view{} : line.substr(space + 1);
    if (keyword == "PIPELINING") {
      ext.pipelining = true;
    } else if (keyword == "STARTTLS") {
      ext.starttls = true;
    } else if (keyword == "8BITMIME") {
      ext.eight_bit_mime = true;
    } else if (keyword == "SMTPUTF8") {
      ext.smtputf8 = true;
    } else if (keyword == "SIZE") {
      ext.size = true;
      std::uint64_t value = 0;
      const auto [end, ec] = std::from_chars(params.data(), params.data() + params.size(), value);
      // An unparsable limit is ignored rather than trusted (RFC 1870: 0 = no limit).
      ext.max_size = ec == std::errc{} ? value : 0;
      (void)end;
    }
  }
  return ext;
}

std::string enhanced_status(std::string_view text, bool permanent) {
  // Skip a leading reply code ("550 5.1.1 ..."), then look for x.y.z.
  if (text.size() >= 4 && is_digit(text[0]) && is_digit(text[1]) && is_digit(text[2]) &&
      (text[3] == ' ' || text[3] == '-')) {
    text.remove_prefix(4);
  }
  const std::size_t n = enhanced_status_length(text);
  if (n > 0 && (text[0] == '5') == permanent) {
    return std::string(text.substr(0, n));
  }
  return permanent ? "5.0.0" : "4.0.0";
}

}  // namespace portcullis::relay::delivery
