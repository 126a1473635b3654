#include "gateway/core/config/values.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::config {
namespace {

using std::chrono::seconds;

TEST(ConfigValues, Durations) {
  const std::vector<std::pair<std::string, std::int64_t>> good = {
      {"30s", 30}, {"5m", 300}, {"1h", 3600}, {"5d", 432000}, {"1h30m", 5400}, {"0s", 0}};
  for (const auto& [text, value] : good) {
    auto parsed = parse_duration(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, seconds(value)) << text;
    EXPECT_EQ(format_duration(*parsed), text);
  }
  for (const char* bad :
       {"", "5", "m", "5x", "5 m", "-5m", "1.5h", "5ms", "99999999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
  EXPECT_EQ(parse_duration("5 m").error().message,
            "'5 m' is not a duration (use e.g. 30s, 5m, 1h, 5d)");
}

TEST(ConfigValues, Sizes) {
  const std::vector<std::pair<std::string, std::uint64_t>> good = {
      {"1000", 1000}, {"1K", 1024}, {"25M", 25ULL << 20}, {"2G", 2ULL << 30}, {"0", 0}};
  for (const auto& [text, value] : good) {
    auto parsed = parse_size(text);
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, value) << text;
    EXPECT_EQ(format_size(*parsed), text);
  }
  EXPECT_EQ(*parse_size("512k"), 512u * 1024);
  for (const char* bad : {"", "M", "25MB", "25 M", "-1", "1.5M", "25T"}) {
    EXPECT_FALSE(parse_size(bad)) << bad;
  }
}

TEST(ConfigValues, Endpoints) {
  const std::vector<std::pair<std::string, std::string>> good = {
      {"0.0.0.0:587", "0.0.0.0:587"},
      {"198.18.0.1:25", "198.18.0.1:25"},
      {"[::]:465", "[::]:465"},
      {"[FD00:0::1]:2525", "[fd00::1]:2525"},
      {"1.2.3.4:65535", "1.2.3.4:65535"}};
  for (const auto& [text, canonical] : good) {
    auto parsed = parse_endpoint(text);
    ASSERT_TRUE(parsed) << text << ": " << parsed.error().message;
    EXPECT_EQ(parsed->to_string(), canonical);
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"0.0.0.0:99999", "'0.0.0.0:99999' is not a valid port (1-65535)"},
      {"0.0.0.0:0", "'0.0.0.0:0' is not a valid port (1-65535)"},
      {"0.0.0.0:", "'0.0.0.0:' is not a valid port (1-65535)"},
      {"0.0.0.0:+25", "'0.0.0.0:+25' is not a valid port (1-65535)"},
      {"0.0.0.0", "'0.0.0.0' has no port (e.g. 0.0.0.0:587 or [::]:587)"},
      {"host:25", "'host:25': 'host' is not an IP address"},
      {"1.2.3:25", "'1.2.3:25': '1.2.3' is not an IP address"},
      {"::1:25", "'::1:25': an IPv6 address needs brackets, e.g. [::1]:587"},
      {"[::1:25", "'[::1:25' has no closing ']' (e.g. 0.0.0.0:587 or [::]:587)"},
      {"[1.2.3.4]:25", "'[1.2.3.4]:25': '1.2.3.4' is not an IPv6 address"},
      {"[fe80::1%eth0]:25", "'[fe80::1%eth0]:25': 'fe80::1%eth0' is not an IPv6 address"}};
  for (const auto& [text, message] : bad) {
    auto parsed = parse_endpoint(text);
    ASSERT_FALSE(parsed) << text;
    EXPECT_EQ(parsed.error().message, message);
  }
}

TEST(ConfigValues, HostNames) {
  for (const char* good : {"gw", "relay.gw.example", "relay.gw.example.", "a-b.c1", "1.example"}) {
    EXPECT_TRUE(is_host_name(good)) << good;
  }
  for (const char* bad : {"", ".", "-a", "a-", "a..b", "a b", "a_b.example", "a.-b"}) {
    EXPECT_FALSE(is_host_name(bad)) << bad;
  }
  EXPECT_FALSE(is_host_name(std::string(64, 'a')));
  EXPECT_TRUE(is_host_name(std::string(63, 'a')));
}

TEST(ConfigValues, QuoteValueEscapesAndTruncates) {
  EXPECT_EQ(quote_value("a\nb\x01"), "'a\\nb\\x01'");
  EXPECT_EQ(quote_value(std::string(100, 'x')), "'" + std::string(80, 'x') + "...'");
}

}  // namespace
}  // namespace portcullis::config
