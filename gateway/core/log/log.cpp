#include "gateway/core/log/log.hpp"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace portcullis::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::mutex g_write_mutex;

constexpr std::string_view name_of(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "?";
}

bool is_plain(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("._-:/@[]<>+").find(c) != std::string_view::npos;
}

}  // namespace

void set_level(Level level) {
  g_level = level;
}
bool enabled(Level level) {
  return level >= g_level.load();
}

std::string render_value(std::string_view value) {
  bool plain = !value.empty();
  for (char c : value) {
    plain = plain && is_plain(c);
  }
  if (plain) {
    return std::string(value);
  }
  std::string out = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
  return out;
}

void write(Level level, std::string_view event, std::initializer_list<Field> fields) {
  if (!enabled(level)) {
    return;
  }
  std::string line = "level=";
  line += name_of(level);
  line += " event=";
  line += event;
  for (const auto& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    line += render_value(f.value);
  }
  line += '\n';
  std::lock_guard lock(g_write_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace portcullis::log
