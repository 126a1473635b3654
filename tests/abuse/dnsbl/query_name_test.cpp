#include "abuse/dnsbl/query_name.hpp"

#include <gtest/gtest.h>

namespace portcullis::abuse::dnsbl {
namespace {

TEST(QueryNameTest, Ipv4OctetsReversed) {
  EXPECT_EQ(query_name("192.0.2.1", "zen.example").value(), "1.2.0.192.zen.example");
  EXPECT_EQ(query_name("127.0.0.2", "ZEN.Example.").value(), "2.0.0.127.zen.example");
}

TEST(QueryNameTest, Ipv6NibblesReversed) {
  // RFC 5782 2.4's example address.
  EXPECT_EQ(query_name("2001:db8:1:2:3:4:567:89ab", "ugly.example").value(),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example");
  const auto name = query_name("::1", "z.example").value();
  EXPECT_EQ(name, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.z.example");
}

TEST(QueryNameTest, V4MappedIsQueriedAsIpv4) {
  EXPECT_EQ(query_name("::ffff:198.18.0.10", "zen.example").value(), "10.0.18.198.zen.example");
}

TEST(QueryNameTest, BadAddressesAndZonesAreErrors) {
  EXPECT_FALSE(query_name("198.18.0.999", "zen.example"));
  EXPECT_FALSE(query_name("fe80::1%eth0", "zen.example"));
  EXPECT_FALSE(query_name("", "zen.example"));
  EXPECT_FALSE(query_name("host.example", "zen.example"));
  for (const char* zone : {"", ".", "example", "zen..example", "-zen.example", "zen-.example",
                           "zen example.org", "zen.exa$mple", "a.b\x01"}) {
    const auto r = query_name("192.0.2.1", zone);
    EXPECT_FALSE(r) << zone;
  }
  const std::string long_zone =
      std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(60, 'c') + ".example";
  const auto r = query_name("192.0.2.1", long_zone);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("too long"), std::string::npos);
}

TEST(QueryNameTest, NormalizeZone) {
  EXPECT_EQ(normalize_zone(" Zen.Spamhaus.Example. ").value(), "zen.spamhaus.example");
  EXPECT_EQ(normalize_zone("_dnsbl.example").value(), "_dnsbl.example");
}

}  // namespace
}  // namespace portcullis::abuse::dnsbl
