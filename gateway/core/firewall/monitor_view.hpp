#pragma once
// A read-only view of the egress monitor for the control API and the CLI
// (`portcullisctl monitor top`). The monitor lives in firewall/, which gateway
// core must not include: it implements this interface and the daemon hands it
// to the API. No untrusted input.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/core/firewall/egress_events.hpp"

namespace portcullis::firewall {

// The sum over a tenant's hosts (those the monitor still tracks).
struct TenantEgress {
  std::string tenant_id;  // "" = hosts in no tenant
  std::size_t hosts = 0;
  std::uint64_t attempts = 0;
  std::uint32_t distinct_destinations = 0;
  double syn_per_minute = 0;
};

struct MonitorStats {
  std::vector<std::string> sources;  // "nflog:25", "eth1"
  std::uint64_t packets = 0;         // frames read from the capture
  std::uint64_t syns = 0;            // port-25 SYNs counted
  std::uint64_t malformed = 0;       // frames that failed the parsers' bounds checks
  std::uint64_t ignored = 0;         // well-formed but not a port-25 SYN
  std::uint64_t dropped = 0;         // lost by the kernel or libpcap (buffer overrun)
  std::uint64_t evicted = 0;         // hosts dropped to stay within max_hosts
  std::size_t hosts = 0;             // tracked now
  std::size_t max_hosts = 0;
  std::int64_t window_seconds = 0;
};

class MonitorView {
 public:
  virtual ~MonitorView() = default;
  // Hosts with attempts in the window, most attempts first; time = last seen.
  virtual std::vector<EgressObservation> top(std::size_t n) const = 0;
  virtual std::vector<TenantEgress> top_tenants(std::size_t n) const = 0;
  virtual MonitorStats stats() const = 0;
};

}  // namespace portcullis::firewall
