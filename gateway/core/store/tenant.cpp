#include "gateway/core/store/tenant.hpp"

#include <algorithm>

namespace portcullis::store {
namespace {

constexpr std::size_t kMaxTenantId = 63;
constexpr std::size_t kMaxPlan = 64;
constexpr std::size_t kMaxAbuseContact = 254;  // RFC 5321 path limit
constexpr std::size_t kMaxStatusReason = 500;
constexpr std::size_t kMaxDescription = 200;

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Free text shown in tables and log lines: bounded, one line.
Result<void> check_text(std::string_view what, std::string_view text, std::size_t max) {
  if (text.size() > max) {
    return make_error(std::string(what) + " is longer than " + std::to_string(max) + " characters");
  }
  if (has_control(text)) {
    return make_error(std::string(what) + " contains control characters");
  }
  return {};
}

}  // namespace

std::string_view to_string(Port25Mode mode) {
  switch (mode) {
    case Port25Mode::block:
      return "block";
    case Port25Mode::redirect:
      return "redirect";
    case Port25Mode::exempt:
      return "exempt";
  }
  return "block";
}

std::optional<Port25Mode> parse_port25_mode(std::string_view text) {
  if (text == "block") {
    return Port25Mode::block;
  }
  if (text == "redirect") {
    return Port25Mode::redirect;
  }
  if (text == "exempt") {
    return Port25Mode::exempt;
  }
  return std::nullopt;
}

std::string_view to_string(TenantStatus status) {
  switch (status) {
    case TenantStatus::active:
      return "active";
    case TenantStatus::suspended:
      return "suspended";
  }
  return "suspended";
}

std::optional<TenantStatus> parse_tenant_status(std::string_view text) {
  if (text == "active") {
    return TenantStatus::active;
  }
  if (text == "suspended") {
    return TenantStatus::suspended;
  }
  return std::nullopt;
}

bool is_valid_tenant_id(std::string_view id) {
  const auto lower_or_digit = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  };
  return !id.empty() && id.size() <= kMaxTenantId && lower_or_digit(id.front()) &&
         std::all_of(id.begin(), id.end(),
                     [&](char c) { return lower_or_digit(c) || c == '_' || c == '-'; });
}

Result<void> validate_tenant(const Tenant& tenant) {
  if (!is_valid_tenant_id(tenant.id)) {
    return make_error("'" + tenant.id +
                      "' is not a valid tenant id: use 1 to 63 characters a-z, 0-9, '_' and '-', "
                      "starting with a letter or digit");
  }
  if (tenant.plan.empty()) {
    return make_error("tenant '" + tenant.id + "' needs a plan");
  }
  if (auto ok = check_text("plan name", tenant.plan, kMaxPlan); !ok) {
    return ok;
  }
  const auto& contact = tenant.abuse_contact;
  if (auto ok = check_text("abuse contact", contact, kMaxAbuseContact); !ok) {
    return ok;
  }
  if (!contact.empty() &&
      (contact.find('@') == std::string::npos || contact.find(' ') != std::string::npos)) {
    return make_error("abuse contact '" + contact + "' is not an email address");
  }
  if (auto ok = check_text("status reason", tenant.status_reason, kMaxStatusReason); !ok) {
    return ok;
  }
  // The firewall's interval sets refuse overlapping elements: keep them apart here.
  for (std::size_t i = 0; i < tenant.subnets.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (tenant.subnets[i].overlaps(tenant.subnets[j])) {
        return make_error(tenant.subnets[i].to_string() + " overlaps " +
                          tenant.subnets[j].to_string() + ", both listed for tenant '" + tenant.id +
                          "'");
      }
    }
  }
  return {};
}

Result<void> validate_credential_description(std::string_view description) {
  return check_text("credential description", description, kMaxDescription);
}

Result<void> validate_host_override(const Tenant& tenant, const HostOverride& host_override) {
  if (auto ok = check_text("override reason", host_override.reason, kMaxStatusReason); !ok) {
    return ok;
  }
  const auto& prefix = host_override.prefix;
  for (const auto& subnet : tenant.subnets) {
    if (subnet.overlaps(prefix) && subnet.length <= prefix.length) {
      return {};
    }
  }
  return make_error(prefix.to_string() + " is not inside a subnet of tenant '" + tenant.id + "'");
}

}  // namespace portcullis::store
