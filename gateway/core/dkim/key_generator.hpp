#pragma once
// DKIM signing keys: generation (RSA-2048, Ed25519) with OpenSSL 3 EVP, the
// public key in the form DNS publishes it, and the TXT record text operators
// paste into their zone. Untrusted input: private keys read back from the
// store (PEM) are parsed defensively and checked against their algorithm.
// Private keys leave this file only as PEM for the store and as EVP_PKEY for
// the signer.

#include <openssl/evp.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::dkim {

enum class Algorithm { rsa_sha256, ed25519_sha256 };

// "rsa-sha256" / "ed25519-sha256": the a= tag and the store's algorithm column.
std::string_view to_string(Algorithm algorithm);
// Accepts the a= names and the short forms "rsa" and "ed25519".
std::optional<Algorithm> parse_algorithm(std::string_view text);
// The k= tag: "rsa" / "ed25519".
std::string_view key_type(Algorithm algorithm);

struct PkeyDeleter {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using PrivateKey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

struct KeyPair {
  Algorithm algorithm = Algorithm::rsa_sha256;
  std::string private_key_pem;  // PKCS#8
  std::string public_key;       // base64, the p= tag
};

inline constexpr int kRsaBits = 2048;

Result<KeyPair> generate_key(Algorithm algorithm);

// Parses a PEM private key and checks that it is a key for `algorithm`
// (RSA keys of at least 1024 bits, RFC 8301).
Result<PrivateKey> load_private_key(std::string_view pem, Algorithm algorithm);

// RSA: base64 of the DER SubjectPublicKeyInfo (RFC 6376 3.6.1); Ed25519:
// base64 of the raw 32-byte public key (RFC 8463 4.2).
Result<std::string> dns_public_key(EVP_PKEY* key, Algorithm algorithm);

// "v=DKIM1; k=rsa; p=MIIB..."
std::string txt_record(Algorithm algorithm, std::string_view public_key);
// "<selector>._domainkey.<domain>"
std::string dns_name(std::string_view selector, std::string_view domain);
// A TXT record's character-strings hold at most 255 octets each (RFC 1035
// 3.3); a longer text is published as several strings that resolvers join.
std::vector<std::string> split_txt(std::string_view text);
// Zone file form: `<selector>._domainkey.<domain> IN TXT "..." "..."`.
std::string zone_record(std::string_view selector,
                        std::string_view domain,
                        std::string_view txt_text);

std::string base64_encode(std::string_view bytes);

}  // namespace portcullis::dkim
