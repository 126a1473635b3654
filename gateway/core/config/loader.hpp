#pragma once
// Loads and validates the YAML config file into a Config. The file is
// operator input: every mistake (syntax, unknown key, wrong type, bad value,
// missing key) becomes a ConfigError naming file, line and dotted key path,
// and all of them are collected so one `portcullisd --check` run shows them all.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/config/config.hpp"

namespace portcullis::config {

struct ConfigError {
  std::string file;
  int line = 0;     // 1-based; 0 when no line applies (unreadable or empty file)
  std::string key;  // dotted path with list indexes: "relay.listen.submission[0]"; may be empty
  std::string message;

  // "FILE:LINE: KEY: MESSAGE", leaving out the parts that are absent.
  std::string to_string() const;
};

struct LoadResult {
  std::optional<Config> config;  // set only when errors is empty
  std::vector<ConfigError> errors;

  bool ok() const { return config.has_value(); }
};

// Reads the file; errors name the path as given.
LoadResult load_config(const std::filesystem::path& file);
// Parses text as if read from a file called file_name (used in error messages
// and as Config::source).
LoadResult load_config_string(std::string_view text, std::string file_name);

}  // namespace portcullis::config
