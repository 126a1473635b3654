#include "gateway/ctl/commands_events.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <ctime>
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

std::string str(const json::value& object, std::string_view key) {
  if (const auto* o = object.if_object()) {
    if (const auto* v = o->if_contains(key); v != nullptr && v->is_string()) {
      return std::string(v->get_string());
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

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<void> queue_retry(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "POST", "/v1/queue/" + percent_encode(args.positionals[0]) + "/retry");
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "message " << printable(args.positionals[0]) << " will be retried now\n";
  }
  return {};
}

// The filter options shared by the bulk queue commands, as the API's body.
Result<json::object> filter_body(const Args& args) {
  json::object body;
  if (!args.positionals.empty()) {
    body["id"] = args.positionals[0];
  }
  for (const auto& [option, field] : {std::pair{"--tenant", "tenant"},
                                      {"--destination", "destination"},
                                      {"--sender", "sender"}}) {
    if (auto v = args.get(option)) {
      body[field] = *v;
    }
  }
  if (auto age = args.get("--older-than")) {
    auto d = config::parse_duration(*age);
    if (!d) {
      return make_error("--older-than '" + *age + "': " + d.error().message);
    }
    body["older_than"] = d->count();
  }
  if (args.has("--all")) {
    body["all"] = true;
  } else if (body.empty()) {
    // Refused here too, so the operator hears it before the daemon does.
    return make_error(
        "no filter given (ID, --tenant, --destination, --sender, --older-than): "
        "pass --all to act on the whole queue");
  }
  return body;
}

Result<void> queue_action(CommandContext& ctx,
                          const Args& args,
                          std::string_view action,
                          std::string_view done) {
  auto body = filter_body(args);
  if (!body) {
    return body.error();
  }
  auto r = call(ctx, "POST", "/v1/queue/" + std::string(action), *body);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << done << ' ' << num(*r, "messages") << " message"
            << (num(*r, "messages") == 1 ? "" : "s") << " (" << num(*r, "recipients")
            << " recipient" << (num(*r, "recipients") == 1 ? "" : "s") << ")\n";
  }
  return {};
}

Result<void> queue_delete(CommandContext& ctx, const Args& args) {
  const bool by_filter = args.positionals.empty() || args.has("--all") || args.has("--tenant") ||
                         args.has("--destination") || args.has("--sender") ||
                         args.has("--older-than");
  if (by_filter) {
    return queue_action(ctx, args, "delete", "deleted (no bounce sent)");
  }
  auto r = call(ctx, "DELETE", "/v1/queue/" + percent_encode(args.positionals[0]));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "deleted message " << printable(args.positionals[0])
            << " (its pending recipients are recorded as deleted, no bounce is sent)\n";
  }
  return {};
}

std::vector<std::string> shape_cells(const json::value& row) {
  std::vector<std::string> cells = {printable(str(row, "name")),
                                    std::to_string(num(row, "messages")),
                                    std::to_string(num(row, "recipients")),
                                    std::to_string(num(row, "queued")),
                                    std::to_string(num(row, "deferred")),
                                    std::to_string(num(row, "held"))};
  if (const auto* o = row.if_object()) {
    if (const auto* ages = o->if_contains("ages"); ages != nullptr && ages->is_array()) {
      for (const auto& n : ages->get_array()) {
        cells.push_back(n.is_number() ? json::serialize(n) : "?");
      }
    }
  }
  return cells;
}

void print_shape(std::ostream& out,
                 const json::value& summary,
                 std::string_view title,
                 std::string_view rows_key,
                 std::string_view count_key,
                 std::string_view plural) {
  std::vector<std::string> header = {std::string(title), "MSGS",     "RCPTS",
                                     "QUEUED",           "DEFERRED", "HELD"};
  if (const auto* buckets = summary.as_object().if_contains("buckets");
      buckets != nullptr && buckets->is_array()) {
    for (const auto& b : buckets->get_array()) {
      header.push_back(b.is_string() ? std::string(b.get_string()) : "?");
    }
  }
  Table table(std::move(header));
  const auto* total = summary.as_object().if_contains("total");
  if (total != nullptr) {
    table.add_row(shape_cells(*total));
  }
  std::size_t shown = 0;
  if (const auto* rows = summary.as_object().if_contains(rows_key);
      rows != nullptr && rows->is_array()) {
    for (const auto& row : rows->get_array()) {
      table.add_row(shape_cells(row));
      ++shown;
    }
  }
  table.print(out);
  if (auto count = num(summary, count_key); count > static_cast<std::int64_t>(shown)) {
    out << "(" << shown << " of " << count << ' ' << plural << " shown)\n";
  }
}

Result<void> queue_summary(CommandContext& ctx, const Args& args) {
  std::string target = "/v1/queue-summary";
  if (auto top = args.get("--top")) {
    target += "?top=" + percent_encode(*top);
  }
  auto r = call(ctx, "GET", target);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  if (!r->is_object()) {
    return make_error("the daemon's answer is not a JSON object");
  }
  const auto* total = r->as_object().if_contains("total");
  const json::value none = json::object{};
  const auto& t = total != nullptr ? *total : none;
  ctx.out << num(t, "messages") << " messages (" << num(*r, "held_messages") << " held), "
          << num(t, "recipients") << " pending recipients: " << num(t, "queued") << " queued, "
          << num(t, "deferred") << " deferred, " << num(t, "held") << " held\n"
          << "recipients by the age of their message:\n\n";
  print_shape(ctx.out, *r, "DESTINATION", "destinations", "destination_count", "destinations");
  ctx.out << '\n';
  print_shape(ctx.out, *r, "TENANT", "tenants", "tenant_count", "tenants");
  return {};
}

const std::vector<OptionSpec> kFilterOptions = {
    {"--tenant", "T", false, "only this tenant's messages"},
    {"--destination", "DOMAIN", false, "messages with a pending recipient at DOMAIN"},
    {"--sender", "ADDR", false, "messages from this envelope sender (<> for the null sender)"},
    {"--older-than", "AGE", false, "messages received at least AGE ago (30m, 1h, 2d)"},
    {"--all", "", false, "the whole queue (required when no ID or filter is given)"},
};

Result<void> events_list(CommandContext& ctx, const Args& args) {
  std::string query;
  const auto add = [&](std::string_view key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + std::string(key) + "=" + percent_encode(value);
  };
  if (auto tenant = args.get("--tenant")) {
    add("tenant", *tenant);
  }
  if (auto since = args.get("--since")) {
    auto t = parse_since(*since, static_cast<std::int64_t>(std::time(nullptr)));
    if (!t) {
      return t.error();
    }
    add("since", std::to_string(*t));
  }
  if (auto message = args.get("--message")) {
    add("message", *message);
  }
  if (auto limit = args.get("--limit")) {
    add("limit", *limit);
  }
  auto r = call(ctx, "GET", "/v1/events" + query);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  Table table({"TIME", "TYPE", "TENANT", "MESSAGE", "RECIPIENT", "DETAIL"});
  if (const auto* events = r->as_object().if_contains("events"); events && events->is_array()) {
    for (const auto& e : events->get_array()) {
      std::string detail = str(e, "detail");
      if (auto remote = str(e, "remote"); !remote.empty()) {
        detail = detail.empty() ? remote : remote + ": " + detail;
      }
      table.add_row({format_time(num(e, "time")), str(e, "type"), str(e, "tenant_id"),
                     str(e, "message_id"), str(e, "recipient"), detail.empty() ? "-" : detail});
    }
  }
  table.print(ctx.out);
  return {};
}

}  // namespace

Result<std::int64_t> parse_since(std::string_view text, std::int64_t now) {
  if (all_digits(text)) {
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec == std::errc{} && end == text.data() + text.size()) {
      return value;
    }
  }
  if (!text.empty() && text.back() >= 'a' && text.back() <= 'z' && !text.ends_with('z')) {
    auto d = config::parse_duration(text);
    if (!d) {
      return make_error("--since '" + std::string(text) + "': " + d.error().message);
    }
    return now - d->count();
  }
  // 2026-11-23, 2026-11-23T10:00:00Z or 2026-11-23 10:00:00Z (UTC).
  std::tm tm{};
  int y = 0;
  int mo = 0;
  int d = 0;
  int h = 0;
  int mi = 0;
  int s = 0;
  char sep = 0;
  char zone = 0;
  const std::string copy(text);
  int n = 0;
  bool ok = false;
  if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) == 3 &&
      static_cast<std::size_t>(n) == copy.size()) {
    ok = true;
  } else if (std::sscanf(copy.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%c%n", &y, &mo, &d, &sep, &h, &mi,
                         &s, &zone, &n) == 8 &&
             static_cast<std::size_t>(n) == copy.size() && (sep == 'T' || sep == ' ') &&
             (zone == 'Z' || zone == 'z')) {
    ok = true;
  }
  if (!ok || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) {
    return make_error("--since '" + std::string(text) +
                      "' is not a duration (1h, 30m, 2d), a UTC time (2026-11-23T10:00:00Z) "
                      "or unix seconds");
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return static_cast<std::int64_t>(::timegm(&tm));
}

void print_recipient_states(std::ostream& out, const json::value& message) {
  const auto* o = message.if_object();
  const auto* states = o ? o->if_contains("recipient_states") : nullptr;
  if (states == nullptr || !states->is_array() || states->get_array().empty()) {
    return;
  }
  Table table({"RECIPIENT", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST REPLY"});
  for (const auto& r : states->get_array()) {
    std::string reply = str(r, "last_reply");
    if (auto remote = str(r, "remote"); !remote.empty()) {
      reply = remote + ": " + reply;
    }
    const auto status = str(r, "status");
    const bool pending = status == "queued" || status == "deferred";
    table.add_row({str(r, "address"), status, std::to_string(num(r, "attempts")),
                   pending
                       ? (num(r, "next_attempt_at") == 0 ? std::string("now")
                                                         : format_time(num(r, "next_attempt_at")))
                       : std::string("-"),
                   reply.empty() ? "-" : reply});
  }
  table.print(out);
}

const std::vector<CommandSpec>& events_commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"queue", "retry"},
       {"ID"},
       {},
       "Retries a queued message's pending recipients now.",
       queue_retry},
      {{"queue", "summary"},
       {},
       {{"--top", "N", false, "the N largest destinations and tenants (default 10)"}},
       "The queue's shape: pending recipients by destination and tenant, state and age "
       "(like qshape).",
       queue_summary},
      {{"queue", "hold"},
       {"[ID]"},
       kFilterOptions,
       "Holds matching messages: kept in the queue, not delivered until released.",
       [](CommandContext& c, const Args& a) { return queue_action(c, a, "hold", "held"); }},
      {{"queue", "release"},
       {"[ID]"},
       kFilterOptions,
       "Releases matching held messages for delivery.",
       [](CommandContext& c, const Args& a) { return queue_action(c, a, "release", "released"); }},
      {{"queue", "retry-now"},
       {"[ID]"},
       kFilterOptions,
       "Makes the pending recipients of matching messages (not held) due now, like postqueue -f.",
       [](CommandContext& c, const Args& a) {
         return queue_action(c, a, "retry", "will retry now");
       }},
      {{"queue", "delete"},
       {"[ID]"},
       kFilterOptions,
       "Deletes a message, or matching messages, without a bounce (recorded as 'deleted' "
       "events).",
       queue_delete},
      {{"queue", "bounce"},
       {"[ID]"},
       kFilterOptions,
       "Bounces the pending recipients of matching messages (with --destination only those "
       "at it); each sender gets a DSN.",
       [](CommandContext& c, const Args& a) { return queue_action(c, a, "bounce", "bounced"); }},
      {{"events"},
       {},
       {{"--tenant", "T", false, "only this tenant's events"},
        {"--since", "WHEN", false, "1h, 2d, 2026-11-23T10:00:00Z or unix seconds"},
        {"--message", "ID", false, "only this queued message's events"},
        {"--limit", "N", false, "the most recent N events (default 100)"}},
       "Lists delivery events: accepted, delivered, deferred, bounced, expired, deleted.",
       events_list},
  };
  return kCommands;
}

}  // namespace portcullis::ctl
