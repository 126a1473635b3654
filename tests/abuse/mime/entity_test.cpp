#include "abuse/mime/entity.hpp"

#include <gtest/gtest.h>

#include <string>

#include "abuse/mime/address.hpp"
#include "abuse/mime/content_type.hpp"
#include "abuse/mime/header_fields.hpp"
#include "abuse/mime/text.hpp"
#include "abuse/mime/transfer_decoding.hpp"

namespace portcullis::abuse::mime {
namespace {

Result<Entity> parse(std::string_view text, const Limits& limits = {}) {
  Warnings warnings;
  return parse_message(text, limits, warnings);
}

TEST(ContentTypeTest, ReadsTypeAndParameters) {
  const auto ct = parse_content_type(
      "Multipart/Report; report-type=\"feedback-report\";\r\n\tboundary=\"a b\\\"c\" (comment)");
  EXPECT_TRUE(ct.valid);
  EXPECT_TRUE(ct.is("multipart/report"));
  EXPECT_EQ(ct.parameter("REPORT-TYPE").value_or(""), "feedback-report");
  EXPECT_EQ(ct.parameter("boundary").value_or(""), "a b\"c");
}

TEST(ContentTypeTest, UnquotedAndOddParameters) {
  const auto ct = parse_content_type("multipart/mixed;boundary=----=_Part_1/2;;junk; charset=x");
  EXPECT_EQ(ct.parameter("boundary").value_or(""), "----=_Part_1/2");
  EXPECT_EQ(ct.parameter("charset").value_or(""), "x");
}

TEST(ContentTypeTest, GarbageFallsBackToTextPlain) {
  for (const std::string_view bad : {"", "multipart", "/x", "(unclosed", "multipart/", "\"q\"/x"}) {
    const auto ct = parse_content_type(bad);
    EXPECT_FALSE(ct.valid) << bad;
    EXPECT_TRUE(ct.is("text/plain")) << bad;
  }
}

TEST(ContentTypeTest, TransferEncodings) {
  EXPECT_EQ(parse_transfer_encoding(" BASE64 "), TransferEncoding::base64);
  EXPECT_EQ(parse_transfer_encoding("quoted-printable (x)"), TransferEncoding::quoted_printable);
  EXPECT_EQ(parse_transfer_encoding("8bit"), TransferEncoding::identity);
  EXPECT_EQ(parse_transfer_encoding("x-uuencode"), TransferEncoding::unknown);
}

TEST(TransferDecodingTest, Base64) {
  EXPECT_EQ(decode_base64("aGVs\r\nbG8=\r\n").data, "hello");
  EXPECT_TRUE(decode_base64("aGVsbG8=").clean);
  const auto junk = decode_base64("aGV*sbG8=!!");
  EXPECT_EQ(junk.data, "hello");
  EXPECT_FALSE(junk.clean);
  EXPECT_FALSE(decode_base64("aGVsbG8").data.empty());
  EXPECT_FALSE(decode_base64("a").clean);
}

TEST(TransferDecodingTest, QuotedPrintable) {
  EXPECT_EQ(decode_quoted_printable("caf=C3=A9 =\r\nsoft=\nbreak").data, "caf\xc3\xa9 softbreak");
  const auto bad = decode_quoted_printable("a=ZZb=");
  EXPECT_EQ(bad.data, "a=ZZb");
  EXPECT_FALSE(bad.clean);
}

TEST(HeaderFieldsTest, UnfoldsAndFindsCaseInsensitively) {
  Warnings w;
  const auto h = parse_header_fields("Subject: a\r\n b\r\nX-Test:1\r\nx-test :  2 \r\n\tthree\r\n",
                                     Limits{}, w);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->first("SUBJECT").value_or(""), "a b");
  EXPECT_EQ(h->first("x-TEST").value_or(""), "1");
  EXPECT_EQ(h->last("X-Test").value_or(""), "2\tthree");
  EXPECT_EQ(h->all("X-Test").size(), 2U);
  EXPECT_TRUE(w.items().empty());
}

TEST(HeaderFieldsTest, TooManyFieldsIsAnError) {
  std::string section;
  for (int i = 0; i < 1001; ++i) {
    section += "X-" + std::to_string(i) + ": v\n";
  }
  Warnings w;
  const auto h = parse_header_fields(section, Limits{}, w);
  ASSERT_FALSE(h);
  EXPECT_NE(h.error().message.find("more than 1000 header fields"), std::string::npos);
}

TEST(HeaderFieldsTest, SplitsAtEmptyLineOrFirstNonField) {
  const auto a = split_entity("From x Mon\nA: 1\r\n\r\nbody\n");
  EXPECT_EQ(a.header_section, "A: 1\r\n");
  EXPECT_EQ(a.body, "body\n");
  EXPECT_TRUE(a.separated);
  const auto b = split_entity("A: 1\nthis is body\n");
  EXPECT_EQ(b.header_section, "A: 1\n");
  EXPECT_EQ(b.body, "this is body\n");
  EXPECT_FALSE(b.separated);
  const auto c = split_entity("\nonly body");
  EXPECT_TRUE(c.header_section.empty());
  EXPECT_EQ(c.body, "only body");
}

TEST(EntityTest, SplitsNestedMultipartsAndDecodesParts) {
  const std::string msg =
      "Content-Type: multipart/mixed; boundary=outer\n\n"
      "preamble\n"
      "--outer\n"
      "Content-Type: text/plain\n"
      "Content-Transfer-Encoding: base64\n\n"
      "aGVsbG8=\n"
      "--outer  \n"
      "Content-Type: multipart/alternative; boundary=\"outer-inner\"\n\n"
      "--outer-inner\n"
      "Content-Transfer-Encoding: quoted-printable\n\n"
      "a=3Db\n"
      "--outer-inner--\n"
      "--outer--\n"
      "epilogue\n";
  const auto e = parse(msg);
  ASSERT_TRUE(e) << e.error().message;
  ASSERT_EQ(e->parts.size(), 2U);
  EXPECT_EQ(e->parts[0].body, "hello");
  ASSERT_EQ(e->parts[1].parts.size(), 1U);
  EXPECT_EQ(e->parts[1].parts[0].body, "a=b");
  EXPECT_FALSE(e->unclosed);
  EXPECT_TRUE(e->problem.empty());
}

TEST(EntityTest, UnclosedMultipartKeepsTheLastPartAndSaysSo) {
  Warnings w;
  const auto e = parse_message(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\n\nsecond", Limits{}, w);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->unclosed);
  ASSERT_EQ(e->parts.size(), 2U);
  EXPECT_EQ(e->parts[1].body, "second");
  ASSERT_FALSE(w.items().empty());
  EXPECT_NE(w.items()[0].find("not closed"), std::string::npos);
}

TEST(EntityTest, MultipartWithoutBoundaryIsKeptAsALeaf) {
  const auto a = parse("Content-Type: multipart/mixed\n\nbody\n");
  ASSERT_TRUE(a);
  EXPECT_NE(a->problem.find("no boundary"), std::string::npos);
  EXPECT_EQ(a->body, "body\n");
  const auto b = parse("Content-Type: multipart/mixed; boundary=zz\n\nno delimiter here\n");
  ASSERT_TRUE(b);
  EXPECT_NE(b->problem.find("no delimiter"), std::string::npos);
}

TEST(EntityTest, NestingDeeperThanTheLimitIsAnError) {
  std::string msg;
  std::string closing;
  for (int i = 0; i < 50; ++i) {
    msg += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
           std::to_string(i) + "\n";
  }
  msg += "\nleaf\n";
  const auto e = parse(msg);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("nested deeper than 5"), std::string::npos);
}

TEST(EntityTest, FiveLevelsAreFine) {
  std::string msg;
  for (int i = 0; i < 5; ++i) {
    msg += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
           std::to_string(i) + "\n";
  }
  msg += "\nleaf\n";
  EXPECT_TRUE(parse(msg));
}

TEST(EntityTest, TooManyPartsIsAnError) {
  std::string msg = "Content-Type: multipart/mixed; boundary=b\n\n";
  for (int i = 0; i < 300; ++i) {
    msg += "--b\n\npart\n";
  }
  msg += "--b--\n";
  const auto e = parse(msg);
  ASSERT_FALSE(e);
  EXPECT_NE(e.error().message.find("more than 256 MIME parts"), std::string::npos);
}

TEST(EntityTest, SizeLimitAndEmptyInput) {
  Limits small;
  small.max_input_bytes = 10;
  const auto big = parse("Subject: more than ten bytes\n\n", small);
  ASSERT_FALSE(big);
  EXPECT_NE(big.error().message.find("larger than 10 bytes"), std::string::npos);
  EXPECT_FALSE(parse(" \r\n\r\n"));
}

TEST(EntityTest, DigestPartsDefaultToMessageRfc822) {
  const auto e =
      parse("Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: inner\n\nx\n--d--\n");
  ASSERT_TRUE(e);
  ASSERT_EQ(e->parts.size(), 1U);
  EXPECT_TRUE(e->parts[0].content_type.is("message/rfc822"));
}

TEST(AddressTest, SingleMailbox) {
  EXPECT_EQ(single_mailbox("<reader@mailbox-provider.example>").value_or(""),
            "reader@mailbox-provider.example");
  EXPECT_EQ(single_mailbox("rfc822; nobody@remote.example").value_or(""), "nobody@remote.example");
  EXPECT_EQ(single_mailbox("rfc822;<a@b.example>").value_or(""), "a@b.example");
  EXPECT_FALSE(single_mailbox("<<<@@@>>>"));
  EXPECT_FALSE(single_mailbox("x400; C=US"));
  EXPECT_FALSE(single_mailbox("no at sign"));
  EXPECT_FALSE(single_mailbox("a@"));
  EXPECT_FALSE(single_mailbox("a b@c.example"));
  EXPECT_FALSE(single_mailbox("a@b..example"));
}

TEST(AddressTest, FirstMailboxOfAList) {
  EXPECT_EQ(first_mailbox("\"Doe, Jane\" <jane@x.example>, bob@y.example").value_or(""),
            "jane@x.example");
  EXPECT_EQ(first_mailbox("undisclosed-recipients:;").value_or("none"), "none");
  EXPECT_EQ(first_mailbox("bad, (c) pat@bigmail.example (Pat)").value_or(""),
            "pat@bigmail.example");
  EXPECT_EQ(first_mailbox("<pat@bigmail.example>").value_or(""), "pat@bigmail.example");
}

TEST(AddressTest, MessageId) {
  EXPECT_EQ(message_id(" <01JD@relay.gw.example> (x)").value_or(""), "01JD@relay.gw.example");
  EXPECT_EQ(message_id("bare@id.example").value_or(""), "bare@id.example");
  EXPECT_FALSE(message_id("<unclosed@x"));
  EXPECT_FALSE(message_id("<>"));
}

TEST(TextTest, SanitizeBoundsAndCleans) {
  EXPECT_EQ(sanitize("a\tb\r\n  c\x01\xff", 100), "a b c??");
  EXPECT_EQ(sanitize("abcdefghij", 6), "abc...");
  EXPECT_EQ(sanitize(std::string(100000, 'x'), 10).size(), 10U);
}

}  // namespace
}  // namespace portcullis::abuse::mime
