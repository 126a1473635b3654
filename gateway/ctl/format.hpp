#pragma once
// Human output for portcullisctl: aligned tables, sizes, ages, times. Values
// shown here can come from tenants' mail (sender, headers), so every one goes
// through printable() and cannot drive the operator's terminal.

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::ctl {

class Table {
 public:
  explicit Table(std::vector<std::string> header);
  void add_row(std::vector<std::string> row);
  // Columns padded to their widest cell, two spaces apart, the last one unpadded.
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// Control characters and DEL become \xNN (tab too), invalid bytes stay as they are.
std::string printable(std::string_view text);
// 1536 → "1.5K"; below 1024 the plain number.
std::string format_size(std::uint64_t bytes);
// Seconds → "42s", "5m", "3h", "2d".
std::string format_age(std::int64_t seconds);
// Unix seconds → "2024-05-01 12:00:00Z"; 0 → "-".
std::string format_time(std::int64_t unix_seconds);
// Indented JSON, two spaces per level.
void print_json(std::ostream& out, const boost::json::value& value);

}  // namespace portcullis::ctl
