#include "gateway/daemon/firewall_wiring.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>

#include "firewall/nftables_policy.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::daemon {

std::unique_ptr<firewall::Port25Policy> start_firewall(const config::Config& config,
                                                       const tenants::TenantDirectory& directory) {
  auto settings = firewall::RulesetSettings::from_config(config);
  if (!settings) {
    throw std::runtime_error(settings.error().message);
  }
  auto policy = std::make_unique<firewall::NftablesPolicy>(*settings);
  if (!config.firewall.enabled) {
    log::info("firewall_disabled", {{"table", settings->table}});
    return policy;
  }
  // Fault injection for the integration tests: while this file exists every
  // change sent to the kernel carries a step the kernel refuses. It can only
  // make changes fail (the old table stays), never open anything; only the
  // daemon's user can create it.
  const auto reject_marker = config.node.state_dir / "firewall-test-reject";
  policy->set_refusal_for_test([reject_marker] {
    std::error_code ec;
    return std::filesystem::exists(reject_marker, ec);
  });
  if (auto applied = policy->apply(directory); !applied) {
    throw std::runtime_error("firewall: " + applied.error().message);
  }
  return policy;
}

void sync_firewall(firewall::Port25Policy& policy,
                   const config::Config& config,
                   const tenants::TenantRegistry& registry) {
  if (!config.firewall.enabled) {
    return;
  }
  if (auto updated = policy.update(*registry.snapshot()); !updated) {
    log::error("firewall_sync_failed", {{"error", updated.error().message}});
  }
}

}  // namespace portcullis::daemon
