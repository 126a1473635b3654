#pragma once
// The control API's routes (see docs / SPEC): tenants, credentials, queue,
// health, as JSON over the control socket. Untrusted input: request bodies and
// path parameters from local operators; every field is type-checked here and
// validated by the store, and errors come back as {"error": "..."} with 400,
// 404 (no such tenant/credential/message) or 409 (duplicate).

#include <functional>
#include <string>

#include "gateway/core/control/queue_view.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::config {
struct Config;
}
namespace portcullis::store {
class Store;
}
namespace portcullis::tenants {
class TenantRegistry;
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
};

// The context must outlive the router's use.
void register_api(Router& router, ApiContext& context);

}  // namespace portcullis::control
