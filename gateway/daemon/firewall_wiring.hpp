#pragma once
// Wires the nftables port-25 policy (firewall/) into the daemon: created at
// start-up (always, so `firewall plan` works), reconciled with the store when
// firewall.enabled, and kept in sync after every tenant change. Needs
// CAP_NET_ADMIN for as long as the daemon changes the table.

#include <memory>

#include "gateway/core/firewall/port25_policy.hpp"

namespace portcullis::config {
struct Config;
}
namespace portcullis::tenants {
class TenantDirectory;
class TenantRegistry;
}  // namespace portcullis::tenants

namespace portcullis::daemon {

// With firewall.enabled, replaces the kernel's table in one transaction
// before anything listens; throws std::runtime_error if the kernel refuses
// it (the table left by a previous run, if any, stays in force: fail closed).
std::unique_ptr<firewall::Port25Policy> start_firewall(const config::Config& config,
                                                       const tenants::TenantDirectory& directory);

// For ApiContext::on_tenants_changed: applies the registry's current snapshot
// as element updates. Errors are logged (the previous table stays in force).
void sync_firewall(firewall::Port25Policy& policy,
                   const config::Config& config,
                   const tenants::TenantRegistry& registry);

}  // namespace portcullis::daemon
