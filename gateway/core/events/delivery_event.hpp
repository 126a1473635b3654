#pragma once
// Delivery events: every outcome of a queued recipient (accepted, delivered,
// deferred, bounced, expired, deleted), stored durably by the queue and
// published in-process so later consumers (abuse scoring, stats, webhooks)
// see them without including relay/. Untrusted input: detail carries remote
// SMTP replies and recipient addresses come from clients; consumers must
// treat them as opaque text.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::events {

enum class DeliveryEventType { accepted, delivered, deferred, bounced, expired, deleted };

std::string_view to_string(DeliveryEventType type);
std::optional<DeliveryEventType> parse_delivery_event_type(std::string_view text);

struct DeliveryEvent {
  std::int64_t id = 0;    // assigned by the store; 0 before it is written
  std::int64_t time = 0;  // unix seconds
  DeliveryEventType type = DeliveryEventType::accepted;
  std::string tenant_id;
  std::string message_id;
  std::string recipient;
  std::string detail;  // remote reply or local reason
  std::string remote;  // "mx.example.org [198.18.2.10]"; the client address for accepted
};

struct EventFilter {
  std::string tenant;        // "" = every tenant
  std::int64_t since = 0;    // unix seconds, inclusive; 0 = from the start
  std::string message_id;    // "" = every message
  std::size_t limit = 1000;  // the most recent `limit` matches, returned oldest first
};

// In-process fan-out. publish() runs every handler synchronously on the
// caller's thread (the queue's committer thread or the delivery thread), so
// handlers must be quick and thread-safe. Subscribe during start-up.
class EventBus {
 public:
  using Handler = std::function<void(const DeliveryEvent&)>;

  void subscribe(Handler handler);
  void publish(const DeliveryEvent& event) const;

 private:
  // Copy-on-subscribe: publish takes a snapshot under the lock and runs the
  // handlers outside it, so a handler may publish or subscribe itself.
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<Handler>> handlers_;
};

}  // namespace portcullis::events
