#include "relay/smtp/data_reader.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace portcullis::relay::smtp {
namespace {

struct Outcome {
  bool done = false;
  std::size_t consumed = 0;
  DataError error = DataError::none;
  std::string message;

  bool operator==(const Outcome&) const = default;
};

void PrintTo(const Outcome& o, std::ostream* os) {
  *os << "{done=" << o.done << " consumed=" << o.consumed << " error=" << to_string(o.error)
      << " message=" << testing::PrintToString(o.message) << "}";
}

// Feeds `input` in chunks of the given sizes (the last size repeats), as the session does:
// whatever is not consumed stays at the front of its buffer.
Outcome run(std::string_view input,
            const std::vector<std::size_t>& chunks,
            std::size_t max_size = 1000,
            std::size_t max_line = 1000) {
  DataReader reader(max_size, max_line);
  Outcome out;
  std::size_t pos = 0;
  std::size_t k = 0;
  while (pos < input.size() && !reader.done()) {
    const std::size_t n = std::min(chunks[std::min(k++, chunks.size() - 1)], input.size() - pos);
    const std::size_t used = reader.feed(input.substr(pos, n));
    EXPECT_LE(used, n);
    pos += used;
    if (used < n) {
      EXPECT_TRUE(reader.done()) << "stopped early without finishing";
      break;
    }
  }
  out.done = reader.done();
  out.consumed = pos;
  out.error = reader.error();
  out.message = reader.take_message();
  return out;
}

Outcome run_whole(std::string_view input,
                  std::size_t max_size = 1000,
                  std::size_t max_line = 1000) {
  return run(input, {input.size() == 0 ? 1 : input.size()}, max_size, max_line);
}

struct Case {
  std::string name;
  std::string input;
  bool done;
  std::size_t consumed;  // npos: all of the input
  DataError error;
  std::string message;  // checked only when error == none
};

const std::vector<Case>& cases() {
  static const std::vector<Case> kCases = {
      {"simple", "hello\r\n.\r\n", true, std::string::npos, DataError::none, "hello\r\n"},
      {"empty message", ".\r\n", true, std::string::npos, DataError::none, ""},
      {"empty first line", "\r\n.\r\n", true, std::string::npos, DataError::none, "\r\n"},
      {"headers and body", "Subject: x\r\n\r\nbody\r\n.\r\n", true, std::string::npos,
       DataError::none, "Subject: x\r\n\r\nbody\r\n"},
      {"unstuff double dot", "..foo\r\n.\r\n", true, std::string::npos, DataError::none,
       ".foo\r\n"},
      {"unstuff single dot", ".foo\r\n.\r\n", true, std::string::npos, DataError::none, "foo\r\n"},
      {"stuffed lone dot", "a\r\n..\r\n.\r\n", true, std::string::npos, DataError::none,
       "a\r\n.\r\n"},
      {"dot inside line kept", "a.b\r\n.\r\n", true, std::string::npos, DataError::none, "a.b\r\n"},
      {"pipelined rest left", "x\r\n.\r\nQUIT\r\n", true, 6, DataError::none, "x\r\n"},
      {"pipelined MAIL", ".\r\nMAIL FROM:<a@b>\r\n", true, 3, DataError::none, ""},
      {"unterminated", "hello\r\n", false, std::string::npos, DataError::none, ""},
      {"dot at end waits", "hello\r\n.", false, std::string::npos, DataError::none, ""},
      {"dot CR at end waits", "hello\r\n.\r", false, std::string::npos, DataError::none, ""},
      {"bare CR before CRLF", "a\r\r\n.\r\n", true, std::string::npos, DataError::bare_cr, ""},
      {"bare LF in line", "a\nb\r\n.\r\n", true, std::string::npos, DataError::bare_lf, ""},
      {"bare CR in line", "a\rb\r\n.\r\n", true, std::string::npos, DataError::bare_cr, ""},
      {"dot bare LF at start", ".\n.\r\n", false, std::string::npos, DataError::bare_lf, ""},
      {"dot bare LF then end", ".\n\r\n.\r\nX", true, 7, DataError::bare_lf, ""},
      {"dot CR CR LF is a line", "\r\n.\r\r\n.\r\nX", true, 9, DataError::bare_cr, ""},
      {"trailing CR never ends", "a\r\n.\r\r", false, std::string::npos, DataError::bare_cr, ""},
  };
  return kCases;
}

TEST(DataReaderTest, Table) {
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Outcome o = run_whole(c.input);
    EXPECT_EQ(o.done, c.done);
    EXPECT_EQ(o.consumed, c.consumed == std::string::npos ? c.input.size() : c.consumed);
    EXPECT_EQ(o.error, c.error);
    if (c.error == DataError::none && c.done) {
      EXPECT_EQ(o.message, c.message);
    }
    if (c.error != DataError::none) {
      EXPECT_EQ(o.message, "") << "a bad message is not kept";
    }
  }
}

// The SMTP smuggling research (SEC Consult, 2023): end-of-data look-alikes that some servers
// accept. Each must be plain (bad) content, and the real CRLF.CRLF must still be found.
TEST(DataReaderTest, SmugglingVariantsDoNotEndData) {
  struct Smuggle {
    std::string sequence;
    DataError error;
  };
  const std::vector<Smuggle> variants = {
      {"\n.\n", DataError::bare_lf},         {"\n.\r\n", DataError::bare_lf},
      {"\r.\r", DataError::bare_cr},         {"\r\n.\n", DataError::bare_lf},
      {"\n.\r\r\n", DataError::bare_lf},     {"\r.\r\n", DataError::bare_cr},
      {"\r\n.\r", DataError::bare_cr},       {"\r\n.\r\r\n", DataError::bare_cr},
      {"\r\r\n.\r\r\n", DataError::bare_cr}, {"\n\n.\n\n", DataError::bare_lf},
  };
  const std::string smuggled =
      "MAIL FROM:<admin@victim.example>\r\nRCPT TO:<x@victim.example>\r\nDATA\r\n"
      "From: admin@victim.example\r\n\r\nforged\r\n";
  const std::string pipelined = "QUIT\r\n";
  for (const Smuggle& v : variants) {
    SCOPED_TRACE(testing::PrintToString(v.sequence));
    const std::string input =
        "Subject: hi\r\n\r\nfirst" + v.sequence + smuggled + ".\r\n" + pipelined;
    const Outcome whole = run_whole(input);
    EXPECT_TRUE(whole.done);
    EXPECT_EQ(whole.error, v.error);
    EXPECT_EQ(whole.consumed, input.size() - pipelined.size());
    EXPECT_EQ(run(input, {1}), whole);
  }
}

TEST(DataReaderTest, AnySplitGivesTheSameResult) {
  std::mt19937 rng(5321);
  for (const Case& c : cases()) {
    SCOPED_TRACE(c.name);
    const Outcome whole = run_whole(c.input);
    EXPECT_EQ(run(c.input, {1}), whole) << "byte by byte";
    for (std::size_t split = 1; split < c.input.size(); ++split) {
      EXPECT_EQ(run(c.input, {split, c.input.size()}), whole) << "split at " << split;
    }
    for (int round = 0; round < 20; ++round) {
      std::vector<std::size_t> chunks;
      for (int i = 0; i < 16; ++i) {
        chunks.push_back(std::uniform_int_distribution<std::size_t>(1, 7)(rng));
      }
      EXPECT_EQ(run(c.input, chunks), whole);
    }
  }
}

TEST(DataReaderTest, Limits) {
  struct Limit {
    std::string name;
    std::string input;
    std::size_t max_size;
    std::size_t max_line;
    DataError error;
  };
  const std::vector<Limit> limits = {
      {"size exactly at limit", "01234567\r\n.\r\n", 10, 1000, DataError::none},
      {"size one over", "012345678\r\n.\r\n", 10, 1000, DataError::too_big},
      {"size over across lines", "01234\r\n01234\r\n.\r\n", 10, 1000, DataError::too_big},
      {"stuffing dot not counted in size", "..234567\r\n.\r\n", 10, 1000, DataError::none},
      {"line exactly at limit", "12345678\r\n.\r\n", 1000, 10, DataError::none},
      {"line one over", "123456789\r\n.\r\n", 1000, 10, DataError::line_too_long},
      {"stuffing dot not counted in line", "..2345678\r\n.\r\n", 1000, 10, DataError::none},
      {"long line later", "1\r\n1234567890123\r\n.\r\n", 1000, 10, DataError::line_too_long},
      {"first error wins", "1234567890123\r\n1234567890\r\n.\r\n", 20, 10,
       DataError::line_too_long},
  };
  for (const Limit& l : limits) {
    SCOPED_TRACE(l.name);
    const Outcome whole = run_whole(l.input, l.max_size, l.max_line);
    EXPECT_TRUE(whole.done);
    EXPECT_EQ(whole.consumed, l.input.size());
    EXPECT_EQ(whole.error, l.error);
    EXPECT_EQ(run(l.input, {1}, l.max_size, l.max_line), whole);
  }
}

TEST(DataReaderTest, TooBigKeepsCountingWithBoundedMemory) {
  DataReader reader(100, 1000);
  const std::string line(98, 'x');
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(reader.feed(line + "\r\n"), line.size() + 2);
  }
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.error(), DataError::too_big);
  EXPECT_EQ(reader.size(), 100'000u);
  EXPECT_EQ(reader.feed(".\r\nRSET\r\n"), 3u);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.take_message(), "");
}

TEST(DataReaderTest, ConsumesNothingOnceDone) {
  DataReader reader(1000, 1000);
  EXPECT_EQ(reader.feed("a\r\n.\r"), 5u);
  EXPECT_FALSE(reader.done());
  EXPECT_EQ(reader.feed("\nNOOP\r\n"), 1u);
  EXPECT_TRUE(reader.done());
  EXPECT_EQ(reader.feed("NOOP\r\n"), 0u);
  EXPECT_EQ(reader.error(), DataError::none);
  EXPECT_EQ(reader.take_message(), "a\r\n");
}

TEST(DataReaderTest, LargeMessageInBigChunks) {
  std::string body;
  for (int i = 0; i < 10000; ++i) {
    body += (i % 7 == 0 ? "." : "") + std::string(70, static_cast<char>('a' + i % 26)) + "\r\n";
  }
  std::string wire;
  std::string expected;
  for (std::size_t pos = 0; pos < body.size();) {
    const std::size_t end = body.find("\r\n", pos) + 2;
    const std::string line = body.substr(pos, end - pos);
    wire += (line[0] == '.' ? "." : "") + line;
    expected += line;
    pos = end;
  }
  wire += ".\r\n";
  const Outcome o = run(wire, {4096, 65536, 13}, 10'000'000);
  EXPECT_TRUE(o.done);
  EXPECT_EQ(o.error, DataError::none);
  EXPECT_EQ(o.message, expected);
}

// Differential check against an obviously correct reference: the data ends at the first
// "\r\n.\r\n" in "\r\n" + input (the DATA command's CRLF stands in front), the content is bad
// iff it has a CR not followed by LF or an LF not preceded by CR, and otherwise the message is
// its lines with one leading dot removed.
TEST(DataReaderTest, MatchesReferenceOnRandomInput) {
  std::mt19937 rng(3030);
  const std::string alphabet = "\r\n.a";
  for (int round = 0; round < 20000; ++round) {
    std::string input;
    const std::size_t n = std::uniform_int_distribution<std::size_t>(0, 24)(rng);
    for (std::size_t i = 0; i < n; ++i) {
      input.push_back(alphabet[std::uniform_int_distribution<std::size_t>(0, 3)(rng)]);
    }
    SCOPED_TRACE(testing::PrintToString(input));
    const std::size_t end = ("\r\n" + input).find("\r\n.\r\n");
    const Outcome o = run_whole(input);
    EXPECT_EQ(o.done, end != std::string::npos);
    if (end == std::string::npos) {
      EXPECT_EQ(o.consumed, input.size());
      continue;
    }
    EXPECT_EQ(o.consumed, end + 3);
    const std::string content = input.substr(0, end);  // up to, with, the CRLF before ".\r\n"
    bool bare = false;
    for (std::size_t i = 0; i < content.size(); ++i) {
      bare = bare || (content[i] == '\r' && (i + 1 >= content.size() || content[i + 1] != '\n'));
      bare = bare || (content[i] == '\n' && (i == 0 || content[i - 1] != '\r'));
    }
    EXPECT_EQ(o.error != DataError::none, bare);
    if (!bare) {
      std::string expected;
      for (std::size_t pos = 0; pos < content.size();) {
        const std::size_t eol = content.find("\r\n", pos) + 2;
        const std::string line = content.substr(pos, eol - pos);
        expected += line[0] == '.' ? line.substr(1) : line;
        pos = eol;
      }
      EXPECT_EQ(o.message, expected);
    }
    EXPECT_EQ(run(input, {1}), o);
  }
}

}  // namespace
}  // namespace portcullis::relay::smtp
