#pragma once
// Control API routes of the egress monitor: GET /v1/monitor/top?limit=N →
// {"hosts":[...], "tenants":[...], "stats":{...}}. Untrusted input: the limit
// query parameter (1..1000, else 400).

#include "gateway/core/control/router.hpp"

namespace portcullis::firewall {
class MonitorView;
}

namespace portcullis::control {

inline constexpr std::size_t kDefaultMonitorLimit = 20;
inline constexpr std::size_t kMaxMonitorLimit = 1000;

// monitor may be null (the daemon runs no monitor): the routes answer 503. The
// view must outlive the router's use.
void register_monitor_routes(Router& router, firewall::MonitorView* monitor);

}  // namespace portcullis::control
