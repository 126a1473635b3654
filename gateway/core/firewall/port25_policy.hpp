#pragma once
// The kernel's port-25 policy as the rest of the gateway sees it: the daemon
// (tenant changes from the control API, reconcile at start) and later abuse/
// (a host's mode after an exception request) drive the firewall through this
// interface without including firewall/. The implementation (firewall/) turns
// a TenantDirectory into one nftables table and keeps it in sync. No untrusted
// input: tenants and overrides were validated by the store.

#include <cstdint>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/store/tenant.hpp"

namespace portcullis::tenants {
class TenantDirectory;
}

namespace portcullis::firewall {

// One tenant's kernel counters for one mode. tenant_id "" is the traffic from
// addresses in no tenant's subnets (firewall.default_mode).
struct TenantCounters {
  std::string tenant_id;
  store::Port25Mode mode = store::Port25Mode::block;
  std::uint64_t packets = 0;      // client-to-server packets to port 25
  std::uint64_t bytes = 0;        // their bytes
  std::uint64_t connections = 0;  // new connection attempts (SYNs that opened a conntrack entry)
};

class Port25Policy {
 public:
  virtual ~Port25Policy() = default;

  // Full reconcile: replaces the whole table in one kernel transaction (first
  // start, operator's reconcile, recovery after a failed update). Counters
  // start again from zero. On an error the previous table stays in force and
  // the message carries the kernel's text.
  virtual Result<void> apply(const tenants::TenantDirectory& directory) = 0;

  // Incremental: only set/map elements and counter objects change, in one
  // transaction, so chains, handles and the counters of unchanged tenants
  // survive. Diffs against what was last applied; falls back to apply() when
  // nothing was applied yet or the kernel refused the update (e.g. the table
  // was changed behind our back).
  virtual Result<void> update(const tenants::TenantDirectory& directory) = 0;

  // `nft list table` text of the live table.
  virtual Result<std::string> live_table() const = 0;
  // The table that apply(directory) would install, as nft text.
  virtual std::string planned_table(const tenants::TenantDirectory& directory) const = 0;
  // Every tenant and mode with a counter in the live table, ordered by tenant.
  virtual Result<std::vector<TenantCounters>> counters() const = 0;
};

}  // namespace portcullis::firewall
