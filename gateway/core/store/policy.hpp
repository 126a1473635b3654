#pragma once
// Per-tenant sending policy as the store keeps it: overrides of the plan's
// limits, suppression lists and the delivery-event webhook, with the syntax
// checks applied before they are stored. Values arrive from operators through
// the control API, from imported CSV files, and (suppressions) from remote
// servers' replies recorded by the daemon; find_suppression() is asked with
// RCPT addresses from tenants' clients. Everything here is untrusted text.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "gateway/core/config/config.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::store {

// Every field optional: unset = the plan's value.
struct LimitOverrides {
  std::optional<std::uint64_t> monthly_quota;
  std::optional<std::uint64_t> messages_per_minute, messages_per_hour;
  std::optional<std::uint64_t> recipients_per_message, recipients_per_hour;
  std::optional<std::uint64_t> max_connections;
  std::optional<std::uint64_t> max_message_size;
  std::optional<std::string> dedicated_ip;  // IP literal; outbound source address

  bool empty() const;
  bool operator==(const LimitOverrides&) const = default;
};

// The fields by name ("messages_per_minute"...), in declaration order, so the
// control API and the store agree on names and bounds in one place.
struct LimitField {
  std::string_view name;
  std::optional<std::uint64_t> LimitOverrides::*member;
  std::uint64_t min;
  std::uint64_t max;  // the same bounds as a plan's key in config/loader.cpp
};
// The seven numeric fields; dedicated_ip is the eighth, a string.
std::span<const LimitField> limit_fields();
inline constexpr std::string_view kDedicatedIpField = "dedicated_ip";

// Numbers within their field's bounds, dedicated_ip an IP literal; the error
// names the field.
Result<void> validate_limit_overrides(const LimitOverrides& overrides);

// The plan with every set override applied: what the relay enforces.
config::Plan effective_limits(const config::Plan& plan, const LimitOverrides& overrides);

enum class SuppressionList { bounces, blocks, spam_reports, invalid, unsubscribes };

// "bounces", "blocks", "spam-reports", "invalid", "unsubscribes".
std::string_view to_string(SuppressionList list);
// Also accepts "spam_reports".
std::optional<SuppressionList> parse_suppression_list(std::string_view text);
// "bounces, blocks, spam-reports, invalid, unsubscribes", for error messages.
std::string_view suppression_list_names();

struct Suppression {
  std::string tenant_id;
  SuppressionList list = SuppressionList::blocks;
  // Normalised: trimmed, lower-cased (the whole address: RFC 5321 says the
  // local part is case-sensitive, but every real provider folds it).
  std::string address;
  std::string reason;  // e.g. the remote 5xx reply, "complaint", "operator"
  std::int64_t created_at = 0;
};

inline constexpr std::size_t kMaxAddress = 254;  // RFC 5321 4.5.3.1.3 path, without the brackets

// Trimmed of blanks and lower-cased (ASCII only; UTF-8 bytes are kept).
std::string normalize_address(std::string_view address);
// After normalisation: exactly one '@' with text on both sides, no blanks or
// control characters, at most kMaxAddress octets.
Result<void> validate_address(std::string_view address);
// Control characters (a multi-line remote reply) become spaces; trimmed and
// cut to 500 octets without splitting a UTF-8 sequence. Reasons recorded from
// remote replies are cleaned rather than refused.
std::string normalize_reason(std::string_view reason);

struct Webhook {
  std::string tenant_id;
  std::string url;
  std::string secret;  // 64 hex digits (32 random bytes): the HMAC key of the payloads
  std::int64_t created_at = 0;
};

// webhooks::parse_webhook_url(): https:// with a host, no userinfo or
// fragment, printable ASCII, at most 2048 octets. Errors never quote the URL
// (its query may hold the receiver's token).
Result<void> validate_webhook_url(std::string_view url);

}  // namespace portcullis::store
