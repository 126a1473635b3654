#include "abuse/mime/header_fields.hpp"

#include "abuse/mime/text.hpp"

namespace portcullis::abuse::mime {
namespace {

bool is_continuation(std::string_view line) {
  return !line.empty() && (line.front() == ' ' || line.front() == '\t');
}

bool is_blank(std::string_view line) {
  return trim(line).empty();
}

}  // namespace

std::optional<std::string_view> Headers::first(std::string_view name) const {
  for (const auto& f : fields) {
    if (iequals(f.name, name)) {
      return std::string_view(f.value);
    }
  }
  return std::nullopt;
}

std::optional<std::string_view> Headers::last(std::string_view name) const {
  for (auto it = fields.rbegin(); it != fields.rend(); ++it) {
    if (iequals(it->name, name)) {
      return std::string_view(it->value);
    }
  }
  return std::nullopt;
}

std::vector<std::string_view> Headers::all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& f : fields) {
    if (iequals(f.name, name)) {
      out.emplace_back(f.value);
    }
  }
  return out;
}

bool is_field_line(std::string_view line) {
  std::size_t i = 0;
  while (i < line.size()) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == ':' || c <= 0x20 || c >= 0x7f) {
      break;
    }
    ++i;
  }
  if (i == 0) {
    return false;
  }
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) {
    ++i;
  }
  return i < line.size() && line[i] == ':';
}

EntityText split_entity(std::string_view text) {
  std::size_t pos = 0;
  if (text.starts_with("From ")) {
    next_line(text, pos);
  }
  const std::size_t start = pos;
  bool in_field = false;
  while (pos < text.size()) {
    const std::size_t line_start = pos;
    const std::string_view line = next_line(text, pos);
    if (is_blank(line)) {
      return {text.substr(start, line_start - start), text.substr(pos), true};
    }
    if (is_field_line(line)) {
      in_field = true;
    } else if (!(in_field && is_continuation(line))) {
      // Not a header line: the body starts here, without the empty line it should have had.
      return {text.substr(start, line_start - start), text.substr(line_start), false};
    }
  }
  return {text.substr(start), {}, false};
}

Result<Headers> parse_header_fields(std::string_view section,
                                    const Limits& limits,
                                    Warnings& warnings) {
  Headers headers;
  std::size_t pos = 0;
  bool skipped = false;
  while (pos < section.size()) {
    const std::string_view line = next_line(section, pos);
    if (is_continuation(line) && !headers.fields.empty()) {
      std::string& value = headers.fields.back().value;
      // Unfolding keeps the whitespace that followed the line break (RFC 5322 2.2.3).
      if (!value.empty() || !trim(line).empty()) {
        value.append(value.empty() ? trim(line) : line);
      }
      continue;
    }
    if (!is_field_line(line)) {
      if (!is_blank(line)) {
        skipped = true;
      }
      continue;
    }
    if (headers.fields.size() >= limits.max_header_fields) {
      return make_error("more than " + std::to_string(limits.max_header_fields) +
                        " header fields in one header section");
    }
    const auto colon = line.find(':');
    HeaderField field;
    field.name = std::string(trim(line.substr(0, colon)));
    field.value = std::string(trim(line.substr(colon + 1)));
    headers.fields.push_back(std::move(field));
  }
  for (auto& f : headers.fields) {
    // Trailing whitespace of a folded value is noise; leading was trimmed per line.
    f.value = std::string(trim(f.value));
  }
  if (skipped) {
    warnings.add("header section has lines that are neither fields nor continuations");
  }
  return headers;
}

}  // namespace portcullis::abuse::mime
