#include "gateway/core/store/policy.hpp"

#include <algorithm>
#include <array>
#include <type_traits>

#include "gateway/core/config/values.hpp"
#include "gateway/core/webhooks/webhook_url.hpp"

namespace portcullis::store {
namespace {

constexpr std::uint64_t kMillion = 1'000'000;
constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kGiB = 1024 * 1024 * kKiB;

constexpr std::array<LimitField, 7> kLimitFields = {{
    {"monthly_quota", &LimitOverrides::monthly_quota, 1, 1000 * kMillion},
    {"messages_per_minute", &LimitOverrides::messages_per_minute, 1, kMillion},
    {"messages_per_hour", &LimitOverrides::messages_per_hour, 1, 100 * kMillion},
    {"recipients_per_message", &LimitOverrides::recipients_per_message, 1, 100'000},
    {"recipients_per_hour", &LimitOverrides::recipients_per_hour, 1, 100 * kMillion},
    {"max_connections", &LimitOverrides::max_connections, 1, 100'000},
    {"max_message_size", &LimitOverrides::max_message_size, kKiB, 2 * kGiB},
}};

constexpr std::size_t kMaxReason = 500;

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_blank(text.front())) {
    text.remove_prefix(1);
  }
  while (!text.empty() && is_blank(text.back())) {
    text.remove_suffix(1);
  }
  return text;
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool LimitOverrides::empty() const {
  return std::none_of(kLimitFields.begin(), kLimitFields.end(),
                      [this](const LimitField& f) { return (this->*f.member).has_value(); }) &&
         !dedicated_ip;
}

std::span<const LimitField> limit_fields() {
  return kLimitFields;
}

Result<void> validate_limit_overrides(const LimitOverrides& overrides) {
  for (const auto& field : kLimitFields) {
    const auto& value = overrides.*field.member;
    if (value && (*value < field.min || *value > field.max)) {
      return make_error(std::string(field.name) + " must be a number from " +
                        std::to_string(field.min) + " to " + std::to_string(field.max) + ", not " +
                        std::to_string(*value));
    }
  }
  if (overrides.dedicated_ip && !config::is_ip_address(*overrides.dedicated_ip)) {
    return make_error("dedicated_ip '" + *overrides.dedicated_ip + "' is not an IP address");
  }
  return {};
}

config::Plan effective_limits(const config::Plan& plan, const LimitOverrides& overrides) {
  config::Plan out = plan;
  auto apply = [](const std::optional<std::uint64_t>& value, auto& target) {
    if (value) {
      target = static_cast<std::remove_reference_t<decltype(target)>>(*value);
    }
  };
  apply(overrides.monthly_quota, out.monthly_quota);
  apply(overrides.messages_per_minute, out.messages_per_minute);
  apply(overrides.messages_per_hour, out.messages_per_hour);
  apply(overrides.recipients_per_message, out.recipients_per_message);
  apply(overrides.recipients_per_hour, out.recipients_per_hour);
  apply(overrides.max_connections, out.max_connections);
  apply(overrides.max_message_size, out.max_message_size);
  if (overrides.dedicated_ip) {
    out.dedicated_ip = *overrides.dedicated_ip;
  }
  return out;
}

std::string_view to_string(SuppressionList list) {
  switch (list) {
    case SuppressionList::bounces:
      return "bounces";
    case SuppressionList::blocks:
      return "blocks";
    case SuppressionList::spam_reports:
      return "spam-reports";
    case SuppressionList::invalid:
      return "invalid";
    case SuppressionList::unsubscribes:
      return "unsubscribes";
  }
  return "blocks";
}

std::optional<SuppressionList> parse_suppression_list(std::string_view text) {
  for (auto list :
       {SuppressionList::bounces, SuppressionList::blocks, SuppressionList::spam_reports,
        SuppressionList::invalid, SuppressionList::unsubscribes}) {
    if (text == to_string(list)) {
      return list;
    }
  }
  if (text == "spam_reports") {
    return SuppressionList::spam_reports;
  }
  return std::nullopt;
}

std::string_view suppression_list_names() {
  return "bounces, blocks, spam-reports, invalid, unsubscribes";
}

std::string normalize_address(std::string_view address) {
  std::string out(trim(address));
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

Result<void> validate_address(std::string_view address) {
  if (address.size() > kMaxAddress) {
    return make_error("'" + std::string(address.substr(0, 40)) + "...' is longer than " +
                      std::to_string(kMaxAddress) + " octets, too long for an email address");
  }
  if (std::any_of(address.begin(), address.end(), is_control)) {
    return make_error("an address contains control characters");  // not echoed: terminals
  }
  const auto quoted = "'" + std::string(address) + "'";
  if (address.find(' ') != std::string_view::npos) {
    return make_error(quoted + " is not an email address (it contains blanks)");
  }
  const auto at = address.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
      address.find('@', at + 1) != std::string_view::npos) {
    return make_error(quoted + " is not an email address");
  }
  return {};
}

std::string normalize_reason(std::string_view reason) {
  std::string out;
  out.reserve(std::min(reason.size(), kMaxReason));
  for (char c : reason) {
    out += is_control(c) ? ' ' : c;
  }
  out = std::string(trim(out));
  if (out.size() > kMaxReason) {
    auto end = kMaxReason;
    // Back up over UTF-8 continuation bytes so that no sequence is cut in two.
    while (end > 0 && (static_cast<unsigned char>(out[end]) & 0xc0) == 0x80) {
      --end;
    }
    out.resize(end);
  }
  return out;
}

Result<void> validate_webhook_url(std::string_view url) {
  // The dispatcher's own parser: what the store accepts, it can post to.
  if (auto parsed = webhooks::parse_webhook_url(url); !parsed) {
    return parsed.error();
  }
  return {};
}

}  // namespace portcullis::store
