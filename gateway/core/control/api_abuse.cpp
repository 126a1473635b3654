#include "gateway/core/control/api_abuse.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gateway/core/abuse/abuse_desk.hpp"
#include "gateway/core/config/values.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/net/prefix.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;
using abuse::AbuseDesk;

constexpr std::size_t kDefaultTicketLimit = 100;
constexpr std::size_t kMaxTicketLimit = 1000;
constexpr std::size_t kMaxLine = 1024;       // summary, reason, use case, names
constexpr std::size_t kMaxText = 16 * 1024;  // notes
constexpr std::size_t kMaxActorName = 64;
constexpr std::size_t kMaxHosts = 256;
constexpr std::string_view kGateway = "-";  // the gateway's own tickets and reputation

// ---- JSON shapes ----

json::value optional_int(const std::optional<std::int64_t>& v) {
  if (v) {
    return *v;
  }
  return nullptr;
}

json::object signal_json(const store::Signal& s) {
  return {{"id", s.id},
          {"tenant_id", s.tenant_id},
          {"host", s.host},
          {"kind", store::to_string(s.kind)},
          {"time", s.time},
          {"strength", s.strength},
          {"evidence", s.evidence},
          {"ticket_id", optional_int(s.ticket_id)}};
}

json::object ticket_json(const store::Ticket& t) {
  json::array hosts;
  for (const auto& h : t.hosts) {
    hosts.emplace_back(h);
  }
  return {{"id", t.id},
          {"tenant_id", t.tenant_id},
          {"category", store::to_string(t.category)},
          {"status", store::to_string(t.status)},
          {"hosts", std::move(hosts)},
          {"summary", t.summary},
          {"opened_by", t.opened_by},
          {"opened_at", t.opened_at},
          {"updated_at", t.updated_at},
          {"notified_at", t.notified_at},
          {"reminders", t.reminders}};
}

json::object action_json(const store::TicketAction& a) {
  return {{"id", a.id},
          {"ticket_id", a.ticket_id},
          {"kind", store::to_string(a.kind)},
          {"target", a.target},
          {"previous", a.previous},
          {"applied_at", a.applied_at},
          {"reverted_at", optional_int(a.reverted_at)},
          {"reverted_by", a.reverted_by}};
}

json::object audit_json(const store::AuditEntry& e) {
  return {{"id", e.id},
          {"time", e.time},
          {"actor", e.actor},
          {"subject", e.subject},
          {"subject_id", e.subject_id},
          {"action", e.action},
          {"text", e.text}};
}

template <class T, class F>
json::array array_of(const std::vector<T>& items, F to_json) {
  json::array out;
  for (const auto& item : items) {
    out.emplace_back(to_json(item));
  }
  return out;
}

json::object detail_json(const store::TicketDetail& d) {
  return {{"ticket", ticket_json(d.ticket)},
          {"signals", array_of(d.signals, signal_json)},
          {"actions", array_of(d.actions, action_json)},
          {"history", array_of(d.history, audit_json)}};
}

json::object reputation_json(const abuse::Reputation& r) {
  json::array terms;
  for (const auto& t : r.terms) {
    terms.emplace_back(json::object{{"kind", store::to_string(t.kind)},
                                    {"signals", static_cast<std::uint64_t>(t.signals)},
                                    {"strength", t.strength},
                                    {"weight", t.weight},
                                    {"points", t.points}});
  }
  return {{"tenant_id", r.tenant_id},
          {"score", r.score},
          {"threshold", r.ticket_threshold},
          {"window_seconds", r.window_seconds},
          {"terms", std::move(terms)},
          {"recent", array_of(r.recent, signal_json)},
          {"tickets", array_of(r.tickets, ticket_json)}};
}

json::object exception_json(const store::ExceptionRequest& e) {
  return {{"id", e.id},
          {"tenant_id", e.tenant_id},
          {"prefix", e.prefix.to_string()},
          {"reason", e.reason},
          {"use_case", e.use_case},
          {"reverse_dns", e.reverse_dns},
          {"expected_volume", e.expected_volume},
          {"status", store::to_string(e.status)},
          {"requested_by", e.requested_by},
          {"requested_at", e.requested_at},
          {"decided_by", e.decided_by},
          {"decided_at", e.decided_at},
          {"decision_reason", e.decision_reason},
          {"expires_at", optional_int(e.expires_at)},
          {"previous_mode", e.previous_mode},
          {"previous_reason", e.previous_reason}};
}

json::object report_json(const store::InboundReport& r) {
  return {{"id", r.id},
          {"received_at", r.received_at},
          {"client_address", r.client_address},
          {"mail_from", r.mail_from},
          {"recipient", r.recipient},
          {"kind", store::to_string(r.kind)},
          {"status", store::to_string(r.status)},
          {"tenant_id", r.tenant_id},
          {"summary", r.summary}};
}

// ---- errors ----

Response bad(const Error& e) {
  return error_response(400, e.message);
}

Response desk_error(const Error& e) {
  return error_response(desk_error_status(e.message), desk_error_text(e.message));
}

// ---- request fields ----

bool has_control(std::string_view text, bool multiline) {
  for (unsigned char c : text) {
    if ((c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f) {
      return true;
    }
  }
  return false;
}

// Reads a body object field by field; whatever was not read is an unknown field.
class Body {
 public:
  static Result<Body> of(const Request& request) {
    if (request.body.is_null()) {
      return Body(nullptr);
    }
    if (const auto* o = request.body.if_object()) {
      return Body(o);
    }
    return make_error("the request body must be a JSON object");
  }

  // Absent or null: nullopt.
  Result<std::optional<std::string>> text(std::string_view name,
                                          std::size_t max,
                                          bool multiline = false) {
    const auto* v = take(name);
    if (v == nullptr) {
      return std::optional<std::string>();
    }
    if (!v->is_string()) {
      return make_error("field '" + std::string(name) + "' must be a string");
    }
    std::string_view s = v->get_string();
    if (s.size() > max) {
      return make_error("field '" + std::string(name) + "' is longer than " + std::to_string(max) +
                        " bytes");
    }
    if (has_control(s, multiline)) {
      return make_error("field '" + std::string(name) + "' contains control characters");
    }
    return std::optional<std::string>(std::string(s));
  }

  Result<std::string> required_text(std::string_view name,
                                    std::size_t max,
                                    bool multiline = false) {
    auto t = text(name, max, multiline);
    if (!t) {
      return t.error();
    }
    if (!*t || (*t)->empty()) {
      return make_error("field '" + std::string(name) + "' is required");
    }
    return Result<std::string>(boost::system::in_place_value, std::move(**t));
  }

  Result<std::optional<std::int64_t>> integer(std::string_view name, std::int64_t min) {
    const auto* v = take(name);
    if (v == nullptr) {
      return std::optional<std::int64_t>();
    }
    std::optional<std::int64_t> n;
    if (const auto* i = v->if_int64()) {
      n = *i;
    } else if (const auto* u = v->if_uint64();
               u != nullptr && *u <= static_cast<std::uint64_t>(INT64_MAX)) {
      n = static_cast<std::int64_t>(*u);
    }
    if (!n || *n < min) {
      return make_error("field '" + std::string(name) + "' must be a whole number of at least " +
                        std::to_string(min));
    }
    return n;
  }

  Result<std::vector<std::string>> strings(std::string_view name, std::size_t max_items) {
    const auto* v = take(name);
    std::vector<std::string> out;
    if (v == nullptr) {
      return out;
    }
    const auto* list = v->if_array();
    if (list == nullptr) {
      return make_error("field '" + std::string(name) + "' must be a list of strings");
    }
    if (list->size() > max_items) {
      return make_error("field '" + std::string(name) + "' has more than " +
                        std::to_string(max_items) + " entries");
    }
    for (const auto& item : *list) {
      if (!item.is_string()) {
        return make_error("field '" + std::string(name) + "' must be a list of strings");
      }
      out.emplace_back(item.get_string());
    }
    return out;
  }

  Result<void> no_other_fields() const {
    if (object_ != nullptr) {
      for (const auto& [key, value] : *object_) {
        if (!read_.contains(std::string(key))) {
          return make_error("unknown field '" + std::string(key) + "'");
        }
      }
    }
    return {};
  }

 private:
  explicit Body(const json::object* object) : object_(object) {}

  const json::value* take(std::string_view name) {
    read_.emplace(name);
    if (object_ == nullptr) {
      return nullptr;
    }
    const auto* v = object_->if_contains(name);
    return v == nullptr || v->is_null() ? nullptr : v;
  }

  const json::object* object_;
  std::set<std::string, std::less<>> read_;
};

bool valid_actor_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxActorName) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '@' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

// "desk:NAME"; with tenant set, "tenant:<tenant>" too.
Result<std::string> actor_field(Body& body, const std::string* tenant = nullptr) {
  auto actor = body.required_text("actor", kMaxLine);
  if (!actor) {
    return actor.error();
  }
  const std::string_view a = *actor;
  if (a.starts_with("desk:") && valid_actor_name(a.substr(5))) {
    return actor;
  }
  if (tenant != nullptr && a.starts_with("tenant:")) {
    if (a.substr(7) == *tenant) {
      return actor;
    }
    return make_error("field 'actor': '" + *actor + "' cannot act for tenant '" + *tenant + "'");
  }
  return make_error("field 'actor' must be \"desk:NAME\"" +
                    std::string(tenant != nullptr ? " or \"tenant:" + *tenant + "\"" : "") +
                    " (NAME: letters, digits, . _ @ -), not '" + *actor + "'");
}

std::string tenant_of(std::string text) {
  return text == kGateway ? std::string() : text;
}

Result<std::int64_t> path_id(const Request& request, std::string_view what) {
  const auto& text = request.params.at("id");
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size() || id <= 0) {
    return make_error(std::string(what) + " id '" + text + "' is not a positive number");
  }
  return id;
}

// What every call on /v1/<what>/{id}/... starts with: the id, the body and its actor.
struct Mutation {
  std::int64_t id = 0;
  Body body;
  std::string actor;
};

Result<Mutation> mutation_of(const Request& request, std::string_view what) {
  auto id = path_id(request, what);
  if (!id) {
    return id.error();
  }
  auto body = Body::of(request);
  if (!body) {
    return body.error();
  }
  auto actor = actor_field(*body);
  if (!actor) {
    return actor.error();
  }
  return Mutation{*id, std::move(*body), std::move(*actor)};
}

Result<void> known_params(const Request& request, std::initializer_list<std::string_view> names) {
  std::string list;
  for (auto n : names) {
    list += (list.empty() ? "" : ", ") + std::string(n);
  }
  for (const auto& [key, value] : request.query) {
    if (std::find(names.begin(), names.end(), key) == names.end()) {
      return make_error("unknown parameter '" + key + "' (" + list + ")");
    }
  }
  return {};
}

const std::string* param(const Request& request, const std::string& name) {
  auto it = request.query.find(name);
  return it == request.query.end() || it->second.empty() ? nullptr : &it->second;
}

// ---- reputation ----

Response get_reputation(AbuseDesk& desk, const Request& request) {
  auto r = desk.reputation(tenant_of(request.params.at("id")));
  if (!r) {
    return desk_error(r.error());
  }
  return {200, reputation_json(*r)};
}

// ---- tickets ----

Response list_tickets(AbuseDesk& desk, const Request& request) {
  if (auto ok = known_params(request, {"tenant", "status", "category", "limit"}); !ok) {
    return bad(ok.error());
  }
  store::TicketFilter filter;
  filter.limit = kDefaultTicketLimit;
  if (const auto* tenant = param(request, "tenant")) {
    filter.any_tenant = false;
    filter.tenant_id = tenant_of(*tenant);
  }
  if (const auto* text = param(request, "status")) {
    filter.status = store::parse_ticket_status(*text);
    if (!filter.status) {
      return error_response(400,
                            "status '" + *text + "' is not one of open, waiting, resolved, closed");
    }
  }
  if (const auto* text = param(request, "category")) {
    filter.category = store::parse_ticket_category(*text);
    if (!filter.category) {
      return error_response(400, "category '" + *text +
                                     "' is not one of spam, compromised_host, blacklisting, "
                                     "complaint");
    }
  }
  if (const auto* text = param(request, "limit")) {
    std::size_t limit = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), limit);
    if (ec != std::errc{} || end != text->data() + text->size() || limit == 0 ||
        limit > kMaxTicketLimit) {
      return error_response(400,
                            "limit must be a number from 1 to " + std::to_string(kMaxTicketLimit));
    }
    filter.limit = limit;
  }
  return {200, json::object{{"tickets", array_of(desk.list_tickets(filter), ticket_json)}}};
}

Response open_ticket(AbuseDesk& desk, const Request& request) {
  auto body = Body::of(request);
  if (!body) {
    return bad(body.error());
  }
  abuse::NewTicket t;
  auto tenant = body->text("tenant", kMaxLine);
  if (!tenant) {
    return bad(tenant.error());
  }
  if (!*tenant) {
    return error_response(400, "field 'tenant' is required (\"-\" for the gateway itself)");
  }
  t.tenant_id = tenant_of(**tenant);
  auto category = body->required_text("category", kMaxLine);
  if (!category) {
    return bad(category.error());
  }
  auto parsed = store::parse_ticket_category(*category);
  if (!parsed) {
    return error_response(400, "field 'category': '" + *category +
                                   "' is not one of spam, compromised_host, blacklisting, "
                                   "complaint");
  }
  t.category = *parsed;
  auto hosts = body->strings("hosts", kMaxHosts);
  if (!hosts) {
    return bad(hosts.error());
  }
  for (const auto& h : *hosts) {
    if (auto p = net::Prefix::parse(h); !p) {
      return error_response(400, "field 'hosts': " + p.error().message);
    }
  }
  t.hosts = std::move(*hosts);
  auto summary = body->required_text("summary", kMaxLine);
  if (!summary) {
    return bad(summary.error());
  }
  t.summary = std::move(*summary);
  auto note = body->text("note", kMaxText, true);
  if (!note) {
    return bad(note.error());
  }
  t.note = note->value_or("");
  auto actor = actor_field(*body);
  if (!actor) {
    return bad(actor.error());
  }
  t.actor = std::move(*actor);
  if (auto ok = body->no_other_fields(); !ok) {
    return bad(ok.error());
  }
  auto opened = desk.open_ticket(t);
  if (!opened) {
    return desk_error(opened.error());
  }
  log::info("ticket_opened", {{"ticket", std::to_string(opened->id)},
                              {"tenant", opened->tenant_id},
                              {"category", store::to_string(opened->category)},
                              {"actor", t.actor}});
  return {201, ticket_json(*opened)};
}

Response get_ticket(AbuseDesk& desk, const Request& request) {
  auto id = path_id(request, "ticket");
  if (!id) {
    return bad(id.error());
  }
  auto d = desk.ticket(*id);
  if (!d) {
    return desk_error(d.error());
  }
  return {200, detail_json(*d)};
}

Response add_note(AbuseDesk& desk, const Request& request) {
  auto m = mutation_of(request, "ticket");
  if (!m) {
    return bad(m.error());
  }
  auto text = m->body.required_text("text", kMaxText, true);
  if (!text) {
    return bad(text.error());
  }
  if (auto ok = m->body.no_other_fields(); !ok) {
    return bad(ok.error());
  }
  if (auto ok = desk.add_note(m->id, m->actor, *text); !ok) {
    return desk_error(ok.error());
  }
  log::info("ticket_note", {{"ticket", std::to_string(m->id)}, {"actor", m->actor}});
  auto d = desk.ticket(m->id);
  if (!d) {
    return desk_error(d.error());
  }
  return {200, detail_json(*d)};
}

Response set_status(AbuseDesk& desk, const Request& request) {
  auto m = mutation_of(request, "ticket");
  if (!m) {
    return bad(m.error());
  }
  auto text = m->body.required_text("status", kMaxLine);
  if (!text) {
    return bad(text.error());
  }
  auto status = store::parse_ticket_status(*text);
  if (!status) {
    return error_response(
        400, "field 'status': '" + *text + "' is not one of open, waiting, resolved, closed");
  }
  auto note = m->body.text("note", kMaxText, true);
  if (!note) {
    return bad(note.error());
  }
  if (auto ok = m->body.no_other_fields(); !ok) {
    return bad(ok.error());
  }
  auto t = desk.set_status(m->id, *status, m->actor, note->value_or(""));
  if (!t) {
    return desk_error(t.error());
  }
  log::info("ticket_status", {{"ticket", std::to_string(m->id)},
                              {"status", store::to_string(t->status)},
                              {"actor", m->actor}});
  return {200, ticket_json(*t)};
}

Response revert(AbuseDesk& desk, const Request& request) {
  auto m = mutation_of(request, "ticket");
  if (!m) {
    return bad(m.error());
  }
  auto action = m->body.integer("action", 1);
  if (!action) {
    return bad(action.error());
  }
  if (auto ok = m->body.no_other_fields(); !ok) {
    return bad(ok.error());
  }
  auto d = desk.revert(m->id, *action, m->actor);
  if (!d) {
    return desk_error(d.error());
  }
  log::info("ticket_reverted", {{"ticket", std::to_string(m->id)},
                                {"action", *action ? std::to_string(**action) : "all"},
                                {"actor", m->actor}});
  return {200, detail_json(*d)};
}

// ---- exceptions ----

Response request_exception(AbuseDesk& desk, const Request& request) {
  auto body = Body::of(request);
  if (!body) {
    return bad(body.error());
  }
  abuse::NewException e;
  auto tenant = body->required_text("tenant", kMaxLine);
  if (!tenant) {
    return bad(tenant.error());
  }
  e.tenant_id = std::move(*tenant);
  auto prefix = body->required_text("prefix", kMaxLine);
  if (!prefix) {
    return bad(prefix.error());
  }
  if (auto p = net::Prefix::parse(*prefix); !p) {
    return error_response(400, "field 'prefix': " + p.error().message);
  }
  e.prefix = std::move(*prefix);
  auto reason = body->required_text("reason", kMaxLine);
  if (!reason) {
    return bad(reason.error());
  }
  e.reason = std::move(*reason);
  auto use_case = body->text("use_case", kMaxLine);
  if (!use_case) {
    return bad(use_case.error());
  }
  e.use_case = use_case->value_or("");
  auto rdns = body->text("reverse_dns", kMaxLine);
  if (!rdns) {
    return bad(rdns.error());
  }
  e.reverse_dns = rdns->value_or("");
  auto volume = body->integer("expected_volume", 0);
  if (!volume) {
    return bad(volume.error());
  }
  e.expected_volume = static_cast<std::uint64_t>(volume->value_or(0));
  auto actor = actor_field(*body, &e.tenant_id);
  if (!actor) {
    return bad(actor.error());
  }
  e.actor = std::move(*actor);
  if (auto ok = body->no_other_fields(); !ok) {
    return bad(ok.error());
  }
  auto r = desk.request_exception(e);
  if (!r) {
    return desk_error(r.error());
  }
  log::info("exception_requested", {{"exception", std::to_string(r->id)},
                                    {"tenant", r->tenant_id},
                                    {"prefix", r->prefix.to_string()},
                                    {"actor", e.actor}});
  return {201, exception_json(*r)};
}

Response list_exceptions(AbuseDesk& desk, const Request& request) {
  if (auto ok = known_params(request, {"tenant", "status"}); !ok) {
    return bad(ok.error());
  }
  std::string tenant;
  if (const auto* t = param(request, "tenant")) {
    tenant = *t;
  }
  std::optional<store::ExceptionStatus> status;
  if (const auto* text = param(request, "status")) {
    status = store::parse_exception_status(*text);
    if (!status) {
      return error_response(
          400, "status '" + *text + "' is not one of pending, approved, denied, revoked, expired");
    }
  }
  return {200, json::object{
                   {"exceptions", array_of(desk.list_exceptions(tenant, status), exception_json)}}};
}

Response get_exception(AbuseDesk& desk, const Request& request) {
  auto id = path_id(request, "exception");
  if (!id) {
    return bad(id.error());
  }
  auto r = desk.exception(*id);
  if (!r) {
    return desk_error(r.error());
  }
  return {200, json::object{{"request", exception_json(r->request)},
                            {"reputation", reputation_json(r->reputation)},
                            {"history", array_of(r->history, exception_json)},
                            {"audit", array_of(r->audit, audit_json)}}};
}

Response approve(AbuseDesk& desk, const Request& request) {
  auto m = mutation_of(request, "exception");
  if (!m) {
    return bad(m.error());
  }
  auto expires_in = m->body.integer("expires_in", 1);
  if (!expires_in) {
    return bad(expires_in.error());
  }
  auto expires = m->body.text("expires", kMaxLine);
  if (!expires) {
    return bad(expires.error());
  }
  if (*expires_in && *expires) {
    return error_response(400, "give 'expires_in' or 'expires', not both");
  }
  std::optional<std::int64_t> seconds = *expires_in;
  if (*expires) {
    auto d = config::parse_duration(**expires);
    if (!d || d->count() <= 0) {
      return error_response(400, "field 'expires': " + (d ? "'" + **expires + "' is no time at all"
                                                          : d.error().message));
    }
    seconds = d->count();
  }
  auto note = m->body.text("note", kMaxText, true);
  if (!note) {
    return bad(note.error());
  }
  if (auto ok = m->body.no_other_fields(); !ok) {
    return bad(ok.error());
  }
  auto r = desk.approve(m->id, m->actor, seconds, note->value_or(""));
  if (!r) {
    return desk_error(r.error());
  }
  log::info("exception_approved", {{"exception", std::to_string(m->id)},
                                   {"tenant", r->tenant_id},
                                   {"prefix", r->prefix.to_string()},
                                   {"expires_in", seconds ? std::to_string(*seconds) : "never"},
                                   {"actor", m->actor}});
  return {200, exception_json(*r)};
}

// deny and revoke: {"actor", "reason"}.
template <auto Decide>
Response decide(AbuseDesk& desk, const Request& request, std::string_view event) {
  auto m = mutation_of(request, "exception");
  if (!m) {
    return bad(m.error());
  }
  auto reason = m->body.required_text("reason", kMaxLine);
  if (!reason) {
    return bad(reason.error());
  }
  if (auto ok = m->body.no_other_fields(); !ok) {
    return bad(ok.error());
  }
  auto r = (desk.*Decide)(m->id, m->actor, *reason);
  if (!r) {
    return desk_error(r.error());
  }
  log::info(event, {{"exception", std::to_string(m->id)},
                    {"tenant", r->tenant_id},
                    {"prefix", r->prefix.to_string()},
                    {"actor", m->actor}});
  return {200, exception_json(*r)};
}

Response deny(AbuseDesk& desk, const Request& request) {
  return decide<&AbuseDesk::deny>(desk, request, "exception_denied");
}

Response revoke(AbuseDesk& desk, const Request& request) {
  return decide<&AbuseDesk::revoke>(desk, request, "exception_revoked");
}

// ---- reports ----

Response list_reports(AbuseDesk& desk, const Request& request) {
  if (auto ok = known_params(request, {"status"}); !ok) {
    return bad(ok.error());
  }
  std::optional<store::ReportStatus> status;
  if (const auto* text = param(request, "status")) {
    status = store::parse_report_status(*text);
    if (!status) {
      return error_response(400, "status '" + *text +
                                     "' is not one of received, attributed, unattributed, "
                                     "rejected");
    }
  }
  return {200, json::object{{"reports", array_of(desk.list_reports(status), report_json)}}};
}

Response get_report(AbuseDesk& desk, const Request& request) {
  auto id = path_id(request, "report");
  if (!id) {
    return bad(id.error());
  }
  auto r = desk.report(*id);
  if (!r) {
    return desk_error(r.error());
  }
  auto out = report_json(*r);
  out["raw"] = escape_raw(r->raw, kMaxReportRaw);
  out["raw_size"] = static_cast<std::uint64_t>(r->raw.size());
  out["raw_truncated"] = r->raw.size() > kMaxReportRaw;
  return {200, std::move(out)};
}

}  // namespace

int desk_error_status(std::string_view message) {
  if (message.starts_with("no ")) {
    return 404;
  }
  if (message.starts_with(kConflictPrefix) || message.find(" already ") != std::string_view::npos) {
    return 409;
  }
  return 400;
}

std::string desk_error_text(std::string_view message) {
  if (message.starts_with(kConflictPrefix)) {
    message.remove_prefix(kConflictPrefix.size());
  }
  return std::string(message);
}

std::string escape_raw(std::string_view raw, std::size_t limit) {
  static constexpr char kHex[] = "0123456789abcdef";
  raw = raw.substr(0, limit);
  std::string out;
  out.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') {
      continue;
    }
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f)) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

void register_abuse_api(Router& router, ApiContext& context) {
  ApiContext* ctx = &context;
  auto bind = [ctx](Response (*handler)(AbuseDesk&, const Request&)) {
    return [ctx, handler](const Request& r) {
      if (ctx->abuse == nullptr) {
        return error_response(503, "abuse desk not running");
      }
      return handler(*ctx->abuse, r);
    };
  };
  router.add("GET", "/v1/tenants/{id}/reputation", bind(get_reputation));
  router.add("GET", "/v1/tickets", bind(list_tickets));
  router.add("POST", "/v1/tickets", bind(open_ticket));
  router.add("GET", "/v1/tickets/{id}", bind(get_ticket));
  router.add("POST", "/v1/tickets/{id}/notes", bind(add_note));
  router.add("POST", "/v1/tickets/{id}/status", bind(set_status));
  router.add("POST", "/v1/tickets/{id}/revert", bind(revert));
  router.add("POST", "/v1/exceptions", bind(request_exception));
  router.add("GET", "/v1/exceptions", bind(list_exceptions));
  router.add("GET", "/v1/exceptions/{id}", bind(get_exception));
  router.add("POST", "/v1/exceptions/{id}/approve", bind(approve));
  router.add("POST", "/v1/exceptions/{id}/deny", bind(deny));
  router.add("POST", "/v1/exceptions/{id}/revoke", bind(revoke));
  router.add("GET", "/v1/abuse/reports", bind(list_reports));
  router.add("GET", "/v1/abuse/reports/{id}", bind(get_report));
}

}  // namespace portcullis::control
