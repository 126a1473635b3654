#include "gateway/core/net/prefix.hpp"

#include <gtest/gtest.h>

#include <string>

namespace portcullis::net {
namespace {

using boost::asio::ip::make_address;

struct ParseCase {
  std::string input;
  std::string canonical;  // to_string() of the result, "" when an error is expected
  std::string error;
};

TEST(PrefixTest, ParseTable) {
  const ParseCase cases[] = {
      {"198.18.0.0/24", "198.18.0.0/24", ""},
      {"198.18.0.0/15", "198.18.0.0/15", ""},
      {"198.18.0.7", "198.18.0.7/32", ""},
      {"0.0.0.0/0", "0.0.0.0/0", ""},
      {"198.18.0.1/32", "198.18.0.1/32", ""},
      {"fd00:1::/64", "fd00:1::/64", ""},
      {"FD00:1::/64", "fd00:1::/64", ""},
      {"fd00::1", "fd00::1/128", ""},
      {"::/0", "::/0", ""},
      {"::ffff:198.18.0.0/120", "198.18.0.0/24", ""},
      {"198.18.0.5/24", "", "'198.18.0.5/24' has host bits set; the network is 198.18.0.0/24"},
      {"fd00:1::1/64", "", "'fd00:1::1/64' has host bits set; the network is fd00:1::/64"},
      {"300.1.1.1/8", "", "'300.1.1.1/8' is not an IP address"},
      {"198.18.0.0/33", "", "prefix length 33 is too long for IPv4"},
      {"fd00::/129", "", "prefix length 129 is too long for IPv6"},
      {"198.18.0.0/", "",
       "'198.18.0.0/' has an invalid prefix length; expected a number after '/'"},
      {"198.18.0.0/-1", "",
       "'198.18.0.0/-1' has an invalid prefix length; expected a number after '/'"},
      {"198.18.0.0/+8", "",
       "'198.18.0.0/+8' has an invalid prefix length; expected a number after '/'"},
      {"198.18.0.0/0024", "",
       "'198.18.0.0/0024' has an invalid prefix length; expected a number after '/'"},
      {"198.18.0.0/24/1", "",
       "'198.18.0.0/24/1' has an invalid prefix length; expected a number after '/'"},
      {"198.18.0/24", "", "'198.18.0/24' is not an IP address"},
      {" 198.18.0.0/24", "", "' 198.18.0.0/24' is not an IP address"},
      {"fe80::1%eth0", "", "'fe80::1%eth0' is not an IP address"},
      {"/24", "", "'/24' is not an IP address"},
      {"example.org/24", "", "'example.org/24' is not an IP address"},
      {"", "", "an empty string is not a network prefix"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.input);
    const auto parsed = Prefix::parse(c.input);
    if (c.error.empty()) {
      ASSERT_TRUE(parsed.has_value()) << parsed.error().message;
      EXPECT_EQ(parsed->to_string(), c.canonical);
    } else {
      ASSERT_FALSE(parsed.has_value()) << parsed->to_string();
      EXPECT_EQ(parsed.error().message, c.error);
    }
  }
}

struct ContainsCase {
  std::string prefix;
  std::string address;
  bool contained;
};

TEST(PrefixTest, ContainsTable) {
  const ContainsCase cases[] = {
      {"198.18.0.0/24", "198.18.0.0", true},
      {"198.18.0.0/24", "198.18.0.255", true},
      {"198.18.0.0/24", "198.18.1.0", false},
      {"198.18.0.0/15", "198.19.255.255", true},
      {"198.18.0.0/15", "198.20.0.0", false},
      {"198.18.0.9/32", "198.18.0.9", true},
      {"198.18.0.9/32", "198.18.0.8", false},
      {"0.0.0.0/0", "203.0.113.1", true},
      {"198.18.0.0/24", "::ffff:198.18.0.44", true},  // dual-stack socket
      {"198.18.0.0/24", "::ffff:198.18.1.44", false},
      {"198.18.0.0/24", "fd00::1", false},
      {"fd00:1::/64", "fd00:1::abcd", true},
      {"fd00:1::/64", "fd00:1:0:1::1", false},
      {"fd00::/8", "fdff:ffff::1", true},
      {"fd00::/8", "fe00::1", false},
      {"fd00::/8", "198.18.0.1", false},
      {"fd00:1::/63", "fd00:1:0:1::1", true},
      {"::ffff:198.18.0.0/120", "198.18.0.3", true},
      {"::/0", "fd00::1", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.prefix + " ∋ " + c.address);
    const auto prefix = Prefix::parse(c.prefix);
    ASSERT_TRUE(prefix.has_value()) << prefix.error().message;
    EXPECT_EQ(prefix->contains(make_address(c.address)), c.contained);
  }
}

struct OverlapCase {
  std::string a;
  std::string b;
  bool overlap;
};

TEST(PrefixTest, OverlapsTable) {
  const OverlapCase cases[] = {
      {"198.18.0.0/16", "198.18.1.0/24", true},
      {"198.18.1.0/24", "198.18.0.0/16", true},
      {"198.18.0.0/24", "198.18.1.0/24", false},
      {"198.18.0.0/24", "198.18.0.0/24", true},
      {"198.18.0.0/23", "198.18.1.128/25", true},
      {"0.0.0.0/0", "198.18.0.0/24", true},
      {"198.18.0.1/32", "198.18.0.2/32", false},
      {"fd00::/8", "fd00:1::/64", true},
      {"fd00:1::/64", "fd00:2::/64", false},
      {"198.18.0.0/24", "fd00::/8", false},
      {"::ffff:198.18.0.0/120", "198.18.0.0/16", true},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.a + " vs " + c.b);
    const auto a = Prefix::parse(c.a);
    const auto b = Prefix::parse(c.b);
    ASSERT_TRUE(a.has_value() && b.has_value());
    EXPECT_EQ(a->overlaps(*b), c.overlap);
    EXPECT_EQ(b->overlaps(*a), c.overlap);
  }
}

TEST(PrefixTest, NormalizeUnmapsOnlyV4Mapped) {
  EXPECT_EQ(normalize(make_address("::ffff:198.18.0.1")), make_address("198.18.0.1"));
  EXPECT_EQ(normalize(make_address("198.18.0.1")), make_address("198.18.0.1"));
  EXPECT_EQ(normalize(make_address("fd00::1")), make_address("fd00::1"));
  EXPECT_TRUE(normalize(make_address("::1")).is_v6());
}

TEST(PrefixTest, Equality) {
  EXPECT_EQ(*Prefix::parse("198.18.0.0/24"), *Prefix::parse("198.18.0.0/24"));
  EXPECT_NE(*Prefix::parse("198.18.0.0/24"), *Prefix::parse("198.18.0.0/25"));
}

}  // namespace
}  // namespace portcullis::net
