#pragma once
// One line per event, key=value, to stderr (journald picks it up). Values that
// come from peers are quoted and stripped of control characters so a client
// cannot forge log lines. Nothing from a message body is ever logged.

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace portcullis::log {

enum class Level { debug, info, warning, error };

void set_level(Level level);
bool enabled(Level level);

// A key and its value, already rendered; numbers and strings are both accepted.
struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  template <class N>
  requires std::is_arithmetic_v<N> Field(std::string_view k, N v)
      : key(k), value(std::to_string(v)) {}
  std::string_view key;
  std::string value;
};

void write(Level level, std::string_view event, std::initializer_list<Field> fields);

inline void debug(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::debug, e, f);
}
inline void info(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::info, e, f);
}
inline void warning(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::warning, e, f);
}
inline void error(std::string_view e, std::initializer_list<Field> f = {}) {
  write(Level::error, e, f);
}

// Renders a value for a log line: bare when it is a simple token, else quoted
// with control characters escaped.
std::string render_value(std::string_view value);

}  // namespace portcullis::log
