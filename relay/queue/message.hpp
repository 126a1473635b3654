#pragma once
// A queued message: the envelope the SMTP session collected and the message
// data as received. Every field except id comes from an untrusted client; the
// queue stores it byte-exact and never interprets it.

#include <cstdint>
#include <string>
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
};

// 18 characters of [0-9A-Za-z]: 10 of base62 microseconds since the epoch, then
// 8 random. Fixed width and ASCII-ordered digits make byte order equal time
// order; within one process ids are strictly increasing, and the random part
// keeps ids from different processes (or after a clock step) apart.
std::string new_message_id();

}  // namespace portcullis::relay::queue
