#include "relay/delivery/dot_stuffing.hpp"

#include <gtest/gtest.h>

namespace portcullis::relay::delivery {
namespace {

TEST(DotStuffingTest, Cases) {
  struct Case {
    std::string in;
    std::string out;
  };
  const Case cases[] = {
      {"", ".\r\n"},
      {"a\r\n", "a\r\n.\r\n"},
      {"a", "a\r\n.\r\n"},
      {".\r\n", "..\r\n.\r\n"},
      {".a\r\nb.\r\n..c\r\n", "..a\r\nb.\r\n...c\r\n.\r\n"},
      {"a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
      // Bare line ends become CRLF, so "\n.\n" cannot end the data anywhere.
      {"a\n.\nb\r\n", "a\r\n..\r\nb\r\n.\r\n"},
      {"a\r.\rb", "a\r\n..\r\nb\r\n.\r\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(dot_stuff(c.in), c.out) << c.in;
  }
}

}  // namespace
}  // namespace portcullis::relay::delivery
