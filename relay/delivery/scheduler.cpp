#include "relay/delivery/scheduler.hpp"

#include <algorithm>
#include <cctype>

#include "gateway/core/log/log.hpp"
#include "relay/delivery/dsn.hpp"

namespace portcullis::relay::delivery {
namespace {

constexpr std::size_t kScanBatch = 200;
constexpr auto kIdleConnectionLifetime = std::chrono::seconds(10);
constexpr auto kWakeDelay = std::chrono::milliseconds(50);

std::string domain_of(std::string_view address) {
  const auto at = address.rfind('@');
  std::string domain(at == std::string_view::npos ? std::string_view{} : address.substr(at + 1));
  std::transform(domain.begin(), domain.end(), domain.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return domain;
}

std::string pool_key(const Target& target, const ClientSettings& settings) {
  std::string key = target.address.to_string() + "|" + std::to_string(target.port) + "|" +
                    std::string(config::to_string(settings.tls));
  if (settings.source) {
    key += "|" + settings.source->to_string();
  }
  return key;
}

// Local refusals (routing, TLS policy) start with their enhanced code
// ("5.1.10 ..."); remote ones are SMTP replies ("550 5.1.1 ...").
std::string status_of(std::string_view reply) {
  const auto space = reply.find(' ');
  const std::string_view first = reply.substr(0, space);
  if (first.size() >= 5 && first[0] >= '2' && first[0] <= '5' && first[1] == '.') {
    return std::string(first);
  }
  return dsn_status(reply, '5');
}

std::string address_of(const queue::DueMessage& message, std::size_t idx) {
  const auto& all = message.envelope.recipients;
  return idx < all.size() ? all[idx] : std::string{};
}

}  // namespace

DeliveryEngine::DeliveryEngine(asio::io_context& io, DeliveryServices services)
    : io_(io), services_(services), wake_timer_(io), random_(std::random_device{}()) {}

DeliveryEngine::~DeliveryEngine() {
  stop();
}

void DeliveryEngine::start() {
  asio::co_spawn(io_, scan_loop(), asio::detached);
}

void DeliveryEngine::stop() {
  stopping_ = true;
  wake_timer_.cancel();
  idle_.clear();
}

// Commits arrive hundreds of times a second under load; each would cost a
// queue scan on the I/O thread. Bring the next scan forward to within
// kWakeDelay instead, so a burst of commits shares one scan.
void DeliveryEngine::wake() {
  const auto soon = std::chrono::steady_clock::now() + kWakeDelay;
  if (wake_timer_.expiry() > soon) {
    wake_timer_.expires_at(soon);  // completes the pending wait; scan_loop waits again until soon
  }
}

asio::awaitable<void> DeliveryEngine::scan_loop() {
  while (!stopping_) {
    launch_due();
    close_idle_connections();
    auto wait = services_.config.delivery.queue_scan_interval;
    const auto busy = [this](std::string_view id) { return in_flight_.contains(std::string(id)); };
    if (const auto next = services_.spool.next_due(busy)) {
      const auto until = *next - services_.clock.unix_now();
      wait = std::clamp(std::chrono::seconds(until), std::chrono::seconds(0), wait);
      if (until <= 0) {
        // Due work waits for a free slot; look again shortly.
        wait = std::chrono::seconds(1);
      }
    }
    wake_timer_.expires_after(wait);
    do {
      co_await wake_timer_.async_wait(asio_nothrow);
    } while (!stopping_ && std::chrono::steady_clock::now() < wake_timer_.expiry());
  }
}

void DeliveryEngine::launch_due() {
  const std::size_t capacity = services_.config.delivery.max_concurrency;
  if (in_flight_.size() >= capacity) {
    return;
  }
  const auto busy = [this](std::string_view id) { return in_flight_.contains(std::string(id)); };
  for (auto& message : services_.spool.due(services_.clock.unix_now(), kScanBatch, busy)) {
    if (in_flight_.size() >= capacity) {
      break;
    }
    if (in_flight_.contains(message.id)) {
      continue;
    }
    in_flight_.insert(message.id);
    asio::co_spawn(io_, deliver(std::move(message)), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::error("delivery_crashed", {{"error", ex.what()}});
        }
      }
    });
  }
}

ClientSettings DeliveryEngine::settings_for(const std::string& domain,
                                            const std::string& tenant_id) const {
  const auto& delivery = services_.config.delivery;
  ClientSettings settings;
  settings.helo_hostname = services_.config.relay.hostname;
  settings.connect_timeout = delivery.connect_timeout;
  settings.greeting_timeout = settings.mail_timeout = settings.rcpt_timeout =
      delivery.command_timeout;
  settings.data_init_timeout = delivery.command_timeout;
  settings.data_block_timeout = delivery.data_timeout;
  settings.data_term_timeout = delivery.data_timeout;
  for (const auto& policy : delivery.tls_policies) {
    if (policy.domain == domain) {
      settings.tls = policy.policy;
      if (!policy.ca_file.empty()) {
        settings.ca_file = policy.ca_file;
      }
    }
  }
  std::string source = delivery.source_address;
  if (const auto directory = services_.tenants.snapshot()) {
    if (const auto* tenant = directory->find(tenant_id)) {
      if (auto plan = services_.config.plans.find(tenant->plan);
          plan != services_.config.plans.end() && !plan->second.dedicated_ip.empty()) {
        source = plan->second.dedicated_ip;
      }
    }
  }
  for (const auto& dedicated : delivery.tenant_source_addresses) {
    if (dedicated.tenant == tenant_id) {
      source = dedicated.address;
    }
  }
  if (!source.empty()) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(source, ec);
    if (!ec) {
      settings.source = address;
    }
  }
  return settings;
}

asio::ssl::context& DeliveryEngine::tls_context_for(const ClientSettings& settings) {
  const std::string key = settings.ca_file ? settings.ca_file->string() : std::string{};
  auto& context = tls_contexts_[key];
  if (!context) {
    context = std::make_unique<asio::ssl::context>(make_client_tls_context(settings.ca_file));
  }
  return *context;
}

asio::awaitable<boost::system::result<std::unique_ptr<SmtpClient>, SessionFailure>>
DeliveryEngine::connection_for(const Target& target, const ClientSettings& settings) {
  auto& idle = idle_[pool_key(target, settings)];
  while (!idle.empty()) {
    auto pooled = std::move(idle.back());
    idle.pop_back();
    if (pooled.client && pooled.client->usable()) {
      co_return std::move(pooled.client);
    }
  }
  co_return co_await SmtpClient::connect(io_.get_executor(), target, settings,
                                         tls_context_for(settings));
}

void DeliveryEngine::release_connection(const Target& target,
                                        const ClientSettings& settings,
                                        std::unique_ptr<SmtpClient> client) {
  if (client && client->usable() && !stopping_) {
    idle_[pool_key(target, settings)].push_back(
        {std::move(client), std::chrono::steady_clock::now()});
  }
}

void DeliveryEngine::close_idle_connections() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    for (auto& pooled : list) {
      if (pooled.client && now - pooled.idle_since > kIdleConnectionLifetime) {
        asio::co_spawn(
            io_,
            [client = std::move(pooled.client)]() mutable -> asio::awaitable<void> {
              co_await client->quit();
            },
            asio::detached);
      }
    }
    std::erase_if(list, [](const PooledConnection& p) { return !p.client; });
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
}

queue::RecipientOutcome DeliveryEngine::temporary_outcome(const queue::DueMessage& message,
                                                          const queue::PendingRecipient& recipient,
                                                          std::string reply,
                                                          std::string remote) {
  const auto& delivery = services_.config.delivery;
  const std::int64_t now = services_.clock.unix_now();
  const std::int64_t expires = message.envelope.received_at + delivery.max_age.count();
  queue::RecipientOutcome outcome;
  outcome.idx = recipient.idx;
  outcome.reply = std::move(reply);
  outcome.remote = std::move(remote);
  if (now >= expires) {
    outcome.status = queue::RecipientStatus::expired;
    return outcome;
  }
  const auto& schedule = delivery.retry_schedule;
  const std::size_t step = std::min<std::size_t>(static_cast<std::size_t>(recipient.attempts),
                                                 schedule.empty() ? 0 : schedule.size() - 1);
  double delay = schedule.empty() ? 300.0 : static_cast<double>(schedule[step].count());
  // Jitter spreads retries of a burst so they don't hit the remote at once.
  std::uniform_real_distribution<double> jitter(-delivery.retry_jitter, delivery.retry_jitter);
  delay *= 1.0 + jitter(random_);
  outcome.status = queue::RecipientStatus::deferred;
  outcome.next_attempt_at =
      std::min(now + std::max<std::int64_t>(1, static_cast<std::int64_t>(delay)), expires);
  return outcome;
}

asio::awaitable<std::vector<queue::RecipientOutcome>> DeliveryEngine::deliver_domain(
    const queue::DueMessage& message, const std::string& data, const DomainBatch& batch) {
  std::vector<queue::RecipientOutcome> outcomes;
  const auto all = [&](queue::RecipientStatus status, const std::string& reply,
                       const std::string& remote) {
    for (const auto& r : batch.recipients) {
      if (status == queue::RecipientStatus::deferred) {
        outcomes.push_back(temporary_outcome(message, r, reply, remote));
      } else {
        outcomes.push_back({r.idx, status, 0, reply, remote});
      }
    }
  };

  const Route route = co_await services_.routes.route(batch.domain);
  if (route.kind == Route::Kind::permanent) {
    all(queue::RecipientStatus::bounced, route.reason, "");
    co_return outcomes;
  }
  if (route.kind == Route::Kind::temporary || route.targets.empty()) {
    all(queue::RecipientStatus::deferred, route.reason.empty() ? "no route" : route.reason, "");
    co_return outcomes;
  }

  const ClientSettings settings = settings_for(batch.domain, message.envelope.tenant_id);
  OutboundEnvelope envelope;
  envelope.mail_from = message.envelope.mail_from;
  for (const auto& r : batch.recipients) {
    envelope.recipients.push_back(r.address);
  }
  envelope.smtputf8 = message.envelope.smtputf8;
  envelope.eight_bit = message.envelope.body_type == "8BITMIME";

  std::string last_failure = "no delivery target could be reached";
  std::string last_remote;
  for (const Target& target : route.targets) {
    auto connection = co_await connection_for(target, settings);
    if (!connection) {
      last_failure = connection.error().reason;
      last_remote = target.host + " [" + target.address.to_string() + "]";
      if (connection.error().permanent) {
        all(queue::RecipientStatus::bounced, last_failure, last_remote);
        co_return outcomes;
      }
      log::info("delivery_target_failed",
                {{"msg", message.id}, {"remote", last_remote}, {"reason", last_failure}});
      continue;
    }
    auto client = std::move(*connection);
    const std::string remote = client->remote();
    auto results = co_await client->send(envelope, data);
    if (!results) {
      last_failure = results.error().reason;
      last_remote = remote;
      if (results.error().permanent) {
        all(queue::RecipientStatus::bounced, last_failure, remote);
        release_connection(target, settings, std::move(client));
        co_return outcomes;
      }
      // A temporary session failure (4xx greeting or MAIL, dropped connection): next MX.
      continue;
    }
    release_connection(target, settings, std::move(client));
    for (std::size_t i = 0; i < results->size() && i < batch.recipients.size(); ++i) {
      const auto& result = (*results)[i];
      const auto& recipient = batch.recipients[i];
      switch (result.kind) {
        case RecipientResult::Kind::delivered:
          outcomes.push_back(
              {recipient.idx, queue::RecipientStatus::delivered, 0, result.reply, remote});
          break;
        case RecipientResult::Kind::permanent:
          outcomes.push_back(
              {recipient.idx, queue::RecipientStatus::bounced, 0, result.reply, remote});
          break;
        case RecipientResult::Kind::temporary:
          outcomes.push_back(temporary_outcome(message, recipient, result.reply, remote));
          break;
      }
    }
    co_return outcomes;
  }
  all(queue::RecipientStatus::deferred, last_failure, last_remote);
  co_return outcomes;
}

asio::awaitable<void> DeliveryEngine::deliver(queue::DueMessage message) {
  const std::string id = message.id;
  co_await attempt(std::move(message));
  in_flight_.erase(id);
}

asio::awaitable<void> DeliveryEngine::attempt(queue::DueMessage message) {
  const auto data = services_.spool.data(message.id);
  if (!data) {
    co_return;  // deleted by the operator meanwhile
  }
  std::map<std::string, DomainBatch> batches;
  for (const auto& r : message.recipients) {
    auto& batch = batches[domain_of(r.address)];
    batch.domain = domain_of(r.address);
    batch.recipients.push_back(r);
  }

  std::vector<queue::RecipientOutcome> outcomes;
  for (const auto& [domain, batch] : batches) {
    auto& active = per_destination_[domain];
    if (active >= services_.config.delivery.max_per_destination) {
      // Leave these recipients due; a later scan picks them up.
      continue;
    }
    ++active;
    auto domain_outcomes = co_await deliver_domain(message, *data, batch);
    if (--per_destination_[domain] == 0) {
      per_destination_.erase(domain);
    }
    outcomes.insert(outcomes.end(), std::make_move_iterator(domain_outcomes.begin()),
                    std::make_move_iterator(domain_outcomes.end()));
  }
  if (outcomes.empty()) {
    co_return;
  }

  std::vector<queue::Message> bounces;
  if (auto dsn = make_bounce(message, *data, outcomes)) {
    bounces.push_back(std::move(*dsn));
  }
  if (auto notice = make_delay_notice(message, *data, outcomes)) {
    bounces.push_back(std::move(*notice));
  }
  const bool bouncing = !bounces.empty();
  // The outcomes and the DSN they cause are one transaction: a crash cannot
  // leave a bounced recipient without its bounce.
  auto recorded = services_.spool.record_outcomes(message.id, message.envelope, outcomes,
                                                  services_.clock.unix_now(), std::move(bounces));
  if (!recorded) {
    // Nothing recorded: the recipients stay due and are tried again (at-least-once).
    log::error("delivery_record_failed",
               {{"msg", message.id}, {"error", recorded.error().message}});
    co_return;
  }
  for (const auto& outcome : outcomes) {
    log::info("delivery_outcome", {{"msg", message.id},
                                   {"tenant", message.envelope.tenant_id},
                                   {"rcpt", address_of(message, outcome.idx)},
                                   {"status", queue::to_string(outcome.status)},
                                   {"remote", outcome.remote},
                                   {"reply", outcome.reply}});
  }
  for (const auto& event : recorded->events) {
    services_.events.publish(event);
  }
  if (bouncing) {
    wake();
  }
}

// One notice per recipient, once it has waited delay_notice_after; the
// outcome carries the mark so the notice and the mark commit together.
std::optional<queue::Message> DeliveryEngine::make_delay_notice(
    const queue::DueMessage& message,
    const std::string& data,
    std::vector<queue::RecipientOutcome>& outcomes) const {
  const auto& delivery = services_.config.delivery;
  const std::int64_t now = services_.clock.unix_now();
  if (!delivery.delay_notices || !should_bounce(message.envelope) ||
      now - message.envelope.received_at < delivery.delay_notice_after.count()) {
    return std::nullopt;
  }
  DsnReport report;
  report.reporting_host = services_.config.relay.hostname;
  report.original_mail_from = message.envelope.mail_from;
  report.original_message_id = message.id;
  report.arrival_time = message.envelope.received_at;
  report.original_headers = std::string(header_section_of(data));
  report.delayed = true;
  report.now = now;
  for (auto& outcome : outcomes) {
    const auto pending = std::find_if(message.recipients.begin(), message.recipients.end(),
                                      [&](const auto& r) { return r.idx == outcome.idx; });
    if (outcome.status != queue::RecipientStatus::deferred || pending == message.recipients.end() ||
        pending->delay_notified) {
      continue;
    }
    outcome.delay_notified = true;
    DsnRecipient r;
    r.final_recipient = pending->address;
    r.action = DsnAction::delayed;
    r.status = dsn_status(outcome.reply, '4');
    r.remote_mta = outcome.remote;
    r.diagnostic = outcome.reply;
    r.last_attempt = now;
    r.will_retry_until = message.envelope.received_at + delivery.max_age.count();
    report.recipients.push_back(std::move(r));
  }
  if (report.recipients.empty()) {
    return std::nullopt;
  }
  queue::Message notice;
  notice.id = queue::new_message_id();
  notice.data = make_dsn(report, notice.id);
  notice.envelope.tenant_id = message.envelope.tenant_id;
  notice.envelope.listener = "bounce";
  notice.envelope.recipients = {message.envelope.mail_from};
  notice.envelope.body_type = "7BIT";
  notice.envelope.received_at = now;
  return notice;
}

std::optional<queue::Message> DeliveryEngine::make_bounce(
    const queue::DueMessage& message,
    const std::string& data,
    const std::vector<queue::RecipientOutcome>& outcomes) const {
  if (!should_bounce(message.envelope)) {
    return std::nullopt;
  }
  const std::int64_t now = services_.clock.unix_now();
  DsnReport report;
  report.reporting_host = services_.config.relay.hostname;
  report.original_mail_from = message.envelope.mail_from;
  report.original_message_id = message.id;
  report.arrival_time = message.envelope.received_at;
  report.original_headers = std::string(header_section_of(data));
  report.now = now;
  for (const auto& outcome : outcomes) {
    if (outcome.status != queue::RecipientStatus::bounced &&
        outcome.status != queue::RecipientStatus::expired) {
      continue;
    }
    DsnRecipient r;
    r.final_recipient = address_of(message, outcome.idx);
    r.action = DsnAction::failed;
    r.status = outcome.status == queue::RecipientStatus::expired ? std::string(kStatusExpired)
                                                                 : status_of(outcome.reply);
    r.remote_mta = outcome.remote;
    r.diagnostic = outcome.reply;
    r.last_attempt = now;
    report.recipients.push_back(std::move(r));
  }
  if (report.recipients.empty()) {
    return std::nullopt;
  }
  queue::Message dsn;
  dsn.id = queue::new_message_id();
  dsn.data = make_dsn(report, dsn.id);
  dsn.envelope.tenant_id = message.envelope.tenant_id;
  dsn.envelope.listener = "bounce";
  dsn.envelope.mail_from = "";
  dsn.envelope.recipients = {message.envelope.mail_from};
  dsn.envelope.body_type = "7BIT";
  dsn.envelope.received_at = now;
  return dsn;
}

}  // namespace portcullis::relay::delivery
