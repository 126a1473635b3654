#include "relay/dkim/canonicalization.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::relay::dkim {
namespace {

// RFC 6376 3.4.5, relaxed/relaxed.
TEST(DkimCanonicalization, Rfc6376Example) {
  const std::string message =
      "A: X\r\n"
      "B : Y\t\r\n"
      "\tZ  \r\n"
      "\r\n"
      " C \r\n"
      "D \t E\r\n"
      "\r\n"
      "\r\n";
  const auto parts = split_message(message);
  ASSERT_EQ(parts.fields.size(), 2u);
  EXPECT_EQ(parts.fields[0].name, "A");
  EXPECT_EQ(parts.fields[1].name, "B");
  EXPECT_EQ(parts.fields[1].raw, "B : Y\t\r\n\tZ  \r\n");
  EXPECT_EQ(relaxed_header(parts.fields[0].raw), "a:X\r\n");
  EXPECT_EQ(relaxed_header(parts.fields[1].raw), "b:Y Z\r\n");
  EXPECT_EQ(relaxed_body(parts.body), " C\r\nD E\r\n");
}

struct BodyCase {
  std::string name;
  std::string body;
  std::string canonical;
};

TEST(DkimCanonicalization, BodyCases) {
  const std::vector<BodyCase> cases = {
      // Relaxed (unlike simple) canonicalises an empty body to nothing (3.4.4).
      {"empty", "", ""},
      {"only empty lines", "\r\n\r\n\r\n", ""},
      {"only whitespace lines", "  \r\n\t\r\n", ""},
      {"one line", "hi\r\n", "hi\r\n"},
      {"trailing empty lines removed", "hi\r\n\r\n\r\n", "hi\r\n"},
      {"inner empty lines kept", "a\r\n\r\n\r\nb\r\n", "a\r\n\r\n\r\nb\r\n"},
      {"whitespace-only inner lines become empty", "a\r\n \t \r\nb\r\n", "a\r\n\r\nb\r\n"},
      {"trailing whitespace removed", "a  \t\r\n", "a\r\n"},
      {"WSP runs compressed", "a \t\t  b\tc\r\n", "a b c\r\n"},
      {"leading WSP compressed, kept", "\t\tx\r\n", " x\r\n"},
      {"missing final CRLF added", "a\r\nb", "a\r\nb\r\n"},
      {"lone CR and LF are content", "a\rb\nc\r\n", "a\rb\nc\r\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(relaxed_body(c.body), c.canonical) << c.name;
  }
}

TEST(DkimCanonicalization, BodySinkGetsTheSameBytes) {
  const std::string body = "a  \r\n\r\n b\r\n\r\n";
  std::string joined;
  relaxed_body(body, [&](std::string_view piece) { joined += piece; });
  EXPECT_EQ(joined, relaxed_body(body));
  EXPECT_EQ(joined, "a\r\n\r\n b\r\n");
}

struct HeaderCase {
  std::string raw;
  std::string canonical;
};

TEST(DkimCanonicalization, HeaderCases) {
  const std::vector<HeaderCase> cases = {
      {"Subject: Hello\r\n", "subject:Hello\r\n"},
      {"SUBJECT:Hello\r\n", "subject:Hello\r\n"},
      {"Subject \t: \t Hello  World \t\r\n", "subject:Hello World\r\n"},
      {"To: a@example.org,\r\n  b@example.org\r\n", "to:a@example.org, b@example.org\r\n"},
      {"Subject: folded\r\n\tonce\r\n\t twice \r\n", "subject:folded once twice\r\n"},
      {"X-Empty:\r\n", "x-empty:\r\n"},
      {"X-Empty:   \r\n", "x-empty:\r\n"},
      {"X-Fold-Only:\r\n \r\n", "x-fold-only:\r\n"},
      {"Message-ID: <a@b>", "message-id:<a@b>\r\n"},  // last line without CRLF
  };
  for (const auto& c : cases) {
    EXPECT_EQ(relaxed_header(c.raw), c.canonical) << c.raw;
  }
}

TEST(DkimCanonicalization, SplitFindsTheBody) {
  auto parts = split_message("From: a@b.example\r\nTo: c@d.example\r\n\r\nbody\r\n");
  ASSERT_EQ(parts.fields.size(), 2u);
  EXPECT_EQ(parts.body, "body\r\n");

  // No body at all.
  parts = split_message("From: a@b.example\r\n\r\n");
  EXPECT_EQ(parts.fields.size(), 1u);
  EXPECT_EQ(parts.body, "");
  parts = split_message("From: a@b.example\r\n");
  EXPECT_EQ(parts.fields.size(), 1u);
  EXPECT_EQ(parts.body, "");

  // A line that is no header field ends the section without an empty line.
  parts = split_message("From: a@b.example\r\nnot a header\r\nmore\r\n");
  ASSERT_EQ(parts.fields.size(), 1u);
  EXPECT_EQ(parts.body, "not a header\r\nmore\r\n");

  // The empty line after the headers is the separator; later ones are body.
  parts = split_message("Subject: x\r\n\r\n\r\nbody\r\n");
  EXPECT_EQ(parts.body, "\r\nbody\r\n");

  // A leading continuation line cannot belong to any field.
  parts = split_message(" stray\r\nFrom: a@b.example\r\n\r\n");
  EXPECT_TRUE(parts.fields.empty());
}

TEST(DkimCanonicalization, NamesCompareCaseInsensitively) {
  EXPECT_TRUE(iequals("Message-ID", "message-id"));
  EXPECT_FALSE(iequals("Message-ID", "message-ie"));
  EXPECT_FALSE(iequals("From", "From "));
}

}  // namespace
}  // namespace portcullis::relay::dkim
