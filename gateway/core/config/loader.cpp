#include "gateway/core/config/loader.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <regex>
#include <sstream>

#include "gateway/core/config/values.hpp"
#include "gateway/core/config/yaml_reader.hpp"

// One parse function per struct. Each reads its keys in the order of the
// file format, with the bounds on the same line; the defaults are the
// struct's member initialisers in config.hpp.

namespace portcullis::config {
namespace {

using detail::Diagnostics;
using detail::MapReader;
using detail::Value;
using std::chrono::seconds;

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
constexpr seconds kMinute{60};
constexpr seconds kHour{3600};
constexpr seconds kDay{86400};
constexpr std::uint64_t kMillion = 1'000'000;

bool matches(const std::string& text, const char* pattern) {
  return std::regex_match(text, std::regex(pattern));
}

// --- values with a meaning beyond their YAML type --------------------------

void absolute_path(Diagnostics& d, const Value& v, std::filesystem::path& out) {
  auto s = detail::read_string(d, v);
  if (!s) {
    return;
  }
  if (s->empty() || !s->starts_with('/')) {
    d.error(v.line, v.path, "must be an absolute path, got " + quote_value(*s));
    return;
  }
  out = *s;
}

void existing_file(Diagnostics& d, const Value& v, std::filesystem::path& out) {
  absolute_path(d, v, out);
  std::error_code ec;
  if (!out.empty() && !std::filesystem::is_regular_file(out, ec)) {
    d.error(v.line, v.path, quote_value(out.string()) + " is not a readable file");
    out.clear();
  }
}

void socket_path(Diagnostics& d, const Value& v, std::filesystem::path& out) {
  absolute_path(d, v, out);
  constexpr std::size_t kMax = sizeof(sockaddr_un::sun_path) - 1;
  if (out.string().size() > kMax) {
    d.error(v.line, v.path,
            "is longer than a Unix socket path may be (" + std::to_string(kMax) + " bytes)");
    out.clear();
  }
}

void host_name(Diagnostics& d, const Value& v, std::string& out) {
  auto s = detail::read_string(d, v);
  if (s && !is_host_name(*s)) {
    d.error(v.line, v.path, quote_value(*s) + " is not a valid host name");
  } else if (s) {
    out = *s;
  }
}

// "" is allowed and means "none".
void optional_ip(Diagnostics& d, const Value& v, std::string& out) {
  auto s = detail::read_string(d, v);
  if (s && !s->empty() && !is_ip_address(*s)) {
    d.error(v.line, v.path, quote_value(*s) + " is not an IP address");
  } else if (s) {
    out = *s;
  }
}

// A mail domain for routes and TLS policies: a host name, or "*" for all.
std::optional<std::string> domain(Diagnostics& d, const Value& v) {
  auto s = detail::read_string(d, v);
  if (s && *s != "*" && !is_host_name(*s)) {
    d.error(v.line, v.path,
            quote_value(*s) + " is not a domain (a host name, or * for every domain)");
    return std::nullopt;
  }
  return s;
}

// Reports a repeat of a list item's value, naming where it first appeared.
class SeenValues {
 public:
  bool first(Diagnostics& d, const Value& v, const std::string& item) {
    auto it = std::find_if(seen_.begin(), seen_.end(), [&](auto& s) { return s.first == item; });
    if (it != seen_.end()) {
      d.error(v.line, v.path, quote_value(item) + " is already used by " + it->second);
      return false;
    }
    seen_.emplace_back(item, v.path);
    return true;
  }

 private:
  std::vector<std::pair<std::string, std::string>> seen_;
};

// --- node ------------------------------------------------------------------

std::string default_node_name() {
  char buffer[256] = {};
  if (gethostname(buffer, sizeof(buffer) - 1) != 0 || buffer[0] == '\0') {
    return "portcullis";
  }
  return buffer;
}

void parse_retention(Diagnostics& d, const Value& v, RetentionConfig& out) {
  MapReader r(d, v);
  r.duration("events", out.events, seconds{0}, 10 * 366 * kDay);
  r.duration("stats", out.stats, seconds{0}, 10 * 366 * kDay);
  r.duration("interval", out.interval, seconds{1}, kDay);
  // The monthly quota sums the current month's hourly rows: keep at least a
  // month of them (plus the hour being counted).
  constexpr seconds kMinStats = 32 * kDay;
  if (out.stats != seconds{0} && out.stats < kMinStats) {
    auto at = r.section("stats");
    d.error(at.line, at.path,
            format_duration(out.stats) +
                " is shorter than the monthly quota needs (0 = forever, "
                "else at least " +
                format_duration(kMinStats) + ")");
  }
  r.finish();
}

// A size ("1G", plain bytes) or a share of the file system ("5%"); 0 = off.
void free_space(Diagnostics& d, const Value& v, FreeSpaceThreshold& out) {
  auto s = detail::read_string(d, v);
  if (!s) {
    return;
  }
  if (s->ends_with('%')) {
    const std::string number = s->substr(0, s->size() - 1);
    double percent = -1;
    if (matches(number, "[0-9]{1,2}(\\.[0-9]{1,2})?")) {
      // from_chars: no locale, unlike stod.
      std::from_chars(number.data(), number.data() + number.size(), percent);
    }
    if (percent < 0 || percent >= 100) {
      d.error(v.line, v.path,
              quote_value(*s) + " is not a percentage of the file system (0% up to 99.99%)");
      return;
    }
    out = {0, percent};
    return;
  }
  if (auto bytes = detail::read_size(d, v, 0, 1024 * kGiB)) {
    out = {*bytes, 0};
  }
}

void parse_node(Diagnostics& d, const Value& v, NodeConfig& out) {
  MapReader r(d, v);
  if (auto name = r.find("name")) {
    auto s = detail::read_string(d, *name);
    if (s && !matches(*s, "[A-Za-z0-9][A-Za-z0-9._-]{0,62}")) {
      d.error(name->line, name->path,
              quote_value(*s) + " is not a valid node name (letters, digits, '.', '_', '-')");
    } else if (s) {
      out.name = *s;
    }
  }
  if (auto dir = r.require("state_dir")) {
    absolute_path(d, *dir, out.state_dir);
  }
  if (auto socket = r.find("control_socket")) {
    socket_path(d, *socket, out.control_socket);
  }
  if (auto user = r.find("user")) {
    auto s = detail::read_string(d, *user);
    if (s && !s->empty() && getpwnam(s->c_str()) == nullptr) {
      d.error(user->line, user->path, "no such user " + quote_value(*s));
    } else if (s) {
      out.user = *s;
    }
  }
  if (auto level = r.find("log_level")) {
    if (auto word = detail::read_word(d, *level, {"debug", "info", "warning", "error"})) {
      out.log_level = *parse_log_level(*word);
    }
  }
  parse_retention(d, r.section("retention"), out.retention);
  if (auto space = r.find("min_free_space")) {
    free_space(d, *space, out.min_free_space);
  }
  r.finish();
  if (out.name.empty()) {
    out.name = default_node_name();
  }
  if (out.control_socket.empty() && !out.state_dir.empty()) {
    out.control_socket = out.state_dir / "control.sock";
  }
}

// --- relay -----------------------------------------------------------------

// True when a and b cannot both be bound: equal, or one is the wildcard
// address of the other's family on the same port.
bool conflicts(const Endpoint& a, const Endpoint& b) {
  if (a.port != b.port) {
    return false;
  }
  const bool a_v6 = a.host.find(':') != std::string::npos;
  const bool b_v6 = b.host.find(':') != std::string::npos;
  const auto wildcard = [](const Endpoint& e) { return e.host == "0.0.0.0" || e.host == "::"; };
  return a.host == b.host || (a_v6 == b_v6 && (wildcard(a) || wildcard(b)));
}

struct BoundEndpoint {
  Endpoint endpoint;
  std::string path;
};

void parse_endpoints(Diagnostics& d,
                     const Value& v,
                     std::vector<Endpoint>& out,
                     std::vector<BoundEndpoint>& bound) {
  if (!v.present()) {
    for (const auto& e : out) {
      bound.push_back({e, v.path + " (default)"});
    }
    return;
  }
  out.clear();
  for (const auto& item : detail::read_list(d, v)) {
    auto endpoint = detail::read_endpoint(d, item);
    if (!endpoint) {
      continue;
    }
    auto clash = std::find_if(bound.begin(), bound.end(),
                              [&](const auto& b) { return conflicts(b.endpoint, *endpoint); });
    if (clash != bound.end()) {
      const std::string text = endpoint->to_string();
      const std::string other = clash->endpoint.to_string();
      d.error(item.line, item.path,
              text == other
                  ? quote_value(text) + " is already used by " + clash->path
                  : quote_value(text) + " overlaps " + quote_value(other) + " of " + clash->path);
      continue;
    }
    bound.push_back({*endpoint, item.path});
    out.push_back(*endpoint);
  }
}

void parse_listen(Diagnostics& d, const Value& v, ListenConfig& out) {
  MapReader r(d, v);
  std::vector<BoundEndpoint> bound;
  parse_endpoints(d, r.section("submission"), out.submission, bound);
  parse_endpoints(d, r.section("smtps"), out.smtps, bound);
  parse_endpoints(d, r.section("intercept"), out.intercept, bound);
  parse_endpoints(d, r.section("feedback"), out.feedback, bound);  // default [] = not listening
  r.finish();
}

void parse_tls(Diagnostics& d, const Value& v, TlsConfig& out) {
  MapReader r(d, v);
  auto cert = r.find("cert");
  auto key = r.find("key");
  if (cert) {
    auto s = detail::read_string(d, *cert);
    if (s && !s->empty()) {
      existing_file(d, *cert, out.cert);
    }
  }
  if (key) {
    auto s = detail::read_string(d, *key);
    if (s && !s->empty()) {
      existing_file(d, *key, out.key);
    }
  }
  const bool has_cert = cert && cert->node.IsScalar() && !cert->node.Scalar().empty();
  const bool has_key = key && key->node.IsScalar() && !key->node.Scalar().empty();
  if (has_cert != has_key) {
    const Value& missing_at = has_cert ? (key ? *key : r.value()) : (cert ? *cert : r.value());
    d.error(missing_at.line, detail::join_path(v.path, has_cert ? "key" : "cert"),
            std::string("must be set together with relay.tls.") + (has_cert ? "cert" : "key") +
                " (leave both empty for a generated self-signed pair)");
    out = TlsConfig{};
  }
  r.finish();
}

void parse_limits(Diagnostics& d, const Value& v, SmtpLimits& out) {
  MapReader r(d, v);
  r.number("max_connections", out.max_connections, 1, kMillion);
  r.number("max_connections_per_client", out.max_connections_per_client, 1, kMillion);
  r.number("max_command_line", out.max_command_line, 512, 65536);
  r.number("max_text_line", out.max_text_line, 1000, 65536);
  r.size("max_message_size", out.max_message_size, kKiB, 2 * kGiB);
  r.number("max_recipients", out.max_recipients, 1, 100'000);
  r.number("max_errors", out.max_errors, 1, 1000);
  r.duration("idle_timeout", out.idle_timeout, seconds{1}, kDay);
  r.duration("session_timeout", out.session_timeout, seconds{1}, kDay);
  if (out.max_connections_per_client > out.max_connections) {
    auto at = r.section("max_connections_per_client");
    d.error(at.line, at.path,
            std::to_string(out.max_connections_per_client) + " is more than max_connections (" +
                std::to_string(out.max_connections) + ")");
  }
  if (out.idle_timeout > out.session_timeout) {
    auto at = r.section("idle_timeout");
    d.error(at.line, at.path,
            format_duration(out.idle_timeout) + " is longer than session_timeout (" +
                format_duration(out.session_timeout) + ")");
  }
  r.finish();
}

void parse_auth(Diagnostics& d, const Value& v, AuthLimits& out) {
  MapReader r(d, v);
  r.number("max_failures", out.max_failures, 1, 1000);
  r.duration("failure_window", out.failure_window, seconds{1}, kDay);
  r.duration("lockout", out.lockout, seconds{1}, 7 * kDay);
  r.finish();
}

void parse_suppression(Diagnostics& d, const Value& v, SuppressionConfig& out) {
  MapReader r(d, v);
  r.number("soft_bounce_limit", out.soft_bounce_limit, 0, 1000);
  r.finish();
}

void parse_relay(Diagnostics& d, const Value& v, RelayConfig& out) {
  MapReader r(d, v);
  if (auto hostname = r.require("hostname")) {
    host_name(d, *hostname, out.hostname);
  }
  parse_listen(d, r.section("listen"), out.listen);
  parse_tls(d, r.section("tls"), out.tls);
  parse_limits(d, r.section("limits"), out.limits);
  parse_auth(d, r.section("auth"), out.auth);
  parse_suppression(d, r.section("suppression"), out.suppression);
  r.boolean("enforce_policy", out.enforce_policy);
  r.finish();
}

// --- delivery --------------------------------------------------------------

void parse_resolver(Diagnostics& d, const Value& v, std::optional<Endpoint>& out) {
  auto s = detail::read_string(d, v);
  if (!s || s->empty()) {
    return;
  }
  if (is_ip_address(*s)) {  // a bare address means the DNS port
    out =
        parse_endpoint(s->find(':') == std::string::npos ? *s + ":53" : "[" + *s + "]:53").value();
    return;
  }
  out = detail::read_endpoint(d, v);
}

void parse_retry_schedule(Diagnostics& d, const Value& v, std::vector<seconds>& out) {
  auto items = detail::read_list(d, v);
  if (v.node.IsSequence() && items.empty()) {
    d.error(v.line, v.path, "must list at least one retry interval");
    return;
  }
  if (items.empty()) {
    return;
  }
  std::vector<seconds> schedule;
  for (const auto& item : items) {
    auto step = detail::read_duration(d, item, seconds{1}, 7 * kDay);
    if (step && !schedule.empty() && *step < schedule.back()) {
      d.error(item.line, item.path,
              format_duration(*step) + " is shorter than the step before it (" +
                  format_duration(schedule.back()) + ")");
    }
    if (step) {
      schedule.push_back(*step);
    }
  }
  out = std::move(schedule);
}

void parse_routes(Diagnostics& d, const Value& v, std::vector<Route>& out) {
  SeenValues domains;
  for (const auto& item : detail::read_list(d, v)) {
    MapReader r(d, item);
    Route route;
    std::optional<std::string> name;
    if (auto value = r.require("domain")) {
      name = domain(d, *value);
      if (name && !domains.first(d, *value, *name)) {
        name.reset();
      }
    }
    bool host_ok = false;
    if (auto host = r.require("host")) {
      auto s = detail::read_string(d, *host);
      host_ok = s && (is_ip_address(*s) || is_host_name(*s));
      if (s && !host_ok) {
        d.error(host->line, host->path, quote_value(*s) + " is not an IP address or host name");
      } else if (s) {
        route.host = *s;
      }
    }
    r.number("port", route.port, 1, 65535);
    r.finish();
    if (name && host_ok) {
      route.domain = *name;
      out.push_back(std::move(route));
    }
  }
}

void parse_tls_policies(Diagnostics& d, const Value& v, std::vector<TlsPolicy>& out) {
  SeenValues domains;
  for (const auto& item : detail::read_list(d, v)) {
    MapReader r(d, item);
    TlsPolicy policy;
    std::optional<std::string> name;
    std::optional<std::string> kind;
    if (auto value = r.require("domain")) {
      name = domain(d, *value);
      if (name && !domains.first(d, *value, *name)) {
        name.reset();
      }
    }
    if (auto value = r.require("policy")) {
      kind = detail::read_word(d, *value, {"opportunistic", "require", "verify"});
    }
    std::filesystem::path ca_file;
    if (auto value = r.find("ca_file")) {
      auto s = detail::read_string(d, *value);
      if (s && !s->empty()) {
        existing_file(d, *value, ca_file);
      }
      if (!ca_file.empty() && kind && *kind != "verify") {
        d.error(value->line, value->path,
                "only applies to policy verify (this policy is " + *kind + ")");
      }
    }
    r.finish();
    if (name && kind) {
      out.push_back(TlsPolicy{*name, *parse_tls_policy_kind(*kind), ca_file});
    }
  }
}

void parse_tenant_source_addresses(Diagnostics& d,
                                   const Value& v,
                                   std::vector<TenantSourceAddress>& out) {
  SeenValues tenants;
  for (const auto& item : detail::read_list(d, v)) {
    MapReader r(d, item);
    TenantSourceAddress entry;
    bool ok = true;
    if (auto tenant = r.require("tenant")) {
      auto s = detail::read_string(d, *tenant);
      if (s && !matches(*s, "[a-z0-9][a-z0-9_-]{0,62}")) {
        d.error(tenant->line, tenant->path,
                quote_value(*s) + " is not a tenant id (lower-case letters, digits, '_', '-')");
        ok = false;
      } else if (s && tenants.first(d, *tenant, *s)) {
        entry.tenant = *s;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    if (auto address = r.require("address")) {
      auto s = detail::read_string(d, *address);
      if (s && !is_ip_address(*s)) {
        d.error(address->line, address->path, quote_value(*s) + " is not an IP address");
        ok = false;
      } else if (s) {
        entry.address = *s;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    r.finish();
    if (ok) {
      out.push_back(std::move(entry));
    }
  }
}

// A fraction between 0 and 1 ("0.1", "0", "1").
void fraction(Diagnostics& d, const Value& v, double& out) {
  auto s = detail::read_string(d, v);
  if (!s) {
    return;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), value);
  if (s->empty() || ec != std::errc{} || ptr != s->data() + s->size()) {
    d.error(v.line, v.path, "expected a number between 0 and 1, got " + quote_value(*s));
  } else if (!(value >= 0.0 && value <= 1.0)) {
    d.error(v.line, v.path, "must be between 0 and 1, got " + *s);
  } else {
    out = value;
  }
}

void parse_destination_rules(Diagnostics& d, const Value& v, std::vector<DestinationRule>& out) {
  SeenValues patterns;
  for (const auto& item : detail::read_list(d, v)) {
    MapReader r(d, item);
    DestinationRule rule;
    std::optional<std::string> pattern;
    if (auto value = r.require("match")) {
      auto s = detail::read_string(d, *value);
      const std::string_view name =
          s ? std::string_view(*s).substr(s->starts_with("*.") ? 2 : 0) : std::string_view{};
      if (s && !is_host_name(name)) {
        d.error(value->line, value->path,
                quote_value(*s) + " is not a domain or *.domain (a host name after '*.')");
      } else if (s) {
        std::string folded = *s;
        std::transform(folded.begin(), folded.end(), folded.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (patterns.first(d, *value, folded)) {
          pattern = std::move(folded);
        }
      }
    }
    r.number("max_connections", rule.max_connections, 1, 100'000);
    r.number("max_messages_per_connection", rule.max_messages_per_connection, 1, 1'000'000);
    r.finish();
    if (pattern) {
      rule.match = *pattern;
      out.push_back(std::move(rule));
    }
  }
}

void parse_delivery(Diagnostics& d, const Value& v, DeliveryConfig& out) {
  MapReader r(d, v);
  if (auto resolver = r.find("resolver")) {
    parse_resolver(d, *resolver, out.resolver);
  }
  // Seconds are allowed so tests and labs can watch mail expire.
  r.duration("max_age", out.max_age, seconds(1), 30 * kDay);
  if (auto schedule = r.find("retry_schedule")) {
    parse_retry_schedule(d, *schedule, out.retry_schedule);
  }
  r.number("max_concurrency", out.max_concurrency, 1, 100'000);
  r.number("max_per_destination", out.max_per_destination, 1, 100'000);
  r.boolean("delay_notices", out.delay_notices);
  r.duration("delay_notice_after", out.delay_notice_after, seconds(1), 30 * kDay);
  parse_routes(d, r.section("routes"), out.routes);
  parse_tls_policies(d, r.section("tls_policies"), out.tls_policies);
  if (auto source = r.find("source_address")) {
    optional_ip(d, *source, out.source_address);
  }
  parse_tenant_source_addresses(d, r.section("tenant_source_addresses"),
                                out.tenant_source_addresses);
  r.duration("connect_timeout", out.connect_timeout, seconds{1}, 10 * kMinute);
  r.duration("command_timeout", out.command_timeout, seconds{1}, kHour);
  r.duration("data_timeout", out.data_timeout, seconds{1}, kHour);
  r.duration("queue_scan_interval", out.queue_scan_interval, seconds{1}, kHour);
  if (auto jitter = r.find("retry_jitter")) {
    fraction(d, *jitter, out.retry_jitter);
  }
  parse_destination_rules(d, r.section("destinations"), out.destinations);
  r.duration("backoff_initial", out.backoff_initial, seconds{1}, kDay);
  r.duration("backoff_max", out.backoff_max, seconds{1}, kDay);
  if (out.backoff_initial > out.backoff_max) {
    auto at = r.section("backoff_initial");
    d.error(at.line, at.path, "is more than backoff_max");
  }
  if (out.max_per_destination > out.max_concurrency) {
    auto at = r.section("max_per_destination");
    d.error(at.line, at.path,
            std::to_string(out.max_per_destination) + " is more than max_concurrency (" +
                std::to_string(out.max_concurrency) + ")");
  }
  r.finish();
}

// --- firewall --------------------------------------------------------------

void parse_firewall(Diagnostics& d, const Value& v, FirewallConfig& out) {
  MapReader r(d, v);
  r.boolean("enabled", out.enabled);
  if (auto table = r.find("table")) {
    auto s = detail::read_string(d, *table);
    if (s && !matches(*s, "[A-Za-z][A-Za-z0-9_]{0,31}")) {
      d.error(table->line, table->path,
              quote_value(*s) +
                  " is not a valid nftables table name (a letter, then letters, "
                  "digits or '_', at most 32)");
    } else if (s) {
      out.table = *s;
    }
  }
  if (auto mode = r.find("default_mode")) {
    if (auto word = detail::read_word(d, *mode, {"block", "redirect", "exempt"})) {
      out.default_mode = *word;
    }
  }
  r.boolean("reject_with_reset", out.reject_with_reset);
  r.number("nflog_group", out.nflog_group, 0, 65535);
  if (auto iface = r.find("monitor_interface")) {
    auto s = detail::read_string(d, *iface);
    // IFNAMSIZ is 16 with the terminator; '/' and whitespace are never valid.
    if (s && !s->empty() && !matches(*s, "[A-Za-z0-9_.:@-]{1,15}")) {
      d.error(iface->line, iface->path,
              quote_value(*s) + " is not a valid interface name (at most 15 characters)");
    } else if (s) {
      out.monitor_interface = *s;
    }
  }
  r.number("monitor_max_hosts", out.monitor_max_hosts, 16, 10 * kMillion);
  r.duration("monitor_window", out.monitor_window, kMinute, kDay);
  r.finish();
}

// --- plans -----------------------------------------------------------------

void parse_plan(Diagnostics& d, const Value& v, Plan& out) {
  MapReader r(d, v);
  r.number("monthly_quota", out.monthly_quota, 1, 1000 * kMillion);
  r.number("messages_per_minute", out.messages_per_minute, 1, kMillion);
  r.number("messages_per_hour", out.messages_per_hour, 1, 100 * kMillion);
  r.number("recipients_per_message", out.recipients_per_message, 1, 100'000);
  r.number("recipients_per_hour", out.recipients_per_hour, 1, 100 * kMillion);
  r.number("max_connections", out.max_connections, 1, 100'000);
  r.size("max_message_size", out.max_message_size, kKiB, 2 * kGiB);
  if (auto ip = r.find("dedicated_ip")) {
    optional_ip(d, *ip, out.dedicated_ip);
  }
  r.finish();
}

void parse_plans(Diagnostics& d, const Value& v, std::map<std::string, Plan>& out) {
  MapReader r(d, v);
  for (const auto& [name, value] : r.entries()) {
    r.find(name);  // every name is a valid key; its value says whether it is a plan
    if (!matches(name, "[a-z0-9][a-z0-9_-]{0,62}")) {
      d.error(
          value.line, value.path,
          quote_value(name) + " is not a valid plan name (lower-case letters, digits, '_', '-')");
      continue;
    }
    Plan plan;
    parse_plan(d, value, plan);
    out.emplace(name, plan);
  }
  r.finish();
}

// --- webhooks --------------------------------------------------------------

void parse_webhooks(Diagnostics& d, const Value& v, WebhookConfig& out) {
  MapReader r(d, v);
  if (auto ca = r.find("ca_file")) {
    if (auto s = detail::read_string(d, *ca); s && !s->empty()) {
      existing_file(d, *ca, out.ca_file);
    }
  }
  r.number("batch_size", out.batch_size, 1, 10000);
  r.finish();
}

// --- abuse -----------------------------------------------------------------

constexpr double kUnbounded = std::numeric_limits<double>::infinity();

// Bounds of a real number; an open bound excludes the limit itself.
struct RealRange {
  double min = 0;
  bool min_open = false;
  double max = kUnbounded;
  bool max_open = false;
};

std::string format_real(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

std::string describe(const RealRange& range) {
  std::string text = (range.min_open ? "more than " : "at least ") + format_real(range.min);
  if (std::isfinite(range.max)) {
    text += (range.max_open ? " and less than " : " and at most ") + format_real(range.max);
  }
  return text;
}

// from_chars reads "inf" and "nan" as numbers; neither is a weight or a rate.
std::optional<double> read_real(Diagnostics& d, const Value& v, const RealRange& range) {
  auto s = detail::read_string(d, v);
  if (!s) {
    return std::nullopt;
  }
  double value = 0;
  auto [ptr, ec] = std::from_chars(s->data(), s->data() + s->size(), value);
  if (s->empty() || ec != std::errc{} || ptr != s->data() + s->size() || !std::isfinite(value)) {
    d.error(v.line, v.path, "expected a number, got " + quote_value(*s));
    return std::nullopt;
  }
  const bool low = range.min_open ? value <= range.min : value < range.min;
  const bool high = range.max_open ? value >= range.max : value > range.max;
  if (low || high) {
    d.error(v.line, v.path, "must be " + describe(range) + ", got " + *s);
    return std::nullopt;
  }
  return value;
}

void real(MapReader& r, Diagnostics& d, std::string_view key, double& out, const RealRange& range) {
  if (auto v = r.find(key)) {
    if (auto value = read_real(d, *v, range)) {
      out = *value;
    }
  }
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// A mailbox, local@domain. The feedback listener compares RCPT TO with these
// and notifications put them in From and To headers, so whitespace, control
// characters and the characters that delimit addresses in a header (header
// injection, a second recipient) are refused here.
std::optional<std::string> mailbox(Diagnostics& d, const Value& v) {
  auto s = detail::read_string(d, v);
  if (!s) {
    return std::nullopt;
  }
  const auto at = s->rfind('@');
  const bool clean = std::none_of(s->begin(), s->end(), [](unsigned char c) {
    return c <= 0x20 || c == 0x7f || std::strchr("<>,;\"()[]\\", c) != nullptr;
  });
  if (!clean || at == std::string::npos || at == 0 || at > 64 || s->find('@') != at ||
      s->size() > 254 || !is_host_name(s->substr(at + 1))) {
    d.error(v.line, v.path,
            quote_value(*s) + " is not a mail address (local@domain, without spaces)");
    return std::nullopt;
  }
  return s;
}

// "" is allowed and means "none".
void optional_mailbox(Diagnostics& d, const Value& v, std::string& out) {
  auto s = detail::read_string(d, v);
  if (s && s->empty()) {
    out.clear();
  } else if (auto address = mailbox(d, v)) {
    out = *address;
  }
}

void parse_feedback_addresses(Diagnostics& d, const Value& v, std::vector<std::string>& out) {
  auto items = detail::read_list(d, v);
  if (v.node.IsSequence() && items.empty()) {
    d.error(v.line, v.path,
            "must list at least one address (leave the key out for fbl@ and abuse@ "
            "relay.hostname)");
    return;
  }
  if (!v.node.IsSequence()) {
    return;  // absent, null (the defaults), or already reported as not a list
  }
  SeenValues seen;
  std::vector<std::string> addresses;
  for (const auto& item : items) {
    // Lowercased: the listener compares the whole address case-insensitively.
    if (auto address = mailbox(d, item); address && seen.first(d, item, lower(*address))) {
      addresses.push_back(lower(*address));
    }
  }
  out = std::move(addresses);
}

// A DNS zone name: at least two dot-separated labels. '_' is allowed because
// some lists use it in zone names; the daemon normalises the name again.
bool is_zone_name(const std::string& text) {
  return text.size() <= 254 && matches(text, "([A-Za-z0-9_-]{1,63}\\.)+[A-Za-z0-9_-]{1,63}\\.?");
}

struct CodeSpan {
  std::uint32_t first = 0;  // host byte order
  std::uint32_t last = 0;
};

std::optional<std::uint32_t> ipv4_of(const std::string& text) {
  in_addr address{};
  if (inet_pton(AF_INET, text.c_str(), &address) != 1) {
    return std::nullopt;
  }
  return ntohl(address.s_addr);
}

// "127.0.0.2", "127.0.0.2-127.0.0.11" or "127.255.255.0/24"; the same forms
// abuse/dnsbl/zone_config.hpp reads.
Result<CodeSpan> code_span(const std::string& text) {
  const auto bad = [&] {
    return make_error(quote_value(text) +
                      " is not a DNSBL answer code (an IPv4 address, a range such as "
                      "127.0.0.2-127.0.0.11 or a prefix such as 127.255.255.0/24)");
  };
  if (const auto slash = text.find('/'); slash != std::string::npos) {
    auto base = ipv4_of(text.substr(0, slash));
    const std::string length_text = text.substr(slash + 1);
    unsigned length = 0;
    auto [ptr, ec] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (!base || length_text.empty() || ec != std::errc{} ||
        ptr != length_text.data() + length_text.size() || length > 32) {
      return bad();
    }
    const std::uint32_t mask = length == 0 ? 0 : ~std::uint32_t{0} << (32 - length);
    if ((*base & ~mask) != 0) {
      return make_error(quote_value(text) + " has host bits set");
    }
    return CodeSpan{*base, *base | ~mask};
  }
  if (const auto dash = text.find('-'); dash != std::string::npos) {
    auto first = ipv4_of(text.substr(0, dash));
    auto last = ipv4_of(text.substr(dash + 1));
    if (!first || !last) {
      return bad();
    }
    if (*first > *last) {
      return make_error(quote_value(text) + " ends before it starts");
    }
    return CodeSpan{*first, *last};
  }
  auto single = ipv4_of(text);
  if (!single) {
    return bad();
  }
  return CodeSpan{*single, *single};
}

struct ParsedCode {
  CodeSpan span;
  Value at;
};

std::vector<ParsedCode> parse_codes(Diagnostics& d, const Value& v, std::vector<std::string>& out) {
  std::vector<ParsedCode> parsed;
  for (const auto& item : detail::read_list(d, v)) {
    auto s = detail::read_string(d, item);
    if (!s) {
      continue;
    }
    auto span = code_span(*s);
    if (!span) {
      d.error(item.line, item.path, span.error().message);
      continue;
    }
    out.push_back(*s);
    parsed.push_back({*span, item});
  }
  return parsed;
}

std::string span_text(const CodeSpan& span) {
  const auto v4 = [](std::uint32_t value) {
    in_addr address{htonl(value)};
    char text[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &address, text, sizeof(text));
    return std::string(text);
  };
  return span.first == span.last ? v4(span.first) : v4(span.first) + "-" + v4(span.last);
}

void parse_dnsbl_zones(Diagnostics& d, const Value& v, std::vector<DnsblZone>& out) {
  // The defaults zone_config.hpp applies to an empty list (RFC 5782 listings,
  // the refusal block), so overlaps with them are caught here too.
  constexpr CodeSpan kDefaultListing{0x7f000002, 0x7f0000ff};
  constexpr CodeSpan kDefaultError{0x7fffff00, 0x7fffffff};
  constexpr CodeSpan kLoopback{0x7f000000, 0x7fffffff};
  SeenValues zones;
  for (const auto& item : detail::read_list(d, v)) {
    MapReader r(d, item);
    DnsblZone zone;
    bool ok = true;
    if (auto name = r.require("zone")) {
      auto s = detail::read_string(d, *name);
      if (s && !is_zone_name(*s)) {
        d.error(
            name->line, name->path,
            quote_value(*s) + " is not a DNS zone (at least two labels, e.g. zen.spamhaus.org)");
        ok = false;
      } else if (s) {
        std::string key = lower(*s);
        if (key.ends_with('.')) {
          key.pop_back();
        }
        ok = zones.first(d, *name, key);
        zone.zone = *s;
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
    auto listing = parse_codes(d, r.section("listing_codes"), zone.listing_codes);
    auto errors = parse_codes(d, r.section("error_codes"), zone.error_codes);
    real(r, d, "weight", zone.weight, {});
    r.finish();
    const std::vector<ParsedCode> listing_default{{kDefaultListing, r.section("listing_codes")}};
    const std::vector<ParsedCode> error_default{{kDefaultError, r.section("error_codes")}};
    const auto& listing_in_use = zone.listing_codes.empty() ? listing_default : listing;
    const auto& errors_in_use = zone.error_codes.empty() ? error_default : errors;
    for (const auto& code : listing) {
      if (code.span.first < kLoopback.first || code.span.last > kLoopback.last) {
        d.error(code.at.line, code.at.path,
                span_text(code.span) + " is outside 127.0.0.0/8, where no list answers");
        ok = false;
      }
    }
    // A refusal read as a listing would open a ticket against every tenant at once.
    for (const auto& code : listing_in_use) {
      for (const auto& error : errors_in_use) {
        if (code.span.first <= error.span.last && error.span.first <= code.span.last) {
          const Value& at = zone.listing_codes.empty() ? error.at : code.at;
          const char* which = zone.listing_codes.empty() ? " (the default listing codes)"
                              : zone.error_codes.empty() ? " (the default error codes)"
                                                         : "";
          d.error(at.line, at.path,
                  "listing code " + span_text(code.span) + " overlaps error code " +
                      span_text(error.span) + which);
          ok = false;
        }
      }
    }
    if (ok) {
      out.push_back(std::move(zone));
    }
  }
}

void parse_dnsbl(Diagnostics& d, const Value& v, DnsblConfig& out) {
  MapReader r(d, v);
  parse_dnsbl_zones(d, r.section("zones"), out.zones);
  r.duration("interval", out.interval, seconds{10}, 30 * kDay);
  r.number("queries_per_second", out.queries_per_second, 1, 1000);
  SeenValues seen;
  for (const auto& item : detail::read_list(d, r.section("addresses"))) {
    auto s = detail::read_string(d, item);
    if (s && !is_ip_address(*s)) {
      d.error(item.line, item.path, quote_value(*s) + " is not an IP address");
    } else if (s && seen.first(d, item, *s)) {
      out.addresses.push_back(*s);
    }
  }
  r.finish();
}

void parse_bounce_signals(Diagnostics& d, const Value& v, BounceSignalConfig& out) {
  MapReader r(d, v);
  r.duration("window", out.window, seconds{1}, 30 * kDay);
  r.number("min_messages", out.min_messages, 1, kMillion);
  real(r, d, "bounce_rate", out.bounce_rate, {0, true, 1, false});
  real(r, d, "unknown_recipient_rate", out.unknown_recipient_rate, {0, true, 1, false});
  r.finish();
}

void parse_egress_signals(Diagnostics& d, const Value& v, EgressSignalConfig& out) {
  MapReader r(d, v);
  r.number("min_attempts", out.min_attempts, 1, kMillion);
  r.number("min_destinations", out.min_destinations, 1, kMillion);
  r.finish();
}

void parse_volume_signals(Diagnostics& d, const Value& v, VolumeSignalConfig& out) {
  MapReader r(d, v);
  real(r, d, "factor", out.factor, {1, true, 1e6, false});
  r.number("min_messages", out.min_messages, 1, 100 * kMillion);
  r.finish();
}

// Given kinds replace their default; the others keep it. A key that is not a
// signal kind is refused by finish() as an unknown key.
void parse_weights(Diagnostics& d, const Value& v, std::map<std::string, double>& out) {
  MapReader r(d, v);
  for (const char* kind : {"dnsbl", "complaint", "bounce_rate", "unknown_recipients",
                           "rbl_rejection", "egress", "volume"}) {
    real(r, d, kind, out[kind], {});
  }
  r.finish();
}

void parse_actions(Diagnostics& d, const Value& v, std::map<std::string, AbuseAction>& out) {
  MapReader r(d, v);
  for (const char* category : {"spam", "compromised_host", "blacklisting", "complaint"}) {
    if (auto value = r.find(category)) {
      if (auto word = detail::read_word(d, *value, {"none", "throttle", "suspend", "block_host"})) {
        out[category] = *parse_abuse_action(*word);
      }
    }
  }
  r.finish();
}

// hostname is relay.hostname as loaded ("" when it was missing or bad, in
// which case that error is reported already and no defaults are derived).
void parse_abuse(Diagnostics& d, const Value& v, const std::string& hostname, AbuseConfig& out) {
  MapReader r(d, v);
  if (auto addresses = r.find("feedback_addresses")) {
    parse_feedback_addresses(d, *addresses, out.feedback_addresses);
  }
  if (auto from = r.find("notify_from")) {
    if (auto address = mailbox(d, *from)) {
      out.notify_from = *address;
    }
  }
  if (auto desk = r.find("desk_address")) {
    optional_mailbox(d, *desk, out.desk_address);
  }
  r.duration("score_window", out.score_window, seconds{1}, 365 * kDay);
  real(r, d, "ticket_threshold", out.ticket_threshold, {0, true});
  r.duration("signal_cooldown", out.signal_cooldown, seconds{0}, 30 * kDay);
  parse_weights(d, r.section("weights"), out.weights);
  parse_actions(d, r.section("actions"), out.actions);
  r.number("throttle_messages_per_minute", out.throttle_messages_per_minute, 1, kMillion);
  r.number("throttle_messages_per_hour", out.throttle_messages_per_hour, 1, 100 * kMillion);
  r.boolean("revoke_exceptions_on_ticket", out.revoke_exceptions_on_ticket);
  r.duration("reminder_after", out.reminder_after, seconds{1}, 90 * kDay);
  r.number("max_reminders", out.max_reminders, 0, 100);
  parse_dnsbl(d, r.section("dnsbl"), out.dnsbl);
  parse_bounce_signals(d, r.section("bounces"), out.bounces);
  parse_egress_signals(d, r.section("egress"), out.egress);
  parse_volume_signals(d, r.section("volume"), out.volume);
  r.finish();
  if (!hostname.empty()) {
    std::string domain = lower(hostname);
    if (domain.ends_with('.')) {
      domain.pop_back();
    }
    if (out.feedback_addresses.empty()) {
      out.feedback_addresses = {"fbl@" + domain, "abuse@" + domain};
    }
    if (out.notify_from.empty()) {
      out.notify_from = "abuse@" + domain;
    }
  }
}

// --- the file --------------------------------------------------------------

void parse_config(Diagnostics& d, const Value& root, Config& out) {
  if (!root.node.IsMap()) {
    d.error(root.line, "",
            "the file must be a mapping of sections (node, relay, delivery, firewall, plans, "
            "webhooks, abuse)");
    return;
  }
  MapReader r(d, root);
  parse_node(d, r.section("node"), out.node);
  parse_relay(d, r.section("relay"), out.relay);
  parse_delivery(d, r.section("delivery"), out.delivery);
  parse_firewall(d, r.section("firewall"), out.firewall);
  parse_plans(d, r.section("plans"), out.plans);
  parse_webhooks(d, r.section("webhooks"), out.webhooks);
  parse_abuse(d, r.section("abuse"), out.relay.hostname, out.abuse);
  r.finish();
}

// The one document of the file, or nullopt after reporting why there is none.
std::optional<YAML::Node> parse_yaml(Diagnostics& d, std::string_view text) {
  try {
    std::vector<YAML::Node> documents = YAML::LoadAll(std::string(text));
    if (documents.size() > 1) {
      auto mark = documents[1].Mark();
      d.error(mark.is_null() ? 0 : mark.line + 1, "",
              "the file holds more than one YAML document (remove the second '---')");
      return std::nullopt;
    }
    if (documents.empty() || documents[0].IsNull()) {
      d.error(0, "", "the file is empty");
      return std::nullopt;
    }
    return documents[0];
  } catch (const YAML::Exception& e) {
    d.error(e.mark.is_null() ? 0 : e.mark.line + 1, "", "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
  }
  out += ": ";
  if (!key.empty()) {
    out += key + ": ";
  }
  return out + message;
}

LoadResult load_config_string(std::string_view text, std::string file_name) {
  Diagnostics d(file_name);
  LoadResult result;
  auto root = parse_yaml(d, text);
  if (root) {
    Config config;
    config.source = file_name;
    const int line = root->Mark().is_null() ? 1 : root->Mark().line + 1;
    parse_config(d, Value{*root, "", line}, config);
    if (d.empty()) {
      result.config = std::move(config);
    }
  }
  result.errors = d.take();
  return result;
}

LoadResult load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(file, ec)) {
    const std::string reason = in ? "is a directory" : std::strerror(errno);
    LoadResult result;
    result.errors.push_back(ConfigError{file.string(), 0, "", "cannot read the file: " + reason});
    return result;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return load_config_string(text.str(), file.string());
}

}  // namespace portcullis::config
