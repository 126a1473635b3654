#pragma once
// What a report tells about the message it is about: the original message (message/rfc822) or
// its header section (text/rfc822-headers) as included by a feedback loop or a bounce. The
// fields here are what attribution to a tenant works from, strongest first:
//   - X-Portcullis-Tenant, which the relay writes on every message after removing any copy the
//     client sent (relay/smtp/message_headers.hpp);
//   - the queue id in the relay's own Received field ("by HOST (Portcullis) with ... id ID");
//   - the Message-ID, which is <queue-id@relay-hostname> when the client sent none.
// Reports often strip custom headers, so each is extracted independently.
//
// Untrusted input: everything here was written by a tenant (or a spammer) and relayed by third
// parties. Values are sanitised and bounded; the header text kept as evidence is cut at
// Limits::max_original_headers_bytes.

#include <string>
#include <string_view>

#include "abuse/mime/limits.hpp"
#include "abuse/mime/warnings.hpp"

namespace portcullis::abuse {

// Must match relay::smtp::kTenantHeader; abuse/ does not include relay/.
inline constexpr std::string_view kTenantHeader = "X-Portcullis-Tenant";
// The comment the relay puts after its host name in its Received fields.
inline constexpr std::string_view kRelayReceivedMark = "(Portcullis)";

struct OriginalMessage {
  bool present = false;       // the report included the original or its headers
  bool headers_only = false;  // text/rfc822-headers (or message/global-headers)
  std::string headers;        // the header section as text, bounded, controls replaced by ?
  std::string message_id;     // without angle brackets
  std::string tenant;         // X-Portcullis-Tenant (the last one, the relay appends its own)
  std::string queue_id;       // from the relay's Received field nearest the recipient
  std::string relay_host;     // the "by" host of that Received field
  std::string to;             // first mailbox of To:
  std::string from;           // first mailbox of From:
  std::string subject;        // sanitised, bounded
};

// Reads the header section of `text` (a whole message or just its headers). Never fails: what
// cannot be read is left empty and described in `warnings`.
OriginalMessage read_original_message(std::string_view text,
                                      bool headers_only,
                                      const mime::Limits& limits,
                                      mime::Warnings& warnings);

}  // namespace portcullis::abuse
