#pragma once
// A self-signed certificate for the lab and first boot, when relay.tls names
// no files: an EC P-256 key and an X.509 certificate for the relay's host
// name. Handles no untrusted input. The private key is created mode 0600 and
// is never readable by others, not even while it is being written; it needs
// write access to the directory (normally <state_dir>/tls, created 0700).

#include <filesystem>
#include <string_view>

#include "gateway/core/result.hpp"

namespace portcullis::tls {

// Validity of a generated certificate: the most Apple's TLS clients accept.
inline constexpr int kSelfSignedValidityDays = 825;

// Does nothing when both files exist. Otherwise generates a new pair and
// replaces both files (each written to a temporary name, then renamed), so a
// key never ends up beside a certificate it does not match.
Result<void> ensure_self_signed(const std::filesystem::path& cert,
                                const std::filesystem::path& key,
                                std::string_view hostname);

}  // namespace portcullis::tls
