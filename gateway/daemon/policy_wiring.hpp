#pragma once
// Tenant policy wiring: the relay's PolicyEngine reads limits from the tenant
// directory and the config's plans, quota usage and statistics from the
// spool, suppressions from the store; delivery outcomes feed the bounces list
// back. Core, relay and store stay unaware of each other; this file is where
// they meet.

#include <boost/asio/thread_pool.hpp>
#include <memory>

#include "gateway/core/control/stats_view.hpp"
#include "gateway/core/events/delivery_event.hpp"

namespace portcullis {
class Clock;
}
namespace portcullis::config {
struct Config;
}
namespace portcullis::store {
class Store;
}
namespace portcullis::tenants {
class TenantRegistry;
}
namespace portcullis::relay::queue {
class Spool;
}
namespace portcullis::relay::policy {
class PolicyEngine;
}

namespace portcullis::daemon {

// Limits come from config.plans at each check, so a reload that replaces
// the plans (SIGHUP, on the I/O thread) applies at the next command.
std::unique_ptr<relay::policy::PolicyEngine> make_policy_engine(
    const Clock& clock,
    const config::Config& config,
    const tenants::TenantRegistry& registry,
    const store::Store& store,
    relay::queue::Spool& spool);

class SpoolStatsView final : public control::StatsView {
 public:
  explicit SpoolStatsView(const relay::queue::Spool& spool) : spool_(spool) {}
  std::vector<control::StatsRow> stats(std::string_view tenant,
                                       std::int64_t from,
                                       std::int64_t to,
                                       bool by_day) const override;

 private:
  const relay::queue::Spool& spool_;
};

// Puts recipients on their tenant's bounces list: at once after a permanent
// failure that names the address (5.1.x, or a 550/551/553 without an
// enhanced code), and after config.relay.suppression.soft_bounce_limit
// expiries with no delivery in between. Failures about the message (size,
// content: 5.2/5.3/5.6) or about us (policy, blocklists: 5.7) do not condemn
// the address. Store writes run on a thread of their own: the bus calls from
// the committer and delivery paths, which must not wait for the state file.
class BounceSuppressor {
 public:
  BounceSuppressor(const config::Config& config, store::Store& store);
  ~BounceSuppressor();  // finishes the writes already handed over
  void subscribe(events::EventBus& bus);

 private:
  void on_event(const events::DeliveryEvent& event);

  const config::Config& config_;
  store::Store& store_;
  boost::asio::thread_pool writer_{1};
};

// Whether a permanent failure's reply text says the address itself is bad.
bool names_a_bad_address(std::string_view detail);

}  // namespace portcullis::daemon
