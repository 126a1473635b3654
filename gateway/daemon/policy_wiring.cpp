#include "gateway/daemon/policy_wiring.hpp"

#include <boost/asio/post.hpp>
#include <cctype>
#include <string>

#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/policy.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"
#include "relay/policy/policy_engine.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {
namespace {

bool digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

// The first enhanced status code (RFC 3463, "5.1.1") in the text, or "".
std::string_view enhanced_code(std::string_view text) {
  for (std::size_t i = 0; i + 4 < text.size(); ++i) {
    if ((text[i] != '4' && text[i] != '5') || text[i + 1] != '.' ||
        (i > 0 && !std::isspace(static_cast<unsigned char>(text[i - 1])))) {
      continue;
    }
    std::size_t j = i + 2;
    while (j < text.size() && digit(text[j])) {
      ++j;
    }
    if (j == i + 2 || j >= text.size() || text[j] != '.') {
      continue;
    }
    std::size_t k = j + 1;
    while (k < text.size() && digit(text[k])) {
      ++k;
    }
    if (k > j + 1) {
      return text.substr(i, k - i);
    }
  }
  return {};
}

}  // namespace

bool names_a_bad_address(std::string_view detail) {
  if (const auto code = enhanced_code(detail); !code.empty()) {
    return code.starts_with("5.1.");
  }
  return detail.starts_with("550") || detail.starts_with("551") || detail.starts_with("553");
}

std::unique_ptr<relay::policy::PolicyEngine> make_policy_engine(
    const Clock& clock,
    const config::Config& config,
    const tenants::TenantRegistry& registry,
    const store::Store& store,
    relay::queue::Spool& spool) {
  relay::policy::PolicyHooks hooks;
  hooks.limits = [&config, &registry](std::string_view id) -> std::optional<config::Plan> {
    const auto directory = registry.snapshot();
    const store::Tenant* tenant = directory ? directory->find(id) : nullptr;
    if (tenant == nullptr) {
      return std::nullopt;
    }
    const auto plan = config.plans.find(tenant->plan);
    if (plan == config.plans.end()) {
      return std::nullopt;
    }
    return store::effective_limits(plan->second, tenant->limits);
  };
  hooks.month_usage = [&spool](std::string_view tenant, std::string_view month) {
    return spool.messages_in_month(tenant, month);
  };
  hooks.suppression = [&store](std::string_view tenant,
                               std::string_view address) -> std::optional<std::string> {
    if (auto found = store.find_suppression(tenant, address)) {
      return std::string(store::to_string(found->list));
    }
    return std::nullopt;
  };
  hooks.count = [&spool](std::string_view tenant, relay::policy::StatKind kind) {
    spool.record_policy_counts(tenant, kind == relay::policy::StatKind::suppressed
                                           ? relay::queue::PolicyCount::suppressed
                                           : relay::queue::PolicyCount::rejected_limits);
  };
  return std::make_unique<relay::policy::PolicyEngine>(clock, std::move(hooks));
}

std::vector<control::StatsRow> SpoolStatsView::stats(std::string_view tenant,
                                                     std::int64_t from,
                                                     std::int64_t to,
                                                     bool by_day) const {
  std::vector<control::StatsRow> out;
  if (to <= from) {
    return out;
  }
  // The view's range is half-open; the spool's includes a bucket starting at `to`.
  for (const auto& row : spool_.stats(tenant, from, to - 1, by_day)) {
    out.push_back({row.start, row.requested, row.delivered, row.deferred, row.bounced_hard,
                   row.bounced_soft, row.suppressed, row.rejected_limits, row.complained});
  }
  return out;
}

BounceSuppressor::BounceSuppressor(const config::Config& config, store::Store& store)
    : config_(config), store_(store) {}

BounceSuppressor::~BounceSuppressor() {
  writer_.join();
}

void BounceSuppressor::subscribe(events::EventBus& bus) {
  bus.subscribe([this](const events::DeliveryEvent& event) { on_event(event); });
}

void BounceSuppressor::on_event(const events::DeliveryEvent& event) {
  using events::DeliveryEventType;
  if (event.tenant_id.empty() || event.recipient.empty()) {
    return;
  }
  const bool hard = event.type == DeliveryEventType::bounced && names_a_bad_address(event.detail);
  const bool soft = event.type == DeliveryEventType::expired;
  const bool delivered = event.type == DeliveryEventType::delivered;
  if (!hard && !soft && !delivered) {
    return;
  }
  boost::asio::post(writer_, [this, event, hard, soft] {
    auto suppress = [&](std::string reason) {
      store::Suppression s{.tenant_id = event.tenant_id,
                           .list = store::SuppressionList::bounces,
                           .address = event.recipient,
                           .reason = std::move(reason),
                           .created_at = 0};
      if (auto added = store_.add_suppression(std::move(s)); !added) {
        log::warning("suppression_add_failed",
                     {{"tenant", event.tenant_id}, {"error", added.error().message}});
        return;
      }
      log::info("suppressed", {{"tenant", event.tenant_id},
                               {"list", "bounces"},
                               {"recipient", event.recipient},
                               {"message", event.message_id}});
    };
    if (hard) {
      suppress(event.detail);
      return;
    }
    if (!soft) {  // delivered: the address works, its soft bounces are forgiven
      if (auto cleared = store_.clear_soft_bounce(event.tenant_id, event.recipient); !cleared) {
        log::warning("soft_bounce_clear_failed",
                     {{"tenant", event.tenant_id}, {"error", cleared.error().message}});
      }
      return;
    }
    const auto limit = config_.relay.suppression.soft_bounce_limit;
    auto count = store_.add_soft_bounce(event.tenant_id, event.recipient);
    if (!count) {
      log::warning("soft_bounce_count_failed",
                   {{"tenant", event.tenant_id}, {"error", count.error().message}});
      return;
    }
    if (limit > 0 && *count >= limit) {
      suppress(std::to_string(*count) + " soft bounces; the last: " + event.detail);
    }
  });
}

}  // namespace portcullis::daemon
