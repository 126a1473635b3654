#include "gateway/daemon/abuse_wiring.hpp"

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "abuse/collectors/dnsbl_collector.hpp"
#include "abuse/collectors/egress_collector.hpp"
#include "abuse/collectors/feedback_intake.hpp"
#include "abuse/collectors/outcome_collector.hpp"
#include "abuse/desk/abuse_engine.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/events/delivery_event.hpp"
#include "gateway/core/firewall/egress_events.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/store.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {
namespace {

// Every address of an exempt prefix up to this many is checked; a larger
// exempt network is checked at its first addresses only (and logged once).
constexpr std::size_t kMaxAddressesPerPrefix = 256;

void add_prefix_hosts(const net::Prefix& prefix,
                      const std::string& tenant,
                      std::vector<abuse::DnsblTarget>& out) {
  const auto& network = prefix.network;
  if (network.is_v4()) {
    const auto bits = 32 - prefix.length;
    const std::size_t count =
        bits >= 32 ? kMaxAddressesPerPrefix
                   : std::min<std::size_t>(std::size_t{1} << bits, kMaxAddressesPerPrefix);
    const auto base = network.to_v4().to_uint();
    for (std::size_t i = 0; i < count; ++i) {
      out.push_back({asio::ip::address_v4(base + static_cast<std::uint32_t>(i)), tenant});
    }
    return;
  }
  // IPv6: hosts (/128) only; a network's addresses are too many to ask about.
  if (prefix.length == 128) {
    out.push_back({network, tenant});
  }
}

void add_literal(std::string_view text,
                 const std::string& tenant,
                 std::vector<abuse::DnsblTarget>& out) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(text, ec);
  if (!ec) {
    out.push_back({address, tenant});
  }
}

// What the DNSBL collector checks: the relay's outbound addresses (the shared
// one belongs to the gateway, tenant ""; a dedicated one to its tenant), the
// operator's extra addresses, and every tenant host allowed to send on port
// 25 directly.
std::vector<abuse::DnsblTarget> dnsbl_targets(const config::Config& config,
                                              const store::Store& store) {
  std::vector<abuse::DnsblTarget> targets;
  add_literal(config.delivery.source_address, "", targets);
  for (const auto& a : config.abuse.dnsbl.addresses) {
    add_literal(a, "", targets);
  }
  for (const auto& t : config.delivery.tenant_source_addresses) {
    add_literal(t.address, t.tenant, targets);
  }
  for (const auto& tenant : store.list_tenants()) {
    if (tenant.limits.dedicated_ip) {
      add_literal(*tenant.limits.dedicated_ip, tenant.id, targets);
    } else if (auto plan = config.plans.find(tenant.plan); plan != config.plans.end()) {
      add_literal(plan->second.dedicated_ip, tenant.id, targets);
    }
    if (tenant.port25_mode == store::Port25Mode::exempt) {
      for (const auto& subnet : tenant.subnets) {
        add_prefix_hosts(subnet, tenant.id, targets);
      }
    }
    for (const auto& o : tenant.host_overrides) {
      if (o.mode == store::Port25Mode::exempt) {
        add_prefix_hosts(o.prefix, tenant.id, targets);
      }
    }
  }
  // One query per address and zone, even when several sources name it.
  std::set<std::pair<std::string, std::string>> seen;
  std::erase_if(targets, [&](const abuse::DnsblTarget& t) {
    return !seen.emplace(t.address.to_string(), t.tenant_id).second;
  });
  return targets;
}

// The event log keeps a message's tenant after it left the queue: feedback
// reports arrive days after delivery.
std::string tenant_of_queue_id(const relay::queue::Spool& spool, std::string_view queue_id) {
  events::EventFilter filter;
  filter.message_id = std::string(queue_id);
  filter.limit = 1;
  for (const auto& e : spool.events(filter)) {
    if (!e.tenant_id.empty()) {
      return e.tenant_id;
    }
  }
  if (auto message = spool.get(queue_id)) {
    return message->envelope.tenant_id;
  }
  return {};
}

}  // namespace

// Members in dependency order: the collectors hold references to the engine.
struct AbuseParts {
  explicit AbuseParts(AbuseInputs& in)
      : engine(in.io.get_executor(),
               abuse::DeskServices{in.config, in.store, in.abuse_store, in.clock, &in.mailer,
                                   std::move(in.tenants_changed)}),
        intake(
            in.io.get_executor(),
            in.config,
            in.abuse_store,
            in.store,
            engine,
            in.clock,
            [&spool = in.spool](std::string_view id) { return tenant_of_queue_id(spool, id); },
            [&spool = in.spool](const std::string& tenant) {
              spool.record_policy_counts(tenant, relay::queue::PolicyCount::complained);
            }),
        outcomes(in.config, in.clock, engine),
        egress(in.config, engine),
        dnsbl(
            in.io.get_executor(),
            in.dns,
            in.config,
            [&config = in.config, &store = in.store] { return dnsbl_targets(config, store); },
            engine,
            in.clock) {}

  abuse::AbuseEngine engine;
  abuse::FeedbackIntake intake;
  abuse::OutcomeCollector outcomes;
  abuse::EgressCollector egress;
  abuse::DnsblCollector dnsbl;
};

// A DNSBL zone the collector refuses throws from its constructor; the parts
// built before it are destroyed again (the intake joins its worker).
AbuseWiring::AbuseWiring(AbuseInputs inputs)
    : io_(inputs.io),
      parts_(std::make_unique<AbuseParts>(inputs)),
      zones_(inputs.config.abuse.dnsbl.zones.size()) {}

AbuseWiring::~AbuseWiring() = default;

void AbuseWiring::subscribe(events::EventBus& delivery_events, firewall::EgressBus& egress) {
  auto* parts = parts_.get();
  auto& io = io_;
  delivery_events.subscribe([parts, &io](const events::DeliveryEvent& e) {
    asio::post(io, [parts, e] { parts->outcomes.on_event(e); });
  });
  egress.subscribe([parts, &io](const firewall::EgressObservation& o) {
    asio::post(io, [parts, o] { parts->egress.on_egress(o); });
  });
}

void AbuseWiring::start() {
  parts_->engine.start();
  parts_->dnsbl.start();
  log::info("abuse_desk_started", {{"dnsbl_zones", zones_}});
}

void AbuseWiring::stop() {
  parts_->dnsbl.stop();
  parts_->intake.stop();
  parts_->engine.stop();
}

abuse::AbuseDesk& AbuseWiring::desk() {
  return parts_->engine;
}

mail::LocalMailbox& AbuseWiring::mailbox() {
  return parts_->intake;
}

}  // namespace portcullis::daemon
