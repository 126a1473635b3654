#pragma once
// Control API routes of the abuse desk: a tenant's reputation explained,
// tickets, port-25 exception requests and the reports received on the
// feedback address. Untrusted input: path parameters, query strings and
// bodies from local operators (or a tenant portal's automation), every field
// type-checked and bounded here before the desk sees it; and, on the way out,
// evidence and report bytes from remote parties, which JSON carries as text
// (a report's raw message with its non-printable bytes escaped, bounded).
//
// Every route answers 503 {"error": "abuse desk not running"} while
// ApiContext::abuse is null. Times are unix seconds.
//
// GET  /v1/tenants/{id}/reputation               → REPUTATION ({id} "-" = the gateway itself)
// GET  /v1/tickets[?tenant=T&status=S&category=C&limit=N]   → {"tickets": [TICKET...]}
//      no tenant (or tenant=) = every tenant; tenant=- = the gateway's own (tenant_id "");
//      limit 1..1000, default 100
// POST /v1/tickets {"tenant", "category", "hosts"?: [ADDR...], "summary", "note"?, "actor"}
//                                                 → TICKET (201); tenant "-" or "" = the gateway
// GET  /v1/tickets/{id}                           → TICKET_DETAIL
// POST /v1/tickets/{id}/notes  {"actor", "text"}  → TICKET_DETAIL
// POST /v1/tickets/{id}/status {"status", "actor", "note"?}   → TICKET
// POST /v1/tickets/{id}/revert {"action"?: N (one action; absent = all), "actor"}
//                                                 → TICKET_DETAIL
// POST /v1/exceptions {"tenant", "prefix", "reason", "use_case"?, "reverse_dns"?,
//                      "expected_volume"?: N, "actor"}          → EXCEPTION (201)
// GET  /v1/exceptions[?tenant=T&status=S]         → {"exceptions": [EXCEPTION...]}
// GET  /v1/exceptions/{id}                        → {"request": EXCEPTION, "reputation":
//                                                    REPUTATION, "history": [EXCEPTION...],
//                                                    "audit": [AUDIT...]}
// POST /v1/exceptions/{id}/approve {"actor", "expires_in"?: seconds | "expires"?: "1h30m",
//                                   "note"?}      → EXCEPTION (neither = until revoked)
// POST /v1/exceptions/{id}/deny   {"actor", "reason"}           → EXCEPTION
// POST /v1/exceptions/{id}/revoke {"actor", "reason"}           → EXCEPTION
// GET  /v1/abuse/reports[?status=S]               → {"reports": [REPORT...]}
// GET  /v1/abuse/reports/{id}                     → REPORT + {"raw", "raw_size", "raw_truncated"}
//
// REPUTATION: {"tenant_id", "score", "threshold", "window_seconds",
//              "terms": [{"kind", "signals", "strength", "weight", "points"}...],
//              "recent": [SIGNAL...], "tickets": [TICKET...]}
// SIGNAL: {"id", "tenant_id", "host", "kind", "time", "strength", "evidence", "ticket_id"|null}
// TICKET: {"id", "tenant_id", "category", "status", "hosts": [...], "summary", "opened_by",
//          "opened_at", "updated_at", "notified_at", "reminders"}
// TICKET_DETAIL: {"ticket": TICKET, "signals": [SIGNAL...], "actions": [ACTION...],
//                 "history": [AUDIT...]}
// ACTION: {"id", "ticket_id", "kind", "target", "previous", "applied_at",
//          "reverted_at"|null, "reverted_by"}
// AUDIT: {"id", "time", "actor", "subject", "subject_id", "action", "text"}
// EXCEPTION: {"id", "tenant_id", "prefix", "reason", "use_case", "reverse_dns",
//             "expected_volume", "status", "requested_by", "requested_at", "decided_by",
//             "decided_at", "decision_reason", "expires_at"|null, "previous_mode",
//             "previous_reason"}
// REPORT: {"id", "received_at", "client_address", "mail_from", "recipient", "kind", "status",
//          "tenant_id", "summary"}
//
// actor: "desk:NAME" (NAME: letters, digits, . _ @ -, at most 64); POST /v1/exceptions also
// takes "tenant:ID" for the request's own tenant. Statuses and categories are the words of
// store/abuse_types.hpp.
//
// Errors: 400 for a bad field (the sentence names it), 503 without a desk, and for the
// desk's own errors (desk_error_status):
//   404  the sentence starts with "no " ("no ticket 7", "no tenant 'acme'"),
//   409  it starts with "conflict: " (removed from the answer) or contains " already "
//        ("conflict: exception 3 is denied, not pending", "action 4 is already reverted"),
//   400  anything else.

#include <string>
#include <string_view>

#include "gateway/core/control/api.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

inline constexpr std::string_view kConflictPrefix = "conflict: ";
inline constexpr std::size_t kMaxReportRaw = 64 * 1024;  // bytes of a report's raw message shown

// The HTTP status for an error sentence of the abuse desk (see above).
int desk_error_status(std::string_view message);
// The sentence as the API answers it: without the conflict prefix.
std::string desk_error_text(std::string_view message);

// A report's raw bytes as readable text: \n and \t kept, \r before \n dropped,
// a backslash doubled, every other byte outside printable ASCII as \xNN; at
// most `limit` bytes of input are read.
std::string escape_raw(std::string_view raw, std::size_t limit);

// Reads context.abuse at each request, so the daemon may set it after this.
void register_abuse_api(Router& router, ApiContext& context);

}  // namespace portcullis::control
