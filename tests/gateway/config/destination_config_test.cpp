// Destination shaping: delivery.destinations rules and the backoff of a
// destination that fails as a whole.
#include <gtest/gtest.h>

#include <string>

#include "gateway/core/config/loader.hpp"

namespace portcullis::config {
namespace {

using std::chrono::seconds;

std::string errors_of(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

// delivery_lines go under "delivery:" (line 5 onwards).
LoadResult load_delivery(const std::string& delivery_lines) {
  return load_config_string(
      "node:\n  state_dir: /var/lib/pc\nrelay:\n  hostname: gw\ndelivery:\n" + delivery_lines,
      "d.yaml");
}

TEST(DestinationConfig, Defaults) {
  auto r = load_delivery("  max_age: 1h\n");
  ASSERT_TRUE(r.config) << errors_of(r);
  const auto& d = r.config->delivery;
  EXPECT_TRUE(d.destinations.empty());
  EXPECT_EQ(d.backoff_initial, seconds(60));
  EXPECT_EQ(d.backoff_max, seconds(1200));
}

TEST(DestinationConfig, RulesAreLowerCasedInOrder) {
  auto r = load_delivery(
      "  backoff_initial: 5s\n  backoff_max: 1m\n  destinations:\n"
      "    - {match: \"*.Google.com\", max_connections: 20, max_messages_per_connection: 100}\n"
      "    - {match: example.org, max_connections: 2}\n");
  ASSERT_TRUE(r.config) << errors_of(r);
  const auto& d = r.config->delivery;
  ASSERT_EQ(d.destinations.size(), 2u);
  EXPECT_EQ(d.destinations[0].match, "*.google.com");
  EXPECT_EQ(d.destinations[0].max_connections, 20u);
  EXPECT_EQ(d.destinations[0].max_messages_per_connection, 100u);
  EXPECT_EQ(d.destinations[1].match, "example.org");
  EXPECT_EQ(d.destinations[1].max_messages_per_connection, 0u);
  EXPECT_EQ(d.backoff_initial, seconds(5));
  EXPECT_EQ(d.backoff_max, seconds(60));
}

TEST(DestinationConfig, BadRulesNameTheirLineAndKey) {
  auto r = load_delivery(
      "  destinations:\n"
      "    - {match: \"exa mple.org\"}\n"
      "    - {match: a.test, max_connections: 0}\n"
      "    - {match: a.test}\n"
      "    - {max_connections: 3}\n");
  ASSERT_FALSE(r.config);
  const std::string errors = errors_of(r);
  EXPECT_NE(errors.find("d.yaml:7: delivery.destinations[0].match"), std::string::npos) << errors;
  EXPECT_NE(errors.find("d.yaml:8: delivery.destinations[1].max_connections"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("d.yaml:9: delivery.destinations[2].match"), std::string::npos) << errors;
  EXPECT_NE(errors.find("delivery.destinations[3]"), std::string::npos) << errors;
}

TEST(DestinationConfig, BackoffStartsBelowItsCap) {
  auto r = load_delivery("  backoff_initial: 10m\n  backoff_max: 1m\n");
  ASSERT_FALSE(r.config);
  EXPECT_NE(errors_of(r).find("delivery.backoff_initial"), std::string::npos) << errors_of(r);
}

TEST(DestinationConfig, PatternsMatchTheDomainOrItsSubdomains) {
  EXPECT_TRUE(destination_matches("example.org", "example.org"));
  EXPECT_FALSE(destination_matches("example.org", "mx.example.org"));
  EXPECT_TRUE(destination_matches("*.google.com", "mail.google.com"));
  EXPECT_TRUE(destination_matches("*.google.com", "a.b.google.com"));
  EXPECT_FALSE(destination_matches("*.google.com", "google.com"));
  EXPECT_FALSE(destination_matches("*.google.com", "evilgoogle.com"));
}

}  // namespace
}  // namespace portcullis::config
