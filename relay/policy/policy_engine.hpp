#pragma once
// Per-tenant sending limits, checked in order at each step of an SMTP
// session: a connection slot after attribution or AUTH, then at MAIL the
// monthly quota, the message rate and the declared size, then at RCPT the
// recipients per message, the tenant's suppression lists and the recipient
// rate. Each check answers nothing (accept) or the reply to send: 4xx when
// waiting helps (rates, connections), 5xx when it does not.
//
// The limits of a tenant are its plan merged with its overrides, resolved by
// the caller on every check (the daemon reads them from the TenantDirectory
// snapshot), so a reload takes effect at the next command: rate buckets are
// re-sized and keep min(their tokens, the new capacity). A tenant without a
// plan (limits() answers nullopt) is not limited. A limit of 0 (which neither
// the config loader nor the store accepts) means no limit.
//
// Monthly quota: a passing MAIL reserves one message; message_done() releases
// it and counts it as used when the message was queued. The month's durable
// count is loaded once per tenant and month (month_usage, from the spool's
// stats) and the month rolls over at 00:00 UTC on the 1st by Clock::unix_now.
//
// Thread-safe: called from every I/O thread. Hooks run outside the engine's
// lock. Per-tenant state is created on first use; the number of tenants is
// bounded by the operator's tenant list, not by peers.
//
// Untrusted input: recipient addresses (passed to the suppression hook only)
// and declared sizes from SMTP clients. No privilege.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "relay/policy/token_bucket.hpp"
#include "relay/smtp/reply.hpp"

namespace portcullis::relay::policy {

// Refusals the engine reports for the tenant's statistics.
enum class StatKind { rejected_limits, suppressed };
std::string_view to_string(StatKind kind);

struct PolicyHooks {
  // The tenant's effective limits (plan + overrides); nullopt = no limits.
  std::function<std::optional<config::Plan>(std::string_view tenant)> limits;
  // Messages already queued for the tenant in `month` ("2026-11"); may be empty (0).
  std::function<std::uint64_t(std::string_view tenant, std::string_view month)> month_usage;
  // The suppression list holding the address ("bounces", "invalid", ...), or
  // nullopt; may be empty (nothing is suppressed).
  std::function<std::optional<std::string>(std::string_view tenant, std::string_view address)>
      suppression;
  // One call per refusal; may be empty.
  std::function<void(std::string_view tenant, StatKind kind)> count;
};

// What the engine holds for a tenant, for tests and metrics.
struct TenantUsage {
  std::size_t connections = 0;
  std::uint64_t used = 0;      // queued this month (once loaded)
  std::uint64_t reserved = 0;  // MAILs passed and not yet done
  std::string month;           // the month `used` counts; "" = not loaded yet
};

// "YYYY-MM" of a unix time, UTC.
std::string month_of(std::int64_t unix_seconds);

class PolicyEngine {
 public:
  PolicyEngine(const Clock& clock, PolicyHooks hooks);
  PolicyEngine(const PolicyEngine&) = delete;
  PolicyEngine& operator=(const PolicyEngine&) = delete;

  // Takes a connection slot for the tenant, or refuses with 421 when it has
  // max_connections already (all listeners count). Every admitted connection
  // must be closed exactly once (ConnectionSlot does it).
  std::optional<smtp::Reply> open_connection(std::string_view tenant);
  void close_connection(std::string_view tenant);

  // At MAIL: quota, then the message rates, then the declared size (0 = not
  // declared). A pass takes one token from each message bucket and reserves
  // one quota message, released by exactly one message_done().
  std::optional<smtp::Reply> check_mail(std::string_view tenant, std::uint64_t declared_size);
  // At RCPT, before the recipient is added: recipients_so_far is the count
  // already accepted in this transaction. A pass takes one recipient token.
  std::optional<smtp::Reply> check_rcpt(std::string_view tenant,
                                        std::string_view address,
                                        std::size_t recipients_so_far);
  // The transaction of a passed MAIL ended; accepted = its 250 after the
  // durable commit was sent.
  void message_done(std::string_view tenant, bool accepted);

  // The tenant's max_message_size, if it has one (DATA and BDAT use the
  // smaller of this and the listener's limit).
  std::optional<std::uint64_t> max_message_size(std::string_view tenant) const;

  TenantUsage usage(std::string_view tenant) const;

 private:
  struct TenantState {
    std::size_t connections = 0;
    std::uint64_t reserved = 0;
    std::uint64_t used = 0;
    std::string month;  // of `used`; "" = not loaded
    std::optional<TokenBucket> per_minute;
    std::optional<TokenBucket> per_hour;
    std::optional<TokenBucket> recipients_per_hour;
  };
  struct IdHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view id) const noexcept {
      return std::hash<std::string_view>{}(id);
    }
  };

  std::optional<config::Plan> limits_of(std::string_view tenant) const;
  TenantState& state(std::string_view tenant);  // mutex_ held
  // Makes `used` count the current month, loading it (outside the lock) when needed.
  void ensure_month(std::string_view tenant, const std::string& month);
  // Calls the count hook (outside the lock) and passes the reply through.
  std::optional<smtp::Reply> refuse(std::string_view tenant, StatKind kind, smtp::Reply reply);

  const Clock& clock_;
  PolicyHooks hooks_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, TenantState, IdHash, std::equal_to<>> tenants_;
};

// Holds one admitted connection of a tenant and closes it when destroyed.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  ConnectionSlot(PolicyEngine& engine, std::string tenant)
      : engine_(&engine), tenant_(std::move(tenant)) {}
  ConnectionSlot(ConnectionSlot&& other) noexcept
      : engine_(std::exchange(other.engine_, nullptr)), tenant_(std::move(other.tenant_)) {}
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
  ConnectionSlot(const ConnectionSlot&) = delete;
  ConnectionSlot& operator=(const ConnectionSlot&) = delete;
  ~ConnectionSlot() { reset(); }

  void reset();
  bool held() const { return engine_ != nullptr; }

 private:
  PolicyEngine* engine_ = nullptr;
  std::string tenant_;
};

}  // namespace portcullis::relay::policy
