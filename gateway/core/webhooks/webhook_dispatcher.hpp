#pragma once
// Delivery events to tenants' HTTPS webhooks: batched, signed (signature.hpp),
// retried until the receiver answers 2xx, at least once, in id order.
//
// Durability without an outbox: the queue stores every DeliveryEvent with an
// increasing id before it publishes it. Per tenant the dispatcher keeps a
// cursor, the last event id the receiver acknowledged; it reads the events
// after the cursor from the event log, POSTs them, and moves the cursor only
// after a 2xx. A crash between the POST and the cursor save sends that batch
// again (receivers dedupe on the event "id"); nothing is ever skipped, except
// that a new registration starts after the events that already happened.
//
// One coroutine per registered endpoint, all on one strand of the executor.
// The EventLog and CursorStore are called on that strand and should be quick
// (SQLite reads and one-row writes); notify() and reload() only post to it.
//
// Untrusted input: the receivers' answers (only the status is used, see
// https_post.hpp) and the registered URLs (parse_webhook_url; a bad one is
// logged once and skipped). Event text from remote SMTP servers is sent as
// JSON strings. A URL may name any host the gateway can reach, internal ones
// included: only operators register them. Needs no privilege; it connects out
// to port 443 or the URL's port.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/events/delivery_event.hpp"

namespace portcullis::webhooks {

struct Endpoint {
  std::string tenant_id;
  std::string url;
  std::string secret;

  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// The durable event log; the daemon adapts the spool. Both adapters report a
// storage error by throwing (std::exception): the dispatcher logs it and
// retries with the backoff, as for a failed POST. They must never answer
// "nothing" or "no cursor" for an error: that would skip events.
class EventLog {
 public:
  virtual ~EventLog() = default;
  // Events of `tenant` with id > after_id, oldest first, at most `limit`.
  virtual std::vector<events::DeliveryEvent> events_after(std::string_view tenant,
                                                          std::int64_t after_id,
                                                          std::size_t limit) const = 0;
  // The highest id stored so far, of any tenant (0 when none): where a new
  // registration starts.
  virtual std::int64_t last_event_id() const = 0;
};

// Registrations and cursors; the daemon adapts the store.
class CursorStore {
 public:
  virtual ~CursorStore() = default;
  virtual std::vector<Endpoint> endpoints() const = 0;  // current registrations
  // nullopt only when never set (a new registration: it starts at last_event_id()).
  virtual std::optional<std::int64_t> cursor(std::string_view tenant) const = 0;
  virtual void set_cursor(std::string_view tenant, std::int64_t id) = 0;
};

struct DispatcherSettings {
  std::size_t batch_size = 100;  // events per POST, at least 1
  // After notify() wakes an idle endpoint, gather events this long before a POST.
  std::chrono::milliseconds flush_delay{500};
  // Waits after the 1st, 2nd, ... failed POST of a batch; the last repeats
  // forever. Milliseconds so tests can retry quickly; seconds convert.
  std::vector<std::chrono::milliseconds> retry_backoff{
      std::chrono::seconds(1),  std::chrono::seconds(2),  std::chrono::seconds(5),
      std::chrono::seconds(15), std::chrono::seconds(60), std::chrono::seconds(300)};
  std::chrono::seconds request_timeout{10};  // resolve + connect + TLS + write + read
  std::string ca_file;                       // "" = the system trust store; else only this file
  // Event types sent; the others still move the cursor. "accepted" is not sent by default.
  std::set<std::string> types{"delivered", "bounced", "deferred", "expired", "complained"};
  // An idle endpoint reads the log this often even without notify(): events
  // whose notification was missed (published before start()) still go out.
  std::chrono::seconds idle_poll{60};
};

// What an endpoint is doing, for the control API and tests.
struct EndpointStatus {
  std::string tenant_id;
  std::string host;                    // host:port
  std::optional<std::int64_t> cursor;  // the last acknowledged id, as last read or saved
  std::size_t failures = 0;            // consecutive failed POSTs of the current batch
  std::string last_error;              // of the latest failure; "" after a success
  std::int64_t delivered = 0;          // events acknowledged since start()
};

namespace detail {
struct DispatcherState;
}

class WebhookDispatcher {
 public:
  // Throws std::runtime_error (start-up only) when the CA file or the system
  // trust store cannot be loaded. The log, store and clock must outlive the
  // dispatcher's coroutines: stop() it, then stop the io_context, before
  // destroying them.
  WebhookDispatcher(asio::any_io_executor executor,
                    EventLog& log,
                    CursorStore& cursors,
                    const Clock& clock,
                    DispatcherSettings settings);
  ~WebhookDispatcher();
  WebhookDispatcher(const WebhookDispatcher&) = delete;
  WebhookDispatcher& operator=(const WebhookDispatcher&) = delete;

  // Reads the registrations and starts one coroutine per endpoint.
  void start();
  // Abandons requests in flight (their batches go again after a restart) and
  // ends every coroutine; the log and store are not touched after it returns
  // when called on the executor's thread, nor once the io_context has stopped.
  void stop();
  // Thread-safe and never blocks (one post): wakes the tenant's endpoint.
  // Call it from an EventBus handler.
  void notify(const events::DeliveryEvent& event);
  // Thread-safe: registrations changed; starts, updates (URL, secret) and
  // stops endpoints to match CursorStore::endpoints().
  void reload();

  // Thread-safe snapshot, ordered by tenant.
  std::vector<EndpointStatus> status() const;

 private:
  std::shared_ptr<detail::DispatcherState> state_;
};

}  // namespace portcullis::webhooks
