#include "relay/smtp/bdat_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::relay::smtp {
namespace {

struct Case {
  std::string name;
  std::vector<std::string> chunks;
  std::size_t max_size;
  std::size_t max_line;
  DataError error;
  std::string message;  // checked only when error == none
};

TEST(BdatReaderTest, Table) {
  const std::vector<Case> cases = {
      {"one chunk",
       {"Subject: x\r\n\r\nbody\r\n"},
       1000,
       1000,
       DataError::none,
       "Subject: x\r\n\r\nbody\r\n"},
      {"two chunks",
       {"Subject: x\r\n", "\r\nbody\r\n"},
       1000,
       1000,
       DataError::none,
       "Subject: x\r\n\r\nbody\r\n"},
      {"CRLF split across chunks", {"a\r", "\nb\r\n"}, 1000, 1000, DataError::none, "a\r\nb\r\n"},
      {"empty chunks", {"", "a\r\n", ""}, 1000, 1000, DataError::none, "a\r\n"},
      {"empty message", {}, 1000, 1000, DataError::none, ""},
      {"no dot-unstuffing", {"..x\r\n.\r\n"}, 1000, 1000, DataError::none, "..x\r\n.\r\n"},
      {"missing final CRLF added", {"abc"}, 1000, 1000, DataError::none, "abc\r\n"},
      {"bare LF", {"a\nb\r\n"}, 1000, 1000, DataError::bare_lf, ""},
      {"smuggling LF.LF",
       {"a\r\n", "\n.\n", "MAIL FROM:<x@y>\r\n"},
       1000,
       1000,
       DataError::bare_lf,
       ""},
      {"bare CR mid-line", {"a\rb\r\n"}, 1000, 1000, DataError::bare_cr, ""},
      {"CR then other octet across chunks", {"a\r", "b\r\n"}, 1000, 1000, DataError::bare_cr, ""},
      {"CR at end of last chunk", {"a\r\nb\r"}, 1000, 1000, DataError::bare_cr, ""},
      {"size at limit", {"12345", "123\r\n"}, 10, 1000, DataError::none, "12345123\r\n"},
      {"size across chunks", {"12345\r\n", "123\r\n"}, 10, 1000, DataError::too_big, ""},
      {"added CRLF counts", {"123456789"}, 10, 1000, DataError::too_big, ""},
      {"line at limit across chunks",
       {"1234", "5678\r\n"},
       1000,
       10,
       DataError::none,
       "12345678\r\n"},
      {"line too long across chunks",
       {"12345", "6789\r\n"},
       1000,
       10,
       DataError::line_too_long,
       ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    BdatReader reader(c.max_size, c.max_line);
    std::size_t total = 0;
    for (const std::string& chunk : c.chunks) {
      reader.add(chunk);
      total += chunk.size();
    }
    reader.finish();
    EXPECT_EQ(reader.error(), c.error);
    EXPECT_GE(reader.size(), total);
    const std::string message = reader.take_message();
    EXPECT_EQ(message, c.error == DataError::none ? c.message : "");

    // Byte by byte gives the same result.
    BdatReader bytes(c.max_size, c.max_line);
    for (const std::string& chunk : c.chunks) {
      for (char ch : chunk) {
        bytes.add(std::string_view(&ch, 1));
      }
    }
    bytes.finish();
    EXPECT_EQ(bytes.error(), c.error);
    EXPECT_EQ(bytes.take_message(), message);
  }
}

TEST(BdatReaderTest, KeepsCountingAfterError) {
  BdatReader reader(10, 1000);
  reader.add(std::string(1'000'000, 'x'));
  EXPECT_EQ(reader.error(), DataError::line_too_long);
  EXPECT_EQ(reader.size(), 1'000'000u);
  reader.finish();
  EXPECT_EQ(reader.take_message(), "");
}

}  // namespace
}  // namespace portcullis::relay::smtp
