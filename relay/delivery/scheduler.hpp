#pragma once
// The delivery engine: drains the durable queue to the recipients' MX hosts.
// It picks due recipients, groups them by domain, routes each domain (static
// routes, MX, A/AAAA), delivers over one SMTP connection per destination
// (reused while idle), and records every outcome durably before it forgets
// the attempt: delivered, deferred (retried on a schedule with jitter until
// the maximum age), bounced or expired (a DSN goes back to the sender).
//
// Untrusted input: replies of remote SMTP servers and DNS answers (parsed by
// the client and resolver). Runs on the relay's I/O thread, unprivileged.
// Delivery is at-least-once: a crash between the remote 250 and the durable
// record of it delivers the message again after restart, never loses it.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/events/delivery_event.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"
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

class DeliveryEngine {
 public:
  DeliveryEngine(asio::io_context& io, DeliveryServices services);
  ~DeliveryEngine();

  void start();
  void stop();
  // A message was queued: look for due work now instead of at the next scan.
  void wake();

  std::size_t in_flight() const { return in_flight_.size(); }

 private:
  struct PooledConnection {
    std::unique_ptr<SmtpClient> client;
    std::chrono::steady_clock::time_point idle_since;
  };
  struct DomainBatch {
    std::string domain;
    std::vector<queue::PendingRecipient> recipients;
  };

  asio::awaitable<void> scan_loop();
  void launch_due();
  asio::awaitable<void> deliver(queue::DueMessage message);
  asio::awaitable<void> attempt(queue::DueMessage message);
  asio::awaitable<std::vector<queue::RecipientOutcome>> deliver_domain(
      const queue::DueMessage& message, const std::string& data, const DomainBatch& batch);
  asio::awaitable<boost::system::result<std::unique_ptr<SmtpClient>, SessionFailure>>
  connection_for(const Target& target, const ClientSettings& settings);
  void release_connection(const Target& target,
                          const ClientSettings& settings,
                          std::unique_ptr<SmtpClient> client);
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
  asio::steady_timer wake_timer_;
  bool stopping_ = false;
  std::set<std::string> in_flight_;
  std::map<std::string, std::size_t> per_destination_;
  std::map<std::string, std::vector<PooledConnection>> idle_;
  std::map<std::string, std::unique_ptr<asio::ssl::context>> tls_contexts_;
  std::mt19937_64 random_;
};

}  // namespace portcullis::relay::delivery
