#include "gateway/ctl/commands.hpp"

#include <boost/json.hpp>
#include <ctime>
#include <ostream>

#include "gateway/core/control/client.hpp"
#include "gateway/core/control/router.hpp"
#include "gateway/ctl/commands_abuse.hpp"
#include "gateway/ctl/commands_events.hpp"
#include "gateway/ctl/daemon_call.hpp"
#include "gateway/ctl/format.hpp"

namespace portcullis::ctl {
namespace {

namespace json = boost::json;
using control::percent_encode;

// ---- talking to the daemon ----

// Prints the raw answer for --json; true when done.
bool print_if_json(CommandContext& ctx, const json::value& value) {
  if (ctx.json) {
    print_json(ctx.out, value);
  }
  return ctx.json;
}

// ---- reading the daemon's JSON (missing fields print as empty) ----

std::string str(const json::value& object, std::string_view key) {
  if (const auto* o = object.if_object()) {
    if (const auto* v = o->if_contains(key)) {
      if (v->is_string()) {
        return std::string(v->get_string());
      }
      if (v->is_null()) {
        return {};
      }
      return json::serialize(*v);
    }
  }
  return {};
}

std::int64_t num(const json::value& object, std::string_view key) {
  if (const auto* o = object.if_object()) {
    if (const auto* v = o->if_contains(key)) {
      if (v->is_int64()) {
        return v->get_int64();
      }
      if (v->is_uint64()) {
        return static_cast<std::int64_t>(v->get_uint64());
      }
    }
  }
  return 0;
}

const json::array& arr(const json::value& object, std::string_view key) {
  static const json::array kEmpty;
  if (const auto* o = object.if_object()) {
    if (const auto* v = o->if_contains(key); v != nullptr && v->is_array()) {
      return v->get_array();
    }
  }
  return kEmpty;
}

std::string join_strings(const json::array& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out += separator;
    }
    out += item.is_string() ? std::string(item.get_string()) : json::serialize(item);
  }
  return out;
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

void print_tenant(std::ostream& out, const json::value& t) {
  std::string status = str(t, "status");
  if (auto reason = str(t, "status_reason"); !reason.empty()) {
    status += " (" + reason + ")";
  }
  auto subnets = join_strings(arr(t, "subnets"), ", ");
  print_fields(out,
               {{"id", str(t, "id")},
                {"plan", str(t, "plan")},
                {"subnets", subnets.empty() ? "-" : subnets},
                {"port25 mode", str(t, "port25_mode")},
                {"abuse contact", str(t, "abuse_contact").empty() ? "-" : str(t, "abuse_contact")},
                {"status", status},
                {"created", format_time(num(t, "created_at"))}});
}

// Fields shared by "tenant add" and "tenant set".
json::object tenant_fields(const Args& args) {
  json::object body;
  if (auto plan = args.get("--plan")) {
    body["plan"] = *plan;
  }
  if (args.has("--subnet")) {
    json::array subnets;
    for (const auto& s : args.all("--subnet")) {
      subnets.emplace_back(s);
    }
    body["subnets"] = std::move(subnets);
  }
  if (auto mode = args.get("--mode")) {
    body["port25_mode"] = *mode;
  }
  if (auto contact = args.get("--abuse-contact")) {
    body["abuse_contact"] = *contact;
  }
  return body;
}

std::string tenant_path(const std::string& id) {
  return "/v1/tenants/" + percent_encode(id);
}

// ---- commands ----

Result<void> tenant_add(CommandContext& ctx, const Args& args) {
  auto body = tenant_fields(args);
  body["id"] = args.positionals[0];
  auto t = call(ctx, "POST", "/v1/tenants", body);
  if (!t) {
    return t.error();
  }
  if (!print_if_json(ctx, *t)) {
    ctx.out << "added tenant " << printable(str(*t, "id")) << "\n";
    print_tenant(ctx.out, *t);
  }
  return {};
}

Result<void> tenant_list(CommandContext& ctx, const Args&) {
  auto r = call(ctx, "GET", "/v1/tenants");
  if (!r) {
    return r.error();
  }
  if (print_if_json(ctx, *r)) {
    return {};
  }
  Table table({"ID", "PLAN", "MODE", "STATUS", "SUBNETS"});
  for (const auto& t : arr(*r, "tenants")) {
    auto subnets = join_strings(arr(t, "subnets"), ",");
    table.add_row({str(t, "id"), str(t, "plan"), str(t, "port25_mode"), str(t, "status"),
                   subnets.empty() ? "-" : subnets});
  }
  table.print(ctx.out);
  return {};
}

Result<void> tenant_show(CommandContext& ctx, const Args& args) {
  auto t = call(ctx, "GET", tenant_path(args.positionals[0]));
  if (!t) {
    return t.error();
  }
  if (!print_if_json(ctx, *t)) {
    print_tenant(ctx.out, *t);
  }
  return {};
}

Result<void> tenant_set(CommandContext& ctx, const Args& args) {
  auto body = tenant_fields(args);
  if (auto status = args.get("--status")) {
    body["status"] = *status;
  }
  if (auto reason = args.get("--reason")) {
    body["status_reason"] = *reason;
  }
  if (body.empty()) {
    return make_error(
        "nothing to change: give at least one of --plan, --subnet, --mode, "
        "--abuse-contact, --status, --reason");
  }
  auto t = call(ctx, "PATCH", tenant_path(args.positionals[0]), body);
  if (!t) {
    return t.error();
  }
  if (!print_if_json(ctx, *t)) {
    print_tenant(ctx.out, *t);
  }
  return {};
}

Result<void> tenant_remove(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "DELETE", tenant_path(args.positionals[0]));
  if (!r) {
    return r.error();
  }
  if (!print_if_json(ctx, *r)) {
    ctx.out << "removed tenant " << printable(args.positionals[0]) << " and its credentials\n";
  }
  return {};
}

Result<void> credential_issue(CommandContext& ctx, const Args& args) {
  json::object body{{"description", args.get("--description").value_or("")}};
  auto c = call(ctx, "POST", tenant_path(args.positionals[0]) + "/credentials", body);
  if (!c) {
    return c.error();
  }
  if (!print_if_json(ctx, *c)) {
    print_fields(ctx.out, {{"tenant", str(*c, "tenant_id")},
                           {"username", str(*c, "username")},
                           {"password", str(*c, "password")}});
    ctx.out
        << "\nThe password is shown only once: the gateway keeps only its hash. Store it now.\n";
  }
  return {};
}

Result<void> credential_list(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "GET", tenant_path(args.positionals[0]) + "/credentials");
  if (!r) {
    return r.error();
  }
  if (print_if_json(ctx, *r)) {
    return {};
  }
  Table table({"USERNAME", "CREATED", "STATUS", "DESCRIPTION"});
  for (const auto& c : arr(*r, "credentials")) {
    auto revoked = num(c, "revoked_at");
    table.add_row({str(c, "username"), format_time(num(c, "created_at")),
                   revoked != 0 ? "revoked " + format_time(revoked) : "active",
                   str(c, "description")});
  }
  table.print(ctx.out);
  return {};
}

Result<void> credential_revoke(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "DELETE", "/v1/credentials/" + percent_encode(args.positionals[0]));
  if (!r) {
    return r.error();
  }
  if (!print_if_json(ctx, *r)) {
    ctx.out << "revoked credential " << printable(args.positionals[0]) << '\n';
  }
  return {};
}

Result<void> queue_list(CommandContext& ctx, const Args& args) {
  std::string target = "/v1/queue";
  if (auto limit = args.get("--limit")) {
    target += "?limit=" + percent_encode(*limit);
  }
  auto r = call(ctx, "GET", target);
  if (!r) {
    return r.error();
  }
  if (print_if_json(ctx, *r)) {
    return {};
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  Table table({"ID", "TENANT", "FROM", "RCPTS", "PENDING", "NEXT ATTEMPT", "SIZE", "AGE"});
  const auto& messages = arr(*r, "messages");
  for (const auto& m : messages) {
    auto from = str(m, "mail_from");
    table.add_row({str(m, "id"), str(m, "tenant_id"), from.empty() ? "<>" : from,
                   std::to_string(num(m, "recipients")), std::to_string(num(m, "pending")),
                   num(m, "next_attempt_at") <= now ? std::string("now")
                                                    : format_time(num(m, "next_attempt_at")),
                   format_size(static_cast<std::uint64_t>(num(m, "size"))),
                   format_age(now - num(m, "received_at"))});
  }
  table.print(ctx.out);
  if (auto total = num(*r, "total"); total > static_cast<std::int64_t>(messages.size())) {
    ctx.out << "(" << messages.size() << " of " << total << " queued messages shown)\n";
  }
  return {};
}

Result<void> queue_show(CommandContext& ctx, const Args& args) {
  auto m = call(ctx, "GET", "/v1/queue/" + percent_encode(args.positionals[0]));
  if (!m) {
    return m.error();
  }
  if (print_if_json(ctx, *m)) {
    return {};
  }
  auto from = str(*m, "mail_from");
  auto credential = str(*m, "credential");
  auto destination = str(*m, "original_destination");
  auto helo = str(*m, "helo");
  print_fields(ctx.out, {{"id", str(*m, "id")},
                         {"tenant", str(*m, "tenant_id")},
                         {"received", format_time(num(*m, "received_at"))},
                         {"listener", str(*m, "listener")},
                         {"client", str(*m, "client_address")},
                         {"helo", helo.empty() ? "-" : helo},
                         {"credential", credential.empty() ? "-" : credential},
                         {"original destination", destination.empty() ? "-" : destination},
                         {"from", from.empty() ? "<>" : from},
                         {"recipients", join_strings(arr(*m, "recipients"), ", ")},
                         {"body", str(*m, "body_type") +
                                      (str(*m, "smtputf8") == "true" ? ", SMTPUTF8" : "")},
                         {"size", format_size(static_cast<std::uint64_t>(num(*m, "size"))) + " (" +
                                      std::to_string(num(*m, "size")) + " bytes)"}});
  ctx.out << '\n';
  print_recipient_states(ctx.out, *m);
  ctx.out << '\n';
  // Header lines are the tenant's text: printed line by line, control characters escaped.
  const auto headers = str(*m, "headers");
  std::size_t pos = 0;
  while (pos < headers.size()) {
    auto end = headers.find('\n', pos);
    if (end == std::string::npos) {
      end = headers.size();
    }
    auto line = std::string_view(headers).substr(pos, end - pos);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
    }
    ctx.out << printable(line) << '\n';
    pos = end + 1;
  }
  return {};
}

const std::vector<OptionSpec> kTenantFieldOptions = {
    {"--plan", "P", false, "plan name from the config's plans"},
    {"--subnet", "CIDR", true, "a tenant prefix, e.g. 198.18.1.0/24"},
    {"--mode", "M", false, "port 25 handling: block|redirect|exempt"},
    {"--abuse-contact", "ADDR", false, "where abuse notices go"},
};

std::vector<OptionSpec> with(std::vector<OptionSpec> options, std::vector<OptionSpec> more) {
  options.insert(options.end(), more.begin(), more.end());
  return options;
}

}  // namespace

const std::vector<CommandSpec>& commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"tenant", "add"}, {"ID"}, kTenantFieldOptions, "Adds a tenant.", tenant_add},
      {{"tenant", "list"}, {}, {}, "Lists the tenants.", tenant_list},
      {{"tenant", "show"}, {"ID"}, {}, "Shows one tenant.", tenant_show},
      {{"tenant", "set"},
       {"ID"},
       with(kTenantFieldOptions, {{"--status", "S", false, "active|suspended"},
                                  {"--reason", "TEXT", false, "why the status changed"}}),
       "Changes a tenant; --subnet replaces all its subnets.",
       tenant_set},
      {{"tenant", "remove"}, {"ID"}, {}, "Removes a tenant and its credentials.", tenant_remove},
      {{"credential", "issue"},
       {"TENANT"},
       {{"--description", "D", false, "what the credential is for"}},
       "Issues an SMTP credential; the password is shown only once.",
       credential_issue},
      {{"credential", "list"}, {"TENANT"}, {}, "Lists a tenant's credentials.", credential_list},
      {{"credential", "revoke"}, {"USERNAME"}, {}, "Revokes a credential.", credential_revoke},
      {{"queue", "list"},
       {},
       {{"--limit", "N", false, "show at most N messages (default 100)"}},
       "Lists queued messages.",
       queue_list},
      {{"queue", "show"}, {"ID"}, {}, "Shows a queued message's envelope and headers.", queue_show},
  };
  // The abuse desk's commands (commands_abuse.cpp) follow the tenant ones.
  static const std::vector<CommandSpec> kWithAbuse = [] {
    auto all = kCommands;
    all.insert(all.end(), abuse_commands().begin(), abuse_commands().end());
    return all;
  }();
  return kWithAbuse;
}

}  // namespace portcullis::ctl
