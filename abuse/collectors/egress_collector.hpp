#pragma once
// Turns the egress monitor's per-host summaries into egress signals: a tenant host that keeps
// trying port 25 directly, to many destinations, is the pattern of a spam bot on an infected
// machine (the firewall blocks or redirects those connections; the tenant has to clean the host).
//
// What arrives: firewall/monitor/egress_monitor.cpp publishes, every publish interval (60 s),
// one EgressObservation for each host seen since the previous publication, with counts over
// the sliding firewall.monitor_window. A busy host therefore yields one observation a minute,
// each overlapping the previous ones; a host that went quiet yields none at all.
//
// Hence once per crossing per (tenant, host): the first observation at or above
// abuse.egress.min_attempts or min_destinations records a signal; later ones stay silent while
// the host stays above. The host is re-armed by an observation below both thresholds, or by
// silence: no observation for longer than the window plus a publish interval means its counts
// have fallen to zero in between. Hosts in no tenant are the gateway's own or unknown: ignored.
// Memory: only hosts above a threshold are remembered, at most firewall.monitor_max_hosts.
//
// Untrusted input: none directly; the counts come from spoofable packets, decoded and bounded
// by the monitor. Not thread-safe: call on one thread (the wiring posts to the I/O thread).

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "abuse/signal_sink.hpp"
#include "gateway/core/firewall/egress_events.hpp"

namespace portcullis::config {
struct Config;
}

namespace portcullis::abuse {

class EgressCollector {
 public:
  EgressCollector(const config::Config& config, SignalSink& sink);

  void on_egress(const firewall::EgressObservation& observation);

 private:
  std::uint64_t min_attempts_;
  std::uint32_t min_destinations_;
  std::int64_t window_;   // seconds
  std::int64_t silence_;  // seconds without an observation that re-arm a host
  std::size_t max_hosts_;
  SignalSink& sink_;
  // (tenant, host) above a threshold → the time of its last observation.
  std::map<std::pair<std::string, std::string>, std::int64_t> above_;
};

}  // namespace portcullis::abuse
