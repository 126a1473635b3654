#include "gateway/ctl/commands_monitor.hpp"

#include <boost/json.hpp>
#include <cstdio>
#include <ostream>

#include "gateway/core/control/client.hpp"
#include "gateway/core/control/router.hpp"
#include "gateway/ctl/daemon_call.hpp"
#include "gateway/ctl/format.hpp"

namespace portcullis::ctl {
namespace {

namespace json = boost::json;

const json::value* field(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  return o == nullptr ? nullptr : o->if_contains(key);
}

std::string text(const json::value& v, std::string_view key) {
  const auto* f = field(v, key);
  return f != nullptr && f->is_string() ? printable(f->get_string()) : std::string();
}

std::uint64_t count(const json::value& v, std::string_view key) {
  const auto* f = field(v, key);
  if (f == nullptr) {
    return 0;
  }
  if (f->is_uint64()) {
    return f->get_uint64();
  }
  if (f->is_int64() && f->get_int64() > 0) {
    return static_cast<std::uint64_t>(f->get_int64());
  }
  return 0;
}

std::string rate(const json::value& v, std::string_view key) {
  const auto* f = field(v, key);
  double r = 0;
  if (f != nullptr && f->is_number()) {
    boost::system::error_code ec;
    r = f->to_number<double>(ec);
  }
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", r);
  return buffer;
}

const json::array& list(const json::value& v, std::string_view key) {
  static const json::array kEmpty;
  const auto* f = field(v, key);
  return f != nullptr && f->is_array() ? f->get_array() : kEmpty;
}

Result<void> monitor_top(CommandContext& ctx, const Args& args) {
  std::string target = "/v1/monitor/top";
  if (auto limit = args.get("--limit")) {
    target += "?limit=" + control::percent_encode(*limit);
  }
  auto r = call(ctx, "GET", target);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  const auto tenant = [](const json::value& v) {
    auto id = text(v, "tenant_id");
    return id.empty() ? std::string("-") : id;
  };
  Table hosts({"HOST", "TENANT", "ATTEMPTS", "DESTINATIONS", "SYN/MIN", "LAST SEEN"});
  for (const auto& h : list(*r, "hosts")) {
    hosts.add_row({text(h, "host"), tenant(h), std::to_string(count(h, "attempts")),
                   std::to_string(count(h, "distinct_destinations")), rate(h, "syn_per_minute"),
                   format_time(static_cast<std::int64_t>(count(h, "last_seen")))});
  }
  hosts.print(ctx.out);
  if (const auto& tenants = list(*r, "tenants"); !tenants.empty()) {
    ctx.out << '\n';
    Table table({"TENANT", "HOSTS", "ATTEMPTS", "DESTINATIONS", "SYN/MIN"});
    for (const auto& t : tenants) {
      table.add_row({tenant(t), std::to_string(count(t, "hosts")),
                     std::to_string(count(t, "attempts")),
                     std::to_string(count(t, "distinct_destinations")), rate(t, "syn_per_minute")});
    }
    table.print(ctx.out);
  }
  if (const auto* stats = field(*r, "stats"); stats != nullptr) {
    std::string sources;
    for (const auto& s : list(*stats, "sources")) {
      sources += (sources.empty() ? "" : ", ") +
                 (s.is_string() ? printable(s.get_string()) : std::string("?"));
    }
    ctx.out << "\nwindow " << format_age(static_cast<std::int64_t>(count(*stats, "window"))) << ", "
            << count(*stats, "hosts") << " hosts tracked (max " << count(*stats, "max_hosts")
            << ", " << count(*stats, "evicted") << " evicted), " << count(*stats, "syns")
            << " SYNs in " << count(*stats, "packets") << " packets, " << count(*stats, "dropped")
            << " dropped, " << count(*stats, "malformed")
            << " malformed; sources: " << (sources.empty() ? "none" : sources) << '\n';
  }
  return {};
}

}  // namespace

const std::vector<CommandSpec>& monitor_commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"monitor", "top"},
       {},
       {{"--limit", "N", false, "show at most N hosts and tenants (default 20, at most 1000)"}},
       "Shows the hosts and tenants with the most direct port-25 attempts in the monitor's "
       "window.",
       monitor_top},
  };
  return kCommands;
}

}  // namespace portcullis::ctl
