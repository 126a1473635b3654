#pragma once
// The mail that tells a tenant's abuse contact about a ticket, and its
// reminders: what was seen (the evidence), what Portcullis already did, and
// what the desk expects back (how it happened, what was done to prevent it).
// Plain US-ASCII text, so that every mailbox shows it as it is.
//
// Untrusted input: the evidence came from remote MTAs, feedback loops, DNS
// answers and tenants' own headers. It is reduced to printable ASCII, cut
// into bounded lines and only ever put in the body, never in a header field:
// evidence cannot add a header, a MIME part or end the message
// (mime::sanitize on every line).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/mail/mail_submitter.hpp"
#include "gateway/core/store/abuse_types.hpp"

namespace portcullis::abuse {

inline constexpr std::size_t kMaxEvidenceLine = 200;
inline constexpr std::size_t kMaxEvidenceBytes = 16 * 1024;
inline constexpr std::size_t kMaxSignalsInMail = 20;

struct Notification {
  const store::Ticket& ticket;
  std::span<const store::Signal> signals;  // oldest first, as TicketDetail has them
  std::span<const store::TicketAction> actions;
  std::string from;             // abuse.notify_from
  std::vector<std::string> to;  // the abuse contact, or the desk for the gateway's own
  std::vector<std::string> cc;  // the desk, when it is not already in `to`
  std::string hostname;         // relay.hostname, for the Message-ID
  int reminder = 0;             // 0 = the first notification
  std::int64_t now = 0;         // unix seconds
};

mail::OutboundMessage compose_notification(const Notification& n);

// "[Portcullis abuse #12] compromised_host: 198.18.1.10 (tenant acme)".
std::string notification_subject(const store::Ticket& ticket, int reminder);

}  // namespace portcullis::abuse
