#include "relay/smtp/sasl.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace portcullis::relay::smtp {
namespace {

using namespace std::string_literals;

TEST(SaslTest, Base64Decode) {
  const std::vector<std::pair<std::string, std::optional<std::string>>> cases = {
      {"", ""},
      {"Zg==", "f"},
      {"Zm8=", "fo"},
      {"Zm9v", "foo"},
      {"Zm9vYg==", "foob"},
      {"Zm9vYmE=", "fooba"},
      {"Zm9vYmFy", "foobar"},
      {"AHVzZXIAcGFzcw==", "\0user\0pass"s},
      {"+/+/", "\xfb\xff\xbf"},
      {"Zg=", std::nullopt},  // length not a multiple of 4
      {"Zg", std::nullopt},   // padding required
      {"Z===", std::nullopt},
      {"====", std::nullopt},
      {"Zh==", std::nullopt},  // non-zero bits under the padding
      {"Zm9=", std::nullopt},
      {"Zg==Zg==", std::nullopt},  // padding in the middle
      {"Zm=v", std::nullopt},
      {"Zm9v\r\n", std::nullopt},
      {"Zm 9v", std::nullopt},
      {"Zm-_", std::nullopt},  // URL alphabet
      {"Zm9v\0"s, std::nullopt},
      {"Zm9v====", std::nullopt},
  };
  for (const auto& [text, expected] : cases) {
    EXPECT_EQ(base64_decode(text), expected) << testing::PrintToString(text);
  }
}

TEST(SaslTest, Base64RoundTrip) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  std::mt19937 rng(4954);
  for (std::size_t n = 0; n < 64; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) {
      c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    }
    EXPECT_EQ(base64_decode(base64_encode(bytes)), bytes);
  }
}

TEST(SaslTest, LoginPrompts) {
  EXPECT_EQ(base64_decode(kLoginUsernamePrompt), "Username:");
  EXPECT_EQ(base64_decode(kLoginPasswordPrompt), "Password:");
}

TEST(SaslTest, Responses) {
  EXPECT_EQ(decode_sasl_response("="), "");
  EXPECT_EQ(decode_sasl_response(""), std::nullopt);
  EXPECT_EQ(decode_sasl_response("dXNlcg=="), "user");
  EXPECT_EQ(decode_sasl_response("dXNlcg"), std::nullopt);
  EXPECT_TRUE(is_sasl_cancel("*"));
  EXPECT_FALSE(is_sasl_cancel("**"));
}

TEST(SaslTest, AuthPlain) {
  struct Case {
    std::string decoded;
    bool ok;
    std::string authcid;
    std::string password;
  };
  const std::vector<Case> cases = {
      {"\0user\0pass"s, true, "user", "pass"},
      {"user\0user\0pass"s, true, "user", "pass"},
      {"\0user\0p a s s \xc3\xbc"s, true, "user", "p a s s \xc3\xbc"},
      {"other\0user\0pass"s, false, "", ""},  // acting for another user
      {"\0\0pass"s, false, "", ""},
      {"\0user\0"s, false, "", ""},
      {"user\0pass"s, false, "", ""},
      {"userpass"s, false, "", ""},
      {""s, false, "", ""},
      {"\0user\0pa\0ss"s, false, "", ""},
      {"\0us\ter\0pass"s, false, "", ""},
      {"\0us\r\ner\0pass"s, false, "", ""},
      {"\0"s + std::string(255, 'u') + "\0pass"s, true, std::string(255, 'u'), "pass"},
      {"\0"s + std::string(256, 'u') + "\0pass"s, false, "", ""},
      {"\0user\0"s + std::string(1024, 'p'), true, "user", std::string(1024, 'p')},
      {"\0user\0"s + std::string(1025, 'p'), false, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::PrintToString(c.decoded));
    const auto r = parse_auth_plain(c.decoded);
    ASSERT_EQ(r.has_value(), c.ok);
    if (c.ok) {
      EXPECT_EQ(r->authcid, c.authcid);
      EXPECT_EQ(r->password, c.password);
    }
  }
}

TEST(SaslTest, LoginValues) {
  EXPECT_TRUE(valid_login_username("user"));
  EXPECT_FALSE(valid_login_username(""));
  EXPECT_FALSE(valid_login_username("us\0er"s));
  EXPECT_FALSE(valid_login_username("us\ner"));
  EXPECT_TRUE(valid_login_password("p\tw"));
  EXPECT_FALSE(valid_login_password(""));
  EXPECT_FALSE(valid_login_password("p\0w"s));
}

}  // namespace
}  // namespace portcullis::relay::smtp
