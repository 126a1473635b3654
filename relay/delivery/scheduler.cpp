#include "relay/delivery/scheduler.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>

#include "gateway/core/log/log.hpp"
#include "gateway/core/offload.hpp"
#include "relay/delivery/dsn.hpp"

namespace portcullis::relay::delivery {
namespace {

constexpr auto kIdleConnectionLifetime = std::chrono::seconds(10);

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
    : io_(io), services_(services), tick_timer_(io), random_(std::random_device{}()) {}

DeliveryEngine::~DeliveryEngine() {
  stop();
  readers_.join();
}

void DeliveryEngine::start() {
  started_ = true;
  const auto loaded = services_.spool.load_pending();
  for (auto message : loaded) {
    add_message(std::move(message));
  }
  log::info(
      "delivery_loaded",
      {{"messages", messages_.size()}, {"ready", queue_.ready()}, {"waiting", queue_.waiting()}});
  asio::co_spawn(io_, tick_loop(), asio::detached);
}

void DeliveryEngine::stop() {
  stopping_ = true;
  tick_timer_.cancel();
  idle_.clear();
}

EngineCounts DeliveryEngine::counts() const {
  std::size_t backed_off = 0;
  for (const auto& [name, state] : destinations_) {
    backed_off += state.backoff.count() > 0 ? 1 : 0;
  }
  return EngineCounts{messages_.size(), queue_.ready(), queue_.waiting(), in_flight_, backed_off};
}

void DeliveryEngine::queued(std::vector<queue::DueMessage> messages) {
  for (auto& message : messages) {
    add_message(std::move(message));
  }
  pump();
}

void DeliveryEngine::add_message(queue::DueMessage message) {
  if (messages_.contains(message.id)) {
    return;  // loaded at start and announced by the committer too
  }
  QueuedMessage entry;
  entry.size = message.size;
  entry.recipients.resize(message.envelope.recipients.size());
  for (auto& r : entry.recipients) {
    r.status = queue::RecipientStatus::delivered;  // final unless listed as pending below
  }
  // Pending recipients grouped by due time, so one timer entry serves them.
  std::map<std::int64_t, std::vector<std::size_t>> by_due;
  for (const auto& p : message.recipients) {
    if (p.idx >= entry.recipients.size()) {
      continue;
    }
    auto& r = entry.recipients[p.idx];
    r.status = p.status;
    r.attempts = p.attempts;
    r.first_failure_at = p.first_failure_at;
    r.delay_notified = p.delay_notified;
    r.next_attempt_at = p.next_attempt_at;
    ++entry.pending;
    by_due[p.next_attempt_at].push_back(p.idx);
  }
  if (entry.pending == 0) {
    return;
  }
  entry.envelope = std::move(message.envelope);
  auto& stored = messages_.emplace(message.id, std::move(entry)).first->second;
  for (const auto& [due, idxs] : by_due) {
    schedule(message.id, stored, idxs, due);
  }
}

// One job per destination among the recipients.
void DeliveryEngine::schedule(const std::string& id,
                              const QueuedMessage& message,
                              const std::vector<std::size_t>& recipients,
                              std::int64_t due) {
  std::map<std::string, std::vector<std::size_t>> by_domain;
  for (const auto idx : recipients) {
    by_domain[domain_of(message.envelope.recipients[idx])].push_back(idx);
  }
  for (auto& [domain, idxs] : by_domain) {
    queue_.add(Job{id, message.envelope.tenant_id, domain, std::move(idxs), message.epoch}, due);
  }
}

void DeliveryEngine::retry_now(const std::string& id) {
  const auto it = messages_.find(id);
  if (it == messages_.end()) {
    return;
  }
  auto& message = it->second;
  ++message.epoch;  // jobs still in the timer heap are stale now
  std::vector<std::size_t> idxs;
  for (std::size_t i = 0; i < message.recipients.size(); ++i) {
    auto& r = message.recipients[i];
    if (!queue::is_final(r.status) && !r.busy) {
      r.next_attempt_at = 0;
      idxs.push_back(i);
    }
  }
  schedule(id, message, idxs, 0);
  // As postqueue -f revives a destination Postfix marked dead: the operator
  // asked for an attempt now, so the destination's backoff ends too.
  for (const auto idx : idxs) {
    const std::string domain = domain_of(message.envelope.recipients[idx]);
    const auto state = destinations_.find(domain);
    if (state != destinations_.end() && state->second.backoff.count() > 0) {
      state->second.backoff = std::chrono::seconds(0);
      state->second.backoff_until = 0;
      if (state->second.active < limit_for(domain, state->second)) {
        queue_.resume(domain);
      }
    }
  }
  pump();
}

void DeliveryEngine::removed(const std::string& id) {
  messages_.erase(id);  // its jobs find no message and are dropped
}

// Commits arrive hundreds of times a second; pump() runs on each. The tick
// moves due timers into the ready queues, ends backoffs and closes idle
// connections, once a second: a due retry waits at most that long.
asio::awaitable<void> DeliveryEngine::tick_loop() {
  while (!stopping_) {
    tick();
    // Due times are whole unix seconds: tick just after each one begins, so
    // a retry due at T starts at T, not up to a second later.
    const auto into_second =
        std::chrono::system_clock::now().time_since_epoch() % std::chrono::seconds(1);
    tick_timer_.expires_after(std::chrono::seconds(1) - into_second + std::chrono::milliseconds(2));
    co_await tick_timer_.async_wait(asio_nothrow);
  }
}

void DeliveryEngine::tick() {
  const std::int64_t now = services_.clock.unix_now();
  queue_.advance(now);
  for (auto& [name, state] : destinations_) {
    if (state.backoff.count() > 0 && state.backoff_until <= now &&
        state.active < limit_for(name, state)) {
      queue_.resume(name);  // a probe: limit_for allows one job while backing off
    }
  }
  std::erase_if(destinations_, [](const auto& entry) {
    return entry.second.active == 0 && entry.second.backoff.count() == 0;
  });
  close_idle_connections();
  pump();
}

const config::DestinationRule* DeliveryEngine::rule_for(const std::string& destination) const {
  for (const auto& rule : services_.config.delivery.destinations) {
    if (config::destination_matches(rule.match, destination)) {
      return &rule;
    }
  }
  return nullptr;
}

std::size_t DeliveryEngine::limit_for(const std::string& destination,
                                      const DestinationState& state) const {
  if (state.backoff.count() > 0) {
    return 1;  // probing
  }
  const auto* rule = rule_for(destination);
  if (rule != nullptr && rule->max_connections > 0) {
    return rule->max_connections;
  }
  return services_.config.delivery.max_per_destination;
}

void DeliveryEngine::pump() {
  if (stopping_ || !started_) {
    return;
  }
  const std::size_t capacity = services_.config.delivery.max_concurrency;
  // Attempts waiting for their record hold no connection, but memory: when
  // the disk falls this far behind, stop starting new ones.
  constexpr std::size_t kMaxRecording = 10'000;
  while (in_flight_ < capacity && recording_ < kMaxRecording) {
    auto job = queue_.next();
    if (!job) {
      return;
    }
    const auto it = messages_.find(job->message_id);
    if (it == messages_.end() || it->second.epoch != job->epoch) {
      continue;  // delivered, deleted or rescheduled meanwhile
    }
    auto& message = it->second;
    queue::DueMessage due{job->message_id, message.envelope, message.size, {}};
    for (const auto idx : job->recipients) {
      auto& r = message.recipients[idx];
      if (queue::is_final(r.status) || r.busy) {
        continue;
      }
      r.busy = true;
      due.recipients.push_back(queue::PendingRecipient{.idx = idx,
                                                       .address = message.envelope.recipients[idx],
                                                       .attempts = r.attempts,
                                                       .status = r.status,
                                                       .first_failure_at = r.first_failure_at,
                                                       .delay_notified = r.delay_notified,
                                                       .next_attempt_at = r.next_attempt_at});
    }
    if (due.recipients.empty()) {
      continue;
    }
    auto& destination = destinations_[job->destination];
    ++destination.active;
    ++in_flight_;
    if (destination.active >= limit_for(job->destination, destination)) {
      queue_.pause(job->destination);
    }
    asio::co_spawn(io_, run_job(job->message_id, job->destination, std::move(due)),
                   [](std::exception_ptr e) {
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

asio::awaitable<std::optional<std::string>> DeliveryEngine::read_data(std::string id) {
  // Named, not a temporary in the co_await: GCC 12 destroys such temporaries twice.
  auto read = [this, id = std::move(id)] { return services_.spool.data(id); };
  co_return co_await offload(readers_, std::move(read));
}

asio::awaitable<Result<queue::RecordedOutcomes>> DeliveryEngine::record(
    queue::OutcomeRecord record) {
  auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable),
                                          void(Result<queue::RecordedOutcomes>)>(
      [this, executor](auto handler, queue::OutcomeRecord r) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        auto work = asio::make_work_guard(executor);
        services_.spool.async_record(
            std::move(r), [shared, executor, work](Result<queue::RecordedOutcomes> result) mutable {
              asio::post(executor, [shared, result = std::move(result)]() mutable {
                std::move (*shared)(std::move(result));
              });
              work.reset();
            });
      },
      asio::use_awaitable, std::move(record));
}

asio::awaitable<void> DeliveryEngine::run_job(std::string id,
                                              std::string destination,
                                              queue::DueMessage due) {
  auto data = co_await read_data(id);
  if (!data) {
    messages_.erase(id);  // no longer in the spool: deleted meanwhile
    finish_job(destination, false, false);
    co_return;
  }
  auto result = co_await deliver_domain(due, *data, destination);
  auto& outcomes = result.outcomes;
  std::vector<queue::Message> bounces;
  if (auto dsn = make_bounce(due, *data, outcomes)) {
    bounces.push_back(std::move(*dsn));
  }
  if (auto notice = make_delay_notice(due, *data, outcomes)) {
    bounces.push_back(std::move(*notice));
  }
  data.reset();
  // The connection is free now: the destination's slot and the global one
  // go to the next job while this attempt waits for its durable record (a
  // commit is shared with many attempts; holding the slot through it would
  // cap a destination at max_connections / fsync latency).
  finish_job(destination, result.destination_failed, !result.destination_failed);
  ++recording_;
  // The outcomes and the DSN they cause are one transaction: a crash cannot
  // leave a bounced recipient without its bounce. A named record, not a
  // temporary in the co_await: GCC 12 destroys such aggregate temporaries twice.
  queue::OutcomeRecord outcome_record{id, due.envelope, outcomes, services_.clock.unix_now(),
                                      std::move(bounces)};
  auto recorded = co_await record(std::move(outcome_record));
  --recording_;
  if (recorded) {
    for (const auto& outcome : outcomes) {
      log::info("delivery_outcome", {{"msg", id},
                                     {"tenant", due.envelope.tenant_id},
                                     {"rcpt", address_of(due, outcome.idx)},
                                     {"status", queue::to_string(outcome.status)},
                                     {"remote", outcome.remote},
                                     {"reply", outcome.reply}});
    }
    apply(id, outcomes);
    for (const auto& event : recorded->events) {
      services_.events.publish(event);
    }
  } else {
    // Nothing recorded: the recipients are tried again (at-least-once).
    log::error("delivery_record_failed", {{"msg", id}, {"error", recorded.error().message}});
    release(id, due);
  }
  pump();
}

// The recorded outcomes, in memory: final recipients leave, deferred ones
// wait for their next attempt.
void DeliveryEngine::apply(const std::string& id,
                           const std::vector<queue::RecipientOutcome>& outcomes) {
  const auto it = messages_.find(id);
  if (it == messages_.end()) {
    return;
  }
  auto& message = it->second;
  const std::int64_t now = services_.clock.unix_now();
  std::map<std::int64_t, std::vector<std::size_t>> by_due;
  for (const auto& o : outcomes) {
    if (o.idx >= message.recipients.size()) {
      continue;
    }
    auto& r = message.recipients[o.idx];
    r.busy = false;
    ++r.attempts;
    r.status = o.status;
    if (queue::is_final(o.status)) {
      --message.pending;
      continue;
    }
    r.next_attempt_at = o.next_attempt_at;
    if (!r.first_failure_at) {
      r.first_failure_at = now;
    }
    r.delay_notified = r.delay_notified || o.delay_notified;
    by_due[o.next_attempt_at].push_back(o.idx);
  }
  if (message.pending == 0) {
    messages_.erase(it);
    return;
  }
  for (const auto& [due, idxs] : by_due) {
    schedule(id, message, idxs, due);
  }
}

// An attempt whose outcome could not be recorded: try it again shortly.
void DeliveryEngine::release(const std::string& id, const queue::DueMessage& due) {
  const auto it = messages_.find(id);
  if (it == messages_.end()) {
    return;
  }
  std::vector<std::size_t> idxs;
  for (const auto& p : due.recipients) {
    if (p.idx < it->second.recipients.size()) {
      it->second.recipients[p.idx].busy = false;
      idxs.push_back(p.idx);
    }
  }
  constexpr std::int64_t kRecordRetry = 10;
  schedule(id, it->second, idxs, services_.clock.unix_now() + kRecordRetry);
}

void DeliveryEngine::finish_job(const std::string& name, bool destination_failed, bool succeeded) {
  --in_flight_;
  auto& destination = destinations_[name];
  --destination.active;
  const std::int64_t now = services_.clock.unix_now();
  const auto& delivery = services_.config.delivery;
  if (destination_failed && destination.backoff_until > now) {
    // Another job of the same burst failed first: one failure, one step.
  } else if (destination_failed) {
    const auto next =
        destination.backoff.count() == 0 ? delivery.backoff_initial : destination.backoff * 2;
    destination.backoff = std::min(next, delivery.backoff_max);
    destination.backoff_until = now + destination.backoff.count();
    queue_.pause(name);
    log::info("destination_backoff",
              {{"destination", name}, {"seconds", destination.backoff.count()}});
  } else if (succeeded && destination.backoff.count() > 0) {
    destination.backoff = std::chrono::seconds(0);
    destination.backoff_until = 0;
    log::info("destination_recovered", {{"destination", name}});
  }
  if (destination.backoff_until <= now && destination.active < limit_for(name, destination)) {
    queue_.resume(name);
  }
  pump();
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

asio::awaitable<boost::system::result<DeliveryEngine::Connection, SessionFailure>>
DeliveryEngine::connection_for(const Target& target, const ClientSettings& settings) {
  auto& idle = idle_[pool_key(target, settings)];
  while (!idle.empty()) {
    auto pooled = std::move(idle.back());
    idle.pop_back();
    if (pooled.client && pooled.client->usable()) {
      co_return Connection{std::move(pooled.client), pooled.sent};
    }
  }
  auto client =
      co_await SmtpClient::connect(io_.get_executor(), target, settings, tls_context_for(settings));
  if (!client) {
    co_return client.error();
  }
  co_return Connection{std::move(*client), 0};
}

void DeliveryEngine::release_connection(const Target& target,
                                        const ClientSettings& settings,
                                        const std::string& domain,
                                        Connection connection) {
  if (!connection.client || !connection.client->usable() || stopping_) {
    return;
  }
  ++connection.sent;
  const auto* rule = rule_for(domain);
  if (rule != nullptr && rule->max_messages_per_connection > 0 &&
      connection.sent >= rule->max_messages_per_connection) {
    asio::co_spawn(
        io_,
        [client = std::move(connection.client)]() mutable -> asio::awaitable<void> {
          co_await client->quit();
        },
        asio::detached);
    return;
  }
  idle_[pool_key(target, settings)].push_back(
      {std::move(connection.client), std::chrono::steady_clock::now(), connection.sent});
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

asio::awaitable<DeliveryEngine::DomainResult> DeliveryEngine::deliver_domain(
    const queue::DueMessage& message, const std::string& data, const std::string& domain) {
  DomainResult result;
  auto& outcomes = result.outcomes;
  const auto all = [&](queue::RecipientStatus status, const std::string& reply,
                       const std::string& remote) {
    for (const auto& r : message.recipients) {
      if (status == queue::RecipientStatus::deferred) {
        outcomes.push_back(temporary_outcome(message, r, reply, remote));
      } else {
        outcomes.push_back({r.idx, status, 0, reply, remote});
      }
    }
  };

  const Route route = co_await services_.routes.route(domain);
  if (route.kind == Route::Kind::permanent) {
    all(queue::RecipientStatus::bounced, route.reason, "");
    co_return result;
  }
  if (route.kind == Route::Kind::temporary || route.targets.empty()) {
    all(queue::RecipientStatus::deferred, route.reason.empty() ? "no route" : route.reason, "");
    result.destination_failed = true;
    co_return result;
  }

  const ClientSettings settings = settings_for(domain, message.envelope.tenant_id);
  OutboundEnvelope envelope;
  envelope.mail_from = message.envelope.mail_from;
  for (const auto& r : message.recipients) {
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
        co_return result;
      }
      log::info("delivery_target_failed",
                {{"msg", message.id}, {"remote", last_remote}, {"reason", last_failure}});
      continue;
    }
    auto client = std::move(*connection);
    const std::string remote = client.client->remote();
    auto results = co_await client.client->send(envelope, data);
    if (!results) {
      last_failure = results.error().reason;
      last_remote = remote;
      if (results.error().permanent) {
        all(queue::RecipientStatus::bounced, last_failure, remote);
        release_connection(target, settings, domain, std::move(client));
        co_return result;
      }
      // A temporary session failure (4xx greeting or MAIL, dropped connection): next MX.
      continue;
    }
    release_connection(target, settings, domain, std::move(client));
    for (std::size_t i = 0; i < results->size() && i < message.recipients.size(); ++i) {
      const auto& answer = (*results)[i];
      const auto& recipient = message.recipients[i];
      switch (answer.kind) {
        case RecipientResult::Kind::delivered:
          outcomes.push_back(
              {recipient.idx, queue::RecipientStatus::delivered, 0, answer.reply, remote});
          break;
        case RecipientResult::Kind::permanent:
          outcomes.push_back(
              {recipient.idx, queue::RecipientStatus::bounced, 0, answer.reply, remote});
          break;
        case RecipientResult::Kind::temporary:
          outcomes.push_back(temporary_outcome(message, recipient, answer.reply, remote));
          break;
      }
    }
    co_return result;
  }
  // Every target refused, timed out or answered 4xx for the session: the
  // destination as a whole is unwell.
  all(queue::RecipientStatus::deferred, last_failure, last_remote);
  result.destination_failed = true;
  co_return result;
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
