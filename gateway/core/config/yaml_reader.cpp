#include "gateway/core/config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>

#include "gateway/core/config/values.hpp"

namespace portcullis::config::detail {
namespace {

int line_of(const YAML::Node& node) {
  auto mark = node.Mark();
  return mark.is_null() ? 0 : mark.line + 1;
}

// How a node looks, for "expected X, got Y".
std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quote_value(node.Scalar());
    default:
      return "nothing";
  }
}

void expected(Diagnostics& diag, const Value& v, std::string_view what) {
  diag.error(v.line, v.path, "expected " + std::string(what) + ", got " + describe(v.node));
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string list_words(const std::vector<std::string>& words, std::string_view last_sep) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) {
      out += (i + 1 == words.size()) ? std::string(last_sep) : ", ";
    }
    out += words[i];
  }
  return out;
}

std::string unknown_key_message(std::string_view key, const std::vector<std::string>& known) {
  std::string message = "unknown key " + quote_value(key);
  const std::string* best = nullptr;
  std::size_t best_distance = 3;  // suggest only close misspellings
  for (const auto& candidate : known) {
    auto d = edit_distance(key, candidate);
    if (d < best_distance && d < candidate.size()) {
      best = &candidate;
      best_distance = d;
    }
  }
  if (best != nullptr) {
    return message + " (did you mean " + quote_value(*best) + "?)";
  }
  if (known.empty()) {
    return message + " (this section takes no keys)";
  }
  return message + " (expected " + list_words(known, " or ") + ")";
}

}  // namespace

void Diagnostics::error(int line, std::string key, std::string message) {
  errors_.push_back(ConfigError{file_, line, std::move(key), std::move(message)});
}

std::vector<ConfigError> Diagnostics::take() {
  std::stable_sort(errors_.begin(), errors_.end(),
                   [](const ConfigError& a, const ConfigError& b) { return a.line < b.line; });
  return std::move(errors_);
}

std::string join_path(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : std::string(path) + "." + std::string(key);
}

std::string index_path(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

std::optional<std::string> read_string(Diagnostics& diag, const Value& v) {
  if (v.node.IsNull()) {
    return std::string();
  }
  if (!v.node.IsScalar()) {
    expected(diag, v, "a string");
    return std::nullopt;
  }
  return v.node.Scalar();
}

std::optional<std::uint64_t> read_number(Diagnostics& diag,
                                         const Value& v,
                                         std::uint64_t min,
                                         std::uint64_t max) {
  if (!v.node.IsScalar()) {
    expected(diag, v, "a number");
    return std::nullopt;
  }
  const std::string& text = v.node.Scalar();
  const std::string range =
      "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + text;
  if (text.starts_with('-') && text.size() > 1 &&
      std::all_of(text.begin() + 1, text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    diag.error(v.line, v.path, range);
    return std::nullopt;
  }
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ptr != text.data() + text.size() || text.empty()) {
    expected(diag, v, "a number");
    return std::nullopt;
  }
  if (ec != std::errc{} || n < min || n > max) {
    diag.error(v.line, v.path, range);
    return std::nullopt;
  }
  return n;
}

std::optional<bool> read_bool(Diagnostics& diag, const Value& v) {
  if (v.node.IsScalar()) {
    const std::string& text = v.node.Scalar();
    if (text == "true" || text == "yes" || text == "on") {
      return true;
    }
    if (text == "false" || text == "no" || text == "off") {
      return false;
    }
  }
  expected(diag, v, "true or false");
  return std::nullopt;
}

std::optional<std::chrono::seconds> read_duration(Diagnostics& diag,
                                                  const Value& v,
                                                  std::chrono::seconds min,
                                                  std::chrono::seconds max) {
  if (!v.node.IsScalar()) {
    expected(diag, v, "a duration such as 30s, 5m, 1h or 5d");
    return std::nullopt;
  }
  auto parsed = parse_duration(v.node.Scalar());
  if (!parsed) {
    diag.error(v.line, v.path, parsed.error().message);
    return std::nullopt;
  }
  if (*parsed < min || *parsed > max) {
    diag.error(v.line, v.path,
               "must be between " + format_duration(min) + " and " + format_duration(max) +
                   ", got " + v.node.Scalar());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<std::uint64_t> read_size(Diagnostics& diag,
                                       const Value& v,
                                       std::uint64_t min,
                                       std::uint64_t max) {
  if (!v.node.IsScalar()) {
    expected(diag, v, "a size such as 25M");
    return std::nullopt;
  }
  auto parsed = parse_size(v.node.Scalar());
  if (!parsed) {
    diag.error(v.line, v.path, parsed.error().message);
    return std::nullopt;
  }
  if (*parsed < min || *parsed > max) {
    diag.error(v.line, v.path,
               "must be between " + format_size(min) + " and " + format_size(max) + ", got " +
                   v.node.Scalar());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Endpoint> read_endpoint(Diagnostics& diag, const Value& v) {
  if (!v.node.IsScalar()) {
    expected(diag, v, "an address such as \"0.0.0.0:587\"");
    return std::nullopt;
  }
  auto parsed = parse_endpoint(v.node.Scalar());
  if (!parsed) {
    diag.error(v.line, v.path, parsed.error().message);
    return std::nullopt;
  }
  return *parsed;
}

std::vector<Value> read_list(Diagnostics& diag, const Value& v) {
  std::vector<Value> items;
  if (!v.present() || v.node.IsNull()) {
    return items;
  }
  if (!v.node.IsSequence()) {
    expected(diag, v, "a list");
    return items;
  }
  for (std::size_t i = 0; i < v.node.size(); ++i) {
    YAML::Node item = v.node[i];
    int line = line_of(item);
    items.push_back(Value{item, index_path(v.path, i), line == 0 ? v.line : line});
  }
  return items;
}

std::optional<std::string> read_word(Diagnostics& diag,
                                     const Value& v,
                                     const std::vector<std::string_view>& words) {
  std::vector<std::string> names(words.begin(), words.end());
  if (v.node.IsScalar() && std::find(words.begin(), words.end(), v.node.Scalar()) != words.end()) {
    return v.node.Scalar();
  }
  if (v.node.IsScalar()) {
    diag.error(v.line, v.path,
               "unknown value " + quote_value(v.node.Scalar()) + " (expected " +
                   list_words(names, " or ") + ")");
  } else {
    expected(diag, v, list_words(names, " or "));
  }
  return std::nullopt;
}

MapReader::MapReader(Diagnostics& diag, Value map) : diag_(diag), map_(std::move(map)) {
  if (!map_.present() || map_.node.IsNull()) {
    return;
  }
  if (!map_.node.IsMap()) {
    expected(diag_, map_, "a mapping");
    is_map_ = false;
    return;
  }
  for (const auto& pair : map_.node) {
    const int line = line_of(pair.first);
    if (!pair.first.IsScalar()) {
      diag_.error(line, map_.path, "keys must be plain words, got " + describe(pair.first));
      continue;
    }
    std::string key = pair.first.Scalar();
    auto same = std::find_if(entries_.begin(), entries_.end(),
                             [&](const Entry& e) { return e.key == key; });
    if (same != entries_.end()) {
      diag_.error(line, join_path(map_.path, key),
                  "duplicate key (first on line " + std::to_string(same->value.line) + ")");
      continue;
    }
    entries_.push_back(Entry{key, Value{pair.second, join_path(map_.path, key), line}});
  }
}

std::optional<Value> MapReader::find(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) {
    known_.emplace_back(key);
  }
  for (const auto& entry : entries_) {
    if (entry.key == key) {
      return entry.value;
    }
  }
  return std::nullopt;
}

Value MapReader::section(std::string_view key) {
  if (auto v = find(key)) {
    return *v;
  }
  return Value{YAML::Node(YAML::NodeType::Undefined), join_path(map_.path, key), map_.line};
}

std::optional<Value> MapReader::require(std::string_view key) {
  auto v = find(key);
  if (!v && is_map_) {
    diag_.error(map_.line, join_path(map_.path, key), "required key is missing");
  }
  return v;
}

void MapReader::string(std::string_view key, std::string& out) {
  if (auto v = find(key)) {
    if (auto s = read_string(diag_, *v)) {
      out = std::move(*s);
    }
  }
}

void MapReader::boolean(std::string_view key, bool& out) {
  if (auto v = find(key)) {
    if (auto b = read_bool(diag_, *v)) {
      out = *b;
    }
  }
}

void MapReader::duration(std::string_view key,
                         std::chrono::seconds& out,
                         std::chrono::seconds min,
                         std::chrono::seconds max) {
  if (auto v = find(key)) {
    if (auto d = read_duration(diag_, *v, min, max)) {
      out = *d;
    }
  }
}

void MapReader::size(std::string_view key,
                     std::uint64_t& out,
                     std::uint64_t min,
                     std::uint64_t max) {
  if (auto v = find(key)) {
    if (auto s = read_size(diag_, *v, min, max)) {
      out = *s;
    }
  }
}

void MapReader::finish() {
  for (const auto& entry : entries_) {
    if (std::find(known_.begin(), known_.end(), entry.key) == known_.end()) {
      diag_.error(entry.value.line, entry.value.path, unknown_key_message(entry.key, known_));
    }
  }
}

}  // namespace portcullis::config::detail
