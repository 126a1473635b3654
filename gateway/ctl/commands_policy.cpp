#include "gateway/ctl/commands_policy.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <ostream>

#include "gateway/core/config/values.hpp"
#include "gateway/core/control/client.hpp"
#include "gateway/core/control/router.hpp"
#include "gateway/ctl/daemon_call.hpp"
#include "gateway/ctl/format.hpp"

namespace portcullis::ctl {
namespace {

namespace json = boost::json;
using control::percent_encode;

// ---- reading the daemon's JSON (missing fields print as empty) ----

std::string text(const json::value& v, std::string_view key) {
  if (const auto* o = v.if_object()) {
    if (const auto* f = o->if_contains(key); f != nullptr && f->is_string()) {
      return printable(f->get_string());
    }
  }
  return {};
}

const json::value& field(const json::value& v, std::string_view key) {
  static const json::value kNull;
  if (const auto* o = v.if_object()) {
    if (const auto* f = o->if_contains(key)) {
      return *f;
    }
  }
  return kNull;
}

std::uint64_t count(const json::value& v, std::string_view key) {
  const auto& f = field(v, key);
  if (f.is_uint64()) {
    return f.get_uint64();
  }
  return f.is_int64() && f.get_int64() > 0 ? static_cast<std::uint64_t>(f.get_int64()) : 0;
}

std::int64_t number(const json::value& v, std::string_view key) {
  const auto& f = field(v, key);
  return f.is_int64() ? f.get_int64() : static_cast<std::int64_t>(count(v, key));
}

// ---- arguments ----

// Every command here names its tenant with --tenant.
Result<std::string> tenant_of(const Args& args) {
  if (auto tenant = args.get("--tenant"); tenant && !tenant->empty()) {
    return Result<std::string>(boost::system::in_place_value, *tenant);
  }
  return make_error("--tenant T is required");
}

std::string tenant_path(const std::string& tenant, std::string_view rest) {
  return "/v1/tenants/" + percent_encode(tenant) + std::string(rest);
}

// "?list=L" when --list was given.
std::string list_query(const Args& args) {
  if (auto list = args.get("--list")) {
    return "?list=" + percent_encode(*list);
  }
  return {};
}

// ---- limits ----

struct LimitOption {
  std::string_view field;   // the API's name
  std::string_view option;  // the command line's
  bool size = false;        // "25M" accepted, shown as a size
};

constexpr LimitOption kLimitOptions[] = {
    {"monthly_quota", "--monthly-quota"},
    {"messages_per_minute", "--messages-per-minute"},
    {"messages_per_hour", "--messages-per-hour"},
    {"recipients_per_message", "--recipients-per-message"},
    {"recipients_per_hour", "--recipients-per-hour"},
    {"max_connections", "--max-connections"},
    {"max_message_size", "--max-message-size", true},
};
constexpr std::string_view kDedicatedIp = "dedicated_ip";

std::string limit_value(const json::value& limits, const LimitOption& option) {
  const auto& v = field(limits, option.field);
  if (v.is_null()) {
    return "-";
  }
  const auto n = count(limits, option.field);
  return option.size ? config::format_size(n) : std::to_string(n);
}

void print_limits(std::ostream& out, const json::value& r) {
  out << "tenant:  " << text(r, "tenant_id") << "\nplan:    " << text(r, "plan")
      << (field(r, "plan_limits").is_null() ? " (not configured: no limits apply)" : "") << "\n\n";
  const auto& plan = field(r, "plan_limits");
  const auto& overrides = field(r, "overrides");
  const auto& effective = field(r, "effective");
  Table table({"LIMIT", "PLAN", "OVERRIDE", "EFFECTIVE"});
  for (const auto& option : kLimitOptions) {
    table.add_row({std::string(option.field), limit_value(plan, option),
                   limit_value(overrides, option), limit_value(effective, option)});
  }
  auto ip = [](const json::value& limits) {
    const auto& v = field(limits, kDedicatedIp);
    if (!v.is_string()) {
      return std::string("-");
    }
    return v.get_string().empty() ? std::string("(shared)") : printable(v.get_string());
  };
  table.add_row({std::string(kDedicatedIp), ip(plan), ip(overrides), ip(effective)});
  table.print(out);
}

Result<void> limits_show(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto r = call(ctx, "GET", tenant_path(*tenant, "/limits"));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    print_limits(ctx.out, *r);
  }
  return {};
}

// "messages-per-minute", "messages_per_minute" or "--messages-per-minute" → the API's name.
std::optional<std::string_view> limit_field_named(std::string name) {
  if (name.starts_with("--")) {
    name.erase(0, 2);
  }
  std::replace(name.begin(), name.end(), '-', '_');
  for (const auto& option : kLimitOptions) {
    if (option.field == name) {
      return option.field;
    }
  }
  if (name == kDedicatedIp) {
    return kDedicatedIp;
  }
  return std::nullopt;
}

// The overrides are replaced as a whole (PUT): start from the current ones,
// clear, then set what the command line says.
Result<void> limits_set(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto current = call(ctx, "GET", tenant_path(*tenant, "/limits"));
  if (!current) {
    return current.error();
  }
  json::object body;
  if (const auto* overrides = field(*current, "overrides").if_object()) {
    body = *overrides;
  }
  bool changed = false;
  for (const auto& name : args.all("--clear")) {
    if (name == "all") {
      for (auto& [key, value] : body) {
        value = nullptr;
      }
    } else if (auto f = limit_field_named(name)) {
      body[*f] = nullptr;
    } else {
      return make_error("--clear: '" + name +
                        "' is not a limit (monthly-quota, messages-per-minute, messages-per-hour, "
                        "recipients-per-message, recipients-per-hour, max-connections, "
                        "max-message-size, dedicated-ip, all)");
    }
    changed = true;
  }
  for (const auto& option : kLimitOptions) {
    auto value = args.get(std::string(option.option));
    if (!value) {
      continue;
    }
    std::uint64_t n = 0;
    if (option.size) {
      auto size = config::parse_size(*value);
      if (!size) {
        return make_error(std::string(option.option) + ": " + size.error().message);
      }
      n = *size;
    } else {
      auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
      if (ec != std::errc{} || end != value->data() + value->size() || value->empty()) {
        return make_error(std::string(option.option) + ": '" + *value + "' is not a whole number");
      }
    }
    body[option.field] = n;
    changed = true;
  }
  if (auto ip = args.get("--dedicated-ip")) {
    body[kDedicatedIp] = *ip;
    changed = true;
  }
  if (!changed) {
    return make_error("nothing to change: give a limit (--messages-per-minute N ...) or --clear");
  }
  auto r = call(ctx, "PUT", tenant_path(*tenant, "/limits"), body);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    print_limits(ctx.out, *r);
  }
  return {};
}

// ---- suppressions ----

Result<void> suppression_list(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto r = call(ctx, "GET", tenant_path(*tenant, "/suppressions") + list_query(args));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  Table table({"ADDRESS", "LIST", "ADDED", "REASON"});
  if (const auto* rows = field(*r, "suppressions").if_array()) {
    for (const auto& s : *rows) {
      table.add_row({text(s, "address"), text(s, "list"), format_time(number(s, "created_at")),
                     text(s, "reason")});
    }
  }
  table.print(ctx.out);
  return {};
}

Result<void> suppression_add(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto address = args.get("--address");
  if (!address) {
    return make_error("--address A is required");
  }
  json::object body{{"address", *address}};
  if (auto list = args.get("--list")) {
    body["list"] = *list;
  }
  if (auto reason = args.get("--reason")) {
    body["reason"] = *reason;
  }
  auto r = call(ctx, "POST", tenant_path(*tenant, "/suppressions"), body);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "suppressed " << text(*r, "address") << " on " << text(*r, "tenant_id") << "'s "
            << text(*r, "list") << " list\n";
  }
  return {};
}

Result<void> suppression_remove(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto address = args.get("--address");
  if (!address) {
    return make_error("--address A is required");
  }
  auto r =
      call(ctx, "DELETE",
           tenant_path(*tenant, "/suppressions/" + percent_encode(*address)) + list_query(args));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    const auto list = text(*r, "list");
    ctx.out << "removed " << text(*r, "address") << " from "
            << (list.empty() ? "every list" : "the " + list + " list") << '\n';
  }
  return {};
}

// The CSV itself, ready for a file or another gateway's import.
Result<void> suppression_export(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto r = call(ctx, "GET", tenant_path(*tenant, "/suppressions/export") + list_query(args));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else if (const auto& csv = field(*r, "csv"); csv.is_string()) {
    ctx.out << std::string_view(csv.get_string());
  }
  return {};
}

Result<std::string> read_input(const std::string& file) {
  // Explicit: Error is constructible from a string too (C++20 aggregate parens).
  auto all = [](std::istream& in) {
    return Result<std::string>(boost::system::in_place_value, std::istreambuf_iterator<char>(in),
                               std::istreambuf_iterator<char>());
  };
  if (file == "-") {
    return all(std::cin);
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    return make_error("cannot read " + file);
  }
  return all(in);
}

Result<void> suppression_import(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto file = args.get("--file");
  if (!file) {
    return make_error("--file F is required ('-' reads standard input)");
  }
  auto csv = read_input(*file);
  if (!csv) {
    return csv.error();
  }
  auto r = call(ctx, "POST", tenant_path(*tenant, "/suppressions/import") + list_query(args),
                json::object{{"csv", *csv}});
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "imported " << count(*r, "imported") << " suppressions into " << printable(*tenant)
            << '\n';
  }
  return {};
}

// ---- stats ----

constexpr std::pair<std::string_view, std::string_view> kStatsColumns[] = {
    {"requested", "REQUESTED"},         {"delivered", "DELIVERED"},
    {"deferred", "DEFERRED"},           {"bounced_hard", "HARD BOUNCES"},
    {"bounced_soft", "SOFT BOUNCES"},   {"suppressed", "SUPPRESSED"},
    {"rejected_limits", "OVER LIMITS"}, {"complained", "COMPLAINTS"},
};

// "2026-11-01" for a day, "2026-11-01 13:00Z" for an hour.
std::string bucket_start(std::int64_t unix_seconds, bool by_day) {
  const auto t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (::gmtime_r(&t, &tm) == nullptr) {
    return std::to_string(unix_seconds);
  }
  char buffer[32];
  std::strftime(buffer, sizeof(buffer), by_day ? "%Y-%m-%d" : "%Y-%m-%d %H:00Z", &tm);
  return buffer;
}

Result<void> stats(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  std::string query;
  for (const char* name : {"from", "to", "by"}) {
    if (auto value = args.get(std::string("--") + name)) {
      query += (query.empty() ? "?" : "&") + std::string(name) + "=" + percent_encode(*value);
    }
  }
  auto r = call(ctx, "GET", tenant_path(*tenant, "/stats") + query);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  const bool by_day = text(*r, "by") == "day";
  std::vector<std::string> header = {by_day ? "DAY (UTC)" : "HOUR (UTC)"};
  for (const auto& [key, title] : kStatsColumns) {
    header.emplace_back(title);
  }
  Table table(std::move(header));
  auto add = [&](std::string first, const json::value& counts) {
    std::vector<std::string> row = {std::move(first)};
    for (const auto& [key, title] : kStatsColumns) {
      row.push_back(std::to_string(count(counts, key)));
    }
    table.add_row(std::move(row));
  };
  if (const auto* rows = field(*r, "rows").if_array()) {
    for (const auto& row : *rows) {
      add(bucket_start(number(row, "start"), by_day), row);
    }
  }
  add("TOTAL", field(*r, "total"));
  ctx.out << "tenant " << text(*r, "tenant_id") << ", " << format_time(number(*r, "from")) << " to "
          << format_time(number(*r, "to")) << "\n\n";
  table.print(ctx.out);
  return {};
}

// ---- webhook ----

Result<void> webhook_set(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto url = args.get("--url");
  if (!url) {
    return make_error("--url U is required (https://...)");
  }
  auto r = call(ctx, "PUT", tenant_path(*tenant, "/webhook"), json::object{{"url", *url}});
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "url:     " << text(*r, "url") << "\nsecret:  " << text(*r, "secret")
            << "\n\nEvents are signed with this secret. Give it to the tenant now: it is not"
               "\nshown again ('webhook set' again makes a new one).\n";
  }
  return {};
}

Result<void> webhook_show(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto r = call(ctx, "GET", tenant_path(*tenant, "/webhook"));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "url:      " << text(*r, "url") << "\nsecret:   " << text(*r, "secret_prefix")
            << "\ncreated:  " << format_time(number(*r, "created_at")) << '\n';
  }
  return {};
}

Result<void> webhook_remove(CommandContext& ctx, const Args& args) {
  auto tenant = tenant_of(args);
  if (!tenant) {
    return tenant.error();
  }
  auto r = call(ctx, "DELETE", tenant_path(*tenant, "/webhook"));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "removed the webhook of " << printable(*tenant) << '\n';
  }
  return {};
}

const OptionSpec kTenant{"--tenant", "T", false, "the tenant (required)"};
const OptionSpec kList{"--list", "L", false,
                       "bounces, blocks, spam-reports, invalid or unsubscribes"};

std::vector<OptionSpec> limit_set_options() {
  std::vector<OptionSpec> options = {kTenant};
  for (const auto& o : kLimitOptions) {
    options.push_back({std::string(o.option), o.size ? "SIZE" : "N", false,
                       o.size ? "bytes, or with K, M or G" : "a whole number"});
  }
  options.push_back({"--dedicated-ip", "A", false, "outbound source address"});
  options.push_back(
      {"--clear", "FIELD", true, "back to the plan's value (e.g. max-connections, all)"});
  return options;
}

}  // namespace

const std::vector<CommandSpec>& policy_commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"limits", "show"},
       {},
       {kTenant},
       "Shows a tenant's limits: its plan's, its overrides and what applies.",
       limits_show},
      {{"limits", "set"},
       {},
       limit_set_options(),
       "Overrides limits of a tenant's plan; the others keep their values.",
       limits_set},
      {{"suppression", "list"},
       {},
       {kTenant, kList},
       "Lists a tenant's suppressed addresses.",
       suppression_list},
      {{"suppression", "add"},
       {},
       {kTenant,
        {"--address", "A", false, "the address (required)"},
        {"--list", "L", false, "the list (default blocks)"},
        {"--reason", "R", false, "why (default \"operator\")"}},
       "Suppresses an address: the relay refuses it as a recipient of the tenant.",
       suppression_add},
      {{"suppression", "remove"},
       {},
       {kTenant,
        {"--address", "A", false, "the address (required)"},
        {"--list", "L", false, "only this list (default: every list)"}},
       "Lets an address receive the tenant's mail again.",
       suppression_remove},
      {{"suppression", "export"},
       {},
       {kTenant, kList},
       "Prints the suppressions as CSV (address,list,reason,created_at).",
       suppression_export},
      {{"suppression", "import"},
       {},
       {kTenant,
        {"--file", "F", false, "the CSV file, '-' for standard input (required)"},
        {"--list", "L", false, "the list of rows without one"}},
       "Imports a CSV with a header (address, and optionally list, reason, created_at); "
       "all rows or none.",
       suppression_import},
      {{"stats"},
       {},
       {kTenant,
        {"--from", "X", false, "unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH, UTC (default today)"},
        {"--to", "Y", false, "the same; a day or hour is included (default now)"},
        {"--by", "hour|day", false, "one row per hour (default) or day"}},
       "Shows a tenant's message counts per hour or day, with a total.",
       stats},
      {{"webhook", "set"},
       {},
       {kTenant, {"--url", "U", false, "https:// URL (required)"}},
       "Sets the tenant's delivery-event webhook and prints its new signing secret.",
       webhook_set},
      {{"webhook", "show"}, {}, {kTenant}, "Shows the tenant's webhook.", webhook_show},
      {{"webhook", "remove"}, {}, {kTenant}, "Removes the tenant's webhook.", webhook_remove},
  };
  return kCommands;
}

}  // namespace portcullis::ctl
