#include "relay/dkim/canonicalization.hpp"

namespace portcullis::relay::dkim {
namespace {

constexpr std::string_view kCrlf = "\r\n";

bool is_wsp(char c) {
  return c == ' ' || c == '\t';
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// The field name if `line` starts a header field: 1*ftext, optional WSP
// (obs-optional), ":".
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
  while (j < line.size() && is_wsp(line[j])) {
    ++j;
  }
  if (j >= line.size() || line[j] != ':') {
    return {};
  }
  return line.substr(0, i);
}

// The line at `pos` including its CRLF (or up to the end of the message).
std::string_view line_at(std::string_view message, std::size_t pos) {
  const auto end = message.find(kCrlf, pos);
  return message.substr(
      pos, end == std::string_view::npos ? std::string_view::npos : end + kCrlf.size() - pos);
}

// Appends `text` with WSP runs compressed to one SP; CRLF (folding) counts as
// nothing, so "a \r\n\tb" becomes "a b".
void append_compressed(std::string& out, std::string_view text) {
  bool in_wsp = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
      continue;
    }
    if (is_wsp(c)) {
      in_wsp = true;
      continue;
    }
    if (in_wsp) {
      out += ' ';
      in_wsp = false;
    }
    out += c;
  }
  if (in_wsp) {
    out += ' ';
  }
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

MessageParts split_message(std::string_view message) {
  MessageParts parts;
  std::size_t pos = 0;
  while (pos < message.size()) {
    const auto line = line_at(message, pos);
    if (line == kCrlf) {
      parts.body = message.substr(pos + line.size());
      return parts;
    }
    if (is_wsp(line.front()) && !parts.fields.empty()) {
      auto& field = parts.fields.back();
      field = HeaderField{field.name,
                          std::string_view(field.raw.data(), field.raw.size() + line.size())};
    } else if (auto name = field_name(line); !name.empty()) {
      parts.fields.push_back(HeaderField{name, line});
    } else {
      parts.body = message.substr(pos);
      return parts;
    }
    pos += line.size();
  }
  return parts;
}

std::string relaxed_header(std::string_view raw_field) {
  const auto colon = raw_field.find(':');
  if (colon == std::string_view::npos) {
    return {};
  }
  std::string_view name = raw_field.substr(0, colon);
  while (!name.empty() && is_wsp(name.back())) {
    name.remove_suffix(1);
  }
  std::string_view value = raw_field.substr(colon + 1);
  if (value.ends_with(kCrlf)) {
    value.remove_suffix(kCrlf.size());
  }
  std::string out;
  out.reserve(raw_field.size() + kCrlf.size());
  for (char c : name) {
    out += lower(c);
  }
  out += ':';
  const auto value_start = out.size();
  append_compressed(out, value);
  // At most one SP is left at either end after compression.
  if (out.size() > value_start && out[value_start] == ' ') {
    out.erase(value_start, 1);
  }
  if (out.size() > value_start && out.back() == ' ') {
    out.pop_back();
  }
  out += kCrlf;
  return out;
}

void relaxed_body(std::string_view body, const std::function<void(std::string_view)>& sink) {
  std::size_t pending_empty = 0;  // empty lines held back until a non-empty line follows
  std::string line;
  std::size_t pos = 0;
  while (pos < body.size()) {
    const auto end = body.find(kCrlf, pos);
    const bool complete = end != std::string_view::npos;
    const auto text = body.substr(pos, complete ? end - pos : std::string_view::npos);
    pos = complete ? end + kCrlf.size() : body.size();

    line.clear();
    append_compressed(line, text);
    // A last line without CRLF keeps its (compressed) trailing WSP: only
    // WSP before a CRLF is "at the end of a line". Verifiers such as dkimpy
    // read it that way, and only BDAT can produce such a body.
    if (complete && !line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    if (line.empty()) {
      ++pending_empty;
      continue;
    }
    for (; pending_empty > 0; --pending_empty) {
      sink(kCrlf);
    }
    line += kCrlf;
    sink(line);
  }
}

std::string relaxed_body(std::string_view body) {
  std::string out;
  relaxed_body(body, [&out](std::string_view piece) { out += piece; });
  return out;
}

}  // namespace portcullis::relay::dkim
