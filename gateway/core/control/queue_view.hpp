#pragma once
// The relay's queue as the control API sees it: list, show, retry, delete,
// and the tools at depth (summary; hold, release, retry, delete and bounce by
// filter). The spool lives in relay/, which gateway core must not include:
// the daemon adapts the Spool to this interface. No untrusted input: ids and
// filters come from the API, which checked their shape; a miss is a 404 or a
// count of 0.

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

// Which messages a bulk action takes: every condition given must hold; none
// given means the whole queue (the API insists on "all": true for that).
struct QueueFilter {
  std::optional<std::string> id;
  std::optional<std::string> tenant;
  std::optional<std::string> destination;  // recipient domain, any case
  std::optional<std::string> sender;       // envelope sender, any case; "" = null sender
  std::optional<std::int64_t> older_than;  // received at least this many seconds ago

  bool empty() const { return !id && !tenant && !destination && !sender && !older_than; }
};

enum class QueueAction { hold, release, retry, remove, bounce };

struct QueueActionResult {
  std::size_t messages = 0;
  std::size_t recipients = 0;
};

// Pending recipients of a destination, a tenant or the whole queue, like
// Postfix's qshape: by state and by the age of their message.
struct QueueShapeRow {
  std::string name;
  std::uint64_t messages = 0;
  std::uint64_t recipients = 0;
  std::uint64_t queued = 0;
  std::uint64_t deferred = 0;
  std::uint64_t held = 0;
  std::vector<std::uint64_t> ages;  // one per QueueShape::buckets
};

struct QueueShape {
  std::int64_t now = 0;
  std::vector<std::string> buckets;  // "0-5m", ..., "160m+"
  QueueShapeRow total;
  std::uint64_t held_messages = 0;
  std::vector<QueueShapeRow> destinations;  // the largest first
  std::vector<QueueShapeRow> tenants;
  std::size_t destination_count = 0;
  std::size_t tenant_count = 0;
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

  // The queue's shape with the `top` largest destinations and tenants.
  // Blocking: one pass over the pending recipients.
  virtual Result<QueueShape> summary(std::size_t /*top*/) const {
    return make_error("the queue summary is not available");
  }
  // One bulk action over every message the filter matches. Blocking.
  virtual Result<QueueActionResult> act(QueueAction /*action*/, const QueueFilter& /*filter*/) {
    return make_error("queue actions by filter are not available");
  }
};

// "hold", "release", "retry", "delete", "bounce".
std::string_view to_string(QueueAction action);

// The header section of a message (everything before the first empty line),
// for adapters that hold the whole message text.
std::string header_section(std::string_view data);

}  // namespace portcullis::control
