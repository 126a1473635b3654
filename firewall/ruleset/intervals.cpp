#include "firewall/ruleset/intervals.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

namespace portcullis::firewall {
namespace {

int bits(bool v6) {
  return v6 ? 128 : 32;
}

Uint128 max_address(bool v6) {
  return v6 ? ~Uint128{0} : Uint128{0xffffffffU};
}

// Addresses covered by a block of this length, minus one (the last offset).
Uint128 span(bool v6, int length) {
  const int host_bits = bits(v6) - length;
  if (host_bits >= 128) {
    return ~Uint128{0};
  }
  return (Uint128{1} << host_bits) - 1;
}

Uint128 to_integer(const boost::asio::ip::address& address) {
  if (address.is_v4()) {
    return address.to_v4().to_uint();
  }
  Uint128 value = 0;
  for (auto byte : address.to_v6().to_bytes()) {
    value = (value << 8) | byte;
  }
  return value;
}

struct Interval {
  Uint128 first;
  Uint128 last;
  int length;
  Assignment assignment;
};

struct Range {
  Uint128 first;
  Uint128 last;
  Assignment assignment;
};

void add_range(std::vector<Range>& out, Uint128 first, Uint128 last, const Assignment& a) {
  if (first > last) {
    return;
  }
  if (!out.empty() && out.back().assignment == a && out.back().last + 1 == first) {
    out.back().last = last;
    return;
  }
  out.push_back({first, last, a});
}

// Claims are laminar (two prefixes are nested or disjoint), so one sweep with
// a stack of the open enclosing prefixes assigns every address.
std::vector<Range> sweep(std::vector<Interval> intervals) {
  std::sort(intervals.begin(), intervals.end(), [](const Interval& a, const Interval& b) {
    if (a.first != b.first) {
      return a.first < b.first;
    }
    if (a.length != b.length) {
      return a.length < b.length;  // enclosing first
    }
    return restrictiveness(a.assignment.mode) > restrictiveness(b.assignment.mode);
  });
  intervals.erase(std::unique(intervals.begin(), intervals.end(),
                              [](const Interval& a, const Interval& b) {
                                return a.first == b.first && a.length == b.length;
                              }),
                  intervals.end());

  std::vector<Range> ranges;
  std::vector<const Interval*> open;
  Uint128 cursor = 0;
  bool exhausted = false;  // the cursor passed the family's last address
  auto close_top = [&] {
    const Interval* top = open.back();
    open.pop_back();
    if (!exhausted) {
      add_range(ranges, cursor, top->last, top->assignment);
      if (top->last == ~Uint128{0}) {
        exhausted = true;
      } else {
        cursor = top->last + 1;
      }
    }
  };
  for (const auto& interval : intervals) {
    while (!open.empty() && open.back()->last < interval.first) {
      close_top();
    }
    if (!open.empty() && interval.first > 0) {
      add_range(ranges, cursor, interval.first - 1, open.back()->assignment);
    }
    cursor = interval.first;
    exhausted = false;
    open.push_back(&interval);
  }
  while (!open.empty()) {
    close_top();
  }
  return ranges;
}

}  // namespace

int restrictiveness(store::Port25Mode mode) {
  switch (mode) {
    case store::Port25Mode::block:
      return 2;
    case store::Port25Mode::redirect:
      return 1;
    case store::Port25Mode::exempt:
      return 0;
  }
  return 2;
}

std::string AddressBlock::to_string() const {
  if (!v6) {
    return boost::asio::ip::address_v4(static_cast<std::uint32_t>(start)).to_string() + "/" +
           std::to_string(length);
  }
  boost::asio::ip::address_v6::bytes_type bytes{};
  Uint128 value = start;
  for (int i = 15; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(value & 0xff);
    value >>= 8;
  }
  return boost::asio::ip::address_v6(bytes).to_string() + "/" + std::to_string(length);
}

std::vector<AddressBlock> range_to_blocks(bool v6, Uint128 first, Uint128 last) {
  std::vector<AddressBlock> blocks;
  const int width = bits(v6);
  while (first <= last) {
    // The largest block aligned at `first` that does not pass `last`.
    int length = width;
    while (length > 0) {
      const Uint128 wider = span(v6, length - 1);
      if ((first & wider) != 0 || first + wider > last || first + wider < first) {
        break;
      }
      --length;
    }
    blocks.push_back({v6, first, static_cast<std::uint8_t>(length)});
    const Uint128 size_minus_one = span(v6, length);
    if (first + size_minus_one >= max_address(v6)) {
      break;
    }
    first += size_minus_one + 1;
  }
  return blocks;
}

std::vector<Piece> resolve_claims(std::vector<Claim> claims) {
  std::array<std::vector<Interval>, 2> by_family;
  for (auto& claim : claims) {
    const bool v6 = claim.prefix.network.is_v6();
    const Uint128 first = to_integer(claim.prefix.network);
    by_family[v6 ? 1 : 0].push_back({first, first + span(v6, claim.prefix.length),
                                     claim.prefix.length, std::move(claim.assignment)});
  }
  std::vector<Piece> pieces;
  for (int family = 0; family < 2; ++family) {
    const bool v6 = family == 1;
    for (auto& range : sweep(std::move(by_family[static_cast<std::size_t>(family)]))) {
      for (const auto& block : range_to_blocks(v6, range.first, range.last)) {
        pieces.push_back({block, range.assignment});
      }
    }
  }
  return pieces;
}

}  // namespace portcullis::firewall
