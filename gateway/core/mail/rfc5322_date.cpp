#include "gateway/core/mail/rfc5322_date.hpp"

#include <array>
#include <cstdio>

namespace portcullis::mail {
namespace {

std::string two_digits(int v) {
  std::array<char, 3> buf{};
  std::snprintf(buf.data(), buf.size(), "%02d", v);
  return buf.data();
}

}  // namespace

std::string rfc5322_date(std::int64_t unix_time) {
  static constexpr std::array<std::string_view, 7> kDays = {"Thu", "Fri", "Sat", "Sun",
                                                            "Mon", "Tue", "Wed"};
  static constexpr std::array<std::string_view, 12> kMonths = {
      "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::int64_t days = unix_time / 86400;
  std::int64_t secs = unix_time % 86400;
  if (secs < 0) {
    secs += 86400;
    --days;
  }
  const auto weekday = static_cast<std::size_t>(((days % 7) + 7) % 7);
  // civil_from_days (H. Hinnant): proleptic Gregorian calendar from days since 1970-01-01.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  std::string out;
  out.append(kDays[weekday]);
  out.append(", ");
  out.append(two_digits(static_cast<int>(day)));
  out.push_back(' ');
  out.append(kMonths[static_cast<std::size_t>(month - 1)]);
  out.push_back(' ');
  out.append(std::to_string(year));
  out.push_back(' ');
  out.append(two_digits(static_cast<int>(secs / 3600)));
  out.push_back(':');
  out.append(two_digits(static_cast<int>(secs / 60 % 60)));
  out.push_back(':');
  out.append(two_digits(static_cast<int>(secs % 60)));
  out.append(" +0000");
  return out;
}

}  // namespace portcullis::mail
