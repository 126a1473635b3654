#include "gateway/core/webhooks/signature.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "gateway/core/webhooks/payload.hpp"

namespace portcullis::webhooks {
namespace {

// RFC 4231, test cases 1, 2 and 6 (HMAC-SHA-256).
TEST(Signature, MatchesRfc4231) {
  EXPECT_EQ(hmac_sha256_hex(std::string(20, '\x0b'), "Hi There"),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(hmac_sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(hmac_sha256_hex(std::string(131, '\xaa'),
                            "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(Signature, EmptyKeyAndMessage) {
  // Well-known value of HMAC-SHA256("", "").
  EXPECT_EQ(hmac_sha256_hex("", ""),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(Signature, SignsTimestampDotBody) {
  const std::string body = R"({"tenant":"acme","events":[]})";
  EXPECT_EQ(sign_payload("s3cret", 1700000000, body),
            "sha256=" + hmac_sha256_hex("s3cret", "1700000000." + body));
  // Any change to the timestamp, the body or the secret changes it.
  EXPECT_NE(sign_payload("s3cret", 1700000001, body), sign_payload("s3cret", 1700000000, body));
  EXPECT_NE(sign_payload("s3cret", 1700000000, body + " "),
            sign_payload("s3cret", 1700000000, body));
  EXPECT_NE(sign_payload("s3creT", 1700000000, body), sign_payload("s3cret", 1700000000, body));
}

TEST(Payload, BatchBodyShape) {
  std::vector<events::DeliveryEvent> events{
      {.id = 12,
       .time = 1700000000,
       .type = events::DeliveryEventType::delivered,
       .tenant_id = "acme",
       .message_id = "0001AAAA",
       .recipient = "a@example.org",
       .detail = "250 2.0.0 ok \"queued\"",
       .remote = "mx.example.org [198.18.2.10]"},
      {.id = 13,
       .time = 1700000005,
       .type = events::DeliveryEventType::bounced,
       .tenant_id = "acme",
       .message_id = "0001AAAA",
       .recipient = "b@example.org",
       .detail = "550 5.1.1 no\nsuch user",
       .remote = ""},
  };
  const auto body = batch_body("acme", events);
  EXPECT_EQ(body.find('\n'), std::string::npos);
  auto parsed = boost::json::parse(body).as_object();
  EXPECT_EQ(parsed.at("tenant").as_string(), "acme");
  const auto& list = parsed.at("events").as_array();
  ASSERT_EQ(list.size(), 2u);
  const auto& first = list[0].as_object();
  EXPECT_EQ(first.at("id").as_int64(), 12);
  EXPECT_EQ(first.at("type").as_string(), "delivered");
  EXPECT_EQ(first.at("time").as_int64(), 1700000000);
  EXPECT_EQ(first.at("message_id").as_string(), "0001AAAA");
  EXPECT_EQ(first.at("recipient").as_string(), "a@example.org");
  EXPECT_EQ(first.at("detail").as_string(), "250 2.0.0 ok \"queued\"");
  EXPECT_EQ(first.at("remote").as_string(), "mx.example.org [198.18.2.10]");
  EXPECT_EQ(list[1].at("type").as_string(), "bounced");
  EXPECT_EQ(list[1].at("detail").as_string(), "550 5.1.1 no\nsuch user");
  // Field order is fixed, for receivers that log the raw body.
  EXPECT_EQ(body.substr(0, 40), R"({"tenant":"acme","events":[{"id":12,"typ)");
}

TEST(Payload, InvalidUtf8BecomesReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {"plain ascii", "plain ascii"},
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x93\xA7"},
      {"a\xFF"
       "b",
       "a" + fffd + "b"},
      {"\xC3", fffd},                                   // truncated
      {"\xC0\xAF", fffd + fffd},                        // overlong '/'
      {"\xE0\x80\xAF", fffd + fffd + fffd},             // overlong
      {"\xED\xA0\x80", fffd + fffd + fffd},             // UTF-16 surrogate
      {"\xF4\x90\x80\x80", fffd + fffd + fffd + fffd},  // above U+10FFFF
      {"\x80x", fffd + "x"},                            // lone continuation
  };
  for (const auto& c : cases) {
    EXPECT_EQ(valid_utf8(c.in), c.out) << c.in;
  }
  events::DeliveryEvent e{.id = 1, .detail = "550 \xFF\xFE bad"};
  const auto body = batch_body("acme", std::vector{e});
  auto parsed = boost::json::parse(body);  // would throw on invalid UTF-8
  EXPECT_EQ(parsed.at("events").at(0).at("detail").as_string(), "550 " + fffd + fffd + " bad");
}

}  // namespace
}  // namespace portcullis::webhooks
