#pragma once
// The control API's routes (see docs / SPEC): tenants, credentials, queue,
// health, as JSON over the control socket. Untrusted input: request bodies and
// path parameters from local operators; every field is type-checked here and
// validated by the store, and errors come back as {"error": "..."} with 400,
// 404 (no such tenant/credential/message) or 409 (duplicate).

#include <functional>
#include <string>

#include "gateway/core/control/event_view.hpp"
#include "gateway/core/control/queue_view.hpp"
#include "gateway/core/control/router.hpp"
#include "gateway/core/control/stats_view.hpp"

namespace portcullis::config {
struct Config;
}
namespace portcullis::store {
class Store;
}
namespace portcullis::tenants {
class TenantRegistry;
}
namespace portcullis::firewall {
class MonitorView;
class Port25Policy;
}  // namespace portcullis::firewall
namespace portcullis::abuse {
class AbuseDesk;
}

namespace portcullis::control {

inline constexpr const char* kVersion = "0.1.0";

struct ApiContext {
  store::Store& store;
  const config::Config& config;  // plans are checked against config.plans
  // After every tenant change a fresh TenantDirectory is published here, so the
  // relay sees it on its next lookup. May be null (tests, tools).
  tenants::TenantRegistry* registry = nullptr;
  QueueView& queue;
  // Called after the registry was updated (firewall sync, policy refresh).
  std::function<void()> on_tenants_changed;
  // The egress monitor for /v1/monitor/*; null = not running (503).
  firewall::MonitorView* monitor = nullptr;
  // Called after a webhook was set or removed (the dispatcher re-reads them).
  std::function<void()> on_webhooks_changed;
  // Called after a DKIM key was added or removed (the daemon rebuilds the signer).
  std::function<void()> on_dkim_keys_changed;
  // The port-25 firewall for /v1/firewall/*; null = not available (503).
  // Whether it may change the kernel is config.firewall.enabled.
  firewall::Port25Policy* firewall = nullptr;
  // The delivery event log for GET /v1/events; null = not available (503).
  EventView* events = nullptr;
  // Per-tenant counters for GET /v1/tenants/{id}/stats; null = not available (503).
  StatsView* stats = nullptr;
  // The abuse desk for /v1/tickets, /v1/exceptions, /v1/abuse/reports and
  // /v1/tenants/{id}/reputation (api_abuse.hpp); null = not running (503). Read
  // at each request, so the daemon may set it after register_api.
  abuse::AbuseDesk* abuse = nullptr;
};

// After any change to tenants (or to what they carry: limits, overrides):
// publishes a fresh TenantDirectory to the registry, then runs
// on_tenants_changed (firewall, policy, DKIM, webhooks follow). Every route
// file that changes tenants calls this one.
void tenants_changed(ApiContext& ctx);

// The context must outlive the router's use.
void register_api(Router& router, ApiContext& context);

}  // namespace portcullis::control
