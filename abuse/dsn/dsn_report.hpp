#pragma once
// Bounces: RFC 3464 delivery status notifications (multipart/report;
// report-type=delivery-status), and their RFC 6533 UTF-8 form (message/global-delivery-status).
// Per recipient: Final-Recipient, Action, Status, Diagnostic-Code, Remote-MTA; and the original
// message's Message-ID and X-Portcullis-Tenant when the bounce includes its headers. The
// gateway's own DSNs (relay/delivery/dsn.cpp) also carry X-Portcullis-Queue-ID.
//
// Untrusted input: the raw bytes of a received message, from any MTA on the internet. Pure
// code, no I/O, no exceptions on bad input: malformed reports are error values with a sentence
// the desk can act on ("no message/delivery-status part"). Bounded by mime::Limits, and at most
// kMaxRecipients recipients are read.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "abuse/mime/limits.hpp"
#include "abuse/report/original_message.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::abuse::dsn {

inline constexpr std::size_t kMaxRecipients = 1000;

// RFC 3464 2.3.3.
enum class Action { failed, delayed, delivered, relayed, expanded, unknown };

struct RecipientStatus {
  std::string final_recipient;     // the address, without "rfc822;"
  std::string original_recipient;  // idem, when given
  Action action = Action::unknown;
  std::string status;           // "5.1.1" when well-formed (RFC 3463), else ""
  std::string diagnostic_type;  // "smtp", "X-Postfix", ...
  std::string diagnostic;       // the text after the type, unfolded, sanitised, bounded
  std::string remote_mta;       // host name or address, without "dns;"
  std::string last_attempt_date;
  std::string will_retry_until;

  // A permanent failure: 5.x.x, or failed without a usable Status.
  bool permanent() const;
};

struct DeliveryReport {
  std::string reporting_mta;         // without "dns;"
  std::string arrival_date;          // as sent, sanitised
  std::string original_envelope_id;  // Original-Envelope-Id (RFC 3461 ENVID)
  std::string portcullis_queue_id;   // X-Portcullis-Queue-ID in the gateway's own DSNs
  std::vector<RecipientStatus> recipients;
  std::string human_text;    // the note for people, sanitised, bounded
  OriginalMessage original;  // present == false when the bounce left it out
  std::vector<std::string> warnings;
};

Result<DeliveryReport> parse_delivery_report(std::string_view raw, const mime::Limits& limits = {});

// "failed" → Action::failed; unknown words → Action::unknown.
Action parse_action(std::string_view text);
std::string_view to_string(Action action);

// RFC 3463 status-code: class 2, 4 or 5, then two numbers of 1..3 digits.
bool is_status_code(std::string_view text);

}  // namespace portcullis::abuse::dsn
