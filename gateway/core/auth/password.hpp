#pragma once
// Credential passwords: generation and argon2id hashing (libsodium). Passwords
// come from SMTP AUTH, i.e. from untrusted peers; only hashes are ever stored.
// Hashing and verification cost ~64 MiB and tens of milliseconds each: callers
// on the I/O path run them on a worker pool.

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::auth {

// argon2id ("$argon2id$..." string, salt included), interactive limits.
// Throws std::runtime_error only if memory for the hash cannot be allocated.
std::string hash_password(std::string_view password);

// False for a wrong password and for a malformed hash.
bool verify_password(std::string_view hash, std::string_view password);

// 24 random bytes as base64url without padding: 32 characters, 192 bits.
std::string generate_password();

// `length` characters drawn uniformly from `alphabet` (1..256 characters) with
// the system CSPRNG; for identifiers that must not be guessable.
std::string random_string(std::size_t length, std::string_view alphabet);

}  // namespace portcullis::auth
