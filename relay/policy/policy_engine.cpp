#include "relay/policy/policy_engine.hpp"

#include <chrono>
#include <cstdio>

namespace portcullis::relay::policy {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

struct Refusal {
  StatKind kind;
  smtp::Reply reply;
};

// Whole seconds, rounded up: "try again in 0 s" would invite a retry storm.
std::uint64_t seconds_to_wait(Clock::duration wait) {
  const auto s = std::chrono::ceil<std::chrono::seconds>(wait).count();
  return s < 1 ? 1 : static_cast<std::uint64_t>(s);
}

// Creates, re-sizes (the plan changed) or drops (no limit) a bucket.
void sync(std::optional<TokenBucket>& bucket,
          std::uint64_t capacity,
          Clock::duration period,
          Clock::time_point now) {
  if (capacity == 0) {
    bucket.reset();
  } else if (!bucket) {
    bucket.emplace(capacity, period, now);
  } else if (bucket->capacity() != capacity || bucket->period() != period) {
    bucket->resize(capacity, period, now);
  }
}

smtp::Reply rate_reply(std::uint64_t limit,
                       std::string_view what,
                       std::string_view tenant,
                       Clock::duration wait) {
  return smtp::Reply(451, "4.7.1",
                     "Rate limit: " + std::to_string(limit) + " " + std::string(what) +
                         " for tenant " + std::string(tenant) + "; try again in " +
                         std::to_string(seconds_to_wait(wait)) + " s");
}

}  // namespace

std::string_view to_string(StatKind kind) {
  switch (kind) {
    case StatKind::rejected_limits:
      return "rejected_limits";
    case StatKind::suppressed:
      return "suppressed";
  }
  return "?";
}

std::string month_of(std::int64_t unix_seconds) {
  const std::chrono::sys_seconds t{std::chrono::seconds(unix_seconds)};
  const std::chrono::year_month_day day{std::chrono::floor<std::chrono::days>(t)};
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02u", static_cast<int>(day.year()),
                static_cast<unsigned>(day.month()));
  return text;
}

PolicyEngine::PolicyEngine(const Clock& clock, PolicyHooks hooks)
    : clock_(clock), hooks_(std::move(hooks)) {}

std::optional<config::Plan> PolicyEngine::limits_of(std::string_view tenant) const {
  return hooks_.limits ? hooks_.limits(tenant) : std::nullopt;
}

PolicyEngine::TenantState& PolicyEngine::state(std::string_view tenant) {
  auto it = tenants_.find(tenant);
  if (it == tenants_.end()) {
    it = tenants_.emplace(std::string(tenant), TenantState{}).first;
  }
  return it->second;
}

std::optional<smtp::Reply> PolicyEngine::refuse(std::string_view tenant,
                                                StatKind kind,
                                                smtp::Reply reply) {
  if (hooks_.count) {
    hooks_.count(tenant, kind);
  }
  return reply;
}

std::optional<smtp::Reply> PolicyEngine::open_connection(std::string_view tenant) {
  const auto plan = limits_of(tenant);
  {
    std::lock_guard lock(mutex_);
    TenantState& s = state(tenant);
    const std::uint64_t limit = plan ? plan->max_connections : 0;
    if (limit == 0 || s.connections < limit) {
      ++s.connections;
      return std::nullopt;
    }
  }
  return refuse(tenant, StatKind::rejected_limits,
                smtp::Reply(421, "4.7.0",
                            "Too many connections for tenant " + std::string(tenant) + " (limit " +
                                std::to_string(plan->max_connections) + "), try again later"));
}

void PolicyEngine::close_connection(std::string_view tenant) {
  std::lock_guard lock(mutex_);
  const auto it = tenants_.find(tenant);
  if (it != tenants_.end() && it->second.connections > 0) {
    --it->second.connections;
  }
}

void PolicyEngine::ensure_month(std::string_view tenant, const std::string& month) {
  {
    std::lock_guard lock(mutex_);
    if (state(tenant).month == month) {
      return;
    }
  }
  // A database read: outside the lock, so other tenants' checks do not wait.
  const std::uint64_t used = hooks_.month_usage ? hooks_.month_usage(tenant, month) : 0;
  std::lock_guard lock(mutex_);
  TenantState& s = state(tenant);
  if (s.month != month) {
    s.month = month;
    s.used = used;
  }
}

std::optional<smtp::Reply> PolicyEngine::check_mail(std::string_view tenant,
                                                    std::uint64_t declared_size) {
  const auto plan = limits_of(tenant);
  const std::string month = month_of(clock_.unix_now());
  if (plan && plan->monthly_quota > 0) {
    ensure_month(tenant, month);
  }
  const Clock::time_point now = clock_.now();
  std::optional<Refusal> refusal;
  {
    std::lock_guard lock(mutex_);
    TenantState& s = state(tenant);
    if (plan) {
      sync(s.per_minute, plan->messages_per_minute, minutes(1), now);
      sync(s.per_hour, plan->messages_per_hour, hours(1), now);
      const std::string t(tenant);
      if (plan->monthly_quota > 0 && s.month == month &&
          s.used + s.reserved >= plan->monthly_quota) {
        refusal = Refusal{StatKind::rejected_limits,
                          smtp::Reply(550, "5.7.1",
                                      "Monthly quota of " + std::to_string(plan->monthly_quota) +
                                          " messages exhausted for tenant " + t +
                                          "; it renews on the 1st (UTC)")};
      } else if (s.per_minute && s.per_minute->available(now) == 0) {
        refusal = Refusal{StatKind::rejected_limits,
                          rate_reply(plan->messages_per_minute, "messages per minute", tenant,
                                     s.per_minute->retry_after(now))};
      } else if (s.per_hour && s.per_hour->available(now) == 0) {
        refusal = Refusal{StatKind::rejected_limits,
                          rate_reply(plan->messages_per_hour, "messages per hour", tenant,
                                     s.per_hour->retry_after(now))};
      } else if (plan->max_message_size > 0 && declared_size > plan->max_message_size) {
        refusal = Refusal{StatKind::rejected_limits,
                          smtp::Reply(552, "5.3.4",
                                      "Message size exceeds the tenant's limit of " +
                                          std::to_string(plan->max_message_size) + " bytes")};
      }
    }
    if (!refusal) {
      // Checked above: both takes succeed, or neither bucket exists.
      if (s.per_minute) {
        s.per_minute->try_take(now);
      }
      if (s.per_hour) {
        s.per_hour->try_take(now);
      }
      ++s.reserved;
      return std::nullopt;
    }
  }
  return refuse(tenant, refusal->kind, std::move(refusal->reply));
}

std::optional<smtp::Reply> PolicyEngine::check_rcpt(std::string_view tenant,
                                                    std::string_view address,
                                                    std::size_t recipients_so_far) {
  const auto plan = limits_of(tenant);
  if (plan && plan->recipients_per_message > 0 &&
      recipients_so_far >= plan->recipients_per_message) {
    // RFC 5321 4.5.3.1.10: temporary, so the client sends the rest in another transaction.
    return refuse(tenant, StatKind::rejected_limits,
                  smtp::Reply(452, "4.5.3",
                              "Too many recipients (limit " +
                                  std::to_string(plan->recipients_per_message) + ")"));
  }
  if (hooks_.suppression) {
    if (auto list = hooks_.suppression(tenant, address)) {
      const bool undeliverable = *list == "bounces" || *list == "invalid";
      return refuse(tenant, StatKind::suppressed,
                    smtp::Reply(550, undeliverable ? "5.1.1" : "5.7.1",
                                "<" + std::string(address) + "> is on tenant " +
                                    std::string(tenant) + "'s " + *list + " suppression list"));
    }
  }
  if (!plan || plan->recipients_per_hour == 0) {
    return std::nullopt;
  }
  const Clock::time_point now = clock_.now();
  Clock::duration wait{};
  {
    std::lock_guard lock(mutex_);
    TenantState& s = state(tenant);
    sync(s.recipients_per_hour, plan->recipients_per_hour, hours(1), now);
    if (s.recipients_per_hour->try_take(now)) {
      return std::nullopt;
    }
    wait = s.recipients_per_hour->retry_after(now);
  }
  return refuse(tenant, StatKind::rejected_limits,
                rate_reply(plan->recipients_per_hour, "recipients per hour", tenant, wait));
}

void PolicyEngine::message_done(std::string_view tenant, bool accepted) {
  const std::string month = month_of(clock_.unix_now());
  std::lock_guard lock(mutex_);
  const auto it = tenants_.find(tenant);
  if (it == tenants_.end()) {
    return;
  }
  TenantState& s = it->second;
  if (s.reserved > 0) {
    --s.reserved;
  }
  // Only when `used` counts this month: otherwise the durable count, loaded
  // at the next MAIL, already includes the message.
  if (accepted && s.month == month) {
    ++s.used;
  }
}

std::optional<std::uint64_t> PolicyEngine::max_message_size(std::string_view tenant) const {
  const auto plan = limits_of(tenant);
  if (!plan || plan->max_message_size == 0) {
    return std::nullopt;
  }
  return plan->max_message_size;
}

TenantUsage PolicyEngine::usage(std::string_view tenant) const {
  std::lock_guard lock(mutex_);
  const auto it = tenants_.find(tenant);
  if (it == tenants_.end()) {
    return {};
  }
  const TenantState& s = it->second;
  return TenantUsage{s.connections, s.used, s.reserved, s.month};
}

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    reset();
    engine_ = std::exchange(other.engine_, nullptr);
    tenant_ = std::move(other.tenant_);
  }
  return *this;
}

void ConnectionSlot::reset() {
  if (engine_ != nullptr) {
    std::exchange(engine_, nullptr)->close_connection(tenant_);
  }
}

}  // namespace portcullis::relay::policy
