#pragma once
// Turns possibly nested prefixes (tenant subnets and the per-host overrides
// inside them) into the disjoint CIDR blocks an nftables interval set needs:
// the kernel refuses overlapping elements, so the controller decides here
// which claim owns each address (the most specific prefix wins). No untrusted
// input: prefixes were validated by the store.

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/core/net/prefix.hpp"
#include "gateway/core/store/tenant.hpp"

namespace portcullis::firewall {

__extension__ typedef unsigned __int128
    Uint128;  // NOLINT(modernize-use-using): __extension__ needs typedef

// One CIDR block; v4 addresses use the low 32 bits of start.
struct AddressBlock {
  bool v6 = false;
  Uint128 start = 0;
  std::uint8_t length = 0;

  std::string to_string() const;  // "198.18.1.0/24", "fd00:1::10/128"
  auto operator<=>(const AddressBlock&) const = default;
};

// Who owns an address and how its port-25 traffic is handled.
struct Assignment {
  std::string tenant_id;
  store::Port25Mode mode = store::Port25Mode::block;
  bool operator==(const Assignment&) const = default;
};

struct Claim {
  net::Prefix prefix;
  Assignment assignment;
};

struct Piece {
  AddressBlock block;
  Assignment assignment;
};

// Disjoint blocks covering exactly the union of the claims, v4 first, each
// family in address order. An address belongs to the most specific claim
// containing it; of identical prefixes the most restrictive mode wins
// (block > redirect > exempt), so a conflict can only close port 25. Adjacent
// ranges with the same assignment are merged before being cut into blocks.
std::vector<Piece> resolve_claims(std::vector<Claim> claims);

// The minimal CIDR blocks covering [first, last] in a family of `bits` bits.
std::vector<AddressBlock> range_to_blocks(bool v6, Uint128 first, Uint128 last);

// block > redirect > exempt.
int restrictiveness(store::Port25Mode mode);

}  // namespace portcullis::firewall
