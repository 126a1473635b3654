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

// How long the queue database keeps its history; relay/queue/retention.hpp
// prunes it in the background. 0 keeps it forever.
struct RetentionConfig {
  // Delivery events: every recipient's outcomes (portcullisctl events, webhooks).
  seconds events{30 * 24 * 3600};
  // Hourly per-tenant counters (portcullisctl stats). At least 32 days when
  // set: the monthly quota counts the current month from them.
  seconds stats{395 * 24 * 3600};
  seconds interval{3600};  // pruning runs at start, then this often
};

// Free space on the state directory's file system below which new mail is
// refused with 452 4.3.1 (relay/queue/disk_guard.hpp); bytes and percent both
// 0 = never refuse.
struct FreeSpaceThreshold {
  std::uint64_t bytes = 1024ULL * 1024 * 1024;
  double percent = 0;  // of the file system's size, instead of bytes ("5%")
};

struct NodeConfig {
  std::string name;                      // default: the machine's host name
  std::filesystem::path state_dir;       // required, absolute
  std::filesystem::path control_socket;  // default: <state_dir>/control.sock
  std::string user;                      // drop to this user after binding; "" = don't
  log::Level log_level = log::Level::info;
  RetentionConfig retention;
  FreeSpaceThreshold min_free_space;
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
  // Mail to the gateway itself (abuse.feedback_addresses only, no AUTH, no
  // relaying): feedback-loop reports and abuse mail. Empty = not listening.
  std::vector<Endpoint> feedback;
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

// Shaping of the destinations (recipient domains) a rule matches: "example.com"
// is that domain, "*.example.com" any of its subdomains. 0 = the default.
struct DestinationRule {
  std::string match;
  std::size_t max_connections = 0;              // 0 = delivery.max_per_destination
  std::size_t max_messages_per_connection = 0;  // 0 = unlimited
};
// Lower-case domain against a rule's pattern (lower-case, as loaded).
bool destination_matches(std::string_view pattern, std::string_view domain);

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
  seconds queue_scan_interval{10};  // accepted for old files; the engine no longer scans
  double retry_jitter = 0.1;        // each retry delay is scaled by a random factor in [1-j, 1+j]
  std::vector<DestinationRule> destinations;  // first match wins
  // A destination failing as a whole (no route, refused, 421) waits this
  // long before one probe, doubling on each failed probe up to backoff_max.
  seconds backoff_initial{60};
  seconds backoff_max{20 * 60};
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

// One DNSBL zone and how to read its answers (abuse/dnsbl/zone_config.hpp
// validates the codes). Codes as text: "127.0.0.2", "127.0.0.2-127.0.0.11",
// "127.255.255.0/24"; empty = the RFC 5782 defaults.
struct DnsblZone {
  std::string zone;
  std::vector<std::string> listing_codes;
  std::vector<std::string> error_codes;
  double weight = 1.0;
};

struct DnsblConfig {
  std::vector<DnsblZone> zones;
  seconds interval{3600};              // each address is checked this often
  std::size_t queries_per_second = 5;  // across all zones, A and TXT together
  // Checked besides the relay's own outbound addresses (delivery.source_address,
  // tenant_source_addresses, plans' dedicated_ip) and the tenants' exempt hosts.
  std::vector<std::string> addresses;
};

// Delivery outcomes per tenant over a sliding window.
struct BounceSignalConfig {
  seconds window{3600};
  std::size_t min_messages = 20;         // outcomes in the window before a rate means anything
  double bounce_rate = 0.10;             // hard bounces / outcomes
  double unknown_recipient_rate = 0.05;  // 5.1.1-style refusals / outcomes
};

// Direct port-25 attempts seen by the egress monitor (per host, its window).
struct EgressSignalConfig {
  std::uint64_t min_attempts = 100;
  std::uint32_t min_destinations = 20;
};

// A tenant's accepted messages per hour against its own moving baseline.
struct VolumeSignalConfig {
  double factor = 10;                // this many times the baseline ...
  std::uint64_t min_messages = 200;  // ... and at least this many in the hour
};

// What opening a ticket of a category does by itself.
enum class AbuseAction { none, throttle, suspend, block_host };
std::string_view to_string(AbuseAction action);
std::optional<AbuseAction> parse_abuse_action(std::string_view text);

struct AbuseConfig {
  // Accepted by the feedback listener; default fbl@ and abuse@ relay.hostname.
  std::vector<std::string> feedback_addresses;
  std::string notify_from;   // default abuse@<relay.hostname>
  std::string desk_address;  // copies of notifications, and tickets about the gateway itself
  seconds score_window{7 * 24 * 3600};
  double ticket_threshold = 10;
  // A collector records the same kind of signal for the same tenant and host
  // at most once per cooldown (a listing seen every hour is one signal a day).
  seconds signal_cooldown{24 * 3600};
  // Points per unit of signal strength; a category's points within
  // score_window reaching ticket_threshold opens (or feeds) its ticket.
  std::map<std::string, double> weights{
      {"dnsbl", 10},        {"complaint", 2}, {"bounce_rate", 10}, {"unknown_recipients", 5},
      {"rbl_rejection", 5}, {"egress", 10},   {"volume", 5}};
  std::map<std::string, AbuseAction> actions{{"spam", AbuseAction::none},
                                             {"compromised_host", AbuseAction::block_host},
                                             {"blacklisting", AbuseAction::none},
                                             {"complaint", AbuseAction::none}};
  // A throttled tenant's limits (overrides on top of its plan).
  std::uint64_t throttle_messages_per_minute = 5;
  std::uint64_t throttle_messages_per_hour = 50;
  // A ticket naming a host revokes that host's approved port-25 exception.
  bool revoke_exceptions_on_ticket = true;
  seconds reminder_after{3 * 24 * 3600};
  std::size_t max_reminders = 2;
  DnsblConfig dnsbl;
  BounceSignalConfig bounces;
  EgressSignalConfig egress;
  VolumeSignalConfig volume;
};

struct Config {
  std::filesystem::path source;  // the file it was loaded from
  NodeConfig node;
  RelayConfig relay;
  DeliveryConfig delivery;
  FirewallConfig firewall;
  std::map<std::string, Plan> plans;
  WebhookConfig webhooks;
  AbuseConfig abuse;
};

std::string_view to_string(log::Level level);
std::optional<log::Level> parse_log_level(std::string_view text);

}  // namespace portcullis::config
