#include "gateway/core/config/loader.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/core/config/values.hpp"

namespace portcullis::config {
namespace {

using std::chrono::seconds;

const std::filesystem::path kSourceDir = PORTCULLIS_SOURCE_DIR;

std::string errors_of(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

// A temporary directory holding a cert and a key file (contents unchecked by the loader).
class TempTlsFiles {
 public:
  TempTlsFiles() {
    dir_ = std::filesystem::temp_directory_path() /
           ("portcullis-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::ofstream(cert()) << "cert";
    std::ofstream(key()) << "key";
  }
  ~TempTlsFiles() { std::filesystem::remove_all(dir_); }
  std::filesystem::path cert() const { return dir_ / "cert.pem"; }
  std::filesystem::path key() const { return dir_ / "key.pem"; }

 private:
  std::filesystem::path dir_;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos)) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
  return text;
}

// Every key set to something other than its default.
constexpr const char* kFullConfig = R"(node:
  name: gw-7
  state_dir: /srv/portcullis
  control_socket: /run/pc/control.sock
  user: ""
  log_level: warning
relay:
  hostname: relay.gw.example
  listen:
    submission: ["198.18.0.1:587", "[fd00::1]:587"]
    smtps: ["198.18.0.1:465"]
    intercept: []
  tls:
    cert: CERT
    key: KEY
  limits:
    max_connections: 2000
    max_connections_per_client: 20
    max_command_line: 1024
    max_text_line: 2000
    max_message_size: 10M
    max_recipients: 200
    max_errors: 3
    idle_timeout: 90s
    session_timeout: 1h30m
  auth:
    max_failures: 3
    failure_window: 1h
    lockout: 1d
delivery:
  resolver: "198.18.0.53:5353"
  max_age: 2d
  retry_schedule: [30s, 2m, 2m, 1h]
  max_concurrency: 50
  max_per_destination: 5
  delay_notices: true
  routes:
    - {domain: "example.org", host: "198.18.2.10", port: 2525}
    - domain: "*"
      host: smarthost.example.net
  tls_policies:
    - {domain: example.org, policy: verify, ca_file: CERT}
    - {domain: example.net, policy: require}
  source_address: "198.18.0.7"
  tenant_source_addresses:
    - {tenant: acme, address: "198.18.0.8"}
    - {tenant: beta-2, address: "fd00::8"}
  connect_timeout: 20s
  command_timeout: 2m
  data_timeout: 15m
  queue_scan_interval: 5s
  retry_jitter: 0.25
firewall:
  enabled: true
  table: pc_test
  default_mode: redirect
  reject_with_reset: true
  nflog_group: 7
plans:
  small:
    monthly_quota: 1000
    messages_per_minute: 5
    messages_per_hour: 100
    recipients_per_message: 10
    recipients_per_hour: 200
    max_connections: 2
    max_message_size: 512K
    dedicated_ip: "198.18.0.99"
  big: {monthly_quota: 1000000}
)";

TEST(ConfigLoader, FullConfigRoundTrips) {
  TempTlsFiles files;
  std::string text = replace_all(kFullConfig, "CERT", files.cert().string());
  text = replace_all(text, "KEY", files.key().string());
  auto result = load_config_string(text, "full.yaml");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  const Config& c = *result.config;

  EXPECT_EQ(c.source, "full.yaml");
  EXPECT_EQ(c.node.name, "gw-7");
  EXPECT_EQ(c.node.state_dir, "/srv/portcullis");
  EXPECT_EQ(c.node.control_socket, "/run/pc/control.sock");
  EXPECT_EQ(c.node.user, "");
  EXPECT_EQ(c.node.log_level, log::Level::warning);

  EXPECT_EQ(c.relay.hostname, "relay.gw.example");
  EXPECT_EQ(c.relay.listen.submission,
            (std::vector<Endpoint>{{"198.18.0.1", 587}, {"fd00::1", 587}}));
  EXPECT_EQ(c.relay.listen.submission[1].to_string(), "[fd00::1]:587");
  EXPECT_EQ(c.relay.listen.smtps, (std::vector<Endpoint>{{"198.18.0.1", 465}}));
  EXPECT_TRUE(c.relay.listen.intercept.empty());
  EXPECT_EQ(c.relay.tls.cert, files.cert());
  EXPECT_EQ(c.relay.tls.key, files.key());

  const SmtpLimits& l = c.relay.limits;
  EXPECT_EQ(l.max_connections, 2000u);
  EXPECT_EQ(l.max_connections_per_client, 20u);
  EXPECT_EQ(l.max_command_line, 1024u);
  EXPECT_EQ(l.max_text_line, 2000u);
  EXPECT_EQ(l.max_message_size, 10u * 1024 * 1024);
  EXPECT_EQ(l.max_recipients, 200u);
  EXPECT_EQ(l.max_errors, 3u);
  EXPECT_EQ(l.idle_timeout, seconds(90));
  EXPECT_EQ(l.session_timeout, seconds(5400));
  EXPECT_EQ(c.relay.auth.max_failures, 3u);
  EXPECT_EQ(c.relay.auth.failure_window, seconds(3600));
  EXPECT_EQ(c.relay.auth.lockout, seconds(86400));

  const DeliveryConfig& d = c.delivery;
  ASSERT_TRUE(d.resolver.has_value());
  EXPECT_EQ(d.resolver->to_string(), "198.18.0.53:5353");
  EXPECT_EQ(d.max_age, seconds(2 * 86400));
  EXPECT_EQ(d.retry_schedule,
            (std::vector<seconds>{seconds(30), seconds(120), seconds(120), seconds(3600)}));
  EXPECT_EQ(d.max_concurrency, 50u);
  EXPECT_EQ(d.max_per_destination, 5u);
  EXPECT_TRUE(d.delay_notices);
  ASSERT_EQ(d.routes.size(), 2u);
  EXPECT_EQ(d.routes[0].domain, "example.org");
  EXPECT_EQ(d.routes[0].host, "198.18.2.10");
  EXPECT_EQ(d.routes[0].port, 2525);
  EXPECT_EQ(d.routes[1].domain, "*");
  EXPECT_EQ(d.routes[1].host, "smarthost.example.net");
  EXPECT_EQ(d.routes[1].port, 25);
  ASSERT_EQ(d.tls_policies.size(), 2u);
  EXPECT_EQ(d.tls_policies[0].domain, "example.org");
  EXPECT_EQ(d.tls_policies[0].policy, TlsPolicyKind::verify);
  EXPECT_EQ(d.tls_policies[0].ca_file, files.cert());
  EXPECT_EQ(d.tls_policies[1].policy, TlsPolicyKind::require);
  EXPECT_TRUE(d.tls_policies[1].ca_file.empty());
  EXPECT_EQ(d.source_address, "198.18.0.7");
  ASSERT_EQ(d.tenant_source_addresses.size(), 2u);
  EXPECT_EQ(d.tenant_source_addresses[0].tenant, "acme");
  EXPECT_EQ(d.tenant_source_addresses[0].address, "198.18.0.8");
  EXPECT_EQ(d.tenant_source_addresses[1].tenant, "beta-2");
  EXPECT_EQ(d.tenant_source_addresses[1].address, "fd00::8");
  EXPECT_EQ(d.connect_timeout, seconds(20));
  EXPECT_EQ(d.command_timeout, seconds(120));
  EXPECT_EQ(d.data_timeout, seconds(900));
  EXPECT_EQ(d.queue_scan_interval, seconds(5));
  EXPECT_DOUBLE_EQ(d.retry_jitter, 0.25);

  EXPECT_TRUE(c.firewall.enabled);
  EXPECT_EQ(c.firewall.table, "pc_test");
  EXPECT_EQ(c.firewall.default_mode, "redirect");
  EXPECT_TRUE(c.firewall.reject_with_reset);
  EXPECT_EQ(c.firewall.nflog_group, 7);

  ASSERT_EQ(c.plans.size(), 2u);
  const Plan& small = c.plans.at("small");
  EXPECT_EQ(small.monthly_quota, 1000u);
  EXPECT_EQ(small.messages_per_minute, 5u);
  EXPECT_EQ(small.messages_per_hour, 100u);
  EXPECT_EQ(small.recipients_per_message, 10u);
  EXPECT_EQ(small.recipients_per_hour, 200u);
  EXPECT_EQ(small.max_connections, 2u);
  EXPECT_EQ(small.max_message_size, 512u * 1024);
  EXPECT_EQ(small.dedicated_ip, "198.18.0.99");
  const Plan& big = c.plans.at("big");
  EXPECT_EQ(big.monthly_quota, 1000000u);
  EXPECT_EQ(big.messages_per_minute, Plan{}.messages_per_minute);
}

TEST(ConfigLoader, DefaultsApply) {
  auto result =
      load_config_string("node:\n  state_dir: /var/lib/pc\nrelay:\n  hostname: gw\n", "min.yaml");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  const Config& c = *result.config;
  EXPECT_FALSE(c.node.name.empty());
  EXPECT_EQ(c.node.control_socket, "/var/lib/pc/control.sock");
  EXPECT_EQ(c.node.log_level, log::Level::info);
  EXPECT_EQ(c.relay.listen.submission, (std::vector<Endpoint>{{"0.0.0.0", 587}}));
  EXPECT_EQ(c.relay.listen.smtps, (std::vector<Endpoint>{{"0.0.0.0", 465}}));
  EXPECT_EQ(c.relay.listen.intercept, (std::vector<Endpoint>{{"0.0.0.0", 2525}}));
  EXPECT_TRUE(c.relay.tls.cert.empty());
  EXPECT_TRUE(c.relay.tls.key.empty());
  EXPECT_EQ(c.relay.limits.max_command_line, 512u);
  EXPECT_EQ(c.relay.limits.max_text_line, 1000u);
  EXPECT_EQ(c.relay.limits.max_message_size, 25u * 1024 * 1024);
  EXPECT_EQ(c.relay.limits.idle_timeout, seconds(300));
  EXPECT_EQ(c.relay.limits.session_timeout, seconds(1800));
  EXPECT_EQ(c.relay.auth.lockout, seconds(900));
  EXPECT_FALSE(c.delivery.resolver.has_value());
  EXPECT_EQ(c.delivery.max_age, seconds(5 * 86400));
  EXPECT_EQ(c.delivery.retry_schedule.size(), 5u);
  EXPECT_TRUE(c.delivery.source_address.empty());
  EXPECT_TRUE(c.delivery.tenant_source_addresses.empty());
  EXPECT_EQ(c.delivery.connect_timeout, seconds(30));
  EXPECT_EQ(c.delivery.command_timeout, seconds(300));
  EXPECT_EQ(c.delivery.data_timeout, seconds(600));
  EXPECT_EQ(c.delivery.queue_scan_interval, seconds(10));
  EXPECT_DOUBLE_EQ(c.delivery.retry_jitter, 0.1);
  EXPECT_EQ(c.firewall.table, "portcullis");
  EXPECT_EQ(c.firewall.default_mode, "block");
  EXPECT_EQ(c.firewall.nflog_group, 25);
  EXPECT_TRUE(c.plans.empty());
}

TEST(ConfigLoader, EmptyValuesMeanEmpty) {
  auto result = load_config_string(
      "node:\n  state_dir: /s\n  user:\nrelay:\n  hostname: gw\n  listen:\n    submission: []\n"
      "    smtps:\n    intercept: ['[::]:2525']\ndelivery:\n  resolver: 198.18.0.53\n  routes:\n"
      "firewall:\nplans:\n  basic:\n",
      "e.yaml");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  EXPECT_TRUE(result.config->relay.listen.submission.empty());
  EXPECT_TRUE(result.config->relay.listen.smtps.empty());
  EXPECT_EQ(result.config->relay.listen.intercept[0].to_string(), "[::]:2525");
  EXPECT_EQ(result.config->delivery.resolver->to_string(), "198.18.0.53:53");
  EXPECT_EQ(result.config->plans.count("basic"), 1u);
}

struct BrokenCase {
  std::string yaml;
  std::string error;  // the only error expected, exactly
};

constexpr const char* kHead = "node:\n  state_dir: /s\nrelay:\n  hostname: gw.example\n";

std::string with_head(const std::string& rest) {
  return kHead + rest;
}

TEST(ConfigLoader, BrokenSnippetsReportExactErrors) {
  const std::vector<BrokenCase> cases = {
      {"", "t.yaml: the file is empty"},
      {"# just a comment\n", "t.yaml: the file is empty"},
      {"- a\n- b\n",
       "t.yaml:1: the file must be a mapping of sections (node, relay, delivery, firewall, "
       "plans, webhooks, abuse)"},
      {"node:\n  state_dir: /s\n   x: 1\n", "t.yaml:3: YAML syntax error: illegal map value"},
      {"a: 1\n---\nb: 2\n",
       "t.yaml:3: the file holds more than one YAML document (remove the second '---')"},
      {"relay:\n  hostname: gw\n", "t.yaml:1: node.state_dir: required key is missing"},
      {"node:\n  state_dir: /s\nrelay:\n  listen: {}\n",
       "t.yaml:3: relay.hostname: required key is missing"},
      {"node:\n  state_dir: /s\n", "t.yaml:1: relay.hostname: required key is missing"},
      {with_head("colour: red\n"),
       "t.yaml:5: colour: unknown key 'colour' (expected node, relay, delivery, firewall, "
       "plans, webhooks or abuse)"},
      {with_head("firewall:\n  tabel: x\n"),
       "t.yaml:6: firewall.tabel: unknown key 'tabel' (did you mean 'table'?)"},
      {"node:\n  state_dir: /s\n  state_dir: /t\nrelay:\n  hostname: gw\n",
       "t.yaml:3: node.state_dir: duplicate key (first on line 2)"},
      {"node:\n  state_dir: s\nrelay:\n  hostname: gw\n",
       "t.yaml:2: node.state_dir: must be an absolute path, got 's'"},
      {"node:\n  state_dir: /s\n  log_level: loud\nrelay:\n  hostname: gw\n",
       "t.yaml:3: node.log_level: unknown value 'loud' (expected debug, info, warning or error)"},
      {"node:\n  state_dir: /s\n  user: no-such-user-here\nrelay:\n  hostname: gw\n",
       "t.yaml:3: node.user: no such user 'no-such-user-here'"},
      {"node:\n  state_dir: /s\n  name: 'a b'\nrelay:\n  hostname: gw\n",
       "t.yaml:3: node.name: 'a b' is not a valid node name (letters, digits, '.', '_', '-')"},
      {"node: [1]\nrelay:\n  hostname: gw\n", "t.yaml:1: node: expected a mapping, got a list"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: -gw\n",
       "t.yaml:4: relay.hostname: '-gw' is not a valid host name"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    submission: "
       "['0.0.0.0:99999']\n",
       "t.yaml:6: relay.listen.submission[0]: '0.0.0.0:99999' is not a valid port (1-65535)"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    smtps: ['1.2.3.4:0']\n",
       "t.yaml:6: relay.listen.smtps[0]: '1.2.3.4:0' is not a valid port (1-65535)"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    smtps: ['1.2.3.4:x']\n",
       "t.yaml:6: relay.listen.smtps[0]: '1.2.3.4:x' is not a valid port (1-65535)"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    intercept:\n"
       "      - 198.18.0.1:2525\n      - localhost:2525\n",
       "t.yaml:8: relay.listen.intercept[1]: 'localhost:2525': 'localhost' is not an IP address"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    intercept: ['::1:25']\n",
       "t.yaml:6: relay.listen.intercept[0]: '::1:25': an IPv6 address needs brackets, e.g. "
       "[::1]:587"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    intercept: ['[::1]']\n",
       "t.yaml:6: relay.listen.intercept[0]: '[::1]' has no port (e.g. 0.0.0.0:587 or "
       "[::]:587)"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    intercept: "
       "['0.0.0.0:587']\n",
       "t.yaml:6: relay.listen.intercept[0]: '0.0.0.0:587' is already used by "
       "relay.listen.submission (default)"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  listen:\n    smtps: 0.0.0.0:465\n",
       "t.yaml:6: relay.listen.smtps: expected a list, got '0.0.0.0:465'"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  tls:\n    key: /etc/hostname\n",
       "t.yaml:5: relay.tls.cert: must be set together with relay.tls.key (leave both empty for a "
       "generated self-signed pair)"},
      {"node:\n  state_dir: /s\nrelay:\n  hostname: gw\n  tls:\n    cert: /no/such.pem\n"
       "    key: /etc/hostname\n",
       "t.yaml:6: relay.tls.cert: '/no/such.pem' is not a readable file"},
      {with_head("  limits:\n    max_command_line: 100\n"),
       "t.yaml:6: relay.limits.max_command_line: must be between 512 and 65536, got 100"},
      {with_head("  limits:\n    max_text_line: 999\n"),
       "t.yaml:6: relay.limits.max_text_line: must be between 1000 and 65536, got 999"},
      {with_head("  limits:\n    max_connections: -1\n"),
       "t.yaml:6: relay.limits.max_connections: must be between 1 and 1000000, got -1"},
      {with_head("  limits:\n    max_connections: 99999999999999999999999\n"),
       "t.yaml:6: relay.limits.max_connections: must be between 1 and 1000000, got "
       "99999999999999999999999"},
      {with_head("  limits:\n    max_errors: 1.5\n"),
       "t.yaml:6: relay.limits.max_errors: expected a number, got '1.5'"},
      {with_head("  limits:\n    max_errors:\n"),
       "t.yaml:6: relay.limits.max_errors: expected a number, got nothing"},
      {with_head("  limits:\n    max_errors: {a: 1}\n"),
       "t.yaml:6: relay.limits.max_errors: expected a number, got a mapping"},
      {with_head("  limits:\n    max_message_size: 25MB\n"),
       "t.yaml:6: relay.limits.max_message_size: '25MB' is not a size (use bytes or a number "
       "with K, M or G, e.g. 25M)"},
      {with_head("  limits:\n    max_message_size: 512\n"),
       "t.yaml:6: relay.limits.max_message_size: must be between 1K and 2G, got 512"},
      {with_head("  limits:\n    idle_timeout: 0s\n"),
       "t.yaml:6: relay.limits.idle_timeout: must be between 1s and 1d, got 0s"},
      {with_head("  limits:\n    idle_timeout: 10\n"),
       "t.yaml:6: relay.limits.idle_timeout: '10' is not a duration (use e.g. 30s, 5m, 1h, 5d)"},
      {with_head("  limits:\n    idle_timeout: 1h\n    session_timeout: 10m\n"),
       "t.yaml:6: relay.limits.idle_timeout: 1h is longer than session_timeout (10m)"},
      {with_head("  limits:\n    max_connections: 10\n"),
       "t.yaml:5: relay.limits.max_connections_per_client: 50 is more than max_connections (10)"},
      {with_head("  auth:\n    lockout: 8d\n"),
       "t.yaml:6: relay.auth.lockout: must be between 1s and 7d, got 8d"},
      {with_head("delivery:\n  resolver: dns:53\n"),
       "t.yaml:6: delivery.resolver: 'dns:53': 'dns' is not an IP address"},
      {with_head("delivery:\n  retry_schedule: []\n"),
       "t.yaml:6: delivery.retry_schedule: must list at least one retry interval"},
      {with_head("delivery:\n  retry_schedule: [5m, 1m]\n"),
       "t.yaml:6: delivery.retry_schedule[1]: 1m is shorter than the step before it (5m)"},
      {with_head("delivery:\n  max_concurrency: 5\n"),
       "t.yaml:5: delivery.max_per_destination: 10 is more than max_concurrency (5)"},
      {with_head("delivery:\n  delay_notices: maybe\n"),
       "t.yaml:6: delivery.delay_notices: expected true or false, got 'maybe'"},
      {with_head("delivery:\n  routes:\n    - {host: 198.18.2.10}\n"),
       "t.yaml:7: delivery.routes[0].domain: required key is missing"},
      {with_head("delivery:\n  routes:\n    - {domain: 'a b', host: h}\n"),
       "t.yaml:7: delivery.routes[0].domain: 'a b' is not a domain (a host name, or * for every "
       "domain)"},
      {with_head("delivery:\n  routes:\n    - {domain: a.example, host: h, port: 70000}\n"),
       "t.yaml:7: delivery.routes[0].port: must be between 1 and 65535, got 70000"},
      {with_head("delivery:\n  routes:\n    - {domain: a.example, host: h, prot: 25}\n"),
       "t.yaml:7: delivery.routes[0].prot: unknown key 'prot' (did you mean 'port'?)"},
      {with_head("delivery:\n  tls_policies:\n    - {domain: a.example, policy: always}\n"),
       "t.yaml:7: delivery.tls_policies[0].policy: unknown value 'always' (expected "
       "opportunistic, require or verify)"},
      {with_head("delivery:\n  tls_policies:\n    - {domain: a.example, policy: verify}\n"
                 "    - {domain: a.example, policy: require}\n"),
       "t.yaml:8: delivery.tls_policies[1].domain: 'a.example' is already used by "
       "delivery.tls_policies[0].domain"},
      {with_head("delivery:\n  tls_policies:\n    - {domain: a.example, policy: verify, "
                 "ca_file: /nonexistent/ca.pem}\n"),
       "t.yaml:7: delivery.tls_policies[0].ca_file: '/nonexistent/ca.pem' is not a readable file"},
      {with_head("delivery:\n  tls_policies:\n    - {domain: a.example, policy: verify, "
                 "ca_file: ca.pem}\n"),
       "t.yaml:7: delivery.tls_policies[0].ca_file: must be an absolute path, got 'ca.pem'"},
      {with_head("delivery:\n  tls_policies:\n    - {domain: a.example, policy: require, "
                 "ca_file: /etc/hostname}\n"),
       "t.yaml:7: delivery.tls_policies[0].ca_file: only applies to policy verify (this policy "
       "is require)"},
      {with_head("delivery:\n  source_address: 198.18.0\n"),
       "t.yaml:6: delivery.source_address: '198.18.0' is not an IP address"},
      {with_head("delivery:\n  tenant_source_addresses:\n    - {tenant: acme}\n"),
       "t.yaml:7: delivery.tenant_source_addresses[0].address: required key is missing"},
      {with_head("delivery:\n  tenant_source_addresses:\n    - {tenant: Acme, address: "
                 "198.18.0.8}\n"),
       "t.yaml:7: delivery.tenant_source_addresses[0].tenant: 'Acme' is not a tenant id "
       "(lower-case letters, digits, '_', '-')"},
      {with_head("delivery:\n  tenant_source_addresses:\n    - {tenant: acme, address: "
                 "mx.example}\n"),
       "t.yaml:7: delivery.tenant_source_addresses[0].address: 'mx.example' is not an IP "
       "address"},
      {with_head("delivery:\n  tenant_source_addresses:\n    - {tenant: acme, address: "
                 "198.18.0.8}\n    - {tenant: acme, address: 198.18.0.9}\n"),
       "t.yaml:8: delivery.tenant_source_addresses[1].tenant: 'acme' is already used by "
       "delivery.tenant_source_addresses[0].tenant"},
      {with_head("delivery:\n  connect_timeout: 0s\n"),
       "t.yaml:6: delivery.connect_timeout: must be between 1s and 10m, got 0s"},
      {with_head("delivery:\n  data_timeout: 2h\n"),
       "t.yaml:6: delivery.data_timeout: must be between 1s and 1h, got 2h"},
      {with_head("delivery:\n  retry_jitter: 1.5\n"),
       "t.yaml:6: delivery.retry_jitter: must be between 0 and 1, got 1.5"},
      {with_head("delivery:\n  retry_jitter: lots\n"),
       "t.yaml:6: delivery.retry_jitter: expected a number between 0 and 1, got 'lots'"},
      {with_head("firewall:\n  default_mode: drop\n"),
       "t.yaml:6: firewall.default_mode: unknown value 'drop' (expected block, redirect or "
       "exempt)"},
      {with_head("firewall:\n  table: 'my table'\n"),
       "t.yaml:6: firewall.table: 'my table' is not a valid nftables table name (a letter, then "
       "letters, digits or '_', at most 32)"},
      {with_head("plans:\n  basic:\n    monthly_quota: 0\n"),
       "t.yaml:7: plans.basic.monthly_quota: must be between 1 and 1000000000, got 0"},
      {with_head("plans:\n  basic:\n    dedicated_ip: 198.18.0\n"),
       "t.yaml:7: plans.basic.dedicated_ip: '198.18.0' is not an IP address"},
      {with_head("plans:\n  Basic Plan: {}\n"),
       "t.yaml:6: plans.Basic Plan: 'Basic Plan' is not a valid plan name (lower-case letters, "
       "digits, '_', '-')"},
      {with_head("plans: [basic]\n"), "t.yaml:5: plans: expected a mapping, got a list"},
      {with_head("plans:\n  basic: 5\n"), "t.yaml:6: plans.basic: expected a mapping, got '5'"},
  };
  for (const auto& c : cases) {
    auto result = load_config_string(c.yaml, "t.yaml");
    EXPECT_FALSE(result.ok()) << c.yaml;
    EXPECT_EQ(errors_of(result), c.error + "\n") << "for YAML:\n" << c.yaml;
  }
}

TEST(ConfigLoader, ReportsEveryErrorInOneFile) {
  auto result = load_config_string(
      "node:\n"
      "  state_dir: relative\n"
      "  colour: red\n"
      "relay:\n"
      "  listen:\n"
      "    submission: ['0.0.0.0:99999']\n"
      "  limits:\n"
      "    max_command_line: 10\n"
      "firewall:\n"
      "  default_mode: drop\n",
      "many.yaml");
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(errors_of(result),
            "many.yaml:2: node.state_dir: must be an absolute path, got 'relative'\n"
            "many.yaml:3: node.colour: unknown key 'colour' (expected name, state_dir, "
            "control_socket, user, log_level, retention or min_free_space)\n"
            "many.yaml:4: relay.hostname: required key is missing\n"
            "many.yaml:6: relay.listen.submission[0]: '0.0.0.0:99999' is not a valid port "
            "(1-65535)\n"
            "many.yaml:8: relay.limits.max_command_line: must be between 512 and 65536, got 10\n"
            "many.yaml:10: firewall.default_mode: unknown value 'drop' (expected block, redirect "
            "or exempt)\n");
}

TEST(ConfigLoader, ControlCharactersInValuesAreEscaped) {
  auto result = load_config_string(with_head("firewall:\n  table: \"a\\tb\\u0007\"\n"), "t.yaml");
  EXPECT_NE(errors_of(result).find("'a\\tb\\x07' is not a valid nftables table name"),
            std::string::npos)
      << errors_of(result);
}

TEST(ConfigLoader, UnreadableFileIsOneError) {
  auto result = load_config("/no/such/dir/portcullis.yaml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(),
            "/no/such/dir/portcullis.yaml: cannot read the file: No such file or directory");
}

TEST(ConfigLoader, BundledApplianceConfigLoads) {
  auto result = load_config(kSourceDir / "images/portcullis.yaml");
  ASSERT_TRUE(result.ok()) << errors_of(result);
  const Config& c = *result.config;
  EXPECT_EQ(c.node.state_dir, "/var/lib/portcullis");
  EXPECT_EQ(c.relay.listen.submission, (std::vector<Endpoint>{{"0.0.0.0", 587}}));
  EXPECT_EQ(c.relay.listen.smtps, (std::vector<Endpoint>{{"0.0.0.0", 465}}));
  EXPECT_EQ(c.relay.listen.intercept, (std::vector<Endpoint>{{"0.0.0.0", 2525}}));
  EXPECT_EQ(c.plans.at("starter").monthly_quota, 25000u);
  EXPECT_EQ(c.plans.at("business").monthly_quota, 50000u);
  EXPECT_EQ(c.plans.at("pro").monthly_quota, 100000u);
  EXPECT_EQ(c.plans.at("enterprise").monthly_quota, 250000u);
}

// Each tests/data/config/broken/*.yaml starts with "# expect: <substring>"
// lines that `portcullisd --check` must print; the loader must produce them.
TEST(ConfigLoader, BrokenDataFilesReportTheirExpectedErrors) {
  const auto dir = kSourceDir / "tests/data/config/broken";
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().extension() != ".yaml") {
      continue;
    }
    ++files;
    auto result = load_config(entry.path());
    EXPECT_FALSE(result.ok()) << entry.path();
    const std::string output = errors_of(result);
    std::ifstream in(entry.path());
    std::string line;
    int expects = 0;
    while (std::getline(in, line) && line.starts_with("# expect: ")) {
      ++expects;
      const std::string wanted = line.substr(std::string("# expect: ").size());
      EXPECT_NE(output.find(wanted), std::string::npos)
          << entry.path() << " should report:\n  " << wanted << "\nbut reported:\n"
          << output;
    }
    EXPECT_GT(expects, 0) << entry.path() << " has no '# expect: ' line";
  }
  EXPECT_GE(files, 10);
}

}  // namespace
}  // namespace portcullis::config
