#pragma once
// Reads the delivery events of each tenant for the patterns of a spammer or a bought list:
//
//   - bounce_rate / unknown_recipients: over the sliding abuse.bounces.window, the share of
//     outcomes (delivered + bounced, one per recipient) that bounced, and that bounced because
//     the address does not exist (5.1.1, 5.1.0, 5.1.10, or the usual words when the reply has no
//     enhanced code). Nothing is said before min_messages outcomes. Once per crossing: a signal
//     when the rate reaches its threshold, none while it stays there; re-armed when the rate falls
//     back below it, or when the window holds fewer than half of min_messages (the tenant went
//     quiet, so a later burst is a new crossing). A threshold of 0 turns its signal off.
//   - rbl_rejection: every bounce or deferral whose reply is a policy refusal (5.7.x, 4.7.x, or a
//     550/554 without a more specific enhanced code) citing a blocklist or spam. One signal per
//     event: the engine's cooldown makes repetitions (a deferral retried hourly) one signal.
//   - volume: messages accepted in the current clock hour (a message's recipients count once)
//     against the tenant's baseline, an exponentially weighted mean (alpha 0.3) of its previous
//     complete hours, hours without mail counting as 0. The hour in which the collector first saw
//     the tenant is partial and does not count, so a tenant has no baseline until one complete
//     hour has passed. At most one signal per hour, when the count reaches both
//     volume.min_messages and volume.factor times the baseline. Baselines live in memory and are
//     rebuilt after a restart.
//
// Events of the gateway's own mail (tenant "") are ignored. Times are the events' (the clock's
// when 0). Memory: at most kMaxOutcomes outcomes per tenant (the oldest go first).
//
// Untrusted input: remote SMTP replies (event detail) and recipient addresses (from clients).
// They are only searched (bounded) and quoted in evidence sanitised to printable ASCII and
// bounded. Not thread-safe: call on one thread (the wiring posts to the I/O thread).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "abuse/signal_sink.hpp"
#include "gateway/core/events/delivery_event.hpp"

namespace portcullis {
class Clock;
}
namespace portcullis::config {
struct Config;
}

namespace portcullis::abuse {

// A bounce reply saying the address does not exist.
bool names_an_unknown_recipient(std::string_view reply);
// A refusal reply citing a blocklist, a reputation service or spam.
bool names_a_blocklist(std::string_view reply);

class OutcomeCollector {
 public:
  static constexpr std::size_t kMaxOutcomes = 100'000;

  OutcomeCollector(const config::Config& config, const Clock& clock, SignalSink& sink);

  void on_event(const events::DeliveryEvent& event);

 private:
  struct Outcome {
    std::int64_t time = 0;
    bool bounced = false;
    bool unknown = false;
  };
  struct Tenant {
    std::deque<Outcome> outcomes;
    std::int64_t latest = 0;  // newest outcome time
    std::size_t bounced = 0;  // among outcomes
    std::size_t unknown = 0;
    std::string bounce_sample;  // the latest bounce, "recipient: reply", sanitised
    std::string unknown_sample;
    bool bounce_fired = false;
    bool unknown_fired = false;

    std::int64_t first_hour = -1;  // unix hour the tenant was first seen accepting mail
    std::int64_t hour = -1;        // the current hour
    std::uint64_t hour_messages = 0;
    std::string last_message;  // queue id of the last accepted event counted
    std::optional<double> baseline;
    bool volume_fired = false;
  };

  void add_outcome(const std::string& tenant_id,
                   Tenant& t,
                   const events::DeliveryEvent& event,
                   std::int64_t now);
  void check_rates(const std::string& tenant_id, Tenant& t);
  void check_blocklist(const events::DeliveryEvent& event, std::int64_t now);
  void count_accepted(const std::string& tenant_id,
                      Tenant& t,
                      const events::DeliveryEvent& event,
                      std::int64_t now);

  std::int64_t window_;  // seconds
  std::size_t min_messages_;
  double bounce_rate_;
  double unknown_rate_;
  double volume_factor_;
  std::uint64_t volume_min_;
  const Clock& clock_;
  SignalSink& sink_;
  std::unordered_map<std::string, Tenant> tenants_;
};

}  // namespace portcullis::abuse
