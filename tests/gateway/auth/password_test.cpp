#include "gateway/core/auth/password.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::auth {
namespace {

TEST(PasswordTest, HashVerifiesAndWrongPasswordFails) {
  const auto hash = hash_password("correct horse battery staple");
  EXPECT_TRUE(verify_password(hash, "correct horse battery staple"));
  EXPECT_FALSE(verify_password(hash, "correct horse battery stapler"));
  EXPECT_FALSE(verify_password(hash, ""));
}

TEST(PasswordTest, HashIsArgon2idAndSaltedWithoutThePassword) {
  const std::string password = "s3cret-Passw0rd";
  const auto a = hash_password(password);
  const auto b = hash_password(password);
  EXPECT_EQ(a.rfind("$argon2id$", 0), 0u) << a;
  EXPECT_EQ(a.find(password), std::string::npos);
  EXPECT_NE(a, b);  // random salt
  EXPECT_TRUE(verify_password(b, password));
}

TEST(PasswordTest, MalformedHashesDoNotVerify) {
  EXPECT_FALSE(verify_password("", "x"));
  EXPECT_FALSE(verify_password("plaintext", "plaintext"));
  EXPECT_FALSE(verify_password(std::string(1000, '$'), "x"));
  auto hash = hash_password("x");
  hash.back() = hash.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(verify_password(hash, "x"));
  EXPECT_FALSE(verify_password(std::string("$argon2id$\0", 11), "x"));
}

TEST(PasswordTest, PasswordsWithNulAndLongPasswords) {
  const std::string with_nul("ab\0cd", 5);
  const auto hash = hash_password(with_nul);
  EXPECT_TRUE(verify_password(hash, with_nul));
  EXPECT_FALSE(verify_password(hash, "ab"));
  const std::string long_password(4096, 'p');
  EXPECT_TRUE(verify_password(hash_password(long_password), long_password));
}

TEST(PasswordTest, GeneratedPasswordsAreLongUniqueBase64url) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto password = generate_password();
    EXPECT_EQ(password.size(), 32u);  // 24 bytes, base64 without padding
    for (const char c : password) {
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << password;
    }
    seen.insert(password);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(PasswordTest, RandomStringUsesAlphabet) {
  const auto s = random_string(64, "ab");
  EXPECT_EQ(s.size(), 64u);
  EXPECT_EQ(s.find_first_not_of("ab"), std::string::npos);
  EXPECT_NE(s.find('a'), std::string::npos);
  EXPECT_THROW(random_string(4, ""), std::invalid_argument);
}

TEST(PasswordTest, ConcurrentFirstUse) {
  std::vector<std::thread> threads;
  std::vector<std::string> out(8);
  for (std::size_t i = 0; i < out.size(); ++i) {
    threads.emplace_back([&, i] { out[i] = generate_password(); });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(std::set<std::string>(out.begin(), out.end()).size(), out.size());
}

}  // namespace
}  // namespace portcullis::auth
