#include "gateway/ctl/commands_abuse.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <ostream>
#include <sstream>

#include "gateway/core/control/client.hpp"
#include "gateway/core/control/router.hpp"
#include "gateway/ctl/daemon_call.hpp"
#include "gateway/ctl/format.hpp"

namespace portcullis::ctl {
namespace {

namespace json = boost::json;
using control::percent_encode;

// ---- reading the daemon's JSON (missing fields print as empty) ----

const json::value& field(const json::value& v, std::string_view key) {
  static const json::value kNull;
  if (const auto* o = v.if_object()) {
    if (const auto* f = o->if_contains(key)) {
      return *f;
    }
  }
  return kNull;
}

// Raw text; Table and print_lines make it printable.
std::string text(const json::value& v, std::string_view key) {
  const auto& f = field(v, key);
  return f.is_string() ? std::string(f.get_string()) : std::string();
}

std::int64_t number(const json::value& v, std::string_view key) {
  const auto& f = field(v, key);
  if (f.is_int64()) {
    return f.get_int64();
  }
  return f.is_uint64() ? static_cast<std::int64_t>(f.get_uint64()) : 0;
}

double real(const json::value& v, std::string_view key) {
  const auto& f = field(v, key);
  boost::system::error_code ec;
  const double d = f.is_number() ? f.to_number<double>(ec) : 0.0;
  return ec ? 0.0 : d;
}

const json::array& list(const json::value& v, std::string_view key) {
  static const json::array kEmpty;
  const auto& f = field(v, key);
  return f.is_array() ? f.get_array() : kEmpty;
}

std::string fixed(double d, const char* format = "%.1f") {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, format, d);
  return buffer;
}

std::string tenant_name(const json::value& v) {
  const auto id = text(v, "tenant_id");
  return id.empty() ? std::string("(gateway)") : id;
}

std::string or_dash(std::string s) {
  return s.empty() ? std::string("-") : s;
}

std::string strings(const json::value& v, std::string_view key) {
  std::string out;
  for (const auto& item : list(v, key)) {
    if (item.is_string()) {
      out += (out.empty() ? "" : ", ") + std::string(item.get_string());
    }
  }
  return out;
}

// Multi-line text (evidence, notes, a raw report), each line indented and escaped.
void print_lines(std::ostream& out, std::string_view text, std::string_view indent) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    auto line = text.substr(pos, end - pos);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    out << indent << printable(line) << '\n';
    pos = end + 1;
  }
}

void print_fields(std::ostream& out,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [name, value] : fields) {
    width = std::max(width, name.size());
  }
  for (const auto& [name, value] : fields) {
    out << name << ':' << std::string(width - name.size() + 2, ' ') << printable(value) << '\n';
  }
}

// ---- the one call-and-print shape ----

using Printer = std::function<void(std::ostream&, const json::value&)>;

// Asks the daemon; prints its JSON with --json, else hands it to `human`.
Result<void> ask(CommandContext& ctx,
                 std::string_view method,
                 const std::string& target,
                 const json::value& body,
                 const Printer& human) {
  auto r = call(ctx, method, target, body);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    human(ctx.out, *r);
  }
  return {};
}

Result<void> ask(CommandContext& ctx, const std::string& target, const Printer& human) {
  return ask(ctx, "GET", target, nullptr, human);
}

// "?a=1&b=2" from the options given, e.g. {{"--tenant", "tenant"}}.
std::string query(const Args& args,
                  std::initializer_list<std::pair<std::string_view, std::string_view>> names) {
  std::string out;
  for (const auto& [option, name] : names) {
    if (auto value = args.get(std::string(option))) {
      out += (out.empty() ? "?" : "&") + std::string(name) + "=" + percent_encode(*value);
    }
  }
  return out;
}

Result<std::string> required(const Args& args, const std::string& option, std::string_view what) {
  if (auto value = args.get(option); value && !value->empty()) {
    return Result<std::string>(boost::system::in_place_value, *value);
  }
  return make_error(option + " " + std::string(what) + " is required");
}

Result<std::int64_t> whole_number(const std::string& option, const std::string& value) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || n < 0) {
    return make_error(option + ": '" + value + "' is not a whole number");
  }
  return n;
}

std::string ticket_path(const Args& args, std::string_view rest = {}) {
  return "/v1/tickets/" + percent_encode(args.positionals[0]) + std::string(rest);
}

std::string exception_path(const Args& args, std::string_view rest = {}) {
  return "/v1/exceptions/" + percent_encode(args.positionals[0]) + std::string(rest);
}

// ---- human output ----

void print_score(std::ostream& out, const json::value& r) {
  out << "tenant " << printable(tenant_name(r)) << ": score " << fixed(real(r, "score"))
      << " (a ticket opens at " << fixed(real(r, "threshold")) << "), window "
      << format_age(number(r, "window_seconds")) << "\n";
  const auto& terms = list(r, "terms");
  if (terms.empty()) {
    out << "no signals in the window\n";
    return;
  }
  out << '\n';
  Table table({"", "", "", ""});
  for (const auto& t : terms) {
    const auto n = number(t, "signals");
    table.add_row({text(t, "kind"), std::to_string(n) + (n == 1 ? " signal" : " signals"),
                   "strength " + fixed(real(t, "strength")),
                   "x weight " + fixed(real(t, "weight"), "%g") + " = " + fixed(real(t, "points")) +
                       " points"});
  }
  table.add_row({"total", "", "", "= " + fixed(real(r, "score")) + " points"});
  // The empty header row keeps the columns aligned without a title line.
  std::ostringstream lines;
  table.print(lines);
  const auto all = lines.str();
  out << all.substr(all.find('\n') + 1);
}

void print_ticket_table(std::ostream& out, const json::array& tickets) {
  Table table({"ID", "TENANT", "CATEGORY", "STATUS", "HOSTS", "OPENED", "UPDATED", "SUMMARY"});
  for (const auto& t : tickets) {
    table.add_row({std::to_string(number(t, "id")), tenant_name(t), text(t, "category"),
                   text(t, "status"), or_dash(strings(t, "hosts")),
                   format_time(number(t, "opened_at")), format_time(number(t, "updated_at")),
                   text(t, "summary")});
  }
  table.print(out);
}

void print_signals(std::ostream& out, const json::array& signals) {
  for (const auto& s : signals) {
    out << "  #" << number(s, "id") << "  " << format_time(number(s, "time")) << "  "
        << printable(text(s, "kind")) << "  host " << printable(or_dash(text(s, "host")))
        << "  strength " << fixed(real(s, "strength")) << '\n';
    print_lines(out, text(s, "evidence"), "      ");
  }
}

void print_audit(std::ostream& out, const json::array& entries) {
  for (const auto& e : entries) {
    out << "  " << format_time(number(e, "time")) << "  " << printable(text(e, "actor")) << "  "
        << printable(text(e, "action")) << '\n';
    print_lines(out, text(e, "text"), "      ");
  }
}

void print_ticket(std::ostream& out, const json::value& t) {
  const auto notified = number(t, "notified_at");
  print_fields(
      out,
      {{"ticket", std::to_string(number(t, "id"))},
       {"tenant", tenant_name(t)},
       {"category", text(t, "category")},
       {"status", text(t, "status")},
       {"hosts", or_dash(strings(t, "hosts"))},
       {"summary", text(t, "summary")},
       {"opened", format_time(number(t, "opened_at")) + " by " + text(t, "opened_by")},
       {"updated", format_time(number(t, "updated_at"))},
       {"notified", notified == 0 ? std::string("not yet")
                                  : format_time(notified) + " (" +
                                        std::to_string(number(t, "reminders")) + " reminders)"}});
}

void print_ticket_detail(std::ostream& out, const json::value& d) {
  print_ticket(out, field(d, "ticket"));
  out << "\nevidence:\n";
  if (list(d, "signals").empty()) {
    out << "  (no signals)\n";
  }
  print_signals(out, list(d, "signals"));
  if (const auto& actions = list(d, "actions"); !actions.empty()) {
    out << "\nactions:\n";
    Table table({"  ID", "KIND", "TARGET", "APPLIED", "REVERTED"});
    for (const auto& a : actions) {
      const auto reverted = number(a, "reverted_at");
      table.add_row({"  " + std::to_string(number(a, "id")), text(a, "kind"),
                     or_dash(text(a, "target")), format_time(number(a, "applied_at")),
                     reverted == 0 ? std::string("-")
                                   : format_time(reverted) + " by " + text(a, "reverted_by")});
    }
    table.print(out);
  }
  out << "\nhistory:\n";
  print_audit(out, list(d, "history"));
}

std::string expiry(const json::value& e) {
  const auto& expires = field(e, "expires_at");
  if (text(e, "status") != "approved" && expires.is_null()) {
    return "-";
  }
  return expires.is_null() ? std::string("never") : format_time(number(e, "expires_at"));
}

void print_exception_table(std::ostream& out, const json::array& requests) {
  Table table({"ID", "TENANT", "PREFIX", "STATUS", "REQUESTED", "BY", "EXPIRES", "REASON"});
  for (const auto& e : requests) {
    table.add_row({std::to_string(number(e, "id")), text(e, "tenant_id"), text(e, "prefix"),
                   text(e, "status"), format_time(number(e, "requested_at")),
                   text(e, "requested_by"), expiry(e), text(e, "reason")});
  }
  table.print(out);
}

void print_exception(std::ostream& out, const json::value& e) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"exception", std::to_string(number(e, "id"))},
      {"tenant", text(e, "tenant_id")},
      {"prefix", text(e, "prefix")},
      {"status", text(e, "status")},
      {"reason", text(e, "reason")},
      {"use case", or_dash(text(e, "use_case"))},
      {"reverse dns", or_dash(text(e, "reverse_dns"))},
      {"expected volume", std::to_string(number(e, "expected_volume")) + " messages/day"},
      {"requested", format_time(number(e, "requested_at")) + " by " + text(e, "requested_by")}};
  if (number(e, "decided_at") != 0) {
    fields.emplace_back("decided",
                        format_time(number(e, "decided_at")) + " by " + text(e, "decided_by"));
    fields.emplace_back("decision", or_dash(text(e, "decision_reason")));
  }
  fields.emplace_back("expires", expiry(e));
  print_fields(out, fields);
}

void print_review(std::ostream& out, const json::value& r) {
  print_exception(out, field(r, "request"));
  out << "\nreputation:\n";
  print_score(out, field(r, "reputation"));
  if (const auto& tickets = list(field(r, "reputation"), "tickets"); !tickets.empty()) {
    out << "\ntickets:\n";
    print_ticket_table(out, tickets);
  }
  if (const auto& history = list(r, "history"); !history.empty()) {
    out << "\nother requests:\n";
    print_exception_table(out, history);
  }
  out << "\naudit:\n";
  print_audit(out, list(r, "audit"));
}

// "approved exception 3 (acme 198.18.1.20/32), expires ..."
Printer exception_done(std::string verb) {
  return [verb = std::move(verb)](std::ostream& out, const json::value& e) {
    out << verb << " exception " << number(e, "id") << " (" << printable(text(e, "tenant_id"))
        << ' ' << printable(text(e, "prefix")) << ")";
    if (text(e, "status") == "approved") {
      out << ", expires " << expiry(e);
    }
    out << '\n';
  };
}

// ---- commands ----

Result<void> reputation(CommandContext& ctx, const Args& args) {
  auto tenant = required(args, "--tenant", "T");
  if (!tenant) {
    return tenant.error();
  }
  return ask(ctx, "/v1/tenants/" + percent_encode(*tenant) + "/reputation",
             [](std::ostream& out, const json::value& r) {
               print_score(out, r);
               if (const auto& recent = list(r, "recent"); !recent.empty()) {
                 out << "\nrecent signals:\n";
                 print_signals(out, recent);
               }
               if (const auto& tickets = list(r, "tickets"); !tickets.empty()) {
                 out << "\ntickets:\n";
                 print_ticket_table(out, tickets);
               }
             });
}

Result<void> ticket_list(CommandContext& ctx, const Args& args) {
  return ask(
      ctx,
      "/v1/tickets" + query(args, {{"--tenant", "tenant"},
                                   {"--status", "status"},
                                   {"--category", "category"},
                                   {"--limit", "limit"}}),
      [](std::ostream& out, const json::value& r) { print_ticket_table(out, list(r, "tickets")); });
}

Result<void> ticket_show(CommandContext& ctx, const Args& args) {
  return ask(ctx, ticket_path(args), print_ticket_detail);
}

Result<void> ticket_open(CommandContext& ctx, const Args& args) {
  auto tenant = required(args, "--tenant", "T (\"-\" for the gateway itself)");
  auto category = required(args, "--category", "C");
  auto summary = required(args, "--summary", "TEXT");
  for (const auto* r : {&tenant, &category, &summary}) {
    if (!*r) {
      return r->error();
    }
  }
  json::array hosts;
  for (const auto& h : args.all("--host")) {
    hosts.emplace_back(h);
  }
  json::object body{{"tenant", *tenant},
                    {"category", *category},
                    {"hosts", std::move(hosts)},
                    {"summary", *summary},
                    {"actor", actor_of(args)}};
  if (auto note = args.get("--note")) {
    body["note"] = *note;
  }
  return ask(ctx, "POST", "/v1/tickets", body, [](std::ostream& out, const json::value& t) {
    out << "opened ticket " << number(t, "id") << '\n';
    print_ticket(out, t);
  });
}

Result<void> ticket_note(CommandContext& ctx, const Args& args) {
  return ask(ctx, "POST", ticket_path(args, "/notes"),
             json::object{{"actor", actor_of(args)}, {"text", args.positionals[1]}},
             [](std::ostream& out, const json::value& d) {
               out << "noted on ticket " << number(field(d, "ticket"), "id") << '\n';
             });
}

// wait, resolve, close: POST .../status.
Result<void> ticket_status(CommandContext& ctx, const Args& args, std::string_view status) {
  json::object body{{"status", status}, {"actor", actor_of(args)}};
  if (auto note = args.get("--note")) {
    body["note"] = *note;
  }
  return ask(
      ctx, "POST", ticket_path(args, "/status"), body, [](std::ostream& out, const json::value& t) {
        out << "ticket " << number(t, "id") << " is " << printable(text(t, "status")) << '\n';
      });
}

Result<void> ticket_wait(CommandContext& ctx, const Args& args) {
  return ticket_status(ctx, args, "waiting");
}
Result<void> ticket_resolve(CommandContext& ctx, const Args& args) {
  return ticket_status(ctx, args, "resolved");
}
Result<void> ticket_close(CommandContext& ctx, const Args& args) {
  return ticket_status(ctx, args, "closed");
}

Result<void> ticket_revert(CommandContext& ctx, const Args& args) {
  json::object body{{"actor", actor_of(args)}};
  if (auto action = args.get("--action")) {
    auto n = whole_number("--action", *action);
    if (!n) {
      return n.error();
    }
    body["action"] = *n;
  }
  return ask(
      ctx, "POST", ticket_path(args, "/revert"), body, [](std::ostream& out, const json::value& d) {
        out << "reverted; the ticket's actions now:\n";
        Table table({"  ID", "KIND", "TARGET", "REVERTED"});
        for (const auto& a : list(d, "actions")) {
          const auto reverted = number(a, "reverted_at");
          table.add_row({"  " + std::to_string(number(a, "id")), text(a, "kind"),
                         or_dash(text(a, "target")),
                         reverted == 0 ? std::string("no")
                                       : format_time(reverted) + " by " + text(a, "reverted_by")});
        }
        table.print(out);
      });
}

Result<void> exception_request(CommandContext& ctx, const Args& args) {
  auto tenant = required(args, "--tenant", "T");
  auto host = required(args, "--host", "PREFIX");
  auto reason = required(args, "--reason", "TEXT");
  for (const auto* r : {&tenant, &host, &reason}) {
    if (!*r) {
      return r->error();
    }
  }
  json::object body{{"tenant", *tenant},
                    {"prefix", *host},
                    {"reason", *reason},
                    {"actor", actor_of(args, *tenant)}};
  if (auto use_case = args.get("--use-case")) {
    body["use_case"] = *use_case;
  }
  if (auto rdns = args.get("--rdns")) {
    body["reverse_dns"] = *rdns;
  }
  if (auto volume = args.get("--volume")) {
    auto n = whole_number("--volume", *volume);
    if (!n) {
      return n.error();
    }
    body["expected_volume"] = *n;
  }
  return ask(ctx, "POST", "/v1/exceptions", body, [](std::ostream& out, const json::value& e) {
    out << "requested exception " << number(e, "id") << " (pending the desk's review)\n";
    print_exception(out, e);
  });
}

Result<void> exception_list(CommandContext& ctx, const Args& args) {
  return ask(ctx, "/v1/exceptions" + query(args, {{"--tenant", "tenant"}, {"--status", "status"}}),
             [](std::ostream& out, const json::value& r) {
               print_exception_table(out, list(r, "exceptions"));
             });
}

Result<void> exception_show(CommandContext& ctx, const Args& args) {
  return ask(ctx, exception_path(args), print_review);
}

Result<void> exception_approve(CommandContext& ctx, const Args& args) {
  json::object body{{"actor", actor_of(args)}};
  if (auto expires = args.get("--expires")) {
    body["expires"] = *expires;
  }
  if (auto note = args.get("--note")) {
    body["note"] = *note;
  }
  return ask(ctx, "POST", exception_path(args, "/approve"), body, exception_done("approved"));
}

// deny and revoke: --reason is required.
Result<void> exception_decide(CommandContext& ctx,
                              const Args& args,
                              std::string_view action,
                              std::string verb) {
  auto reason = required(args, "--reason", "TEXT");
  if (!reason) {
    return reason.error();
  }
  return ask(ctx, "POST", exception_path(args, action),
             json::object{{"actor", actor_of(args)}, {"reason", *reason}},
             exception_done(std::move(verb)));
}

Result<void> exception_deny(CommandContext& ctx, const Args& args) {
  return exception_decide(ctx, args, "/deny", "denied");
}
Result<void> exception_revoke(CommandContext& ctx, const Args& args) {
  return exception_decide(ctx, args, "/revoke", "revoked");
}

Result<void> report_list(CommandContext& ctx, const Args& args) {
  return ask(
      ctx, "/v1/abuse/reports" + query(args, {{"--status", "status"}}),
      [](std::ostream& out, const json::value& r) {
        Table table({"ID", "RECEIVED", "KIND", "STATUS", "TENANT", "FROM", "SUMMARY"});
        for (const auto& p : list(r, "reports")) {
          table.add_row({std::to_string(number(p, "id")), format_time(number(p, "received_at")),
                         text(p, "kind"), text(p, "status"), or_dash(text(p, "tenant_id")),
                         or_dash(text(p, "client_address")), text(p, "summary")});
        }
        table.print(out);
      });
}

Result<void> report_show(CommandContext& ctx, const Args& args) {
  return ask(ctx, "/v1/abuse/reports/" + percent_encode(args.positionals[0]),
             [](std::ostream& out, const json::value& p) {
               print_fields(
                   out, {{"report", std::to_string(number(p, "id"))},
                         {"received", format_time(number(p, "received_at"))},
                         {"client", or_dash(text(p, "client_address"))},
                         {"mail from", or_dash(text(p, "mail_from"))},
                         {"recipient", or_dash(text(p, "recipient"))},
                         {"kind", text(p, "kind")},
                         {"status", text(p, "status")},
                         {"tenant", or_dash(text(p, "tenant_id"))},
                         {"summary", text(p, "summary")},
                         {"size", format_size(static_cast<std::uint64_t>(number(p, "raw_size")))}});
               out << '\n';
               print_lines(out, text(p, "raw"), "");
               if (field(p, "raw_truncated").is_bool() && field(p, "raw_truncated").get_bool()) {
                 out << "(truncated: the daemon shows the first part of the message only)\n";
               }
             });
}

const OptionSpec kActor{"--actor", "NAME", false,
                        "who acts, sent as desk:NAME (default $SUDO_USER, $USER)"};
const OptionSpec kNote{"--note", "TEXT", false, "a note for the ticket's history"};

}  // namespace

std::string actor_of(const Args& args, const std::string& tenant) {
  if (auto actor = args.get("--actor"); actor && !actor->empty()) {
    return "desk:" + *actor;
  }
  if (!tenant.empty()) {
    return "tenant:" + tenant;
  }
  for (const char* variable : {"SUDO_USER", "USER"}) {
    if (const char* name = std::getenv(variable); name != nullptr && *name != '\0') {
      return "desk:" + std::string(name);
    }
  }
  return "desk:operator";
}

const std::vector<CommandSpec>& abuse_commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"reputation"},
       {},
       {{"--tenant", "T", false, "the tenant (\"-\" for the gateway itself)"}},
       "Explains a tenant's reputation score: each signal kind's share, recent signals, tickets.",
       reputation},
      {{"ticket", "list"},
       {},
       {{"--tenant", "T", false, "one tenant's (\"-\": the gateway's own)"},
        {"--status", "S", false, "open|waiting|resolved|closed"},
        {"--category", "C", false, "spam|compromised_host|blacklisting|complaint"},
        {"--limit", "N", false, "at most N tickets (default 100, at most 1000)"}},
       "Lists abuse tickets, newest first.",
       ticket_list},
      {{"ticket", "show"},
       {"ID"},
       {},
       "Shows a ticket with its evidence, actions and history.",
       ticket_show},
      {{"ticket", "open"},
       {},
       {{"--tenant", "T", false, "the tenant (\"-\" for the gateway itself)"},
        {"--category", "C", false, "spam|compromised_host|blacklisting|complaint"},
        {"--host", "H", true, "an address the ticket is about"},
        {"--summary", "TEXT", false, "one line for the ticket list"},
        kNote,
        kActor},
       "Opens a ticket by hand.",
       ticket_open},
      {{"ticket", "note"}, {"ID", "TEXT"}, {kActor}, "Adds a note to a ticket.", ticket_note},
      {{"ticket", "wait"},
       {"ID"},
       {kNote, kActor},
       "Marks a ticket as waiting on the tenant.",
       ticket_wait},
      {{"ticket", "resolve"},
       {"ID"},
       {kNote, kActor},
       "Marks a ticket resolved (reminders stop; actions stay until reverted).",
       ticket_resolve},
      {{"ticket", "close"}, {"ID"}, {kNote, kActor}, "Closes a ticket.", ticket_close},
      {{"ticket", "revert"},
       {"ID"},
       {{"--action", "N", false, "only this action (default: every action not yet reverted)"},
        kActor},
       "Undoes a ticket's automatic actions (throttle, suspend, host block, revocation).",
       ticket_revert},
      {{"exception", "request"},
       {},
       {{"--tenant", "T", false, "the tenant asking"},
        {"--host", "PREFIX", false, "the host or network, inside the tenant's subnets"},
        {"--reason", "TEXT", false, "why direct port 25 is needed"},
        {"--use-case", "TEXT", false, "what the host sends"},
        {"--rdns", "NAME", false, "the host's reverse DNS name"},
        {"--volume", "N", false, "expected messages per day"},
        {"--actor", "NAME", false, "who asks, sent as desk:NAME (default tenant:T)"}},
       "Asks for a port-25 exception for a tenant's host.",
       exception_request},
      {{"exception", "list"},
       {},
       {{"--tenant", "T", false, "one tenant's"},
        {"--status", "S", false, "pending|approved|denied|revoked|expired"}},
       "Lists port-25 exception requests.",
       exception_list},
      {{"exception", "show"},
       {"ID"},
       {},
       "Shows a request with what the review needs: the tenant's score, tickets, other requests, "
       "the audit trail.",
       exception_show},
      {{"exception", "approve"},
       {"ID"},
       {{"--expires", "DURATION", false, "e.g. 30m, 1h, 2d (default: until revoked)"},
        {"--note", "TEXT", false, "recorded with the decision"},
        kActor},
       "Approves a request: the host is exempt from the port-25 block.",
       exception_approve},
      {{"exception", "deny"},
       {"ID"},
       {{"--reason", "TEXT", false, "why (required)"}, kActor},
       "Denies a pending request.",
       exception_deny},
      {{"exception", "revoke"},
       {"ID"},
       {{"--reason", "TEXT", false, "why (required)"}, kActor},
       "Revokes an approved exception: the host is blocked again.",
       exception_revoke},
      {{"report", "list"},
       {},
       {{"--status", "S", false, "received|attributed|unattributed|rejected"}},
       "Lists the reports received on the feedback address.",
       report_list},
      {{"report", "show"}, {"ID"}, {}, "Shows a report with the message as received.", report_show},
  };
  return kCommands;
}

}  // namespace portcullis::ctl
