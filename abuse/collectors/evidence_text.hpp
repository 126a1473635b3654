#pragma once
// Numbers as the collectors write them into evidence: short, the same in every signal, for
// the desk and for the tenant's abuse contact who reads them in a notification.

#include <cstdint>
#include <string>

namespace portcullis::abuse {

// 86400 → "1d", 3600 → "1h", 300 → "5m", 45 → "45s".
std::string duration_text(std::int64_t seconds);
// 31.04 → "31.0".
std::string one_decimal(double value);

}  // namespace portcullis::abuse
