#pragma once
// What the egress monitor saw of one tenant host's direct port-25 attempts, as
// an event type in core so that abuse/ can consume it without including
// firewall/. Untrusted input: none here; the values were derived from packets
// by the monitor (addresses and counts only, never payload).

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace portcullis::firewall {

// One host's activity over the monitor's sliding window (firewall.monitor_window).
struct EgressObservation {
  std::int64_t time = 0;                    // unix seconds: when the summary was taken
  std::string tenant_id;                    // "" = the address is in no tenant's subnets
  std::string host;                         // source address, "198.18.1.10" / "fd00:1::10"
  std::uint64_t attempts = 0;               // TCP SYNs to port 25 within the window
  std::uint32_t distinct_destinations = 0;  // estimate: exact up to 64, then ~6% error
  double syn_per_minute = 0;                // SYNs over the last minute
};

class EgressObserver {
 public:
  virtual ~EgressObserver() = default;
  // Called on the monitor's own thread: handlers must be quick and thread-safe
  // (post to their own executor for anything slow).
  virtual void on_egress(const EgressObservation& observation) = 0;
};

// In-process fan-out, synchronous, thread-safe: subscribers may be added while
// observations are published.
class EgressBus final : public EgressObserver {
 public:
  using Handler = std::function<void(const EgressObservation&)>;
  void subscribe(Handler handler);
  void on_egress(const EgressObservation& observation) override { publish(observation); }
  void publish(const EgressObservation& observation) const;

 private:
  mutable std::mutex mutex_;
  std::vector<Handler> handlers_;
};

}  // namespace portcullis::firewall
