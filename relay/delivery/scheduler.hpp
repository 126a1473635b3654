#pragma once
// The delivery engine: drains the durable queue to the recipients' MX hosts.
//
// The schedule lives in memory (ReadyQueue): loaded from the spool at start,
// fed by the spool's hooks as messages are committed, retried or deleted, and
// kept in step with every recorded outcome. Picking the next recipient never
// queries the database, so its cost does not grow with the queue. A job is
// one message's due recipients for one destination (the recipient domain);
// destinations and tenants are served round robin.
//
// Destinations are shaped: at most max_connections jobs at once (per rule or
// max_per_destination), and a destination that fails as a whole (no route,
// connections refused, 421) is backed off as a whole, exponentially up to a
// cap, and then probed with one job at a time until one succeeds; its other
// mail waits in its ready queue instead of failing message by message.
//
// Off the I/O thread: message data is read on a reader thread, and outcomes
// (with their events, DSNs and stats) are recorded through the spool's
// committer, many attempts per transaction and fsync. An attempt is forgotten
// only once its outcome is durable: a crash in between delivers again after
// restart (at-least-once), never loses the message.
//
// Untrusted input: replies of remote SMTP servers and DNS answers (parsed by
// the client and resolver). Runs on the relay's I/O thread, unprivileged.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/events/delivery_event.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"
#include "relay/delivery/ready_queue.hpp"
#include "relay/delivery/routing.hpp"
#include "relay/delivery/smtp_client.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::relay::delivery {

struct DeliveryServices {
  const config::Config& config;
  queue::Spool& spool;
  RouteFinder& routes;
  tenants::TenantRegistry& tenants;
  events::EventBus& events;
  const Clock& clock;
};

// What the engine holds, for `queue summary` and the tests.
struct EngineCounts {
  std::size_t messages = 0;    // messages with pending recipients
  std::size_t ready = 0;       // jobs due and waiting for a connection
  std::size_t waiting = 0;     // jobs not due yet
  std::size_t in_flight = 0;   // jobs being attempted
  std::size_t backed_off = 0;  // destinations backing off
};

class DeliveryEngine {
 public:
  DeliveryEngine(asio::io_context& io, DeliveryServices services);
  ~DeliveryEngine();

  // Loads the spool's pending recipients (blocking: start-up) and starts.
  void start();
  void stop();

  // The spool's hooks, called on the I/O thread (the daemon posts them).
  void queued(std::vector<queue::DueMessage> messages);
  void retry_now(const std::string& id);
  void removed(const std::string& id);

  std::size_t in_flight() const { return in_flight_; }
  EngineCounts counts() const;

 private:
  struct RecipientState {
    queue::RecipientStatus status = queue::RecipientStatus::queued;
    int attempts = 0;
    std::optional<std::int64_t> first_failure_at;
    bool delay_notified = false;
    std::int64_t next_attempt_at = 0;
    bool busy = false;  // in a job being attempted
  };
  struct QueuedMessage {
    queue::Envelope envelope;
    std::uint64_t size = 0;
    std::vector<RecipientState> recipients;  // by envelope index
    std::size_t pending = 0;                 // recipients not final
    std::uint64_t epoch = 0;                 // bumped by retry_now: older jobs are stale
  };
  struct DestinationState {
    std::size_t active = 0;
    std::chrono::seconds backoff{0};  // 0 = healthy
    std::int64_t backoff_until = 0;   // unix seconds
  };
  struct PooledConnection {
    std::unique_ptr<SmtpClient> client;
    std::chrono::steady_clock::time_point idle_since;
    std::size_t sent = 0;
  };
  struct Connection {
    std::unique_ptr<SmtpClient> client;
    std::size_t sent = 0;
  };
  struct DomainResult {
    std::vector<queue::RecipientOutcome> outcomes;
    bool destination_failed = false;  // the destination as a whole: back off
  };

  asio::awaitable<void> tick_loop();
  void tick();
  void pump();
  void schedule(const std::string& id,
                const QueuedMessage& message,
                const std::vector<std::size_t>& recipients,
                std::int64_t due);
  void add_message(queue::DueMessage message);
  asio::awaitable<void> run_job(std::string id, std::string destination, queue::DueMessage due);
  asio::awaitable<std::optional<std::string>> read_data(std::string id);
  asio::awaitable<Result<queue::RecordedOutcomes>> record(queue::OutcomeRecord record);
  void apply(const std::string& id, const std::vector<queue::RecipientOutcome>& outcomes);
  void release(const std::string& id, const queue::DueMessage& due);
  void finish_job(const std::string& destination, bool destination_failed, bool succeeded);
  std::size_t limit_for(const std::string& destination, const DestinationState& state) const;
  const config::DestinationRule* rule_for(const std::string& destination) const;

  asio::awaitable<DomainResult> deliver_domain(const queue::DueMessage& message,
                                               const std::string& data,
                                               const std::string& domain);
  asio::awaitable<boost::system::result<Connection, SessionFailure>> connection_for(
      const Target& target, const ClientSettings& settings);
  void release_connection(const Target& target,
                          const ClientSettings& settings,
                          const std::string& domain,
                          Connection connection);
  void close_idle_connections();
  ClientSettings settings_for(const std::string& domain, const std::string& tenant_id) const;
  asio::ssl::context& tls_context_for(const ClientSettings& settings);
  queue::RecipientOutcome temporary_outcome(const queue::DueMessage& message,
                                            const queue::PendingRecipient& recipient,
                                            std::string reply,
                                            std::string remote);
  std::optional<queue::Message> make_delay_notice(
      const queue::DueMessage& message,
      const std::string& data,
      std::vector<queue::RecipientOutcome>& outcomes) const;
  std::optional<queue::Message> make_bounce(
      const queue::DueMessage& message,
      const std::string& data,
      const std::vector<queue::RecipientOutcome>& outcomes) const;

  asio::io_context& io_;
  DeliveryServices services_;
  asio::steady_timer tick_timer_;
  asio::thread_pool readers_{1};  // message data off the I/O thread
  bool stopping_ = false;
  bool started_ = false;
  ReadyQueue queue_;
  std::unordered_map<std::string, QueuedMessage> messages_;
  std::unordered_map<std::string, DestinationState> destinations_;
  std::size_t in_flight_ = 0;  // jobs holding a connection slot
  std::size_t recording_ = 0;  // jobs done with SMTP, waiting for their durable record
  std::map<std::string, std::vector<PooledConnection>> idle_;
  std::map<std::string, std::unique_ptr<asio::ssl::context>> tls_contexts_;
  std::mt19937_64 random_;
};

}  // namespace portcullis::relay::delivery
