#include "abuse/dnsbl/dnsbl.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::abuse::dnsbl {
namespace {

using Answer = dns::DnsResult<std::vector<boost::asio::ip::address>>;

Answer addresses(std::initializer_list<const char*> list) {
  std::vector<boost::asio::ip::address> out;
  for (const char* a : list) {
    out.push_back(boost::asio::ip::make_address(a));
  }
  return out;
}

Answer dns_error(dns::DnsErrorKind kind) {
  return dns::DnsError{kind, "2.0.0.127.zen.example A: " + std::string(dns::to_string(kind))};
}

ZoneConfig zen() {
  ZoneConfig z;
  z.zone = "zen.example";
  z.listing_codes = {parse_code_range("127.0.0.2-127.0.0.3", "SBL").value(),
                     parse_code_range("127.0.0.4-127.0.0.7", "XBL").value(),
                     parse_code_range("127.0.0.9", "DROP").value(),
                     parse_code_range("127.0.0.10-127.0.0.11", "PBL").value()};
  z.error_codes = {parse_code_range("127.255.255.0/24", "query refused").value()};
  z.weight = 5;
  return validate(z).value();
}

TEST(DnsblClassifyTest, ListedWithMeanings) {
  const auto v = classify(zen(), addresses({"127.0.0.4", "127.0.0.2", "127.0.0.4"}),
                          {"Listed in XBL, see https://check.zen.example/query/ip/198.18.0.10"});
  EXPECT_EQ(v.status, Status::listed);
  ASSERT_EQ(v.codes.size(), 2U);
  EXPECT_EQ(v.codes[0].code.to_string(), "127.0.0.2");
  EXPECT_EQ(v.codes[0].meaning, "SBL");
  EXPECT_EQ(v.codes[1].meaning, "XBL");
  EXPECT_EQ(v.weight, 5);
  EXPECT_EQ(v.reason, "listed in zen.example: 127.0.0.2 (SBL) 127.0.0.4 (XBL)");
  EXPECT_EQ(v.evidence, "Listed in XBL, see https://check.zen.example/query/ip/198.18.0.10");
}

TEST(DnsblClassifyTest, NxdomainAndNoDataAreNotListed) {
  for (const auto kind : {dns::DnsErrorKind::nxdomain, dns::DnsErrorKind::nodata}) {
    const auto v = classify(zen(), dns_error(kind));
    EXPECT_EQ(v.status, Status::not_listed);
    EXPECT_EQ(v.weight, 0);
    EXPECT_TRUE(v.codes.empty());
  }
  EXPECT_EQ(classify(zen(), addresses({})).status, Status::not_listed);
}

TEST(DnsblClassifyTest, ServfailIsAnError) {
  const auto v = classify(zen(), dns_error(dns::DnsErrorKind::temporary));
  EXPECT_EQ(v.status, Status::error);
  EXPECT_NE(v.reason.find("lookup failed"), std::string::npos);
}

TEST(DnsblClassifyTest, RefusedQueryCodeIsAnErrorNotAListing) {
  const auto v = classify(zen(), addresses({"127.255.255.254"}),
                          {"Error: open resolver; https://www.spamhaus.example/returnc/pub/"});
  EXPECT_EQ(v.status, Status::error);
  EXPECT_TRUE(v.codes.empty());
  EXPECT_EQ(v.weight, 0);
  EXPECT_NE(v.reason.find("127.255.255.254 is an error code of zen.example (query refused)"),
            std::string::npos)
      << v.reason;
  EXPECT_NE(v.evidence.find("open resolver"), std::string::npos);
}

TEST(DnsblClassifyTest, ErrorCodeBesideAListingCodeIsStillAnError) {
  EXPECT_EQ(classify(zen(), addresses({"127.0.0.2", "127.255.255.252"})).status, Status::error);
}

TEST(DnsblClassifyTest, DefaultConfigRefusesTheSameCodes) {
  ZoneConfig z;
  z.zone = "bl.example";
  const auto checked = validate(z).value();
  EXPECT_EQ(classify(checked, addresses({"127.255.255.254"})).status, Status::error);
  EXPECT_EQ(classify(checked, addresses({"127.0.0.2"})).status, Status::listed);
  EXPECT_EQ(classify(checked, addresses({"127.0.0.1"})).status, Status::error);
}

TEST(DnsblClassifyTest, AnswersOutside127AreNeverListings) {
  for (const char* a : {"198.51.100.7", "0.0.0.0", "10.0.0.2", "128.0.0.2"}) {
    const auto v = classify(zen(), addresses({"127.0.0.2", a}));
    EXPECT_EQ(v.status, Status::error) << a;
    EXPECT_NE(v.reason.find("outside 127.0.0.0/8"), std::string::npos) << v.reason;
  }
  EXPECT_EQ(classify(zen(), addresses({"2001:db8::1"})).status, Status::error);
}

TEST(DnsblClassifyTest, UnknownCodesAloneAreAnError) {
  const auto v = classify(zen(), addresses({"127.0.0.8"}));
  EXPECT_EQ(v.status, Status::error);
  EXPECT_NE(v.reason.find("127.0.0.8 is not a listing code"), std::string::npos);
  const auto mixed = classify(zen(), addresses({"127.0.0.8", "127.0.0.10"}));
  EXPECT_EQ(mixed.status, Status::listed);
  EXPECT_NE(mixed.reason.find("also unknown codes 127.0.0.8"), std::string::npos);
}

TEST(DnsblClassifyTest, TxtEvidenceIsSanitisedAndBounded) {
  const std::string hostile = "bad\r\nInjected: header\x1b[31m" + std::string(5000, 'x');
  const auto v = classify(zen(), addresses({"127.0.0.2"}), {hostile, "second"});
  EXPECT_EQ(v.status, Status::listed);
  EXPECT_LE(v.evidence.size(), kMaxEvidence);
  EXPECT_EQ(v.evidence.find('\n'), std::string::npos);
  EXPECT_EQ(v.evidence.find('\x1b'), std::string::npos);
  EXPECT_EQ(v.evidence.rfind("bad Injected: header?[31m", 0), 0U);
  EXPECT_EQ(sanitize_txt({"a", "b\tc"}), "a | b c");
  EXPECT_EQ(sanitize_txt({}), "");
}

TEST(ZoneConfigTest, CodeRanges) {
  const auto single = parse_code_range("127.0.0.2").value();
  EXPECT_EQ(single.first, single.last);
  const auto range = parse_code_range(" 127.0.0.2 - 127.0.0.11 ").value();
  EXPECT_EQ(range.last - range.first, 9U);
  const auto cidr = parse_code_range("127.255.255.0/24").value();
  EXPECT_TRUE(cidr.contains(boost::asio::ip::make_address_v4("127.255.255.254")));
  EXPECT_FALSE(cidr.contains(boost::asio::ip::make_address_v4("127.255.254.255")));
  for (const char* bad : {"", "127.0.0", "127.0.0.11-127.0.0.2", "127.255.255.1/24", "127.0.0.0/33",
                          "127.0.0.0/x", "::1", "127.0.0.1-"}) {
    EXPECT_FALSE(parse_code_range(bad)) << bad;
  }
}

TEST(ZoneConfigTest, ValidateRefusesDangerousConfigs) {
  ZoneConfig outside;
  outside.zone = "bl.example";
  outside.listing_codes = {parse_code_range("10.0.0.2").value()};
  const auto a = validate(outside);
  ASSERT_FALSE(a);
  EXPECT_NE(a.error().message.find("outside 127.0.0.0/8"), std::string::npos);

  ZoneConfig overlap;
  overlap.zone = "bl.example";
  overlap.listing_codes = {parse_code_range("127.0.0.2-127.255.255.255").value()};
  const auto b = validate(overlap);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("overlaps error code"), std::string::npos);

  ZoneConfig empty;
  empty.zone = "bl.example";
  empty.listing_codes.clear();
  EXPECT_FALSE(validate(empty));

  ZoneConfig weight;
  weight.zone = "bl.example";
  weight.weight = -1;
  EXPECT_FALSE(validate(weight));

  ZoneConfig bad_zone;
  bad_zone.zone = "not a zone";
  EXPECT_FALSE(validate(bad_zone));
}

}  // namespace
}  // namespace portcullis::abuse::dnsbl
