#pragma once
// Wires the abuse desk (abuse/) into the daemon: the engine (scoring,
// tickets, exceptions) and its collectors fed by the delivery event bus, the
// egress monitor, DNSBL lookups through the delivery resolver and the
// feedback listener's mailbox. Events arrive on the committer, delivery and
// monitor threads and are posted to the I/O thread, where everything of the
// desk runs. Needs no privilege of its own: firewall changes go through
// tenants_changed, which the daemon runs with the capabilities it kept.

#include <functional>
#include <memory>

#include "gateway/core/asio.hpp"

namespace portcullis {
class Clock;
}
namespace portcullis::config {
struct Config;
}
namespace portcullis::store {
class Store;
class AbuseStore;
}  // namespace portcullis::store
namespace portcullis::dns {
class Lookup;
}
namespace portcullis::events {
class EventBus;
}
namespace portcullis::firewall {
class EgressBus;
}
namespace portcullis::mail {
class LocalMailbox;
class MailSubmitter;
}  // namespace portcullis::mail
namespace portcullis::abuse {
class AbuseDesk;
}
namespace portcullis::relay::queue {
class Spool;
}

namespace portcullis::daemon {

struct AbuseParts;

// What the desk works with; all outlive the AbuseWiring.
struct AbuseInputs {
  asio::io_context& io;
  const config::Config& config;
  store::Store& store;
  store::AbuseStore& abuse_store;
  relay::queue::Spool& spool;
  dns::Lookup& dns;
  const Clock& clock;
  mail::MailSubmitter& mailer;
  std::function<void()> tenants_changed;  // publish the tenants' new overrides and limits
};

class AbuseWiring {
 public:
  // Throws std::runtime_error for a DNSBL zone that abuse/dnsbl refuses (start-up).
  explicit AbuseWiring(AbuseInputs inputs);
  ~AbuseWiring();

  void subscribe(events::EventBus& delivery_events, firewall::EgressBus& egress);
  void start();
  void stop();

  abuse::AbuseDesk& desk();
  mail::LocalMailbox& mailbox();

 private:
  asio::io_context& io_;
  std::unique_ptr<AbuseParts> parts_;
  std::size_t zones_ = 0;
};

}  // namespace portcullis::daemon
