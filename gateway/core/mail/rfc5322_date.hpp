#pragma once
// RFC 5322 3.3 dates for the header fields the gateway writes itself (Received,
// Date of its DSNs and abuse notifications): always UTC, always English names,
// whatever the process locale.

#include <cstdint>
#include <string>

namespace portcullis::mail {

// "Thu, 01 Jan 1970 00:00:00 +0000".
std::string rfc5322_date(std::int64_t unix_time);

}  // namespace portcullis::mail
