#include "gateway/core/store/csv.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::store {
namespace {

using Fields = std::vector<std::string>;

std::vector<Fields> fields_of(std::string_view text) {
  auto records = parse_csv(text);
  EXPECT_TRUE(records.has_value()) << (records ? "" : records.error().message);
  std::vector<Fields> out;
  if (records) {
    for (auto& r : *records) {
      out.push_back(r.fields);
    }
  }
  return out;
}

std::string error_of(std::string_view text) {
  auto records = parse_csv(text);
  return records ? "<parsed>" : records.error().message;
}

TEST(Csv, PlainRecordsWithLfOrCrlf) {
  EXPECT_EQ(fields_of("a,b,c\n1,2,3\n"), (std::vector<Fields>{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ(fields_of("a,b\r\n1,2\r\n"), (std::vector<Fields>{{"a", "b"}, {"1", "2"}}));
  EXPECT_EQ(fields_of("a,b\n1,2"), (std::vector<Fields>{{"a", "b"}, {"1", "2"}}));  // no final EOL
  EXPECT_EQ(fields_of("a,,\n"), (std::vector<Fields>{{"a", "", ""}}));
  EXPECT_TRUE(fields_of("").empty());
}

TEST(Csv, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  EXPECT_EQ(fields_of("\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n"),
            (std::vector<Fields>{{"a,b", "say \"hi\"", "two\nlines"}}));
  EXPECT_EQ(fields_of("\"\",x\n"), (std::vector<Fields>{{"", "x"}}));
}

TEST(Csv, BlankLinesAndByteOrderMarkAreSkipped) {
  EXPECT_EQ(fields_of("\xef\xbb\xbf"
                      "a\n\n\r\nb\n\n"),
            (std::vector<Fields>{{"a"}, {"b"}}));
}

TEST(Csv, RecordsKnowTheLineTheyStartOn) {
  auto records = parse_csv("h\n\"multi\nline\"\n\nlast\n").value();
  ASSERT_EQ(records.size(), 3U);
  EXPECT_EQ(records[0].line, 1U);
  EXPECT_EQ(records[1].line, 2U);
  EXPECT_EQ(records[2].line, 5U);
}

TEST(Csv, MalformedInputNamesTheLine) {
  EXPECT_EQ(error_of("a\nb\n\"open,x\ny\n"), "line 3: unterminated quoted field");
  EXPECT_EQ(error_of("a\n\"x\"y,z\n"), "line 2: text after the closing quote of a field");
  EXPECT_EQ(error_of("a\nb\nc\"d\n"),
            "line 3: a quote inside an unquoted field (quote the field, double the quote)");
}

TEST(Csv, FieldsAreQuotedOnlyWhenTheyMustBe) {
  EXPECT_EQ(csv_field("plain text"), "plain text");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("x\ny"), "\"x\ny\"");
  const std::vector<std::string> tricky = {"a,b", "\"", "", "x\r\ny", "plain"};
  std::string line;
  for (const auto& f : tricky) {
    line += (line.empty() ? "" : ",") + csv_field(f);
  }
  EXPECT_EQ(fields_of(line + "\n"), (std::vector<Fields>{tricky}));
}

}  // namespace
}  // namespace portcullis::store
