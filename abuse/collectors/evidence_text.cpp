#include "abuse/collectors/evidence_text.hpp"

#include <cstdio>

namespace portcullis::abuse {

std::string duration_text(std::int64_t s) {
  if (s > 0 && s % 86400 == 0) {
    return std::to_string(s / 86400) + "d";
  }
  if (s > 0 && s % 3600 == 0) {
    return std::to_string(s / 3600) + "h";
  }
  if (s > 0 && s % 60 == 0) {
    return std::to_string(s / 60) + "m";
  }
  return std::to_string(s) + "s";
}

std::string one_decimal(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f", v);
  return buffer;
}

}  // namespace portcullis::abuse
