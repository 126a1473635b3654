#include "gateway/core/control/api_monitor.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <cmath>
#include <string>

#include "gateway/core/firewall/monitor_view.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;

// Two decimals are plenty for a rate, and keep the JSON short.
double round2(double v) {
  return std::round(v * 100.0) / 100.0;
}

json::object host_json(const firewall::EgressObservation& o) {
  return {{"host", o.host},
          {"tenant_id", o.tenant_id},
          {"attempts", o.attempts},
          {"distinct_destinations", o.distinct_destinations},
          {"syn_per_minute", round2(o.syn_per_minute)},
          {"last_seen", o.time}};
}

json::object tenant_json(const firewall::TenantEgress& t) {
  return {{"tenant_id", t.tenant_id},
          {"hosts", static_cast<std::uint64_t>(t.hosts)},
          {"attempts", t.attempts},
          {"distinct_destinations", t.distinct_destinations},
          {"syn_per_minute", round2(t.syn_per_minute)}};
}

json::object stats_json(const firewall::MonitorStats& s) {
  json::array sources;
  for (const auto& name : s.sources) {
    sources.emplace_back(name);
  }
  return {{"sources", std::move(sources)},
          {"packets", s.packets},
          {"syns", s.syns},
          {"malformed", s.malformed},
          {"ignored", s.ignored},
          {"dropped", s.dropped},
          {"evicted", s.evicted},
          {"hosts", static_cast<std::uint64_t>(s.hosts)},
          {"max_hosts", static_cast<std::uint64_t>(s.max_hosts)},
          {"window", s.window_seconds}};
}

Response top(const firewall::MonitorView* monitor, const Request& request) {
  if (monitor == nullptr) {
    return error_response(503,
                          "the egress monitor is not running (enable the firewall or set "
                          "firewall.monitor_interface)");
  }
  std::size_t limit = kDefaultMonitorLimit;
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    const auto& text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc{} || end != text.data() + text.size() || limit == 0 ||
        limit > kMaxMonitorLimit) {
      return error_response(400,
                            "limit must be a number from 1 to " + std::to_string(kMaxMonitorLimit));
    }
  }
  json::array hosts;
  for (const auto& o : monitor->top(limit)) {
    hosts.emplace_back(host_json(o));
  }
  json::array tenants;
  for (const auto& t : monitor->top_tenants(limit)) {
    tenants.emplace_back(tenant_json(t));
  }
  return {200, json::object{{"hosts", std::move(hosts)},
                            {"tenants", std::move(tenants)},
                            {"stats", stats_json(monitor->stats())}}};
}

}  // namespace

void register_monitor_routes(Router& router, firewall::MonitorView* monitor) {
  router.add("GET", "/v1/monitor/top", [monitor](const Request& r) { return top(monitor, r); });
}

}  // namespace portcullis::control
