#pragma once
// The relay's queue as the control API sees it: list, show, retry, delete. The
// spool lives in relay/, which gateway core must not include: the daemon
// adapts the Spool to this interface. No untrusted input: ids come from the
// API, which treats a miss as 404.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::control {

struct QueuedMessageSummary {
  std::string id;
  std::string tenant_id;
  std::string mail_from;  // "" = null sender
  std::size_t recipients = 0;
  std::uint64_t size = 0;
  std::int64_t received_at = 0;      // unix seconds
  std::size_t pending = 0;           // recipients not yet final
  std::int64_t next_attempt_at = 0;  // earliest among the pending; 0 = due now / none
};

// One recipient's delivery state.
struct QueuedRecipient {
  std::size_t idx = 0;
  std::string address;
  std::string status;  // queued | deferred | delivered | bounced | expired
  int attempts = 0;
  std::optional<std::int64_t> next_attempt_at;
  std::string last_reply;
  std::string remote;
  std::optional<std::int64_t> first_failure_at;
  std::optional<std::int64_t> updated_at;
};

struct QueuedMessageDetail {
  std::string id;
  std::string tenant_id;
  std::string credential;  // username, "" for intercept
  std::string listener;    // "submission" | "smtps" | "intercept"
  std::string client_address;
  std::string helo;
  std::string original_destination;  // "ip:port" for intercept, else ""
  std::string mail_from;
  std::vector<std::string> recipients;
  std::string body_type;  // "7BIT" | "8BITMIME"
  bool smtputf8 = false;
  std::int64_t received_at = 0;
  std::string headers;  // the header section, CRLF lines, without the blank line
  std::uint64_t size = 0;
  std::vector<QueuedRecipient> recipient_states;  // in envelope order
};

class QueueView {
 public:
  virtual ~QueueView() = default;
  virtual std::vector<QueuedMessageSummary> list(std::size_t limit) const = 0;
  virtual std::optional<QueuedMessageDetail> get(std::string_view id) const = 0;
  // All queued messages, for "total" next to a limited list.
  virtual std::size_t size() const = 0;
  // Pending recipients become due now. false: no such message.
  virtual Result<bool> retry(std::string_view id) = 0;
  // Operator delete (recorded as 'deleted' events). false: no such message.
  virtual Result<bool> remove(std::string_view id) = 0;
};

// The header section of a message (everything before the first empty line),
// for adapters that hold the whole message text.
std::string header_section(std::string_view data);

}  // namespace portcullis::control
