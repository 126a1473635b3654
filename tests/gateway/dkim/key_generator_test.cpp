#include "gateway/core/dkim/key_generator.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <string>

namespace portcullis::dkim {
namespace {

std::string decode_base64(const std::string& text) {
  std::string out(text.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  EXPECT_GE(n, 0);
  out.resize(static_cast<std::size_t>(n));
  // EVP_DecodeBlock keeps the bytes that padding stood for as zeros.
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) {
    out.pop_back();
  }
  return out;
}

TEST(DkimKeyGenerator, AlgorithmNames) {
  EXPECT_EQ(to_string(Algorithm::rsa_sha256), "rsa-sha256");
  EXPECT_EQ(to_string(Algorithm::ed25519_sha256), "ed25519-sha256");
  EXPECT_EQ(parse_algorithm("rsa"), Algorithm::rsa_sha256);
  EXPECT_EQ(parse_algorithm("rsa-sha256"), Algorithm::rsa_sha256);
  EXPECT_EQ(parse_algorithm("ed25519"), Algorithm::ed25519_sha256);
  EXPECT_EQ(parse_algorithm("ed25519-sha256"), Algorithm::ed25519_sha256);
  EXPECT_FALSE(parse_algorithm("rsa-sha1").has_value());
  EXPECT_FALSE(parse_algorithm("").has_value());
  EXPECT_EQ(key_type(Algorithm::rsa_sha256), "rsa");
  EXPECT_EQ(key_type(Algorithm::ed25519_sha256), "ed25519");
}

TEST(DkimKeyGenerator, Rsa2048) {
  auto pair = generate_key(Algorithm::rsa_sha256);
  ASSERT_TRUE(pair.has_value()) << pair.error().message;
  EXPECT_TRUE(pair->private_key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
  auto key = load_private_key(pair->private_key_pem, Algorithm::rsa_sha256);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(EVP_PKEY_get_bits(key->get()), 2048);

  // p= is the DER SubjectPublicKeyInfo: it parses back to the same public key.
  const auto der = decode_base64(pair->public_key);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  PrivateKey spki(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  ASSERT_NE(spki, nullptr);
  EXPECT_EQ(EVP_PKEY_eq(spki.get(), key->get()), 1);
  EXPECT_EQ(dns_public_key(key->get(), Algorithm::rsa_sha256).value(), pair->public_key);
  // An Ed25519 loader refuses it.
  EXPECT_FALSE(load_private_key(pair->private_key_pem, Algorithm::ed25519_sha256).has_value());
}

TEST(DkimKeyGenerator, Ed25519RawPublicKey) {
  auto pair = generate_key(Algorithm::ed25519_sha256);
  ASSERT_TRUE(pair.has_value()) << pair.error().message;
  // RFC 8463 4.2: the raw 32-byte key, not an SPKI: 44 base64 characters.
  EXPECT_EQ(pair->public_key.size(), 44u);
  EXPECT_EQ(decode_base64(pair->public_key).size(), 32u);
  auto key = load_private_key(pair->private_key_pem, Algorithm::ed25519_sha256);
  ASSERT_TRUE(key.has_value()) << key.error().message;
  EXPECT_EQ(dns_public_key(key->get(), Algorithm::ed25519_sha256).value(), pair->public_key);
  EXPECT_FALSE(load_private_key(pair->private_key_pem, Algorithm::rsa_sha256).has_value());
}

TEST(DkimKeyGenerator, KeysDiffer) {
  EXPECT_NE(generate_key(Algorithm::ed25519_sha256)->public_key,
            generate_key(Algorithm::ed25519_sha256)->public_key);
}

TEST(DkimKeyGenerator, GarbageIsRefused) {
  EXPECT_FALSE(load_private_key("", Algorithm::rsa_sha256).has_value());
  EXPECT_FALSE(load_private_key("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                                Algorithm::rsa_sha256)
                   .has_value());
  auto small = PrivateKey(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{512}));
  ASSERT_NE(small, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PrivateKey(bio, small.get(), nullptr, nullptr, 0, nullptr, nullptr), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  auto loaded = load_private_key(pem, Algorithm::rsa_sha256);
  ASSERT_FALSE(loaded.has_value());
  EXPECT_NE(loaded.error().message.find("1024"), std::string::npos);
}

TEST(DkimKeyGenerator, TxtRecords) {
  EXPECT_EQ(txt_record(Algorithm::rsa_sha256, "MIIB"), "v=DKIM1; k=rsa; p=MIIB");
  EXPECT_EQ(txt_record(Algorithm::ed25519_sha256, "abc="), "v=DKIM1; k=ed25519; p=abc=");
  EXPECT_EQ(dns_name("sel", "acme.example"), "sel._domainkey.acme.example");
  EXPECT_EQ(zone_record("sel", "acme.example", "v=DKIM1; k=ed25519; p=abc="),
            "sel._domainkey.acme.example IN TXT \"v=DKIM1; k=ed25519; p=abc=\"");
}

TEST(DkimKeyGenerator, LongRecordsSplitInto255OctetStrings) {
  auto pair = generate_key(Algorithm::rsa_sha256).value();
  const auto txt = txt_record(Algorithm::rsa_sha256, pair.public_key);
  ASSERT_GT(txt.size(), 255u);  // RSA-2048: about 410 characters
  const auto parts = split_txt(txt);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].size(), 255u);
  EXPECT_EQ(parts[0] + parts[1], txt);
  const auto zone = zone_record("s", "acme.example", txt);
  EXPECT_EQ(zone, "s._domainkey.acme.example IN TXT \"" + parts[0] + "\" \"" + parts[1] + "\"");

  EXPECT_EQ(split_txt(std::string(255, 'a')).size(), 1u);
  EXPECT_EQ(split_txt(std::string(256, 'a')).size(), 2u);
  EXPECT_EQ(split_txt(std::string(510, 'a')).size(), 2u);
  EXPECT_EQ(split_txt("").size(), 1u);
}

TEST(DkimKeyGenerator, Base64) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace portcullis::dkim
