#pragma once
// What the control API (and so portcullisctl) asks of the abuse desk: a
// tenant's reputation explained, tickets, and port-25 exception requests.
// abuse/ implements it; gateway core must not include abuse/, so the daemon
// hands the implementation to the API (ApiContext::abuse). Every call runs on
// the daemon's I/O thread. Untrusted input: none beyond what the API
// validated (operators' text, bounded); errors are sentences for the desk.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/store/abuse_types.hpp"

namespace portcullis::abuse {

// One signal kind's share of a score.
struct ScoreTerm {
  store::SignalKind kind = store::SignalKind::complaint;
  std::size_t signals = 0;  // within the window
  double strength = 0;      // their strengths added up
  double weight = 0;        // abuse.weights.<kind>
  double points = 0;        // strength * weight
};

struct Reputation {
  std::string tenant_id;
  double score = 0;             // sum of points
  double ticket_threshold = 0;  // a category reaching this opens a ticket
  std::int64_t window_seconds = 0;
  std::vector<ScoreTerm> terms;        // kinds with signals, most points first
  std::vector<store::Signal> recent;   // newest first, at most 20
  std::vector<store::Ticket> tickets;  // the tenant's, newest first
};

struct NewTicket {
  std::string tenant_id;
  store::TicketCategory category = store::TicketCategory::spam;
  std::vector<std::string> hosts;
  std::string summary;
  std::string note;
  std::string actor;  // "desk:NAME"
};

struct NewException {
  std::string tenant_id;
  std::string prefix;  // host or network, inside the tenant's subnets
  std::string reason;
  std::string use_case;
  std::string reverse_dns;
  std::uint64_t expected_volume = 0;
  std::string actor;  // "tenant:ID" or "desk:NAME"
};

// An exception request with what the desk reviews beside it.
struct ExceptionReview {
  store::ExceptionRequest request;
  Reputation reputation;
  std::vector<store::ExceptionRequest> history;  // the tenant's other requests, newest first
  std::vector<store::AuditEntry> audit;          // this request's trail, oldest first
};

class AbuseDesk {
 public:
  virtual ~AbuseDesk() = default;

  virtual Result<Reputation> reputation(const std::string& tenant_id) const = 0;

  virtual Result<store::Ticket> open_ticket(const NewTicket& ticket) = 0;
  virtual std::vector<store::Ticket> list_tickets(const store::TicketFilter& filter) const = 0;
  virtual Result<store::TicketDetail> ticket(std::int64_t id) const = 0;
  virtual Result<void> add_note(std::int64_t id,
                                const std::string& actor,
                                const std::string& text) = 0;
  // resolved/closed also stop reminders; actions stay until reverted.
  virtual Result<store::Ticket> set_status(std::int64_t id,
                                           store::TicketStatus status,
                                           const std::string& actor,
                                           const std::string& note) = 0;
  // Undoes one action (or, with nullopt, every action not yet reverted).
  virtual Result<store::TicketDetail> revert(std::int64_t id,
                                             std::optional<std::int64_t> action_id,
                                             const std::string& actor) = 0;

  virtual Result<store::ExceptionRequest> request_exception(const NewException& request) = 0;
  virtual std::vector<store::ExceptionRequest> list_exceptions(
      const std::string& tenant_id, std::optional<store::ExceptionStatus> status) const = 0;
  virtual Result<ExceptionReview> exception(std::int64_t id) const = 0;
  // expires_in_seconds nullopt = until revoked. The host is exempt in the
  // kernel when this returns.
  virtual Result<store::ExceptionRequest> approve(std::int64_t id,
                                                  const std::string& actor,
                                                  std::optional<std::int64_t> expires_in_seconds,
                                                  const std::string& note) = 0;
  virtual Result<store::ExceptionRequest> deny(std::int64_t id,
                                               const std::string& actor,
                                               const std::string& reason) = 0;
  virtual Result<store::ExceptionRequest> revoke(std::int64_t id,
                                                 const std::string& actor,
                                                 const std::string& reason) = 0;

  virtual std::vector<store::InboundReport> list_reports(
      std::optional<store::ReportStatus> status) const = 0;
  virtual Result<store::InboundReport> report(std::int64_t id) const = 0;
};

}  // namespace portcullis::abuse
