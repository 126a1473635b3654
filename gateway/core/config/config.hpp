#pragma once
// The configuration model: plain structs with their defaults, filled by the
// loader (gateway/core/config/loader.hpp) from the operator's YAML file. The
// bounds of every key sit beside its parse call in loader.cpp. Once loaded a
// Config is immutable and shared as std::shared_ptr<const Config>.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/log/log.hpp"

namespace portcullis::config {

using std::chrono::seconds;

// An IP literal and a port. host holds the address without brackets ("::1").
struct Endpoint {
  std::string host;
  std::uint16_t port = 0;

  // "1.2.3.4:25" or "[::1]:25".
  std::string to_string() const;
  bool operator==(const Endpoint&) const = default;
};

struct NodeConfig {
  std::string name;                      // default: the machine's host name
  std::filesystem::path state_dir;       // required, absolute
  std::filesystem::path control_socket;  // default: <state_dir>/control.sock
  std::string user;                      // drop to this user after binding; "" = don't
  log::Level log_level = log::Level::info;
};

// Both empty: the daemon generates a self-signed pair in <state_dir>/tls/.
struct TlsConfig {
  std::filesystem::path cert;
  std::filesystem::path key;
};

struct SmtpLimits {
  std::size_t max_connections = 1000;
  std::size_t max_connections_per_client = 50;
  std::size_t max_command_line = 512;  // octets incl. CRLF, RFC 5321 4.5.3.1.4
  std::size_t max_text_line = 1000;    // octets incl. CRLF, RFC 5321 4.5.3.1.6
  std::uint64_t max_message_size = 25 * 1024 * 1024;
  std::size_t max_recipients = 100;
  std::size_t max_errors = 10;
  seconds idle_timeout{5 * 60};
  seconds session_timeout{30 * 60};
};

struct AuthLimits {
  std::size_t max_failures = 5;
  seconds failure_window{10 * 60};
  seconds lockout{15 * 60};
};

// What delivery outcomes do to a tenant's suppression lists.
struct SuppressionConfig {
  // A recipient that expired after temporary failures this many times (with
  // no delivery in between) goes on the bounces list; 0 = never.
  std::size_t soft_bounce_limit = 3;
};

struct ListenConfig {
  std::vector<Endpoint> submission{{"0.0.0.0", 587}};
  std::vector<Endpoint> smtps{{"0.0.0.0", 465}};
  std::vector<Endpoint> intercept{{"0.0.0.0", 2525}};
};

struct RelayConfig {
  std::string hostname;  // required
  ListenConfig listen;
  TlsConfig tls;
  SmtpLimits limits;
  AuthLimits auth;
  SuppressionConfig suppression;
  // false turns off plans, quotas, rate limits and suppression checks in the
  // SMTP session (an emergency switch, and the baseline of the policy
  // benchmark). Suspension is enforced either way.
  bool enforce_policy = true;
};

// A static next hop: mail for `domain` ("*" = every domain) goes to host:port
// instead of the domain's MX.
struct Route {
  std::string domain;
  std::string host;  // IP literal or host name
  std::uint16_t port = 25;
};

enum class TlsPolicyKind { opportunistic, require, verify };
std::string_view to_string(TlsPolicyKind kind);
std::optional<TlsPolicyKind> parse_tls_policy_kind(std::string_view text);

struct TlsPolicy {
  std::string domain;
  TlsPolicyKind policy = TlsPolicyKind::opportunistic;
  std::filesystem::path ca_file;  // verify only: trust this CA bundle; empty = the system store
};

// A dedicated outbound source address for one tenant; overrides its plan's dedicated_ip.
struct TenantSourceAddress {
  std::string tenant;
  std::string address;  // IP literal
};

struct DeliveryConfig {
  std::optional<Endpoint> resolver;  // nullopt = the system resolver
  seconds max_age{5 * 24 * 3600};
  std::vector<seconds> retry_schedule{seconds{60}, seconds{5 * 60}, seconds{15 * 60}, seconds{3600},
                                      seconds{4 * 3600}};
  std::size_t max_concurrency = 100;
  std::size_t max_per_destination = 10;
  bool delay_notices = false;
  // A deferred recipient older than this gets one delay notice (RFC 3464 Action: delayed).
  std::chrono::seconds delay_notice_after{4 * 3600};
  std::vector<Route> routes;
  std::vector<TlsPolicy> tls_policies;
  // IP literal to bind outbound connections to; "" = the kernel's choice.
  std::string source_address;
  std::vector<TenantSourceAddress> tenant_source_addresses;
  seconds connect_timeout{30};
  seconds command_timeout{5 * 60};  // RFC 5321 4.5.3.2: MAIL, RCPT and the other commands
  seconds data_timeout{10 * 60};    // RFC 5321 4.5.3.2.6: the reply to the final "."
  seconds queue_scan_interval{10};
  double retry_jitter = 0.1;  // each retry delay is scaled by a random factor in [1-j, 1+j]
};

struct FirewallConfig {
  bool enabled = false;
  std::string table = "portcullis";
  std::string default_mode = "block";  // block|redirect|exempt
  bool reject_with_reset = false;
  std::uint16_t nflog_group = 25;
  // Egress monitor: also capture SYNs to port 25 on this tenant-facing
  // interface ("" = only the nflog group of blocked attempts).
  std::string monitor_interface;
  std::size_t monitor_max_hosts = 65536;  // hosts tracked; least recently seen evicted
  seconds monitor_window{10 * 60};        // sliding window of the per-host counts
};

struct Plan {
  std::uint64_t monthly_quota = 25000;
  std::size_t messages_per_minute = 60;
  std::size_t messages_per_hour = 1000;
  std::size_t recipients_per_message = 50;
  std::size_t recipients_per_hour = 2000;
  std::size_t max_connections = 10;
  std::uint64_t max_message_size = 25 * 1024 * 1024;
  std::string dedicated_ip;  // outbound source address; "" = shared pool
};

// Tenants' event webhooks (HTTPS POSTs of delivery events).
struct WebhookConfig {
  std::filesystem::path ca_file;  // trust these CAs for receivers; empty = the system store
  std::size_t batch_size = 100;   // events per POST
};

struct Config {
  std::filesystem::path source;  // the file it was loaded from
  NodeConfig node;
  RelayConfig relay;
  DeliveryConfig delivery;
  FirewallConfig firewall;
  std::map<std::string, Plan> plans;
  WebhookConfig webhooks;
};

std::string_view to_string(log::Level level);
std::optional<log::Level> parse_log_level(std::string_view text);

}  // namespace portcullis::config
