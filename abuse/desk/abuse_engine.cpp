#include "abuse/desk/abuse_engine.hpp"

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>

#include <boost/json.hpp>

#include "abuse/desk/notification.hpp"
#include "abuse/desk/scoring.hpp"
#include "abuse/desk/ticket_actions.hpp"
#include "abuse/mime/text.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/mail/rfc5322_date.hpp"

namespace portcullis::abuse {
namespace {

constexpr std::size_t kRecentSignals = 20;
constexpr std::size_t kMaxSummary = 240;

std::string first_line(std::string_view text) {
  return mime::sanitize(text.substr(0, text.find_first_of("\r\n")), kMaxSummary);
}

config::AbuseAction action_for(const config::AbuseConfig& config, store::TicketCategory category) {
  const auto it = config.actions.find(std::string(store::to_string(category)));
  return it == config.actions.end() ? config::AbuseAction::none : it->second;
}

bool names_host(const net::Prefix& prefix, const std::vector<std::string>& hosts) {
  return std::any_of(hosts.begin(), hosts.end(), [&](const std::string& host) {
    auto p = host_prefix(host);
    return p && prefix.overlaps(*p);
  });
}

// The override of exactly this prefix, if the tenant has one.
const store::HostOverride* override_of(const store::Tenant& tenant, const net::Prefix& prefix) {
  for (const auto& o : tenant.host_overrides) {
    if (o.prefix == prefix) {
      return &o;
    }
  }
  return nullptr;
}

std::string expiry_text(const std::optional<std::int64_t>& expires_at) {
  return expires_at ? "expires " + mail::rfc5322_date(*expires_at) : std::string("until revoked");
}

}  // namespace

struct AbuseEngine::Timer {
  explicit Timer(asio::any_io_executor executor) : timer(std::move(executor)) {}
  asio::steady_timer timer;
  bool running = false;
};

AbuseEngine::AbuseEngine(asio::any_io_executor executor, DeskServices services)
    : executor_(std::move(executor)),
      services_(std::move(services)),
      timer_(std::make_unique<Timer>(executor_)) {}

AbuseEngine::~AbuseEngine() {
  *alive_ = false;
}

void AbuseEngine::start() {
  if (!timer_->running) {
    timer_->running = true;
    schedule_tick();
  }
}

void AbuseEngine::schedule_tick() {
  timer_->timer.expires_after(std::chrono::seconds(1));
  timer_->timer.async_wait([this, alive = alive_](const boost::system::error_code& ec) {
    if (ec || !*alive || !timer_->running) {
      return;
    }
    tick();
    schedule_tick();
  });
}

void AbuseEngine::stop() {
  timer_->running = false;
  timer_->timer.cancel();
}

void AbuseEngine::tick() {
  expire_exceptions();
  send_reminders();
}

void AbuseEngine::changed() {
  if (services_.tenants_changed) {
    services_.tenants_changed();
  }
}

void AbuseEngine::audit(std::string_view subject,
                        std::int64_t id,
                        const std::string& actor,
                        std::string action,
                        std::string text) {
  store::AuditEntry entry;
  entry.actor = actor;
  entry.subject = std::string(subject);
  entry.subject_id = id;
  entry.action = std::move(action);
  entry.text = std::move(text);
  if (auto ok = services_.abuse_store.audit(std::move(entry)); !ok) {
    log::error("abuse_audit_failed",
               {{"subject", subject}, {"id", id}, {"error", ok.error().message}});
  }
}

// ---- signals and automatic tickets ----

void AbuseEngine::record_signal(store::Signal signal) {
  const auto& config = services_.config.abuse;
  if (signal.time == 0) {
    signal.time = services_.clock.unix_now();
  }
  // Each feedback report is its own complainant: only repeated observations
  // of one state (a listing, a rate, a host's attempts) cool down.
  const auto cooldown = config.signal_cooldown.count();
  if (cooldown > 0 && signal.kind != store::SignalKind::complaint) {
    auto last = services_.abuse_store.last_signal(signal.tenant_id, signal.kind, signal.host);
    if (last && signal.time - last->time < cooldown) {
      log::debug("abuse_signal_cooled_down", {{"tenant", signal.tenant_id},
                                              {"kind", store::to_string(signal.kind)},
                                              {"host", signal.host}});
      return;
    }
  }
  const auto category = store::category_of(signal.kind);
  const auto active = services_.abuse_store.active_ticket(signal.tenant_id, category);
  signal.ticket_id = active ? std::optional(active->id) : std::nullopt;
  auto stored = services_.abuse_store.add_signal(std::move(signal));
  if (!stored) {
    log::error("abuse_signal_not_stored", {{"error", stored.error().message}});
    return;
  }
  log::info("abuse_signal", {{"tenant", stored->tenant_id},
                             {"kind", store::to_string(stored->kind)},
                             {"host", stored->host},
                             {"strength", stored->strength},
                             {"ticket", stored->ticket_id.value_or(0)}});
  if (active) {
    attach(*active, *stored);
    return;
  }
  const auto since = stored->time - config.score_window.count();
  const auto signals = services_.abuse_store.signals(stored->tenant_id, since);
  if (unticketed_points(signals, category, config.weights) >= config.ticket_threshold) {
    open_automatic(*stored, since);
  }
}

void AbuseEngine::open_automatic(const store::Signal& trigger, std::int64_t since) {
  const auto& config = services_.config.abuse;
  const auto category = store::category_of(trigger.kind);
  std::vector<store::Signal> signals;
  for (auto& s : services_.abuse_store.signals(trigger.tenant_id, since)) {
    if (!s.ticket_id && store::category_of(s.kind) == category) {
      signals.push_back(std::move(s));
    }
  }
  const auto points = unticketed_points(signals, category, config.weights);
  store::Ticket ticket;
  ticket.tenant_id = trigger.tenant_id;
  ticket.category = category;
  ticket.opened_by = "auto";
  for (const auto& s : signals) {
    ticket.hosts.push_back(s.host);
  }
  ticket.summary = first_line(trigger.evidence);
  auto opened = services_.abuse_store.open_ticket(
      std::move(ticket), std::to_string(signals.size()) + " " +
                             std::string(store::to_string(category)) + " signals scored " +
                             std::to_string(static_cast<long long>(points)) +
                             " points (threshold " +
                             std::to_string(static_cast<long long>(config.ticket_threshold)) + ")");
  if (!opened) {
    log::error("abuse_ticket_not_opened",
               {{"tenant", trigger.tenant_id}, {"error", opened.error().message}});
    return;
  }
  for (const auto& s : signals) {
    if (auto ok = services_.abuse_store.attach_signal(s.id, opened->id); !ok) {
      log::error("abuse_signal_not_attached", {{"signal", s.id}, {"error", ok.error().message}});
    }
  }
  log::warning("abuse_ticket_opened", {{"ticket", opened->id},
                                       {"tenant", opened->tenant_id},
                                       {"category", store::to_string(category)},
                                       {"points", points}});
  act_on_tenant(*opened);
  act_on_hosts(*opened, opened->hosts);
  notify(opened->id, 0);
}

void AbuseEngine::attach(store::Ticket ticket, const store::Signal& signal) {
  audit("ticket", ticket.id, "auto", "signal",
        std::string(store::to_string(signal.kind)) +
            (signal.host.empty() ? "" : " " + signal.host) + ": " + first_line(signal.evidence));
  const bool new_host = !signal.host.empty() && std::find(ticket.hosts.begin(), ticket.hosts.end(),
                                                          signal.host) == ticket.hosts.end();
  if (new_host) {
    ticket.hosts.push_back(signal.host);
  }
  if (auto ok = services_.abuse_store.update_ticket(ticket); !ok) {
    log::error("abuse_ticket_not_updated", {{"ticket", ticket.id}, {"error", ok.error().message}});
    return;
  }
  if (new_host) {
    act_on_hosts(ticket, {signal.host});
  }
}

void AbuseEngine::record_action(const store::Ticket& ticket, Result<store::TicketAction> action) {
  if (!action) {
    log::warning("abuse_action_failed", {{"ticket", ticket.id}, {"error", action.error().message}});
    audit("ticket", ticket.id, "auto", "action_failed", action.error().message);
    return;
  }
  auto stored = services_.abuse_store.add_action(std::move(*action));
  if (!stored) {
    log::error("abuse_action_not_stored",
               {{"ticket", ticket.id}, {"error", stored.error().message}});
    return;
  }
  log::warning("abuse_action", {{"ticket", ticket.id},
                                {"tenant", ticket.tenant_id},
                                {"kind", store::to_string(stored->kind)},
                                {"target", stored->target}});
  audit("ticket", ticket.id, "auto", "action",
        std::string(store::to_string(stored->kind)) + " " + stored->target + " (action " +
            std::to_string(stored->id) + ")");
}

void AbuseEngine::act_on_tenant(const store::Ticket& ticket) {
  if (ticket.tenant_id.empty() || !services_.store.get_tenant(ticket.tenant_id)) {
    return;
  }
  const auto& config = services_.config.abuse;
  switch (action_for(config, ticket.category)) {
    case config::AbuseAction::throttle:
      record_action(ticket, apply_throttle(services_.store, config, ticket.tenant_id, ticket.id));
      changed();
      break;
    case config::AbuseAction::suspend:
      record_action(ticket, apply_suspend(services_.store, ticket.tenant_id, ticket.id));
      changed();
      break;
    case config::AbuseAction::none:
    case config::AbuseAction::block_host:
      break;
  }
}

bool AbuseEngine::revoke_exceptions_for(const store::Ticket& ticket,
                                        const std::vector<std::string>& hosts) {
  if (!services_.config.abuse.revoke_exceptions_on_ticket || ticket.tenant_id.empty() ||
      hosts.empty()) {
    return false;
  }
  bool revoked = false;
  for (auto& e :
       services_.abuse_store.list_exceptions(ticket.tenant_id, store::ExceptionStatus::approved)) {
    if (!names_host(e.prefix, hosts)) {
      continue;
    }
    const auto id = e.id;
    auto ended = end_exception(std::move(e), store::ExceptionStatus::revoked, "auto",
                               "abuse ticket #" + std::to_string(ticket.id) + " names its host");
    if (!ended) {
      record_action(ticket, ended.error());
      continue;
    }
    store::TicketAction action;
    action.ticket_id = ticket.id;
    action.kind = store::ActionKind::revoke_exception;
    action.target = std::to_string(id);
    action.previous = boost::json::serialize(boost::json::object{{"status", "approved"}});
    record_action(ticket, std::move(action));
    revoked = true;
  }
  return revoked;
}

void AbuseEngine::act_on_hosts(const store::Ticket& ticket, const std::vector<std::string>& hosts) {
  if (ticket.tenant_id.empty() || hosts.empty() || !services_.store.get_tenant(ticket.tenant_id)) {
    return;
  }
  bool acted = revoke_exceptions_for(ticket, hosts);
  if (action_for(services_.config.abuse, ticket.category) == config::AbuseAction::block_host) {
    for (const auto& host : hosts) {
      record_action(ticket, apply_block_host(services_.store, ticket.tenant_id, host, ticket.id));
      acted = true;
    }
  }
  if (acted) {
    changed();
  }
}

// ---- notifications ----

void AbuseEngine::notify(std::int64_t ticket_id, int reminder) {
  auto detail = services_.abuse_store.ticket_detail(ticket_id);
  if (!detail) {
    return;
  }
  const auto& config = services_.config.abuse;
  const auto& ticket = detail->ticket;
  std::string contact;
  if (!ticket.tenant_id.empty()) {
    if (auto tenant = services_.store.get_tenant(ticket.tenant_id)) {
      contact = tenant->abuse_contact;
    }
  }
  std::vector<std::string> to;
  std::vector<std::string> cc;
  if (!contact.empty()) {
    to.push_back(contact);
    if (!config.desk_address.empty() && config.desk_address != contact) {
      cc.push_back(config.desk_address);
    }
  } else if (!config.desk_address.empty()) {
    to.push_back(config.desk_address);
  }
  if (to.empty() || services_.mailer == nullptr) {
    log::warning(
        "abuse_ticket_not_notified",
        {{"ticket", ticket_id},
         {"reason", to.empty() ? "no abuse contact and no abuse.desk_address" : "no mailer"}});
    if (reminder == 0) {
      audit("ticket", ticket_id, "auto", "not_notified",
            to.empty() ? "the tenant has no abuse contact and abuse.desk_address is empty"
                       : "this gateway sends no mail");
    }
    return;
  }
  if (!notifying_.insert(ticket_id).second) {
    return;
  }
  Notification n{ticket, detail->signals, detail->actions};
  n.from = config.notify_from;
  n.to = to;
  n.cc = cc;
  n.hostname = services_.config.relay.hostname;
  n.reminder = reminder;
  n.now = services_.clock.unix_now();
  auto recipients = to;
  recipients.insert(recipients.end(), cc.begin(), cc.end());
  const bool tenant_asked = !contact.empty();
  services_.mailer->submit(
      compose_notification(n),
      [this, alive = alive_, executor = executor_, ticket_id, reminder, tenant_asked,
       recipients = std::move(recipients)](Result<std::string> queued) mutable {
        asio::post(executor, [this, alive, ticket_id, reminder, tenant_asked,
                              recipients = std::move(recipients), queued = std::move(queued)] {
          if (!*alive) {
            return;
          }
          notifying_.erase(ticket_id);
          std::string list;
          for (const auto& r : recipients) {
            list += (list.empty() ? "" : ", ") + r;
          }
          if (!queued) {
            log::error("abuse_notification_failed",
                       {{"ticket", ticket_id}, {"error", queued.error().message}});
            audit("ticket", ticket_id, "auto", "notify_failed", queued.error().message);
            return;
          }
          auto ticket = services_.abuse_store.get_ticket(ticket_id);
          if (!ticket) {
            return;
          }
          ticket->notified_at = services_.clock.unix_now();
          ticket->reminders = reminder;
          if (tenant_asked && ticket->status == store::TicketStatus::open) {
            ticket->status = store::TicketStatus::waiting;
          }
          if (auto ok = services_.abuse_store.update_ticket(*ticket); !ok) {
            log::error("abuse_ticket_not_updated",
                       {{"ticket", ticket_id}, {"error", ok.error().message}});
          }
          log::info(
              "abuse_notification_queued",
              {{"ticket", ticket_id}, {"to", list}, {"queue_id", *queued}, {"reminder", reminder}});
          audit("ticket", ticket_id, "auto", reminder > 0 ? "reminded" : "notified",
                "to " + list + " (queue id " + *queued + ")");
        });
      });
}

void AbuseEngine::send_reminders() {
  const auto& config = services_.config.abuse;
  if (config.max_reminders == 0) {
    return;
  }
  store::TicketFilter waiting;
  waiting.status = store::TicketStatus::waiting;
  const auto now = services_.clock.unix_now();
  for (const auto& t : services_.abuse_store.list_tickets(waiting)) {
    if (t.notified_at > 0 && now - t.notified_at >= config.reminder_after.count() &&
        static_cast<std::size_t>(t.reminders) < config.max_reminders) {
      notify(t.id, t.reminders + 1);
    }
  }
}

// ---- the desk's tickets ----

Result<Reputation> AbuseEngine::reputation(const std::string& tenant_id) const {
  const auto& config = services_.config.abuse;
  Reputation r;
  r.tenant_id = tenant_id;
  r.ticket_threshold = config.ticket_threshold;
  r.window_seconds = config.score_window.count();
  const auto signals =
      services_.abuse_store.signals(tenant_id, services_.clock.unix_now() - r.window_seconds);
  store::TicketFilter mine;
  mine.tenant_id = tenant_id;
  mine.any_tenant = false;
  r.tickets = services_.abuse_store.list_tickets(mine);
  if (!tenant_id.empty() && signals.empty() && r.tickets.empty() &&
      !services_.store.get_tenant(tenant_id)) {
    return make_error("no tenant '" + tenant_id + "'");
  }
  r.terms = score_terms(signals, config.weights);
  for (const auto& t : r.terms) {
    r.score += t.points;
  }
  for (auto it = signals.rbegin(); it != signals.rend() && r.recent.size() < kRecentSignals; ++it) {
    r.recent.push_back(*it);
  }
  return r;
}

Result<store::Ticket> AbuseEngine::open_ticket(const NewTicket& request) {
  if (!request.tenant_id.empty()) {
    if (auto tenant = services_.store.get_tenant(request.tenant_id); !tenant) {
      return tenant.error();
    }
  }
  for (const auto& host : request.hosts) {
    if (!host_prefix(host)) {
      return make_error("host '" + mime::sanitize(host, 64) + "' is not an IP address");
    }
  }
  store::Ticket ticket;
  ticket.tenant_id = request.tenant_id;
  ticket.category = request.category;
  ticket.hosts = request.hosts;
  ticket.summary = request.summary;
  ticket.opened_by = request.actor;
  auto opened = services_.abuse_store.open_ticket(std::move(ticket), request.note);
  if (!opened) {
    return opened;
  }
  // By hand the desk chooses the actions; the exception policy still holds.
  if (revoke_exceptions_for(*opened, opened->hosts)) {
    changed();
  }
  notify(opened->id, 0);
  return services_.abuse_store.get_ticket(opened->id);
}

std::vector<store::Ticket> AbuseEngine::list_tickets(const store::TicketFilter& filter) const {
  return services_.abuse_store.list_tickets(filter);
}

Result<store::TicketDetail> AbuseEngine::ticket(std::int64_t id) const {
  return services_.abuse_store.ticket_detail(id);
}

Result<void> AbuseEngine::add_note(std::int64_t id,
                                   const std::string& actor,
                                   const std::string& text) {
  auto ticket = services_.abuse_store.get_ticket(id);
  if (!ticket) {
    return ticket.error();
  }
  if (text.empty()) {
    return make_error("a note needs text");
  }
  if (auto ok = services_.abuse_store.update_ticket(*ticket); !ok) {
    return ok;
  }
  audit("ticket", id, actor, "note", text);
  return {};
}

Result<store::Ticket> AbuseEngine::set_status(std::int64_t id,
                                              store::TicketStatus status,
                                              const std::string& actor,
                                              const std::string& note) {
  auto ticket = services_.abuse_store.get_ticket(id);
  if (!ticket) {
    return ticket;
  }
  const auto before = ticket->status;
  ticket->status = status;
  if (auto ok = services_.abuse_store.update_ticket(*ticket); !ok) {
    return ok.error();
  }
  audit("ticket", id, actor, "status",
        std::string(store::to_string(before)) + " -> " + std::string(store::to_string(status)) +
            (note.empty() ? "" : ": " + note));
  return services_.abuse_store.get_ticket(id);
}

Result<void> AbuseEngine::undo(const store::Ticket& ticket, const store::TicketAction& action) {
  if (action.kind != store::ActionKind::revoke_exception) {
    return undo_action(services_.store, ticket.tenant_id, action);
  }
  // Reinstating a revoked exception: exempt again, as approved before.
  std::int64_t id = 0;
  const auto& target = action.target;
  if (std::from_chars(target.data(), target.data() + target.size(), id).ec != std::errc{}) {
    return make_error("action " + std::to_string(action.id) + " names no exception request");
  }
  auto request = services_.abuse_store.get_exception(id);
  if (!request) {
    return request.error();
  }
  if (request->status != store::ExceptionStatus::revoked) {
    return make_error("conflict: exception request " + action.target + " is " +
                      std::string(store::to_string(request->status)) + ", not revoked");
  }
  auto tenant = services_.store.get_tenant(request->tenant_id);
  if (!tenant) {
    return tenant.error();
  }
  const auto* previous = override_of(*tenant, request->prefix);
  request->previous_mode = previous ? std::string(store::to_string(previous->mode)) : "";
  request->previous_reason = previous ? previous->reason : "";
  store::HostOverride exempt;
  exempt.prefix = request->prefix;
  exempt.mode = store::Port25Mode::exempt;
  exempt.reason = "exception #" + action.target + " reinstated";
  if (auto ok = services_.store.set_host_override(request->tenant_id, exempt); !ok) {
    return ok.error();
  }
  request->status = store::ExceptionStatus::approved;
  if (auto ok = services_.abuse_store.update_exception(*request); !ok) {
    return ok;
  }
  audit("exception", id, "auto", "reinstated",
        "ticket #" + std::to_string(ticket.id) + " action reverted; " +
            expiry_text(request->expires_at));
  return {};
}

Result<store::TicketDetail> AbuseEngine::revert(std::int64_t id,
                                                std::optional<std::int64_t> action_id,
                                                const std::string& actor) {
  auto detail = services_.abuse_store.ticket_detail(id);
  if (!detail) {
    return detail;
  }
  std::vector<store::TicketAction> todo;
  for (const auto& a : detail->actions) {
    if (action_id && a.id != *action_id) {
      continue;
    }
    if (a.reverted_at && action_id) {
      return make_error("conflict: action " + std::to_string(a.id) + " of ticket " +
                        std::to_string(id) + " was already reverted");
    }
    if (!a.reverted_at) {
      todo.push_back(a);
    }
  }
  if (action_id && todo.empty()) {
    return make_error("no action " + std::to_string(*action_id) + " on ticket " +
                      std::to_string(id));
  }
  if (todo.empty()) {
    return make_error("conflict: every action of ticket " + std::to_string(id) +
                      " is already reverted (or it has none)");
  }
  Result<void> outcome;
  for (const auto& a : todo) {
    if (outcome = undo(detail->ticket, a); !outcome) {
      break;
    }
    if (outcome = services_.abuse_store.mark_action_reverted(a.id, actor); !outcome) {
      break;
    }
    audit("ticket", id, actor, "reverted",
          std::string(store::to_string(a.kind)) + " " + a.target + " (action " +
              std::to_string(a.id) + ")");
  }
  changed();
  if (!outcome) {
    return outcome.error();
  }
  return services_.abuse_store.ticket_detail(id);
}

// ---- exception requests ----
// The control API logs the desk's own requests with their actor; the engine
// logs what it does by itself (tickets opened, actions, exceptions ending).

Result<store::ExceptionRequest> AbuseEngine::request_exception(const NewException& request) {
  auto tenant = services_.store.get_tenant(request.tenant_id);
  if (!tenant) {
    return tenant.error();
  }
  auto prefix = net::Prefix::parse(request.prefix);
  if (!prefix) {
    return prefix.error();
  }
  if (request.reason.empty()) {
    return make_error("an exception request needs a reason");
  }
  store::HostOverride probe;
  probe.prefix = *prefix;
  probe.mode = store::Port25Mode::exempt;
  if (auto ok = store::validate_host_override(*tenant, probe); !ok) {
    return ok.error();
  }
  if (tenant->port25_mode == store::Port25Mode::exempt) {
    return make_error("conflict: tenant '" + tenant->id +
                      "' is already exempt from the port-25 block");
  }
  for (const auto& e : services_.abuse_store.list_exceptions(tenant->id, std::nullopt)) {
    if ((e.status == store::ExceptionStatus::pending ||
         e.status == store::ExceptionStatus::approved) &&
        e.prefix.overlaps(*prefix)) {
      return make_error("conflict: exception request " + std::to_string(e.id) + " for " +
                        e.prefix.to_string() + " is already " +
                        std::string(store::to_string(e.status)));
    }
  }
  store::ExceptionRequest r;
  r.tenant_id = tenant->id;
  r.prefix = *prefix;
  r.reason = request.reason;
  r.use_case = request.use_case;
  r.reverse_dns = request.reverse_dns;
  r.expected_volume = request.expected_volume;
  r.requested_by = request.actor;
  auto added = services_.abuse_store.add_exception(std::move(r));
  if (!added) {
    return added;
  }
  audit("exception", added->id, request.actor, "requested",
        request.reason + (request.use_case.empty() ? "" : "; use case: " + request.use_case) +
            (request.reverse_dns.empty() ? "" : "; rDNS: " + request.reverse_dns) +
            "; expected volume: " + std::to_string(request.expected_volume) + "/day");
  return added;
}

std::vector<store::ExceptionRequest> AbuseEngine::list_exceptions(
    const std::string& tenant_id, std::optional<store::ExceptionStatus> status) const {
  return services_.abuse_store.list_exceptions(tenant_id, status);
}

Result<ExceptionReview> AbuseEngine::exception(std::int64_t id) const {
  auto request = services_.abuse_store.get_exception(id);
  if (!request) {
    return request.error();
  }
  ExceptionReview review;
  review.request = *request;
  if (auto r = reputation(request->tenant_id)) {
    review.reputation = std::move(*r);
  } else {
    review.reputation.tenant_id = request->tenant_id;
  }
  for (auto& e : services_.abuse_store.list_exceptions(request->tenant_id, std::nullopt)) {
    if (e.id != id) {
      review.history.push_back(std::move(e));
    }
  }
  review.audit = services_.abuse_store.audit_trail("exception", id);
  return review;
}

Result<store::ExceptionRequest> AbuseEngine::exception_in(std::int64_t id,
                                                          store::ExceptionStatus status) const {
  auto request = services_.abuse_store.get_exception(id);
  if (request && request->status != status) {
    return make_error("conflict: exception request " + std::to_string(id) + " is " +
                      std::string(store::to_string(request->status)) + ", not " +
                      std::string(store::to_string(status)));
  }
  return request;
}

Result<store::ExceptionRequest> AbuseEngine::approve(std::int64_t id,
                                                     const std::string& actor,
                                                     std::optional<std::int64_t> expires_in_seconds,
                                                     const std::string& note) {
  auto request = exception_in(id, store::ExceptionStatus::pending);
  if (!request) {
    return request;
  }
  if (expires_in_seconds && *expires_in_seconds <= 0) {
    return make_error("an expiry must be in the future");
  }
  auto tenant = services_.store.get_tenant(request->tenant_id);
  if (!tenant) {
    return tenant.error();
  }
  const auto now = services_.clock.unix_now();
  const auto* previous = override_of(*tenant, request->prefix);
  request->previous_mode = previous ? std::string(store::to_string(previous->mode)) : "";
  request->previous_reason = previous ? previous->reason : "";
  request->status = store::ExceptionStatus::approved;
  request->decided_by = actor;
  request->decided_at = now;
  request->decision_reason = note;
  request->expires_at =
      expires_in_seconds ? std::optional(now + *expires_in_seconds) : std::nullopt;
  // Recorded before the firewall changes: if the kernel step fails, expiry
  // and revocation still know what to restore.
  if (auto ok = services_.abuse_store.update_exception(*request); !ok) {
    return ok.error();
  }
  store::HostOverride exempt;
  exempt.prefix = request->prefix;
  exempt.mode = store::Port25Mode::exempt;
  exempt.reason = "exception #" + std::to_string(id) + " approved by " + actor;
  if (auto ok = services_.store.set_host_override(request->tenant_id, exempt); !ok) {
    request->status = store::ExceptionStatus::pending;
    request->decided_by.clear();
    request->decided_at = 0;
    request->expires_at.reset();
    (void)services_.abuse_store.update_exception(*request);
    return ok.error();
  }
  changed();
  audit("exception", id, actor, "approved",
        (note.empty() ? std::string() : note + "; ") + expiry_text(request->expires_at));
  return request;
}

Result<store::ExceptionRequest> AbuseEngine::deny(std::int64_t id,
                                                  const std::string& actor,
                                                  const std::string& reason) {
  auto request = exception_in(id, store::ExceptionStatus::pending);
  if (!request) {
    return request;
  }
  if (reason.empty()) {
    return make_error("a denial needs a reason");
  }
  request->status = store::ExceptionStatus::denied;
  request->decided_by = actor;
  request->decided_at = services_.clock.unix_now();
  request->decision_reason = reason;
  if (auto ok = services_.abuse_store.update_exception(*request); !ok) {
    return ok.error();
  }
  audit("exception", id, actor, "denied", reason);
  return request;
}

Result<store::ExceptionRequest> AbuseEngine::revoke(std::int64_t id,
                                                    const std::string& actor,
                                                    const std::string& reason) {
  auto request = exception_in(id, store::ExceptionStatus::approved);
  if (!request) {
    return request;
  }
  if (reason.empty()) {
    return make_error("a revocation needs a reason");
  }
  auto ended = end_exception(std::move(*request), store::ExceptionStatus::revoked, actor, reason);
  if (ended) {
    changed();
  }
  return ended;
}

Result<store::ExceptionRequest> AbuseEngine::end_exception(store::ExceptionRequest request,
                                                           store::ExceptionStatus status,
                                                           const std::string& actor,
                                                           const std::string& reason) {
  if (services_.store.get_tenant(request.tenant_id)) {
    Result<void> restored;
    if (const auto mode = store::parse_port25_mode(request.previous_mode)) {
      store::HostOverride previous;
      previous.prefix = request.prefix;
      previous.mode = *mode;
      previous.reason = request.previous_reason;
      if (auto ok = services_.store.set_host_override(request.tenant_id, previous); !ok) {
        restored = ok.error();
      }
    } else {
      restored = services_.store.remove_host_override(request.tenant_id, request.prefix);
    }
    if (!restored) {
      // The override is gone already (the operator removed it): nothing stays exempt.
      log::warning("exception_override_not_restored",
                   {{"id", request.id}, {"error", restored.error().message}});
    }
  }
  request.status = status;
  if (auto ok = services_.abuse_store.update_exception(request); !ok) {
    return ok.error();
  }
  log::warning("exception_ended", {{"id", request.id},
                                   {"tenant", request.tenant_id},
                                   {"prefix", request.prefix.to_string()},
                                   {"status", store::to_string(status)},
                                   {"by", actor}});
  audit("exception", request.id, actor, std::string(store::to_string(status)), reason);
  return request;
}

void AbuseEngine::expire_exceptions() {
  const auto now = services_.clock.unix_now();
  bool ended = false;
  for (auto& e : services_.abuse_store.list_exceptions("", store::ExceptionStatus::approved)) {
    if (e.expires_at && *e.expires_at <= now) {
      const auto when = *e.expires_at;
      ended |= static_cast<bool>(end_exception(std::move(e), store::ExceptionStatus::expired,
                                               "auto", "expired " + mail::rfc5322_date(when)));
    }
  }
  if (ended) {
    changed();
  }
}

// ---- reports ----

std::vector<store::InboundReport> AbuseEngine::list_reports(
    std::optional<store::ReportStatus> status) const {
  return services_.abuse_store.list_reports(status);
}

Result<store::InboundReport> AbuseEngine::report(std::int64_t id) const {
  return services_.abuse_store.get_report(id);
}

}  // namespace portcullis::abuse
