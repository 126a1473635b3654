#include "relay/smtp/command.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <vector>

namespace portcullis::relay::smtp {
namespace {

using Kind = CommandError::Kind;

TEST(CommandTest, ParseCommand) {
  struct Case {
    std::string line;
    Verb verb;
    std::string name;
    std::string argument;
  };
  const std::vector<Case> cases = {
      {"MAIL FROM:<a@b.example>", Verb::mail, "MAIL", "FROM:<a@b.example>"},
      {"mail from:<a@b.example>", Verb::mail, "mail", "from:<a@b.example>"},
      {"ehlo  client.example \t", Verb::ehlo, "ehlo", "client.example"},
      {"HELO client.example", Verb::helo, "HELO", "client.example"},
      {"QUIT", Verb::quit, "QUIT", ""},
      {"StartTLS", Verb::starttls, "StartTLS", ""},
      {"AUTH PLAIN AHUAcA==", Verb::auth, "AUTH", "PLAIN AHUAcA=="},
      {"BDAT 100 LAST", Verb::bdat, "BDAT", "100 LAST"},
      {"DATA", Verb::data, "DATA", ""},
      {"RCPT TO:<x@y.example>", Verb::rcpt, "RCPT", "TO:<x@y.example>"},
      {"RSET", Verb::rset, "RSET", ""},
      {"NOOP anything", Verb::noop, "NOOP", "anything"},
      {"VRFY x", Verb::vrfy, "VRFY", "x"},
      {"EXPN x", Verb::expn, "EXPN", "x"},
      {"HELP", Verb::help, "HELP", ""},
      {"XYZZY foo", Verb::unknown, "XYZZY", "foo"},
      {"MAILFROM:<a@b>", Verb::unknown, "MAILFROM:<a@b>", ""},
      {"", Verb::unknown, "", ""},
      {"GET / HTTP/1.1", Verb::unknown, "GET", "/ HTTP/1.1"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    const Command cmd = parse_command(c.line);
    EXPECT_EQ(cmd.verb, c.verb);
    EXPECT_EQ(cmd.name, c.name);
    EXPECT_EQ(cmd.argument, c.argument);
  }
  EXPECT_EQ(to_string(Verb::starttls), "STARTTLS");
  EXPECT_EQ(to_string(Verb::unknown), "UNKNOWN");
}

struct MailCase {
  std::string argument;
  std::string address;  // expected on success
  bool null_path = false;
  std::optional<std::uint64_t> size = std::nullopt;
  BodyType body = BodyType::unspecified;
  bool smtputf8 = false;
  bool non_ascii = false;
};

TEST(CommandTest, MailFromAccepted) {
  const std::vector<MailCase> cases = {
      {"FROM:<user@example.org>", "user@example.org"},
      {"from:<user@example.org>", "user@example.org"},
      {"FROM: <user@example.org>", "user@example.org"},
      {"FROM:<>", "", true},
      {"FROM:<> SIZE=100", "", true, 100},
      {"FROM:<@relay.example,@b.example:user@example.org>", "user@example.org"},
      {"FROM:<@relay.example:user@example.org>", "user@example.org"},
      {"FROM:<\"john doe\"@example.org>", "\"john doe\"@example.org"},
      {"FROM:<\"a\\\"b@c\"@example.org>", "\"a\\\"b@c\"@example.org"},
      {"FROM:<\"a>b\"@example.org>", "\"a>b\"@example.org"},
      {"FROM:<\"\"@example.org>", "\"\"@example.org"},
      {"FROM:<user@[198.18.0.1]>", "user@[198.18.0.1]"},
      {"FROM:<user@[IPv6:fd00::1]>", "user@[IPv6:fd00::1]"},
      {"FROM:<user@[ipv6:fd00:0:0:0:0:0:0:1]>", "user@[ipv6:fd00:0:0:0:0:0:0:1]"},
      {"FROM:<user@[IPv6:::ffff:198.18.0.1]>", "user@[IPv6:::ffff:198.18.0.1]"},
      {"FROM:<user@[IPv6:::]>", "user@[IPv6:::]"},
      {"FROM:<user@localhost>", "user@localhost"},
      {"FROM:<a.b+tag@sub-1.example.org> BODY=8BITMIME SIZE=12345", "a.b+tag@sub-1.example.org",
       false, 12345, BodyType::eight_bit_mime},
      {"FROM:<a!#$%&'*+-/=?^_`{|}~@example.org>", "a!#$%&'*+-/=?^_`{|}~@example.org"},
      {"FROM:<a@b.example> body=7bit", "a@b.example", false, std::nullopt, BodyType::seven_bit},
      {"FROM:<a@b.example> AUTH=<>", "a@b.example"},
      {"FROM:<a@b.example> AUTH=user+40example.org", "a@b.example"},
      {"FROM:<a@b.example>  SIZE=1 ", "a@b.example", false, 1},
      {"FROM:<a@b.example> SIZE=99999999999999999999999", "a@b.example", false,
       std::numeric_limits<std::uint64_t>::max()},
      {"FROM:<a@b.example> SIZE=18446744073709551615", "a@b.example", false,
       std::numeric_limits<std::uint64_t>::max()},
      {"FROM:<\xc3\xbcser@b\xc3\xa4r.example> SMTPUTF8", "\xc3\xbcser@b\xc3\xa4r.example", false,
       std::nullopt, BodyType::unspecified, true, true},
      {"FROM:<user@example.org> smtputf8", "user@example.org", false, std::nullopt,
       BodyType::unspecified, true, false},
      {"FROM:<" + std::string(64, 'l') + "@example.org>", std::string(64, 'l') + "@example.org"},
      {"FROM:<" + std::string(64, 'l') + "@" + std::string(63, 'd') + "." + std::string(63, 'd') +
           "." + std::string(61, 'd') + ">",  // exactly 256 octets
       std::string(64, 'l') + "@" + std::string(63, 'd') + "." + std::string(63, 'd') + "." +
           std::string(61, 'd')},
  };
  for (const MailCase& c : cases) {
    SCOPED_TRACE(c.argument);
    const auto r = parse_mail_from(c.argument);
    ASSERT_TRUE(r) << r.error().reply();
    EXPECT_EQ(r->path.address, c.address);
    EXPECT_EQ(r->null_path, c.null_path);
    EXPECT_EQ(r->size, c.size);
    EXPECT_EQ(r->body, c.body);
    EXPECT_EQ(r->smtputf8, c.smtputf8);
    EXPECT_EQ(r->path.non_ascii, c.non_ascii);
  }
}

TEST(CommandTest, MailFromParts) {
  const auto r = parse_mail_from("FROM:<\"x y\"@[198.18.0.1]>");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->path.local_part, "\"x y\"");
  EXPECT_EQ(r->path.domain, "[198.18.0.1]");
}

struct ErrorCase {
  std::string argument;
  Kind kind;
  std::string reply_prefix;  // "501 5.5.4"
};

TEST(CommandTest, MailFromRejected) {
  const std::vector<ErrorCase> cases = {
      {"<a@b.example>", Kind::syntax, "501 5.5.4"},
      {"FROM:a@b.example", Kind::syntax, "501 5.5.4"},
      {"FROM:", Kind::syntax, "501 5.5.4"},
      {"", Kind::syntax, "501 5.5.4"},
      {"FROM <a@b.example>", Kind::syntax, "501 5.5.4"},
      {"FROM:<a@b.example>x", Kind::syntax, "501 5.5.4"},
      {"FROM:<a@b.example", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<postmaster>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<@b.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<@b.example,:a@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<@-b:a@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a..b@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<.a@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a.@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a b@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a(b)@c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@-b.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@b-.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@b..example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@b.example.>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@b_c.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@" + std::string(64, 'd') + ".example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[198.18.0.256]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[1.2.3]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[1.2.3.4.5]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[1.2.3.4>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[IPv6:fd00:::1]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[IPv6:1:2:3:4:5:6:7:8:9]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[IPv6:1:2:3:4:5:6:7]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[IPv6:fd00::1::2]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[IPv6:12345::1]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[IPv6:fd00::1:]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[fd00::1]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@[x-tag:stuff]>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<\"unterminated@b.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<\"a\rb\"@b.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a\x01@b.example>", Kind::bad_address, "553 5.1.7"},
      {"FROM:<" + std::string(65, 'l') + "@example.org>", Kind::path_too_long, "501 5.1.7"},
      {"FROM:<" + std::string(64, 'l') + "@" + std::string(63, 'd') + "." + std::string(63, 'd') +
           "." + std::string(62, 'd') + ">",  // 257 octets
       Kind::path_too_long, "501 5.1.7"},
      {"FROM:<\xc3\xbcser@example.org>", Kind::non_ascii, "553 5.6.7"},
      {"FROM:<user@b\xc3\xa4r.example>", Kind::non_ascii, "553 5.6.7"},
      {"FROM:<\xff@example.org> SMTPUTF8", Kind::bad_address, "553 5.1.7"},
      {"FROM:<\xc0\xaf@example.org> SMTPUTF8", Kind::bad_address, "553 5.1.7"},
      {"FROM:<a@b.example> SIZE=abc", Kind::bad_param_value, "501 5.5.4"},
      {"FROM:<a@b.example> SIZE=-1", Kind::bad_param_value, "501 5.5.4"},
      {"FROM:<a@b.example> SIZE", Kind::bad_param_value, "501 5.5.4"},
      {"FROM:<a@b.example> SIZE=", Kind::syntax, "501 5.5.4"},
      {"FROM:<a@b.example> =1", Kind::syntax, "501 5.5.4"},
      {"FROM:<a@b.example> SIZE=1 size=2", Kind::duplicate_param, "501 5.5.4"},
      {"FROM:<a@b.example> BODY=7BIT BODY=7BIT", Kind::duplicate_param, "501 5.5.4"},
      {"FROM:<a@b.example> SMTPUTF8 SMTPUTF8", Kind::duplicate_param, "501 5.5.4"},
      {"FROM:<a@b.example> AUTH=<> AUTH=<>", Kind::duplicate_param, "501 5.5.4"},
      {"FROM:<a@b.example> BODY=BINARYMIME", Kind::bad_param_value, "555 5.5.4"},
      {"FROM:<a@b.example> BODY", Kind::bad_param_value, "501 5.5.4"},
      {"FROM:<a@b.example> SMTPUTF8=yes", Kind::bad_param_value, "501 5.5.4"},
      {"FROM:<a@b.example> AUTH", Kind::bad_param_value, "501 5.5.4"},
      {"FROM:<a@b.example> RET=FULL", Kind::unknown_param, "555 5.5.4"},
      {"FROM:<a@b.example> ENVID=x", Kind::unknown_param, "555 5.5.4"},
      {"FROM:<a@b.example> X-FOO", Kind::unknown_param, "555 5.5.4"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.argument);
    const auto r = parse_mail_from(c.argument);
    ASSERT_FALSE(r) << r->path.address;
    EXPECT_EQ(r.error().kind, c.kind) << r.error().reply();
    EXPECT_EQ(r.error().reply().substr(0, c.reply_prefix.size()), c.reply_prefix)
        << r.error().reply();
  }
}

TEST(CommandTest, ErrorReplyIsComplete) {
  const auto r = parse_mail_from("FROM:a@b");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reply(), "501 5.5.4 Syntax: MAIL FROM:<address> [parameters]");
  const auto u = parse_mail_from("FROM:<a@b> RET=HDRS");
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().reply(), "555 5.5.4 Unsupported MAIL parameter RET");
  EXPECT_THROW((void)u.value(), std::runtime_error);
}

TEST(CommandTest, RcptTo) {
  struct Case {
    std::string argument;
    bool smtputf8;
    std::string address;
    bool postmaster;
  };
  const std::vector<Case> accepted = {
      {"TO:<a@b.example>", false, "a@b.example", false},
      {"to: <a@b.example>", false, "a@b.example", false},
      {"TO:<a@b.example> ", false, "a@b.example", false},
      {"TO:<Postmaster>", false, "Postmaster", true},
      {"TO:<postmaster@b.example>", false, "postmaster@b.example", false},
      {"TO:<@x.example:a@b.example>", false, "a@b.example", false},
      {"TO:<\xc3\xbc@b.example>", true, "\xc3\xbc@b.example", false},
  };
  for (const Case& c : accepted) {
    SCOPED_TRACE(c.argument);
    const auto r = parse_rcpt_to(c.argument, c.smtputf8);
    ASSERT_TRUE(r) << r.error().reply();
    EXPECT_EQ(r->path.address, c.address);
    EXPECT_EQ(r->postmaster, c.postmaster);
  }
  struct Bad {
    std::string argument;
    bool smtputf8;
    Kind kind;
    std::string reply_prefix;
  };
  const std::vector<Bad> rejected = {
      {"FROM:<a@b.example>", false, Kind::syntax, "501 5.5.4 Syntax: RCPT TO:<address>"},
      {"TO:a@b.example", false, Kind::syntax, "501 5.5.4"},
      {"TO:<a@b.example>x", false, Kind::syntax, "501 5.5.4"},
      {"TO:<>", false, Kind::bad_address, "553 5.1.3"},
      {"TO:<a@b..example>", false, Kind::bad_address, "553 5.1.3"},
      {"TO:<a>", false, Kind::bad_address, "553 5.1.3"},
      {"TO:<" + std::string(65, 'x') + "@b.example>", false, Kind::path_too_long, "501 5.1.3"},
      {"TO:<a@b.example> NOTIFY=NEVER", false, Kind::unknown_param,
       "555 5.5.4 Unsupported RCPT parameter NOTIFY"},
      {"TO:<a@b.example> ORCPT=rfc822;a@b.example", false, Kind::unknown_param, "555 5.5.4"},
      {"TO:<\xc3\xbc@b.example>", false, Kind::non_ascii, "553 5.6.7"},
  };
  for (const Bad& c : rejected) {
    SCOPED_TRACE(c.argument);
    const auto r = parse_rcpt_to(c.argument, c.smtputf8);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, c.kind) << r.error().reply();
    EXPECT_EQ(r.error().reply().substr(0, c.reply_prefix.size()), c.reply_prefix)
        << r.error().reply();
  }
}

TEST(CommandTest, Bdat) {
  struct Case {
    std::string argument;
    bool ok;
    std::uint64_t size;
    bool last;
  };
  const std::vector<Case> cases = {
      {"100", true, 100, false},
      {"100 LAST", true, 100, true},
      {"0 last", true, 0, true},
      {" 7  LAST ", true, 7, true},
      {"18446744073709551615", true, std::numeric_limits<std::uint64_t>::max(), false},
      {"18446744073709551616", false, 0, false},
      {"000000000000000000001", false, 0, false},
      {"", false, 0, false},
      {"x", false, 0, false},
      {"-1", false, 0, false},
      {"+1", false, 0, false},
      {"1 FIRST", false, 0, false},
      {"1 LAST extra", false, 0, false},
      {"LAST", false, 0, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.argument);
    const auto r = parse_bdat(c.argument);
    ASSERT_EQ(r.has_value(), c.ok);
    if (c.ok) {
      EXPECT_EQ(r->size, c.size);
      EXPECT_EQ(r->last, c.last);
    } else {
      EXPECT_EQ(r.error().reply(), "501 5.5.4 Syntax: BDAT size [LAST]");
    }
  }
}

TEST(CommandTest, Utf8Validation) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", true},
      {"plain", true},
      {"\xc3\xbc", true},
      {"\xe2\x82\xac", true},
      {"\xf0\x9f\x98\x80", true},
      {"\xc3", false},
      {"\xc0\xaf", false},          // overlong "/"
      {"\xe0\x80\xaf", false},      // overlong
      {"\xed\xa0\x80", false},      // surrogate
      {"\xf4\x90\x80\x80", false},  // above U+10FFFF
      {"\xff", false},
      {"\x80", false},
      {"\xe2\x82", false},
  };
  for (const auto& [text, valid] : cases) {
    EXPECT_EQ(is_valid_utf8(text), valid) << testing::PrintToString(text);
  }
}

}  // namespace
}  // namespace portcullis::relay::smtp
