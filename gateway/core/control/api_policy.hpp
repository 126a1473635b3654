#pragma once
// Control API routes for a tenant's sending policy: overrides of its plan's
// limits, its suppression lists, its statistics and its delivery-event
// webhook. Untrusted input: path parameters, query strings and bodies from
// local operators, among them whole CSV files; every field is type-checked
// here and validated by the store. The transport is JSON only, so CSV travels
// as a JSON string.

#include <cstdint>
#include <optional>
#include <string_view>

#include "gateway/core/control/api.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

// GET    /v1/tenants/{id}/limits  → {"tenant_id", "plan", "plan_limits": LIMITS,
//                                    "overrides": LIMITS, "effective": LIMITS}
//        (plan_limits and effective are null when the plan is not configured)
// PUT    /v1/tenants/{id}/limits  LIMITS (null or missing = the plan's value) → as GET
//        LIMITS: {"monthly_quota", "messages_per_minute", "messages_per_hour",
//                 "recipients_per_message", "recipients_per_hour", "max_connections",
//                 "max_message_size", "dedicated_ip"}
// GET    /v1/tenants/{id}/suppressions[?list=L]        → {"suppressions": [SUPPRESSION...]}
// POST   /v1/tenants/{id}/suppressions  {"address", "list"? (blocks), "reason"? ("operator")}
//                                                      → SUPPRESSION (201)
// DELETE /v1/tenants/{id}/suppressions/{address}[?list=L]   (every list without one)
// GET    /v1/tenants/{id}/suppressions/export[?list=L] → {"tenant_id", "csv": TEXT, "count"}
// POST   /v1/tenants/{id}/suppressions/import[?list=L]  body: the CSV as a JSON string, or
//        {"csv": TEXT, "list"?: L}; L is the list of rows without one → {"imported": N}
//        SUPPRESSION: {"tenant_id", "list", "address", "reason", "created_at"}
// GET    /v1/tenants/{id}/stats[?from=T&to=T&by=hour|day]
//        → {"tenant_id", "from", "to", "by", "rows": [ROW...], "total": COUNTS}
//        T: unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH (UTC). A date or hour as `to`
//        includes that day or hour. Default: from today 00:00 UTC to now, by hour.
//        ROW: {"start", COUNTS...}; COUNTS: requested, delivered, deferred,
//        bounced_hard, bounced_soft, suppressed, rejected_limits, complained.
//        Without a stats view (context.stats null): 503.
// PUT    /v1/tenants/{id}/webhook  {"url"} → {"tenant_id", "url", "secret", "created_at"}
//        (a new secret each time; the only answer that shows it whole)
// GET    /v1/tenants/{id}/webhook  → {"tenant_id", "url", "secret_prefix": "ab12…", "created_at"}
// DELETE /v1/tenants/{id}/webhook
void register_policy_api(Router& router, ApiContext& context);

// A time of the stats range: unix seconds, "YYYY-MM-DD" or "YYYY-MM-DDTHH"
// (UTC). As the end of a range (`end` true) a date or hour means its end, so
// that from=2026-11-01&to=2026-11-30 covers November. nullopt for anything else.
std::optional<std::int64_t> parse_stats_time(std::string_view text, bool end);

}  // namespace portcullis::control
