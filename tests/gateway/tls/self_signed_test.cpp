#include "gateway/core/tls/self_signed.hpp"

#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace portcullis::tls {
namespace {

class SelfSignedTls : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() /
            ("portcullis-tls-test-" + std::to_string(::getpid()) + "-" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(root_);
    std::filesystem::create_directories(root_);
    dir_ = root_ / "state" / "tls";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  static mode_t mode_of(const std::filesystem::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }
  static std::string read(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::filesystem::path root_;
  std::filesystem::path dir_;
};

X509* load_cert(const std::filesystem::path& p) {
  FILE* f = std::fopen(p.c_str(), "r");
  if (f == nullptr) {
    return nullptr;
  }
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return cert;
}

EVP_PKEY* load_key(const std::filesystem::path& p) {
  FILE* f = std::fopen(p.c_str(), "r");
  if (f == nullptr) {
    return nullptr;
  }
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  return key;
}

TEST_F(SelfSignedTls, CreatesKeyAndCertificate) {
  const auto cert_path = dir_ / "cert.pem";
  const auto key_path = dir_ / "key.pem";
  auto r = ensure_self_signed(cert_path, key_path, "relay.gw.example");
  ASSERT_TRUE(r) << r.error().message;

  EXPECT_EQ(mode_of(key_path), 0600u);
  EXPECT_EQ(mode_of(cert_path), 0644u);
  EXPECT_EQ(mode_of(dir_), 0700u);
  EXPECT_EQ(mode_of(dir_.parent_path()), 0700u);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "key.pem.tmp"));

  X509* cert = load_cert(cert_path);
  EVP_PKEY* key = load_key(key_path);
  ASSERT_NE(cert, nullptr);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert, key), 1);
  EXPECT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
  EXPECT_EQ(EVP_PKEY_get_bits(key), 256);
  // The name is in the subjectAltName (X509_check_host ignores the CN when a DNS SAN exists).
  EXPECT_EQ(
      X509_check_host(cert, "relay.gw.example", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, nullptr),
      1);
  EXPECT_EQ(X509_check_host(cert, "other.example", 0, 0, nullptr), 0);
  char cn[256] = {};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn));
  EXPECT_STREQ(cn, "relay.gw.example");
  EXPECT_EQ(X509_self_signed(cert, 1), 1);
  EVP_PKEY* pub = X509_get0_pubkey(cert);
  EXPECT_EQ(X509_verify(cert, pub), 1);
  // Valid now, for about 825 days.
  EXPECT_LT(X509_cmp_current_time(X509_get0_notBefore(cert)), 0);
  int days = 0;
  int secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  EXPECT_EQ(days, kSelfSignedValidityDays);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST_F(SelfSignedTls, SecondCallKeepsExistingFiles) {
  const auto cert_path = dir_ / "cert.pem";
  const auto key_path = dir_ / "key.pem";
  ASSERT_TRUE(ensure_self_signed(cert_path, key_path, "gw.example"));
  const std::string cert = read(cert_path);
  const std::string key = read(key_path);
  ASSERT_TRUE(ensure_self_signed(cert_path, key_path, "gw.example"));
  EXPECT_EQ(read(cert_path), cert);
  EXPECT_EQ(read(key_path), key);
}

TEST_F(SelfSignedTls, RegeneratesAPairWhenOneFileIsMissing) {
  const auto cert_path = dir_ / "cert.pem";
  const auto key_path = dir_ / "key.pem";
  ASSERT_TRUE(ensure_self_signed(cert_path, key_path, "gw.example"));
  const std::string old_key = read(key_path);
  std::filesystem::remove(cert_path);
  ASSERT_TRUE(ensure_self_signed(cert_path, key_path, "gw.example"));
  EXPECT_NE(read(key_path), old_key);
  X509* cert = load_cert(cert_path);
  EVP_PKEY* key = load_key(key_path);
  ASSERT_NE(cert, nullptr);
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(X509_check_private_key(cert, key), 1);
  EXPECT_EQ(mode_of(key_path), 0600u);
  X509_free(cert);
  EVP_PKEY_free(key);
}

TEST_F(SelfSignedTls, KeyIsPrivateEvenUnderAPermissiveUmask) {
  const mode_t old = ::umask(0);
  auto r = ensure_self_signed(dir_ / "cert.pem", dir_ / "key.pem", "gw.example");
  ::umask(old);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(mode_of(dir_ / "key.pem"), 0600u);
  EXPECT_EQ(mode_of(dir_), 0700u);
}

TEST_F(SelfSignedTls, RefusesNamesThatAreNotHostNames) {
  auto r = ensure_self_signed(dir_ / "cert.pem", dir_ / "key.pem", "a,DNS:evil.example");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "self-signed certificate: 'a,DNS:evil.example' is not a host name");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "key.pem"));
}

TEST_F(SelfSignedTls, ReportsAnUnwritableDirectory) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root can write anywhere";
  }
  std::filesystem::create_directories(dir_);
  std::filesystem::permissions(
      dir_, std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  auto r = ensure_self_signed(dir_ / "cert.pem", dir_ / "key.pem", "gw.example");
  std::filesystem::permissions(dir_, std::filesystem::perms::owner_all);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot create"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace portcullis::tls
