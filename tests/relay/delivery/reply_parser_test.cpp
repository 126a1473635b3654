#include "relay/delivery/reply_parser.hpp"

#include <gtest/gtest.h>

#include <string>

namespace portcullis::relay::delivery {
namespace {

TEST(ReplyParserTest, SingleLine) {
  const auto p = parse_reply("250 2.0.0 ok\r\nextra");
  ASSERT_EQ(p.status, ReplyStatus::complete);
  EXPECT_EQ(p.consumed, 14u);
  EXPECT_EQ(p.reply.code, 250);
  EXPECT_EQ(p.reply.text(), "250 2.0.0 ok");
}

TEST(ReplyParserTest, MultiLineAndBareLf) {
  const auto p = parse_reply("550-5.1.1 no such\n550-5.1.1 user here\r\n550 5.1.1 see docs\r\n");
  ASSERT_EQ(p.status, ReplyStatus::complete);
  EXPECT_EQ(p.reply.lines.size(), 3u);
  EXPECT_EQ(p.reply.text(), "550 5.1.1 no such user here see docs");
  EXPECT_TRUE(p.reply.permanent());
}

TEST(ReplyParserTest, CodeOnlyLine) {
  const auto p = parse_reply("250\r\n");
  ASSERT_EQ(p.status, ReplyStatus::complete);
  EXPECT_EQ(p.reply.text(), "250");
}

TEST(ReplyParserTest, Incomplete) {
  EXPECT_EQ(parse_reply("").status, ReplyStatus::need_more);
  EXPECT_EQ(parse_reply("250-first\r\n250 sec").status, ReplyStatus::need_more);
}

TEST(ReplyParserTest, Invalid) {
  EXPECT_EQ(parse_reply("HTTP/1.1 400 Bad Request\r\n").status, ReplyStatus::invalid);
  EXPECT_EQ(parse_reply("25\r\n").status, ReplyStatus::invalid);
  EXPECT_EQ(parse_reply("250x\r\n").status, ReplyStatus::invalid);
  EXPECT_EQ(parse_reply("650 nope\r\n").status, ReplyStatus::invalid);
  EXPECT_EQ(parse_reply("250-a\r\n550 b\r\n").status, ReplyStatus::invalid);
}

TEST(ReplyParserTest, Bounds) {
  EXPECT_EQ(parse_reply("250 " + std::string(kMaxReplyLine, 'a') + "\r\n").status,
            ReplyStatus::invalid);
  // A long line without its end is refused before it arrives completely.
  EXPECT_EQ(parse_reply("250 " + std::string(kMaxReplyLine, 'a')).status, ReplyStatus::invalid);
  std::string many;
  for (std::size_t i = 0; i < kMaxReplyLines; ++i) {
    many += "250-line\r\n";
  }
  EXPECT_EQ(parse_reply(many).status, ReplyStatus::invalid);
  std::string ok;
  for (std::size_t i = 0; i + 1 < kMaxReplyLines; ++i) {
    ok += "250-line\r\n";
  }
  ok += "250 last\r\n";
  EXPECT_EQ(parse_reply(ok).status, ReplyStatus::complete);
  const auto p = parse_reply("250 " + std::string(3000, 'b') + "\r\n");
  EXPECT_LE(p.reply.text().size(), kMaxReplyText);
}

TEST(ReplyParserTest, ControlCharactersRemoved) {
  const auto p =
      parse_reply(std::string("250 a\x01"
                              "b\x7f\r\n"));
  ASSERT_EQ(p.status, ReplyStatus::complete);
  EXPECT_EQ(p.reply.text(), "250 a b ");
}

TEST(ReplyParserTest, Extensions) {
  const auto p = parse_reply(
      "250-mx.example greets you\r\n250-pipelining\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
      "250-STARTTLS\r\n250 SMTPUTF8\r\n");
  ASSERT_EQ(p.status, ReplyStatus::complete);
  const auto e = parse_extensions(p.reply);
  EXPECT_TRUE(e.pipelining);
  EXPECT_TRUE(e.size);
  EXPECT_EQ(e.max_size, 1000u);
  EXPECT_TRUE(e.eight_bit_mime);
  EXPECT_TRUE(e.starttls);
  EXPECT_TRUE(e.smtputf8);
  const auto none = parse_extensions(parse_reply("250 mx.example PIPELINING\r\n").reply);
  EXPECT_FALSE(none.pipelining);
  const auto bad_size = parse_extensions(parse_reply("250-mx\r\n250 SIZE lots\r\n").reply);
  EXPECT_TRUE(bad_size.size);
  EXPECT_EQ(bad_size.max_size, 0u);
}

TEST(ReplyParserTest, EnhancedStatus) {
  EXPECT_EQ(enhanced_status("550 5.1.1 no such user", true), "5.1.1");
  EXPECT_EQ(enhanced_status("5.3.4 Message size", true), "5.3.4");
  EXPECT_EQ(enhanced_status("451 4.3.0 later", false), "4.3.0");
  EXPECT_EQ(enhanced_status("550 no code", true), "5.0.0");
  EXPECT_EQ(enhanced_status("connect failed", false), "4.0.0");
  EXPECT_EQ(enhanced_status("450 5.1.1 mixed", false), "4.0.0");
}

}  // namespace
}  // namespace portcullis::relay::delivery
