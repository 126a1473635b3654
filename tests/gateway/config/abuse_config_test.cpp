// The abuse section and relay.listen.feedback: defaults (some derived from
// relay.hostname), every key read, and each bad value reported with file,
// line and key.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gateway/core/config/loader.hpp"

namespace portcullis::config {
namespace {

using std::chrono::seconds;

// Four lines; an abuse: section appended to it starts on line 5.
const std::string kBase =
    "node:\n  state_dir: /var/lib/pc\nrelay:\n  hostname: Relay.Example.NET\n";

std::string errors_of(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

LoadResult load(const std::string& abuse) {
  return load_config_string(kBase + abuse, "a.yaml");
}

// Loads kBase + text and expects exactly one error, starting with `prefix`
// ("a.yaml:LINE: KEY: ") and containing `message`.
void expect_one_error(const std::string& text,
                      const std::string& prefix,
                      const std::string& message = "") {
  auto r = load(text);
  const auto all = errors_of(r);
  EXPECT_FALSE(r.config) << text;
  ASSERT_EQ(r.errors.size(), 1u) << text << "\n" << all;
  const auto line = r.errors[0].to_string();
  EXPECT_TRUE(line.starts_with(prefix)) << "want prefix " << prefix << "\ngot " << line;
  EXPECT_NE(line.find(message), std::string::npos) << "want " << message << "\ngot " << line;
}

TEST(AbuseConfig, Defaults) {
  auto r = load("");
  ASSERT_TRUE(r.config) << errors_of(r);
  const AbuseConfig& a = r.config->abuse;
  EXPECT_EQ(a.feedback_addresses,
            (std::vector<std::string>{"fbl@relay.example.net", "abuse@relay.example.net"}));
  EXPECT_EQ(a.notify_from, "abuse@relay.example.net");
  EXPECT_EQ(a.desk_address, "");
  EXPECT_EQ(a.score_window, seconds(7 * 86400));
  EXPECT_EQ(a.ticket_threshold, 10);
  EXPECT_EQ(a.signal_cooldown, seconds(86400));
  EXPECT_EQ(a.weights.size(), 7u);
  EXPECT_EQ(a.weights.at("dnsbl"), 10);
  EXPECT_EQ(a.weights.at("complaint"), 2);
  EXPECT_EQ(a.weights.at("bounce_rate"), 10);
  EXPECT_EQ(a.weights.at("unknown_recipients"), 5);
  EXPECT_EQ(a.weights.at("rbl_rejection"), 5);
  EXPECT_EQ(a.weights.at("egress"), 10);
  EXPECT_EQ(a.weights.at("volume"), 5);
  EXPECT_EQ(a.actions.size(), 4u);
  EXPECT_EQ(a.actions.at("spam"), AbuseAction::none);
  EXPECT_EQ(a.actions.at("compromised_host"), AbuseAction::block_host);
  EXPECT_EQ(a.actions.at("blacklisting"), AbuseAction::none);
  EXPECT_EQ(a.actions.at("complaint"), AbuseAction::none);
  EXPECT_EQ(a.throttle_messages_per_minute, 5u);
  EXPECT_EQ(a.throttle_messages_per_hour, 50u);
  EXPECT_TRUE(a.revoke_exceptions_on_ticket);
  EXPECT_EQ(a.reminder_after, seconds(3 * 86400));
  EXPECT_EQ(a.max_reminders, 2u);
  EXPECT_TRUE(a.dnsbl.zones.empty());
  EXPECT_EQ(a.dnsbl.interval, seconds(3600));
  EXPECT_EQ(a.dnsbl.queries_per_second, 5u);
  EXPECT_TRUE(a.dnsbl.addresses.empty());
  EXPECT_EQ(a.bounces.window, seconds(3600));
  EXPECT_EQ(a.bounces.min_messages, 20u);
  EXPECT_DOUBLE_EQ(a.bounces.bounce_rate, 0.10);
  EXPECT_DOUBLE_EQ(a.bounces.unknown_recipient_rate, 0.05);
  EXPECT_EQ(a.egress.min_attempts, 100u);
  EXPECT_EQ(a.egress.min_destinations, 20u);
  EXPECT_EQ(a.volume.factor, 10);
  EXPECT_EQ(a.volume.min_messages, 200u);
  EXPECT_TRUE(r.config->relay.listen.feedback.empty());
}

TEST(AbuseConfig, NullSectionsKeepTheDefaults) {
  auto r = load("abuse:\n  feedback_addresses:\n  weights:\n  dnsbl:\n");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_EQ(r.config->abuse.feedback_addresses.size(), 2u);
  EXPECT_EQ(r.config->abuse.weights.at("dnsbl"), 10);
}

TEST(AbuseConfig, EveryKeyIsRead) {
  auto r = load_config_string(kBase + R"(  listen:
    feedback: ["127.0.0.1:2526", "[::1]:2526"]
abuse:
  feedback_addresses: [FBL@Relay.Example.NET, "complaints@example.org"]
  notify_from: desk@example.org
  desk_address: abuse-desk@example.org
  score_window: 2d
  ticket_threshold: 7.5
  signal_cooldown: 0s
  weights: {complaint: 3.5, volume: 0}
  actions: {spam: throttle, compromised_host: suspend, blacklisting: block_host, complaint: none}
  throttle_messages_per_minute: 2
  throttle_messages_per_hour: 20
  revoke_exceptions_on_ticket: false
  reminder_after: 12h
  max_reminders: 0
  dnsbl:
    zones:
      - zone: zen.spamhaus.org
        listing_codes: ["127.0.0.2-127.0.0.11"]
        error_codes: ["127.255.255.0/24"]
        weight: 2
      - {zone: bl.test_lab.example., weight: 0}
    interval: 10s
    queries_per_second: 1000
    addresses: ["198.51.100.7", "2001:db8::25"]
  bounces: {window: 30m, min_messages: 5, bounce_rate: 1, unknown_recipient_rate: 0.25}
  egress: {min_attempts: 10, min_destinations: 3}
  volume: {factor: 1.5, min_messages: 1}
)",
                              "a.yaml");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_EQ(r.config->relay.listen.feedback,
            (std::vector<Endpoint>{{"127.0.0.1", 2526}, {"::1", 2526}}));
  const AbuseConfig& a = r.config->abuse;
  EXPECT_EQ(a.feedback_addresses,
            (std::vector<std::string>{"fbl@relay.example.net", "complaints@example.org"}));
  EXPECT_EQ(a.notify_from, "desk@example.org");
  EXPECT_EQ(a.desk_address, "abuse-desk@example.org");
  EXPECT_EQ(a.score_window, seconds(2 * 86400));
  EXPECT_DOUBLE_EQ(a.ticket_threshold, 7.5);
  EXPECT_EQ(a.signal_cooldown, seconds(0));
  EXPECT_DOUBLE_EQ(a.weights.at("complaint"), 3.5);
  EXPECT_EQ(a.weights.at("volume"), 0);
  EXPECT_EQ(a.weights.at("dnsbl"), 10);  // not given: its default
  EXPECT_EQ(a.weights.size(), 7u);
  EXPECT_EQ(a.actions.at("spam"), AbuseAction::throttle);
  EXPECT_EQ(a.actions.at("compromised_host"), AbuseAction::suspend);
  EXPECT_EQ(a.actions.at("blacklisting"), AbuseAction::block_host);
  EXPECT_EQ(a.actions.at("complaint"), AbuseAction::none);
  EXPECT_EQ(a.throttle_messages_per_minute, 2u);
  EXPECT_EQ(a.throttle_messages_per_hour, 20u);
  EXPECT_FALSE(a.revoke_exceptions_on_ticket);
  EXPECT_EQ(a.reminder_after, seconds(12 * 3600));
  EXPECT_EQ(a.max_reminders, 0u);
  ASSERT_EQ(a.dnsbl.zones.size(), 2u);
  EXPECT_EQ(a.dnsbl.zones[0].zone, "zen.spamhaus.org");
  EXPECT_EQ(a.dnsbl.zones[0].listing_codes, (std::vector<std::string>{"127.0.0.2-127.0.0.11"}));
  EXPECT_EQ(a.dnsbl.zones[0].error_codes, (std::vector<std::string>{"127.255.255.0/24"}));
  EXPECT_EQ(a.dnsbl.zones[0].weight, 2);
  EXPECT_EQ(a.dnsbl.zones[1].zone, "bl.test_lab.example.");
  EXPECT_TRUE(a.dnsbl.zones[1].listing_codes.empty());
  EXPECT_TRUE(a.dnsbl.zones[1].error_codes.empty());
  EXPECT_EQ(a.dnsbl.zones[1].weight, 0);
  EXPECT_EQ(a.dnsbl.interval, seconds(10));
  EXPECT_EQ(a.dnsbl.queries_per_second, 1000u);
  EXPECT_EQ(a.dnsbl.addresses, (std::vector<std::string>{"198.51.100.7", "2001:db8::25"}));
  EXPECT_EQ(a.bounces.window, seconds(1800));
  EXPECT_EQ(a.bounces.min_messages, 5u);
  EXPECT_EQ(a.bounces.bounce_rate, 1.0);
  EXPECT_DOUBLE_EQ(a.bounces.unknown_recipient_rate, 0.25);
  EXPECT_EQ(a.egress.min_attempts, 10u);
  EXPECT_EQ(a.egress.min_destinations, 3u);
  EXPECT_DOUBLE_EQ(a.volume.factor, 1.5);
  EXPECT_EQ(a.volume.min_messages, 1u);
}

TEST(AbuseConfig, FeedbackListenerJoinsTheDuplicateEndpointCheck) {
  auto r = load_config_string(kBase + "  listen:\n    feedback: [\"0.0.0.0:587\"]\n", "a.yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.errors.size(), 1u) << errors_of(r);
  EXPECT_EQ(r.errors[0].to_string(),
            "a.yaml:6: relay.listen.feedback[0]: '0.0.0.0:587' is already used by "
            "relay.listen.submission (default)");

  expect_one_error("  listen:\n    feedback: [\"0.0.0.0:25\", \"198.18.0.1:25\"]\n",
                   "a.yaml:6: relay.listen.feedback[1]: ", "overlaps '0.0.0.0:25'");
  expect_one_error("  listen:\n    feedback: [\"0.0.0.0\"]\n",
                   "a.yaml:6: relay.listen.feedback[0]: ");
}

TEST(AbuseConfig, BadScalarsNameFileLineAndKey) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"notify_from: \"abuse at example.org\"", "abuse.notify_from"},
      {"notify_from: \"abuse@example.org\\r\\nBcc: x@y.z\"", "abuse.notify_from"},
      {"notify_from: \"\"", "abuse.notify_from"},
      {"desk_address: \"<desk@example.org>\"", "abuse.desk_address"},
      {"desk_address: desk@", "abuse.desk_address"},
      {"desk_address: a@b@example.org", "abuse.desk_address"},
      {"score_window: 0s", "abuse.score_window"},
      {"score_window: soon", "abuse.score_window"},
      {"ticket_threshold: 0", "abuse.ticket_threshold"},
      {"ticket_threshold: -1", "abuse.ticket_threshold"},
      {"ticket_threshold: .inf", "abuse.ticket_threshold"},
      {"ticket_threshold: nan", "abuse.ticket_threshold"},
      {"signal_cooldown: -1s", "abuse.signal_cooldown"},
      {"throttle_messages_per_minute: 0", "abuse.throttle_messages_per_minute"},
      {"throttle_messages_per_hour: 0", "abuse.throttle_messages_per_hour"},
      {"revoke_exceptions_on_ticket: maybe", "abuse.revoke_exceptions_on_ticket"},
      {"reminder_after: 0s", "abuse.reminder_after"},
      {"max_reminders: 101", "abuse.max_reminders"},
      {"weights: {complaint: -1}", "abuse.weights.complaint"},
      {"weights: {dnsbl: lots}", "abuse.weights.dnsbl"},
      {"weights: [dnsbl]", "abuse.weights"},
      {"actions: {spam: quarantine}", "abuse.actions.spam"},
      {"feedback_addresses: []", "abuse.feedback_addresses"},
      {"feedback_addresses: fbl@example.org", "abuse.feedback_addresses"},
      {"feedback_addresses: [\"fbl@example.org\", \"FBL@example.org\"]",
       "abuse.feedback_addresses[1]"},
      {"feedback_addresses: [\"fbl example.org\"]", "abuse.feedback_addresses[0]"},
      {"dnsbl: {interval: 9s}", "abuse.dnsbl.interval"},
      {"dnsbl: {queries_per_second: 0}", "abuse.dnsbl.queries_per_second"},
      {"dnsbl: {queries_per_second: 1001}", "abuse.dnsbl.queries_per_second"},
      {"dnsbl: {addresses: [\"relay.example.net\"]}", "abuse.dnsbl.addresses[0]"},
      {"dnsbl: {addresses: [\"192.0.2.1\", \"192.0.2.1\"]}", "abuse.dnsbl.addresses[1]"},
      {"bounces: {window: 0s}", "abuse.bounces.window"},
      {"bounces: {min_messages: 0}", "abuse.bounces.min_messages"},
      {"bounces: {bounce_rate: 0}", "abuse.bounces.bounce_rate"},
      {"bounces: {bounce_rate: 1.5}", "abuse.bounces.bounce_rate"},
      {"bounces: {unknown_recipient_rate: 0}", "abuse.bounces.unknown_recipient_rate"},
      {"egress: {min_attempts: 0}", "abuse.egress.min_attempts"},
      {"egress: {min_destinations: 0}", "abuse.egress.min_destinations"},
      {"volume: {factor: 1}", "abuse.volume.factor"},
      {"volume: {min_messages: 0}", "abuse.volume.min_messages"},
  };
  for (const auto& [line, key] : cases) {
    SCOPED_TRACE(line);
    expect_one_error("abuse:\n  " + line + "\n", "a.yaml:6: " + key + ": ");
  }
}

TEST(AbuseConfig, MessagesSayWhatIsWrong) {
  expect_one_error("abuse:\n  ticket_threshold: 0\n",
                   "a.yaml:6: abuse.ticket_threshold: ", "must be more than 0, got 0");
  expect_one_error(
      "abuse:\n  bounces:\n    bounce_rate: 2\n",
      "a.yaml:7: abuse.bounces.bounce_rate: ", "must be more than 0 and at most 1, got 2");
  expect_one_error("abuse:\n  desk_address: \"desk @example.org\"\n",
                   "a.yaml:6: abuse.desk_address: ", "is not a mail address");
}

TEST(AbuseConfig, UnknownKeysAreRefused) {
  expect_one_error("abuse:\n  ticket_treshold: 5\n", "a.yaml:6: abuse.ticket_treshold: ",
                   "unknown key 'ticket_treshold' (did you mean 'ticket_threshold'?)");
  expect_one_error("abuse:\n  dnsbl:\n    zone: zen.spamhaus.org\n",
                   "a.yaml:7: abuse.dnsbl.zone: ", "unknown key");
  expect_one_error("abuse:\n  dnsbl:\n    zones:\n      - {zone: a.example, ttl: 5}\n",
                   "a.yaml:8: abuse.dnsbl.zones[0].ttl: ", "unknown key");
  expect_one_error("abuse:\n  bounces: {rate: 0.5}\n",
                   "a.yaml:6: abuse.bounces.rate: ", "unknown key");
}

TEST(AbuseConfig, WeightsTakeOnlySignalKinds) {
  expect_one_error("abuse:\n  weights:\n    complaints: 3\n",
                   "a.yaml:7: abuse.weights.complaints: ",
                   "unknown key 'complaints' (did you mean 'complaint'?)");
  expect_one_error("abuse:\n  weights:\n    spam: 3\n",
                   "a.yaml:7: abuse.weights.spam: ", "unknown key 'spam'");
  expect_one_error("abuse:\n  actions:\n    egress: suspend\n",
                   "a.yaml:7: abuse.actions.egress: ", "unknown key 'egress'");
}

TEST(AbuseConfig, BadDnsblZonesAreRefused) {
  const std::string head = "abuse:\n  dnsbl:\n    zones:\n";  // lines 5-7
  const std::vector<std::tuple<std::string, std::string, std::string>> cases{
      {"      - {zone: localhost}", "abuse.dnsbl.zones[0].zone", "is not a DNS zone"},
      {"      - {zone: \"zen spamhaus.org\"}", "abuse.dnsbl.zones[0].zone", "is not a DNS zone"},
      {"      - {weight: 1}", "abuse.dnsbl.zones[0].zone", "required key is missing"},
      {"      - {zone: a.example, weight: -0.5}", "abuse.dnsbl.zones[0].weight", "at least 0"},
      {"      - {zone: a.example, weight: .nan}", "abuse.dnsbl.zones[0].weight", "a number"},
      {"      - {zone: a.example, listing_codes: [\"127.0.0.256\"]}",
       "abuse.dnsbl.zones[0].listing_codes[0]", "is not a DNSBL answer code"},
      {"      - {zone: a.example, listing_codes: [listed]}",
       "abuse.dnsbl.zones[0].listing_codes[0]", "is not a DNSBL answer code"},
      {"      - {zone: a.example, listing_codes: [\"127.0.0.11-127.0.0.2\"]}",
       "abuse.dnsbl.zones[0].listing_codes[0]", "ends before it starts"},
      {"      - {zone: a.example, error_codes: [\"127.255.255.1/24\"]}",
       "abuse.dnsbl.zones[0].error_codes[0]", "host bits"},
      {"      - {zone: a.example, error_codes: [\"127.255.255.0/33\"]}",
       "abuse.dnsbl.zones[0].error_codes[0]", "is not a DNSBL answer code"},
      {"      - {zone: a.example, error_codes: [\"::1\"]}", "abuse.dnsbl.zones[0].error_codes[0]",
       "is not a DNSBL answer code"},
      {"      - {zone: a.example, listing_codes: [\"10.0.0.2\"]}",
       "abuse.dnsbl.zones[0].listing_codes[0]", "outside 127.0.0.0/8"},
      {"      - {zone: a.example, listing_codes: [\"127.255.255.254\"]}",
       "abuse.dnsbl.zones[0].listing_codes[0]",
       "overlaps error code 127.255.255.0-127.255.255.255 (the default error codes)"},
      {"      - {zone: a.example, error_codes: [\"127.0.0.4\"]}",
       "abuse.dnsbl.zones[0].error_codes[0]",
       "listing code 127.0.0.2-127.0.0.255 overlaps error code 127.0.0.4 (the default listing "
       "codes)"},
  };
  for (const auto& [line, key, message] : cases) {
    SCOPED_TRACE(line);
    expect_one_error(head + line + "\n", "a.yaml:8: " + key + ": ", message);
  }
  expect_one_error(head + "      - {zone: zen.spamhaus.org}\n      - {zone: ZEN.spamhaus.org.}\n",
                   "a.yaml:9: abuse.dnsbl.zones[1].zone: ", "is already used by");
}

TEST(AbuseConfig, AllErrorsAreCollected) {
  auto r = load(
      "abuse:\n  score_window: 0s\n  weights: {dnsbl: -1, bogus: 1}\n"
      "  dnsbl:\n    zones: [{zone: x, listing_codes: [nope]}]\n");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(r.errors.size(), 5u) << errors_of(r);
}

// The bundled file documents every key with its default: loading it must
// give the same values as leaving the section out.
TEST(AbuseConfig, BundledFileShowsTheDefaults) {
  auto r = load_config(std::filesystem::path(PORTCULLIS_SOURCE_DIR) / "images/portcullis.yaml");
  ASSERT_TRUE(r.config) << errors_of(r);
  const AbuseConfig& a = r.config->abuse;
  const AbuseConfig d;
  EXPECT_EQ(a.feedback_addresses,
            (std::vector<std::string>{"fbl@relay.gateway.invalid", "abuse@relay.gateway.invalid"}));
  EXPECT_EQ(a.notify_from, "abuse@relay.gateway.invalid");
  EXPECT_EQ(a.desk_address, d.desk_address);
  EXPECT_EQ(a.score_window, d.score_window);
  EXPECT_EQ(a.ticket_threshold, d.ticket_threshold);
  EXPECT_EQ(a.signal_cooldown, d.signal_cooldown);
  EXPECT_EQ(a.weights, d.weights);
  EXPECT_EQ(a.actions, d.actions);
  EXPECT_EQ(a.throttle_messages_per_minute, d.throttle_messages_per_minute);
  EXPECT_EQ(a.throttle_messages_per_hour, d.throttle_messages_per_hour);
  EXPECT_EQ(a.revoke_exceptions_on_ticket, d.revoke_exceptions_on_ticket);
  EXPECT_EQ(a.reminder_after, d.reminder_after);
  EXPECT_EQ(a.max_reminders, d.max_reminders);
  EXPECT_TRUE(a.dnsbl.zones.empty());
  EXPECT_EQ(a.dnsbl.interval, d.dnsbl.interval);
  EXPECT_EQ(a.dnsbl.queries_per_second, d.dnsbl.queries_per_second);
  EXPECT_EQ(a.dnsbl.addresses, d.dnsbl.addresses);
  EXPECT_EQ(a.bounces.window, d.bounces.window);
  EXPECT_EQ(a.bounces.min_messages, d.bounces.min_messages);
  EXPECT_EQ(a.bounces.bounce_rate, d.bounces.bounce_rate);
  EXPECT_EQ(a.bounces.unknown_recipient_rate, d.bounces.unknown_recipient_rate);
  EXPECT_EQ(a.egress.min_attempts, d.egress.min_attempts);
  EXPECT_EQ(a.egress.min_destinations, d.egress.min_destinations);
  EXPECT_EQ(a.volume.factor, d.volume.factor);
  EXPECT_EQ(a.volume.min_messages, d.volume.min_messages);
  EXPECT_TRUE(r.config->relay.listen.feedback.empty());
}

TEST(AbuseActionNames, RoundTrip) {
  for (auto action :
       {AbuseAction::none, AbuseAction::throttle, AbuseAction::suspend, AbuseAction::block_host}) {
    EXPECT_EQ(parse_abuse_action(to_string(action)), action);
  }
  EXPECT_EQ(to_string(AbuseAction::block_host), "block_host");
  EXPECT_FALSE(parse_abuse_action("block"));
  EXPECT_FALSE(parse_abuse_action(""));
}

}  // namespace
}  // namespace portcullis::config
