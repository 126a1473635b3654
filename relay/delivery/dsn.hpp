#pragma once
// Delivery status notifications (RFC 3464 in an RFC 6522 multipart/report):
// the bounce or delay notice sent back to a message's envelope sender. The
// result is always 7-bit (8-bit original headers and text are quoted-printable,
// non-ASCII recipients use RFC 6533 utf-8 xtext), so it can be queued as a
// "7BIT" message with a null reverse-path and never bounce again.
//
// Untrusted input: remote SMTP replies (diagnostics), recipient addresses and
// the original header section. Control characters are removed from every
// header-field value, long values are folded, and every part is bounded.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/queue/message.hpp"

namespace portcullis::relay::delivery {

enum class DsnAction { failed, delayed };

struct DsnRecipient {
  std::string final_recipient;  // the envelope recipient address
  DsnAction action = DsnAction::failed;
  std::string status;      // enhanced code "5.1.1"; see dsn_status() and the kStatus constants
  std::string remote_mta;  // "mx.example.org [198.18.2.10]" or "" when no server answered
  std::string diagnostic;  // the remote reply ("550 5.1.1 No such user") or a local reason
  std::int64_t last_attempt = 0;      // unix seconds; 0 = omitted
  std::int64_t will_retry_until = 0;  // delayed only; 0 = omitted
};

struct DsnReport {
  std::string reporting_host;       // our relay.hostname
  std::string original_mail_from;   // the envelope sender; the notice goes there
  std::string original_message_id;  // our queue id of the original message
  std::int64_t arrival_time = 0;    // unix seconds the original was accepted
  std::string original_headers;     // header section of the original (see header_section_of)
  std::vector<DsnRecipient> recipients;
  bool delayed = false;  // a delay notice instead of a bounce
  std::int64_t now = 0;  // Date:; 0 = the system clock
};

// Enhanced status codes for local reasons (RFC 3463).
inline constexpr const char* kStatusNoRoute = "5.4.4";       // unable to route
inline constexpr const char* kStatusExpired = "5.4.7";       // delivery time expired
inline constexpr const char* kStatusNullMx = "5.1.10";       // RFC 7505
inline constexpr const char* kStatusNoDomain = "5.1.2";      // bad destination system address
inline constexpr const char* kStatusTlsRequired = "5.7.10";  // encryption needed (RFC 5248)
inline constexpr const char* kStatusDelayed = "4.4.7";       // for delay notices

// The enhanced status code of an SMTP reply ("550 5.1.1 ..." → "5.1.1"),
// forced to class klass ('5' for failed, '4' for delayed); without an
// enhanced code the basic code gives klass.0.0 (RFC 3463: X.0.0). Garbage → klass.0.0.
std::string dsn_status(std::string_view reply, char klass);

// The complete notice, CRLF lines. unique_id (e.g. the DSN's own queue id)
// goes into Message-ID; the MIME boundary is random as well.
std::string make_dsn(const DsnReport& report, std::string_view unique_id = {});

// Whether a failure of this message may produce a notice: not for the null
// sender (RFC 5321 6.1, 4.5.5) and not for our own notices (listener "bounce").
bool should_bounce(const queue::Envelope& envelope);

// The header section of a message: up to and including the CRLF of the last
// header line, without the empty line. Whole data if it has no body.
std::string_view header_section_of(std::string_view data);

}  // namespace portcullis::relay::delivery
