#pragma once
// A tenant's DKIM signing key as the store keeps it, and the syntax checks
// applied before it is stored. Domain and selector arrive from operators
// through the control API and end up in DNS names and d=/s= tags, so only
// plain LDH names are accepted (IDNs in their xn-- form), lowercased.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/core/result.hpp"

namespace portcullis::store {

struct DkimKey {
  std::string tenant_id;
  std::string domain;           // d=, lowercase
  std::string selector;         // s=, lowercase
  std::string algorithm;        // "rsa-sha256" | "ed25519-sha256"
  std::string private_key_pem;  // never leaves the store except to the signer
  std::string public_key;       // base64, the p= tag of the DNS record
  std::int64_t created_at = 0;
};

// Lowercased, without one trailing dot; nullopt unless two or more LDH labels
// of 1..63 octets (no leading or trailing hyphen), at most 253 octets in all,
// and a top-level label that is not all digits (not an IPv4 address).
std::optional<std::string> normalize_domain(std::string_view domain);

// Lowercased; nullopt unless one or more LDH labels, at most 63 octets in all.
std::optional<std::string> normalize_selector(std::string_view selector);

// Lowercases domain and selector in place and checks every field but
// created_at; the key material is checked for shape, not parsed.
Result<void> normalize_dkim_key(DkimKey& key);

}  // namespace portcullis::store
