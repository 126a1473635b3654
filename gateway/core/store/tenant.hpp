#pragma once
// Tenant and credential records as the store keeps them, and the syntax checks
// applied to them before they are stored. Field values arrive from the control
// API (operators) and are validated here so that every writer agrees.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/net/prefix.hpp"
#include "gateway/core/result.hpp"
#include "gateway/core/store/policy.hpp"

namespace portcullis::store {

enum class Port25Mode { block, redirect, exempt };
enum class TenantStatus { active, suspended };

std::string_view to_string(Port25Mode mode);
std::optional<Port25Mode> parse_port25_mode(std::string_view text);
std::string_view to_string(TenantStatus status);
std::optional<TenantStatus> parse_tenant_status(std::string_view text);

// A host (/32, /128) or smaller network inside one of its tenant's subnets
// with its own port-25 mode: the more specific prefix wins in the firewall.
struct HostOverride {
  net::Prefix prefix;
  Port25Mode mode = Port25Mode::block;
  std::string reason;
  std::int64_t created_at = 0;
};

struct Tenant {
  std::string id;
  std::string plan;
  std::vector<net::Prefix> subnets;
  Port25Mode port25_mode = Port25Mode::block;
  std::string abuse_contact;
  TenantStatus status = TenantStatus::active;
  std::string status_reason;
  std::int64_t created_at = 0;
  // Loaded by the store; written only through Store::set_host_override() and
  // remove_host_override() (add_tenant/update_tenant leave them alone). One
  // that no longer lies inside a subnet is ignored by the firewall.
  std::vector<HostOverride> host_overrides;
  // Loaded by the store; written only through Store::set_limit_overrides().
  // The relay enforces effective_limits(plan, limits).
  LimitOverrides limits;
};

struct Credential {
  std::string username;
  std::string tenant_id;
  std::string description;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> revoked_at;
};

// The only time the password exists in clear.
struct IssuedCredential {
  Credential credential;
  std::string password;
};

struct CredentialSecret {
  std::string username;
  std::string tenant_id;
  std::string password_hash;
};

// [a-z0-9][a-z0-9_-]{0,62}: safe in usernames, log lines, nftables comments.
bool is_valid_tenant_id(std::string_view id);

// Everything that can be checked without the database: id, plan, abuse
// contact, status reason, and subnets overlapping each other.
Result<void> validate_tenant(const Tenant& tenant);

Result<void> validate_credential_description(std::string_view description);

// The override's reason text, and that its prefix lies inside one of the
// tenant's subnets (so an override can never reach another tenant's hosts).
Result<void> validate_host_override(const Tenant& tenant, const HostOverride& host_override);

}  // namespace portcullis::store
