#include "gateway/daemon/monitor_wiring.hpp"

#include "firewall/monitor/egress_monitor.hpp"
#include "gateway/core/log/log.hpp"

namespace portcullis::daemon {
namespace {

class Handle final : public MonitorHandle {
 public:
  explicit Handle(std::unique_ptr<firewall::monitor::EgressMonitor> monitor)
      : monitor_(std::move(monitor)) {}
  ~Handle() override { monitor_->stop(); }
  firewall::MonitorView& view() override { return *monitor_; }

 private:
  std::unique_ptr<firewall::monitor::EgressMonitor> monitor_;
};

}  // namespace

std::unique_ptr<MonitorHandle> start_egress_monitor(const config::Config& config,
                                                    const Clock& clock,
                                                    const tenants::TenantRegistry& registry,
                                                    firewall::EgressObserver* observer) {
  const auto& fw = config.firewall;
  if (!fw.enabled && fw.monitor_interface.empty()) {
    return nullptr;
  }
  firewall::monitor::MonitorSettings settings;
  if (fw.enabled) {
    settings.nflog_group = fw.nflog_group;
  }
  settings.interface = fw.monitor_interface;
  settings.max_hosts = fw.monitor_max_hosts;
  settings.window = fw.monitor_window;
  auto monitor =
      std::make_unique<firewall::monitor::EgressMonitor>(settings, clock, registry, observer);
  if (auto opened = monitor->open(); !opened) {
    log::error("monitor_unavailable", {{"error", opened.error().message}});
    return nullptr;
  }
  monitor->start();
  return std::make_unique<Handle>(std::move(monitor));
}

}  // namespace portcullis::daemon
