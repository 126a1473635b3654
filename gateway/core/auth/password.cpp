#include "gateway/core/auth/password.hpp"

#include <sodium.h>

#include <array>
#include <cstdint>
#include <stdexcept>

namespace portcullis::auth {
namespace {

constexpr std::size_t kPasswordBytes = 24;

void ensure_sodium() {
  // A function-local static is initialised once even with concurrent callers.
  static const bool initialised = [] {
    if (sodium_init() < 0) {
      throw std::runtime_error("libsodium could not be initialised");
    }
    return true;
  }();
  (void)initialised;
}

}  // namespace

std::string hash_password(std::string_view password) {
  ensure_sodium();
  std::array<char, crypto_pwhash_STRBYTES> out{};
  if (crypto_pwhash_str_alg(out.data(), password.data(), password.size(),
                            crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id hashing failed (out of memory)");
  }
  return std::string(out.data());
}

bool verify_password(std::string_view hash, std::string_view password) {
  ensure_sodium();
  // libsodium wants a NUL-terminated hash that fits its buffer.
  if (hash.empty() || hash.size() >= crypto_pwhash_STRBYTES ||
      hash.find('\0') != std::string_view::npos) {
    return false;
  }
  const std::string terminated(hash);
  return crypto_pwhash_str_verify(terminated.c_str(), password.data(), password.size()) == 0;
}

std::string generate_password() {
  ensure_sodium();
  std::array<unsigned char, kPasswordBytes> bytes{};
  randombytes_buf(bytes.data(), bytes.size());
  constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), kVariant), '\0');
  sodium_bin2base64(out.data(), out.size(), bytes.data(), bytes.size(), kVariant);
  out.resize(out.find('\0'));
  sodium_memzero(bytes.data(), bytes.size());
  return out;
}

std::string random_string(std::size_t length, std::string_view alphabet) {
  if (alphabet.empty() || alphabet.size() > 256) {
    throw std::invalid_argument("random_string needs an alphabet of 1 to 256 characters");
  }
  ensure_sodium();
  std::string out(length, '\0');
  for (auto& c : out) {
    c = alphabet[randombytes_uniform(static_cast<std::uint32_t>(alphabet.size()))];
  }
  return out;
}

}  // namespace portcullis::auth
