#pragma once
// The abuse desk's durable state, in state.db beside the tenants (schema in
// migrations.cpp): signals, tickets, their actions, exception requests, the
// audit trail and the reports received on the feedback address. A second
// connection to the same WAL database, so the desk's writes never wait for
// the Store's mutex on the RCPT path. Reports are written with
// synchronous=FULL: the feedback listener's 250 follows add_report().
//
// Untrusted input: evidence, report bytes and summaries (remote parties);
// always bound, never spliced into SQL. Tickets and exceptions survive the
// removal of their tenant: they are the audit trail.

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/store/abuse_types.hpp"

namespace portcullis::store {

class Database;

// Thread-safe: one SQLite connection behind a mutex.
class AbuseStore {
 public:
  // state.db must exist and be migrated (Store::open first, which creates it
  // and applies migration 9); refuses a missing file or an older schema.
  // Throws std::runtime_error: start-up only.
  static std::unique_ptr<AbuseStore> open(const std::filesystem::path& state_dir);
  ~AbuseStore();
  AbuseStore(const AbuseStore&) = delete;
  AbuseStore& operator=(const AbuseStore&) = delete;

  // ---- signals ----
  // Returns the signal with its id; time 0 = now. A ticket_id must name a
  // ticket; the tenant need not exist. Strength must be finite.
  Result<Signal> add_signal(Signal signal);
  // The tenant's signals with time >= since, oldest first ("" = the gateway's).
  std::vector<Signal> signals(std::string_view tenant_id, std::int64_t since) const;
  // The newest signal of this tenant, kind and host, if any (collectors'
  // cooldown): greatest time, then the last stored. host "" is its own key.
  std::optional<Signal> last_signal(std::string_view tenant_id,
                                    SignalKind kind,
                                    std::string_view host) const;
  // Re-attaching a signal to another ticket moves it.
  Result<void> attach_signal(std::int64_t signal_id, std::int64_t ticket_id);

  // ---- tickets ----
  // Sets id, opened_at (0 = now) and updated_at (0 = opened_at), and writes an
  // "opened" audit entry by opened_by, at opened_at, with `note`, in one
  // transaction. opened_by must not be empty. Hosts are sorted and
  // deduplicated, "" dropped; a host with a control character is refused
  // (update_ticket likewise).
  Result<Ticket> open_ticket(Ticket ticket, std::string_view note);
  Result<Ticket> get_ticket(std::int64_t id) const;
  Result<TicketDetail> ticket_detail(std::int64_t id) const;
  // Newest (last opened, by id) first, at most filter.limit.
  std::vector<Ticket> list_tickets(const TicketFilter& filter) const;
  // The tenant's open or waiting ticket of that category, if any (the newest
  // should there be several). tenant "" = the gateway's own.
  std::optional<Ticket> active_ticket(std::string_view tenant_id, TicketCategory category) const;
  // Replaces status, hosts, summary, notified_at and reminders; updated_at = now.
  // Tenant, category and opened_* never change. An unknown id is an error.
  Result<void> update_ticket(const Ticket& ticket);
  // Sets id and applied_at (0 = now); the ticket must exist.
  Result<TicketAction> add_action(TicketAction action);
  // reverted_at = now; an unknown or already reverted action is an error.
  Result<void> mark_action_reverted(std::int64_t action_id, std::string_view actor);

  // ---- exception requests ----
  // Sets id and requested_at (0 = now). expected_volume is capped at 2^63-1.
  Result<ExceptionRequest> add_exception(ExceptionRequest request);
  Result<ExceptionRequest> get_exception(std::int64_t id) const;
  // Newest (by id) first; "" / nullopt = any.
  std::vector<ExceptionRequest> list_exceptions(std::string_view tenant_id,
                                                std::optional<ExceptionStatus> status) const;
  // Replaces the decision fields, status, expiry and previous override; an
  // unknown id is an error.
  Result<void> update_exception(const ExceptionRequest& request);

  // ---- audit ----
  // time 0 = now. subject must be "ticket" or "exception"; action not empty.
  Result<AuditEntry> audit(AuditEntry entry);
  // Oldest (by id: the order written) first.
  std::vector<AuditEntry> audit_trail(std::string_view subject, std::int64_t subject_id) const;

  // ---- reports received on the feedback address ----
  // Durable (fsync'd) when it returns; sets id (and received_at when 0).
  Result<InboundReport> add_report(InboundReport report);
  // Kind, status, tenant and summary after parsing; an unknown id is an error.
  Result<void> update_report(const InboundReport& report);
  Result<InboundReport> get_report(std::int64_t id) const;  // with raw
  // Newest (by id) first, without raw.
  std::vector<InboundReport> list_reports(std::optional<ReportStatus> status,
                                          std::size_t limit = 1000) const;

 private:
  explicit AbuseStore(std::unique_ptr<Database> db);
  mutable std::mutex mutex_;
  std::unique_ptr<Database> db_;
};

}  // namespace portcullis::store
