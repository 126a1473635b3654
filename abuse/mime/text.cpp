#include "abuse/mime/text.hpp"

#include <algorithm>

namespace portcullis::abuse::mime {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
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

bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

std::size_t ifind(std::string_view text, std::string_view needle, std::size_t from) {
  if (needle.size() > text.size()) {
    return std::string_view::npos;
  }
  for (std::size_t i = from; i + needle.size() <= text.size(); ++i) {
    if (iequals(text.substr(i, needle.size()), needle)) {
      return i;
    }
  }
  return std::string_view::npos;
}

std::string to_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = lower(c);
  }
  return out;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) {
    return {};
  }
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

std::string_view next_line(std::string_view text, std::size_t& pos) {
  if (pos >= text.size()) {
    pos = text.size();
    return {};
  }
  const auto lf = text.find('\n', pos);
  std::string_view line;
  if (lf == std::string_view::npos) {
    line = text.substr(pos);
    pos = text.size();
  } else {
    line = text.substr(pos, lf - pos);
    pos = lf + 1;
  }
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

std::string sanitize(std::string_view text, std::size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  bool space = false;
  for (const char raw : text) {
    const auto c = static_cast<unsigned char>(raw);
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) {
      out.push_back(' ');
      space = false;
    }
    out.push_back(c >= 0x21 && c <= 0x7e ? raw : '?');
    if (out.size() > max_bytes) {
      break;
    }
  }
  if (out.size() > max_bytes) {
    if (max_bytes > 3) {
      out.resize(max_bytes - 3);
      out.append("...");
    } else {
      out.resize(max_bytes);
    }
  }
  return out;
}

}  // namespace portcullis::abuse::mime
