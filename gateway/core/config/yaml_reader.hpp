#pragma once
// The mechanics under the config loader: typed reads of yaml-cpp nodes that
// record every mistake with its line and dotted key path instead of throwing,
// and a MapReader that knows which keys a section accepts so it can refuse the
// rest. The section-by-section parse functions live in loader.cpp.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/config/config.hpp"
#include "gateway/core/config/loader.hpp"

namespace portcullis::config::detail {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  void error(int line, std::string key, std::string message);
  bool empty() const { return errors_.empty(); }
  // Sorted by line so the output reads top to bottom.
  std::vector<ConfigError> take();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

// A node of the file and where it is. node is undefined when the key is
// absent; line then points at the enclosing section.
struct Value {
  YAML::Node node;
  std::string path;
  int line = 0;

  bool present() const { return node.IsDefined(); }
};

std::string join_path(std::string_view path, std::string_view key);
std::string index_path(std::string_view path, std::size_t index);

// Each read reports a mistake to diag and returns nullopt.
std::optional<std::string> read_string(Diagnostics& diag, const Value& v);
std::optional<std::uint64_t> read_number(Diagnostics& diag,
                                         const Value& v,
                                         std::uint64_t min,
                                         std::uint64_t max);
std::optional<bool> read_bool(Diagnostics& diag, const Value& v);
std::optional<std::chrono::seconds> read_duration(Diagnostics& diag,
                                                  const Value& v,
                                                  std::chrono::seconds min,
                                                  std::chrono::seconds max);
std::optional<std::uint64_t> read_size(Diagnostics& diag,
                                       const Value& v,
                                       std::uint64_t min,
                                       std::uint64_t max);
std::optional<Endpoint> read_endpoint(Diagnostics& diag, const Value& v);
// A list's items; an absent or empty (null) value is an empty list.
std::vector<Value> read_list(Diagnostics& diag, const Value& v);
// One of `words`; the message lists them.
std::optional<std::string> read_word(Diagnostics& diag,
                                     const Value& v,
                                     const std::vector<std::string_view>& words);

// Reads one mapping. Ask for each key the section knows; finish() then
// reports the keys nobody asked for.
class MapReader {
 public:
  struct Entry {
    std::string key;
    Value value;
  };

  MapReader(Diagnostics& diag, Value map);

  // The value under key, or nullopt when absent. Registers key as known.
  std::optional<Value> find(std::string_view key);
  // The value under key; when absent, a Value that is not present() but
  // carries the key's path and this map's line, so a sub-section's missing
  // required keys can still be reported.
  Value section(std::string_view key);
  // Reports "required key is missing" when key is absent.
  std::optional<Value> require(std::string_view key);

  void string(std::string_view key, std::string& out);
  void boolean(std::string_view key, bool& out);
  void duration(std::string_view key,
                std::chrono::seconds& out,
                std::chrono::seconds min,
                std::chrono::seconds max);
  void size(std::string_view key, std::uint64_t& out, std::uint64_t min, std::uint64_t max);
  template <class T>
  void number(std::string_view key, T& out, std::uint64_t min, std::uint64_t max) {
    if (auto v = find(key)) {
      if (auto n = read_number(diag_, *v, min, max)) {
        out = static_cast<T>(*n);
      }
    }
  }

  // All entries, for maps whose keys are names (plans).
  const std::vector<Entry>& entries() const { return entries_; }
  const Value& value() const { return map_; }

  void finish();

 private:
  Diagnostics& diag_;
  Value map_;
  bool is_map_ =
      true;  // false after "expected a mapping": its keys are not missing, just unreadable
  std::vector<Entry> entries_;
  std::vector<std::string> known_;
};

}  // namespace portcullis::config::detail
