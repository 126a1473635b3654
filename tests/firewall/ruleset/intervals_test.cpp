#include "firewall/ruleset/intervals.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::firewall {
namespace {

using store::Port25Mode;

net::Prefix prefix(std::string_view text) {
  return net::Prefix::parse(text).value();
}

Claim claim(std::string_view p, std::string tenant, Port25Mode mode) {
  return {prefix(p), {std::move(tenant), mode}};
}

// "prefix tenant mode" per piece, in output order.
std::vector<std::string> describe(const std::vector<Piece>& pieces) {
  std::vector<std::string> out;
  for (const auto& p : pieces) {
    out.push_back(p.block.to_string() + " " + p.assignment.tenant_id + " " +
                  std::string(store::to_string(p.assignment.mode)));
  }
  return out;
}

TEST(RangeToBlocks, SplitsAnArbitraryRangeIntoMinimalCidrBlocks) {
  // 198.18.1.0 - 198.18.1.9: /29 + /31.
  const Uint128 first = 0xC6120100U;
  auto blocks = range_to_blocks(false, first, first + 9);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_EQ(blocks[0].to_string(), "198.18.1.0/29");
  EXPECT_EQ(blocks[1].to_string(), "198.18.1.8/31");
}

TEST(RangeToBlocks, CoversTheWholeFamily) {
  auto v4 = range_to_blocks(false, 0, 0xffffffffU);
  ASSERT_EQ(v4.size(), 1u);
  EXPECT_EQ(v4[0].to_string(), "0.0.0.0/0");
  auto v6 = range_to_blocks(true, 0, ~Uint128{0});
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].to_string(), "::/0");
}

TEST(ResolveClaims, DisjointPrefixesPassThroughSorted) {
  auto pieces = resolve_claims({claim("198.18.5.0/24", "b", Port25Mode::exempt),
                                claim("fd00:1::/64", "a", Port25Mode::redirect),
                                claim("198.18.1.0/24", "a", Port25Mode::block)});
  EXPECT_EQ(describe(pieces),
            (std::vector<std::string>{"198.18.1.0/24 a block", "198.18.5.0/24 b exempt",
                                      "fd00:1::/64 a redirect"}));
}

TEST(ResolveClaims, AHostOverrideSplitsItsSubnet) {
  auto pieces = resolve_claims({claim("198.18.1.0/24", "acme", Port25Mode::block),
                                claim("198.18.1.10/32", "acme", Port25Mode::exempt)});
  EXPECT_EQ(
      describe(pieces),
      (std::vector<std::string>{
          "198.18.1.0/29 acme block", "198.18.1.8/31 acme block", "198.18.1.10/32 acme exempt",
          "198.18.1.11/32 acme block", "198.18.1.12/30 acme block", "198.18.1.16/28 acme block",
          "198.18.1.32/27 acme block", "198.18.1.64/26 acme block", "198.18.1.128/25 acme block"}));
}

TEST(ResolveClaims, NestedOverridesMostSpecificWins) {
  auto pieces = resolve_claims({claim("198.18.0.0/16", "t", Port25Mode::block),
                                claim("198.18.1.0/24", "t", Port25Mode::redirect),
                                claim("198.18.1.0/25", "t", Port25Mode::exempt),
                                claim("198.18.1.1/32", "t", Port25Mode::block)});
  const auto d = describe(pieces);
  // Every address is covered exactly once: the blocks are disjoint and sorted.
  for (std::size_t i = 1; i < pieces.size(); ++i) {
    const auto& a = pieces[i - 1].block;
    const auto& b = pieces[i].block;
    const Uint128 a_last = a.start + ((Uint128{1} << (32 - a.length)) - 1);
    EXPECT_EQ(a_last + 1, b.start) << d[i - 1] << " / " << d[i];
  }
  EXPECT_EQ(d.front(), "198.18.0.0/24 t block");
  EXPECT_NE(std::find(d.begin(), d.end(), "198.18.1.1/32 t block"), d.end());
  EXPECT_NE(std::find(d.begin(), d.end(), "198.18.1.0/32 t exempt"), d.end());
  EXPECT_NE(std::find(d.begin(), d.end(), "198.18.1.128/25 t redirect"), d.end());
  EXPECT_EQ(d.back(), "198.18.128.0/17 t block");
}

TEST(ResolveClaims, SameModeOverrideMergesBackIntoItsSubnet) {
  auto pieces = resolve_claims({claim("198.18.1.0/24", "a", Port25Mode::block),
                                claim("198.18.1.10/32", "a", Port25Mode::block)});
  EXPECT_EQ(describe(pieces), (std::vector<std::string>{"198.18.1.0/24 a block"}));
}

TEST(ResolveClaims, IdenticalPrefixesTakeTheMostRestrictiveMode) {
  auto pieces = resolve_claims({claim("198.18.1.0/24", "a", Port25Mode::exempt),
                                claim("198.18.1.0/24", "b", Port25Mode::block)});
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_EQ(pieces[0].assignment.mode, Port25Mode::block);
}

TEST(ResolveClaims, Ipv6HostOverride) {
  auto pieces = resolve_claims({claim("fd00:1::/64", "a", Port25Mode::redirect),
                                claim("fd00:1::10/128", "a", Port25Mode::exempt)});
  const auto d = describe(pieces);
  EXPECT_EQ(d.front(), "fd00:1::/124 a redirect");
  EXPECT_NE(std::find(d.begin(), d.end(), "fd00:1::10/128 a exempt"), d.end());
  EXPECT_EQ(d.back(), "fd00:1:0:0:8000::/65 a redirect");
  // /64 minus one host: one block per bit below /64 after the split, plus the host.
  EXPECT_EQ(pieces.size(), 65u);
}

TEST(ResolveClaims, WholeV6SpaceWithAnOverrideAtTheTop) {
  auto pieces = resolve_claims(
      {claim("::/0", "a", Port25Mode::block),
       claim("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "a", Port25Mode::exempt)});
  ASSERT_FALSE(pieces.empty());
  EXPECT_EQ(pieces.back().block.to_string(), "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128");
  EXPECT_EQ(pieces.back().assignment.mode, Port25Mode::exempt);
  EXPECT_EQ(pieces.size(), 129u);
}

}  // namespace
}  // namespace portcullis::firewall
