#pragma once
// Per-tenant sending statistics as the control API sees them (GET
// /v1/tenants/{id}/stats). The daemon adapts the spool's hourly counters to
// this interface, so core does not include relay/. No untrusted input here:
// the API parses and checks the time range.

#include <cstdint>
#include <string_view>
#include <vector>

namespace portcullis::control {

struct StatsRow {
  std::int64_t start = 0;  // unix seconds, start of the hour/day (UTC)
  std::uint64_t requested = 0, delivered = 0, deferred = 0, bounced_hard = 0, bounced_soft = 0,
                suppressed = 0, rejected_limits = 0, complained = 0;
};

class StatsView {
 public:
  virtual ~StatsView() = default;
  // Rows of the buckets starting in [from, to), oldest first; hours are summed
  // into UTC days when by_day. Buckets without any count may be left out.
  virtual std::vector<StatsRow> stats(std::string_view tenant,
                                      std::int64_t from,
                                      std::int64_t to,
                                      bool by_day) const = 0;
};

}  // namespace portcullis::control
