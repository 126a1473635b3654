#include "abuse/collectors/egress_collector.hpp"

#include <algorithm>
#include <cstdio>

#include "abuse/collectors/evidence_text.hpp"
#include "abuse/mime/text.hpp"
#include "gateway/core/config/config.hpp"

namespace portcullis::abuse {
namespace {

// EgressMonitor's publish interval (firewall/monitor/egress_monitor.hpp, MonitorSettings).
constexpr std::int64_t kPublishInterval = 60;
// DistinctEstimator is exact up to this many destinations.
constexpr std::uint32_t kExactDestinations = 64;
}  // namespace

EgressCollector::EgressCollector(const config::Config& config, SignalSink& sink)
    : min_attempts_(config.abuse.egress.min_attempts),
      min_destinations_(config.abuse.egress.min_destinations),
      window_(config.firewall.monitor_window.count()),
      silence_(config.firewall.monitor_window.count() + kPublishInterval),
      max_hosts_(std::max<std::size_t>(config.firewall.monitor_max_hosts, 1)),
      sink_(sink) {}

void EgressCollector::on_egress(const firewall::EgressObservation& o) {
  if (o.tenant_id.empty()) {
    return;
  }
  // A threshold of 0 would make every host a bot: the loader refuses it, here it is off.
  const double by_attempts =
      min_attempts_ == 0 ? 0 : static_cast<double>(o.attempts) / static_cast<double>(min_attempts_);
  const double by_destinations =
      min_destinations_ == 0
          ? 0
          : static_cast<double>(o.distinct_destinations) / static_cast<double>(min_destinations_);
  const double strength = std::max(by_attempts, by_destinations);
  auto key = std::make_pair(o.tenant_id, o.host);
  if (strength < 1.0) {
    above_.erase(key);
    return;
  }
  if (auto it = above_.find(key); it != above_.end()) {
    const bool silent = o.time != 0 && it->second != 0 && o.time - it->second > silence_;
    it->second = o.time;
    if (!silent) {
      return;
    }
  } else {
    if (above_.size() >= max_hosts_) {
      // Forget the host seen longest ago: it is the one most likely to have gone quiet.
      above_.erase(std::min_element(above_.begin(), above_.end(), [](const auto& a, const auto& b) {
        return a.second < b.second;
      }));
    }
    above_.emplace(std::move(key), o.time);
  }

  const std::string host = mime::sanitize(o.host, 64);
  store::Signal signal;
  signal.tenant_id = o.tenant_id;
  signal.host = host;
  signal.kind = store::SignalKind::egress;
  signal.time = o.time;
  signal.strength = strength;
  signal.evidence = host + " made " + std::to_string(o.attempts) + " direct port-25 attempts to " +
                    (o.distinct_destinations > kExactDestinations ? "about " : "") +
                    std::to_string(o.distinct_destinations) +
                    " distinct destinations within the monitor window of " +
                    duration_text(window_) + " (" + one_decimal(o.syn_per_minute) +
                    " per minute in the last minute)";
  sink_.record_signal(std::move(signal));
}

}  // namespace portcullis::abuse
