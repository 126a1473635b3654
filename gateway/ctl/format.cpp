#include "gateway/ctl/format.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <ctime>

namespace portcullis::ctl {

Table::Table(std::vector<std::string> header) {
  rows_.push_back(std::move(header));
}

void Table::add_row(std::vector<std::string> row) {
  for (auto& cell : row) {
    cell = printable(cell);
  }
  rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    widths.resize(std::max(widths.size(), row.size()), 0);
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line.append(widths[i] - row[i].size() + 2, ' ');
      }
    }
    out << line << '\n';
  }
}

std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string format_size(std::uint64_t bytes) {
  static constexpr const char* kUnits[] = {"K", "M", "G", "T"};
  if (bytes < 1024) {
    return std::to_string(bytes);
  }
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  value /= 1024;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), value < 10 ? "%.1f%s" : "%.0f%s", value, kUnits[unit]);
  return buffer;
}

std::string format_age(std::int64_t seconds) {
  if (seconds < 0) {
    seconds = 0;
  }
  if (seconds < 60) {
    return std::to_string(seconds) + "s";
  }
  if (seconds < 3600) {
    return std::to_string(seconds / 60) + "m";
  }
  if (seconds < 86400) {
    return std::to_string(seconds / 3600) + "h";
  }
  return std::to_string(seconds / 86400) + "d";
}

std::string format_time(std::int64_t unix_seconds) {
  if (unix_seconds == 0) {
    return "-";
  }
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) {
    return std::to_string(unix_seconds);
  }
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%SZ", &tm);
  return buffer;
}

namespace {

void print_indented(std::ostream& out, const boost::json::value& value, int depth) {
  const std::string pad(static_cast<std::size_t>(depth + 1) * 2, ' ');
  const std::string close_pad(static_cast<std::size_t>(depth) * 2, ' ');
  if (const auto* object = value.if_object(); object != nullptr && !object->empty()) {
    out << "{\n";
    bool first = true;
    for (const auto& [key, item] : *object) {
      out << (first ? "" : ",\n") << pad << boost::json::serialize(boost::json::string(key))
          << ": ";
      print_indented(out, item, depth + 1);
      first = false;
    }
    out << '\n' << close_pad << '}';
  } else if (const auto* array = value.if_array(); array != nullptr && !array->empty()) {
    out << "[\n";
    bool first = true;
    for (const auto& item : *array) {
      out << (first ? "" : ",\n") << pad;
      print_indented(out, item, depth + 1);
      first = false;
    }
    out << '\n' << close_pad << ']';
  } else {
    out << boost::json::serialize(value);
  }
}

}  // namespace

void print_json(std::ostream& out, const boost::json::value& value) {
  print_indented(out, value, 0);
  out << '\n';
}

}  // namespace portcullis::ctl
