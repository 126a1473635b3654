#pragma once
// Parsers for the value syntaxes of the config file: durations ("30s", "5m",
// "1h30m"), sizes ("25M", plain bytes), listener endpoints ("1.2.3.4:25",
// "[::1]:25") and host names. Input is operator-written text; errors are
// sentences that quote the offending text, without the key (the loader adds it).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/core/config/config.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::config {

// One or more <number><unit> groups, unit s|m|h|d: "30s", "5m", "1h30m", "5d".
Result<std::chrono::seconds> parse_duration(std::string_view text);
// The shortest exact spelling: 300s → "5m", 5400s → "1h30m", 0 → "0s".
std::string format_duration(std::chrono::seconds value);

// Plain bytes or a number with a 1024-based K, M or G suffix: "25M", "512K", "1048576".
Result<std::uint64_t> parse_size(std::string_view text);
// The largest exact suffix: 26214400 → "25M", 1000 → "1000".
std::string format_size(std::uint64_t bytes);

// "1.2.3.4:25" or "[2001:db8::1]:25"; IP literals only, port 1..65535.
Result<Endpoint> parse_endpoint(std::string_view text);

// An IPv4 or IPv6 literal (no brackets).
bool is_ip_address(std::string_view text);
// A DNS name: dot-separated labels of letters, digits and inner hyphens,
// each 1..63 octets, 253 octets in all; one trailing dot allowed.
bool is_host_name(std::string_view text);

// Operator text for an error message: in single quotes, control characters
// escaped, cut after 80 characters.
std::string quote_value(std::string_view text);

}  // namespace portcullis::config
