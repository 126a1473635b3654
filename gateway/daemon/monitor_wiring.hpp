#pragma once
// Starts the egress monitor from the config: NFLOG group of the ruleset's
// blocked attempts when the firewall is enabled, plus firewall.monitor_interface
// when set. A monitor that cannot open its sources is logged and left out (the
// relay keeps running; /v1/monitor/top then answers 503). No untrusted input.

#include <memory>

#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/firewall/egress_events.hpp"
#include "gateway/core/firewall/monitor_view.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::daemon {

class MonitorHandle {
 public:
  virtual ~MonitorHandle() = default;  // stops the capture thread
  virtual firewall::MonitorView& view() = 0;
};

// Opens the capture (needs CAP_NET_ADMIN: call before drop_privileges) and
// starts its thread. Null when nothing is configured to capture or it failed.
// observer (e.g. an EgressBus that abuse subscribes to) may be null; it, the
// clock and the registry must outlive the handle.
std::unique_ptr<MonitorHandle> start_egress_monitor(const config::Config& config,
                                                    const Clock& clock,
                                                    const tenants::TenantRegistry& registry,
                                                    firewall::EgressObserver* observer);

}  // namespace portcullis::daemon
