#pragma once
// The abuse desk's records as the store keeps them: reputation signals with
// their evidence, tickets with their history and automatic actions, port-25
// exception requests, the audit trail, and the reports (feedback loops,
// bounces) received on the relay's feedback address. Evidence and report
// bytes come from untrusted parties (remote MTAs, feedback loops, DNS): they
// are stored as opaque text and never interpreted by the store.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/net/prefix.hpp"

namespace portcullis::store {

// What a signal says about a tenant (or about the gateway itself: tenant "").
enum class SignalKind {
  dnsbl,               // an outbound address or exempt host is listed
  complaint,           // a feedback-loop report attributed to the tenant
  bounce_rate,         // hard bounces over a sliding window
  unknown_recipients,  // 5.1.1-style "no such user" over a sliding window
  rbl_rejection,       // a remote MTA refused mail citing a blocklist or spam
  egress,              // a host hammering port 25 directly (infected-host pattern)
  volume,              // sending far above the tenant's own baseline
};
std::string_view to_string(SignalKind kind);
std::optional<SignalKind> parse_signal_kind(std::string_view text);
const std::vector<SignalKind>& all_signal_kinds();

enum class TicketCategory { spam, compromised_host, blacklisting, complaint };
std::string_view to_string(TicketCategory category);
std::optional<TicketCategory> parse_ticket_category(std::string_view text);
// dnsbl → blacklisting, complaint → complaint, egress → compromised_host, the rest → spam.
TicketCategory category_of(SignalKind kind);

// open: the desk has it; waiting: the tenant was asked and has not answered;
// resolved: the problem is gone; closed: nothing more will happen.
enum class TicketStatus { open, waiting, resolved, closed };
std::string_view to_string(TicketStatus status);
std::optional<TicketStatus> parse_ticket_status(std::string_view text);
// open and waiting: signals attach to it and reminders go out.
inline bool is_active(TicketStatus s) {
  return s == TicketStatus::open || s == TicketStatus::waiting;
}

struct Signal {
  std::int64_t id = 0;  // assigned by the store
  std::string tenant_id;
  std::string host;  // an address, "" when the signal is about the whole tenant
  SignalKind kind = SignalKind::complaint;
  std::int64_t time = 0;  // unix seconds
  double strength = 1.0;  // 1.0 = just at the collector's threshold
  std::string evidence;   // for the desk and the tenant: counts, answers, sample headers
  std::optional<std::int64_t> ticket_id;
};

// An automatic (or desk) action taken because of a ticket, with what it
// replaced so that it can be undone exactly.
enum class ActionKind { throttle, suspend, block_host, revoke_exception };
std::string_view to_string(ActionKind kind);
std::optional<ActionKind> parse_action_kind(std::string_view text);

struct TicketAction {
  std::int64_t id = 0;
  std::int64_t ticket_id = 0;
  ActionKind kind = ActionKind::throttle;
  std::string target;    // host prefix for block_host, exception id for revoke_exception
  std::string previous;  // JSON of the state it replaced (restored by revert)
  std::int64_t applied_at = 0;
  std::optional<std::int64_t> reverted_at;
  std::string reverted_by;
};

struct AuditEntry {
  std::int64_t id = 0;
  std::int64_t time = 0;
  std::string actor;    // "auto", "desk:alice", "tenant:acme"
  std::string subject;  // "ticket" | "exception"
  std::int64_t subject_id = 0;
  std::string action;  // "opened", "signal", "note", "status", "notified", "approved", ...
  std::string text;
};

struct Ticket {
  std::int64_t id = 0;
  std::string tenant_id;  // "" = the gateway itself (e.g. the shared relay address is listed)
  TicketCategory category = TicketCategory::spam;
  TicketStatus status = TicketStatus::open;
  std::vector<std::string> hosts;  // addresses named by its signals or by the desk, sorted
  std::string summary;
  std::string opened_by;  // "auto" or "desk:NAME"
  std::int64_t opened_at = 0;
  std::int64_t updated_at = 0;
  std::int64_t notified_at = 0;  // last notification or reminder; 0 = none sent
  int reminders = 0;             // reminders sent since the first notification
};

// A ticket with everything the desk looks at.
struct TicketDetail {
  Ticket ticket;
  std::vector<Signal> signals;  // oldest first
  std::vector<TicketAction> actions;
  std::vector<AuditEntry> history;  // oldest first
};

struct TicketFilter {
  std::string tenant_id;   // "" = every tenant ...
  bool any_tenant = true;  // ... unless false: then only tenant_id (which may be "")
  std::optional<TicketStatus> status;
  std::optional<TicketCategory> category;
  std::size_t limit = 1000;
};

enum class ExceptionStatus { pending, approved, denied, revoked, expired };
std::string_view to_string(ExceptionStatus status);
std::optional<ExceptionStatus> parse_exception_status(std::string_view text);

struct ExceptionRequest {
  std::int64_t id = 0;
  std::string tenant_id;
  net::Prefix prefix;  // a host or network inside the tenant's subnets
  std::string reason;
  std::string use_case;
  std::string reverse_dns;
  std::uint64_t expected_volume = 0;  // messages per day, as the tenant estimates
  ExceptionStatus status = ExceptionStatus::pending;
  std::string requested_by;
  std::int64_t requested_at = 0;
  std::string decided_by;
  std::int64_t decided_at = 0;
  std::string decision_reason;
  std::optional<std::int64_t> expires_at;  // approved only; nullopt = until revoked
  // The host override the approval replaced (mode text, "" = none), restored
  // when the exception ends.
  std::string previous_mode;
  std::string previous_reason;
};

enum class ReportKind { arf, xarf, dsn, unknown };
std::string_view to_string(ReportKind kind);
std::optional<ReportKind> parse_report_kind(std::string_view text);

// received: stored, not looked at yet; attributed: parsed and charged to a
// tenant; unattributed: parsed but no tenant found (kept for the desk);
// rejected: could not be parsed (kept for the desk, with the reason).
enum class ReportStatus { received, attributed, unattributed, rejected };
std::string_view to_string(ReportStatus status);
std::optional<ReportStatus> parse_report_status(std::string_view text);

struct InboundReport {
  std::int64_t id = 0;
  std::int64_t received_at = 0;
  std::string client_address;
  std::string mail_from;
  std::string recipient;
  ReportKind kind = ReportKind::unknown;
  ReportStatus status = ReportStatus::received;
  std::string tenant_id;
  std::string summary;  // what was read (feedback type, complainant, Message-ID) or why not
  std::string raw;      // the message as received; only loaded by get_report()
};

}  // namespace portcullis::store
