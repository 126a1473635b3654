#pragma once
// Header operations on a stored message (CRLF lines, dot-unstuffed): find, strip, and add the
// gateway's trace and attribution fields. Untrusted input: the whole message text, and the
// client's HELO name, which is sanitised before it goes into the Received field. Stripping every
// client-supplied X-Portcullis-Tenant (folded lines included) is what stops a tenant from
// forging attribution, so the header section is found the same way everywhere in this file.
//
// The header section ends at the first empty line, or at the first line that is neither a
// header field ("name:" with RFC 5322 ftext name) nor a folded continuation of one, or at the end
// of the message. A message whose header section ends without an empty line gets one inserted by
// finalize_message, so downstream parsers agree on where the body starts.

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/core/mail/rfc5322_date.hpp"

namespace portcullis::relay::smtp {

inline constexpr std::string_view kTenantHeader = "X-Portcullis-Tenant";

// The header section, each field with its CRLF, without the empty separator line.
std::string_view header_section(std::string_view message);

// Whether a field named `name` (case-insensitive) starts a line in the header section.
bool has_header(std::string_view message, std::string_view name);

// `message` without any field named `name` in the header section, continuation lines included.
std::string remove_headers(std::string_view message, std::string_view name);

struct ReceivedInfo {
  std::string helo;            // as the client sent it; sanitised here ("" → "unknown")
  std::string client_rdns;     // verified reverse DNS name, "" → "unknown"
  std::string client_address;  // "198.18.0.5" or "fd00::5" (rendered as [IPv6:fd00::5])
  std::string hostname;        // relay.hostname
  std::string queue_id;        // queue message id
  std::string recipient;       // set only when the message has exactly one: "for <rcpt>"
  bool esmtp = true;           // EHLO (false: HELO → "SMTP")
  bool tls = false;            // → ESMTPS (RFC 3848)
  bool authenticated = false;  // → ESMTPA
  bool smtputf8 = false;       // → UTF8SMTP... (RFC 6531 4.3)
  std::int64_t unix_time = 0;  // also the Date: added by finalize_message
};

// "with" protocol name per RFC 3848 / RFC 6531: SMTP, ESMTP, ESMTPS, ESMTPA, ESMTPSA, UTF8SMTP...
std::string received_protocol(const ReceivedInfo& info);

// RFC 5321 4.4 trace field, folded so lines stay within 78 characters where tokens allow:
// "Received: from HELO (rDNS [IP])\r\n\tby HOST (Portcullis) with ESMTPSA id ID\r\n\tfor <rcpt>;
// DATE\r\n".
std::string received_header(const ReceivedInfo& info);

using mail::rfc5322_date;

// Control characters (and DEL) become '?', so a value can go into a header field or a reply
// line without ending it. Validated input has none: this is defence in depth.
std::string replace_controls(std::string_view s);

struct FinalizeInfo {
  ReceivedInfo received;
  std::string tenant_id;
  std::string hostname;    // Message-ID: <message_id@hostname>; "" → received.hostname
  std::string message_id;  // "" → received.queue_id
};

// The message as queued: our Received field first, the client's X-Portcullis-Tenant fields
// removed, and at the end of the header section "X-Portcullis-Tenant: <tenant>", then
// Message-ID and Date if the client sent none; then the empty line and the body.
std::string finalize_message(std::string_view message, const FinalizeInfo& info);

// The message as the feedback listener hands it to a local mailbox: our Received field first and
// the client's X-Portcullis-Tenant fields removed, nothing else changed. No attribution, and no
// Message-ID, Date or separator line added: a report is kept as its sender wrote it.
std::string trace_message(std::string_view message, const ReceivedInfo& received);

}  // namespace portcullis::relay::smtp
