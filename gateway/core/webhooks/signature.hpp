#pragma once
// How a receiver knows a batch came from us and is fresh. Each POST carries
//   X-Portcullis-Timestamp: <unix seconds when it was sent>
//   X-Portcullis-Signature: sha256=<lower-case hex HMAC-SHA256(secret, timestamp "." body)>
// The key is the webhook's secret exactly as the control API showed it (the
// 64 hex characters as ASCII, not decoded). The receiver recomputes the HMAC
// over the raw body bytes, compares in constant time, and refuses timestamps
// more than a few minutes from its own clock, so a captured request cannot be
// replayed later. Retries are signed afresh with a new timestamp.
// Handles no untrusted input; needs no privilege.

#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::webhooks {

// Lower-case hex of HMAC-SHA256(key, message).
std::string hmac_sha256_hex(std::string_view key, std::string_view message);

// The X-Portcullis-Signature value: "sha256=" + hmac_sha256_hex(secret, "<timestamp>.<body>").
std::string sign_payload(std::string_view secret, std::int64_t timestamp, std::string_view body);

}  // namespace portcullis::webhooks
