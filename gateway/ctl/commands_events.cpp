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

Result<void> queue_delete(CommandContext& ctx, const Args& args) {
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
      {{"queue", "delete"},
       {"ID"},
       {},
       "Deletes a queued message without a bounce (recorded as 'deleted' events).",
       queue_delete},
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
