#pragma once
// A queued message: the envelope the SMTP session collected and the message
// data as received. Every field except id comes from an untrusted client; the
// queue stores it byte-exact and never interprets it.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::relay::queue {

struct Envelope {
  std::string tenant_id;
  std::string credential;  // username, "" for intercept
  std::string listener;    // "submission" | "smtps" | "intercept"
  std::string client_address;
  std::string helo;
  std::string original_destination;  // "ip:port" the client tried (intercept), else ""
  std::string mail_from;             // reverse-path without <>, "" = null sender
  std::vector<std::string> recipients;
  std::string body_type;  // "7BIT" | "8BITMIME"
  bool smtputf8 = false;
  std::int64_t received_at = 0;  // unix seconds
};

struct Message {
  std::string id;
  Envelope envelope;
  std::string data;  // CRLF lines, dot-unstuffed, incl. our Received header
};

struct MessageSummary {
  std::string id;
  std::string tenant_id;
  std::string mail_from;
  std::size_t recipients = 0;
  std::uint64_t size = 0;
  std::int64_t received_at = 0;
  std::size_t pending = 0;           // recipients still queued or deferred
  std::int64_t next_attempt_at = 0;  // earliest among the pending ones; 0 = now / none
};

// queued: never tried; deferred: failed temporarily, retried at
// next_attempt_at; the other three are final.
enum class RecipientStatus { queued, deferred, delivered, bounced, expired };

std::string_view to_string(RecipientStatus status);
std::optional<RecipientStatus> parse_recipient_status(std::string_view text);
inline bool is_final(RecipientStatus s) {
  return s != RecipientStatus::queued && s != RecipientStatus::deferred;
}

// A recipient the delivery engine should try now.
struct PendingRecipient {
  std::size_t idx = 0;  // position in the envelope's recipient list
  std::string address;
  int attempts = 0;  // outcomes recorded so far
  RecipientStatus status = RecipientStatus::queued;
  std::optional<std::int64_t> first_failure_at;  // first temporary failure
  bool delay_notified = false;                   // a delay DSN went to the sender already
  std::int64_t next_attempt_at = 0;              // due time (unix seconds); 0 = at once
};

// A message with due (or, from Spool::load_pending, pending) recipients,
// without its data (see Spool::data).
struct DueMessage {
  std::string id;
  Envelope envelope;  // recipients: all of them, indexed by idx
  std::uint64_t size = 0;
  std::vector<PendingRecipient> recipients;  // only the due (pending) ones
};

// The result of one attempt for one recipient. status must not be queued.
struct RecipientOutcome {
  std::size_t idx = 0;
  RecipientStatus status = RecipientStatus::deferred;
  std::int64_t next_attempt_at = 0;  // deferred only: when to try again
  std::string reply;                 // remote reply or local reason
  std::string remote;                // "mx.example.org [198.18.2.10]", "" if none
  bool delay_notified = false;       // this attempt sent the sender a delay notice
};

// One recipient row as stored, for `queue show`.
struct RecipientState {
  std::size_t idx = 0;
  std::string address;
  RecipientStatus status = RecipientStatus::queued;
  int attempts = 0;
  std::optional<std::int64_t> next_attempt_at;
  std::string last_reply;
  std::string remote;
  std::optional<std::int64_t> first_failure_at;
  std::optional<std::int64_t> updated_at;
};

// 18 characters of [0-9A-Za-z]: 10 of base62 microseconds since the epoch, then
// 8 random. Fixed width and ASCII-ordered digits make byte order equal time
// order; within one process ids are strictly increasing, and the random part
// keeps ids from different processes (or after a clock step) apart.
std::string new_message_id();

}  // namespace portcullis::relay::queue
