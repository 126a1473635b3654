#include "gateway/core/dkim/key_generator.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cstddef>
#include <limits>

namespace portcullis::dkim {
namespace {

constexpr std::size_t kTxtStringMax = 255;
constexpr int kRsaMinBits = 1024;  // RFC 8301 3.2: verifiers must refuse smaller keys

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free_all(bio); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

// Explicit: Error is constructible from a string too (C++20 aggregate parens).
Result<std::string> text_result(std::string text) {
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

// The reason OpenSSL gives, for the message a person reads.
std::string openssl_error(std::string_view what) {
  std::string message(what);
  if (const unsigned long code = ERR_get_error(); code != 0) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    message += ": ";
    message += text;
  }
  ERR_clear_error();
  return message;
}

Result<std::string> private_key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return make_error(openssl_error("cannot encode the private key"));
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return text_result(std::string(data, static_cast<std::size_t>(size)));
}

}  // namespace

std::string_view to_string(Algorithm algorithm) {
  return algorithm == Algorithm::rsa_sha256 ? "rsa-sha256" : "ed25519-sha256";
}

std::optional<Algorithm> parse_algorithm(std::string_view text) {
  if (text == "rsa" || text == "rsa-sha256") {
    return Algorithm::rsa_sha256;
  }
  if (text == "ed25519" || text == "ed25519-sha256") {
    return Algorithm::ed25519_sha256;
  }
  return std::nullopt;
}

std::string_view key_type(Algorithm algorithm) {
  return algorithm == Algorithm::rsa_sha256 ? "rsa" : "ed25519";
}

std::string base64_encode(std::string_view bytes) {
  if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max() / 4 * 3)) {
    return {};  // far beyond any key; EVP_EncodeBlock takes an int
  }
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

Result<KeyPair> generate_key(Algorithm algorithm) {
  PrivateKey key(
      algorithm == Algorithm::rsa_sha256
          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(kRsaBits))
          : EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) {
    return make_error(
        openssl_error("cannot generate a " + std::string(key_type(algorithm)) + " key"));
  }
  auto pem = private_key_pem(key.get());
  if (!pem) {
    return pem.error();
  }
  auto public_key = dns_public_key(key.get(), algorithm);
  if (!public_key) {
    return public_key.error();
  }
  return KeyPair{algorithm, std::move(*pem), std::move(*public_key)};
}

Result<PrivateKey> load_private_key(std::string_view pem, Algorithm algorithm) {
  if (pem.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return make_error("the private key is too large");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    return make_error(openssl_error("cannot read the private key"));
  }
  PrivateKey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return make_error(openssl_error("the private key is not a valid PEM key"));
  }
  if (algorithm == Algorithm::rsa_sha256) {
    if (!EVP_PKEY_is_a(key.get(), "RSA")) {
      return make_error("the private key is not an RSA key");
    }
    if (EVP_PKEY_get_bits(key.get()) < kRsaMinBits) {
      return make_error("the RSA key has fewer than 1024 bits");
    }
  } else if (!EVP_PKEY_is_a(key.get(), "ED25519")) {
    return make_error("the private key is not an Ed25519 key");
  }
  return key;
}

Result<std::string> dns_public_key(EVP_PKEY* key, Algorithm algorithm) {
  if (algorithm == Algorithm::ed25519_sha256) {
    unsigned char raw[32];
    std::size_t length = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(key, raw, &length) != 1 || length != sizeof raw) {
      return make_error(openssl_error("cannot extract the Ed25519 public key"));
    }
    return text_result(base64_encode(std::string_view(reinterpret_cast<const char*>(raw), length)));
  }
  const int size = i2d_PUBKEY(key, nullptr);
  if (size <= 0) {
    return make_error(openssl_error("cannot encode the RSA public key"));
  }
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_PUBKEY(key, &out) != size) {
    return make_error(openssl_error("cannot encode the RSA public key"));
  }
  return text_result(base64_encode(der));
}

std::string txt_record(Algorithm algorithm, std::string_view public_key) {
  return "v=DKIM1; k=" + std::string(key_type(algorithm)) + "; p=" + std::string(public_key);
}

std::string dns_name(std::string_view selector, std::string_view domain) {
  return std::string(selector) + "._domainkey." + std::string(domain);
}

std::vector<std::string> split_txt(std::string_view text) {
  std::vector<std::string> parts;
  do {
    parts.emplace_back(text.substr(0, kTxtStringMax));
    text.remove_prefix(parts.back().size());
  } while (!text.empty());
  return parts;
}

std::string zone_record(std::string_view selector,
                        std::string_view domain,
                        std::string_view txt_text) {
  std::string out = dns_name(selector, domain) + " IN TXT";
  // The record text is ours (base64 and tag names): nothing to escape inside the quotes.
  for (const auto& part : split_txt(txt_text)) {
    out += " \"" + part + "\"";
  }
  return out;
}

}  // namespace portcullis::dkim
