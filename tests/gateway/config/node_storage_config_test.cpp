// The node's storage keys: node.retention (how long the queue database keeps
// events and hourly stats) and node.min_free_space (the disk guard).
#include <gtest/gtest.h>

#include <string>

#include "gateway/core/config/loader.hpp"

namespace portcullis::config {
namespace {

using std::chrono::seconds;

constexpr seconds kDay{86400};

std::string errors_of(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

// node_lines go under "node:" after state_dir (line 3 onwards).
LoadResult load_node(const std::string& node_lines) {
  return load_config_string(
      "node:\n  state_dir: /var/lib/pc\n" + node_lines + "relay:\n  hostname: gw\n", "n.yaml");
}

TEST(NodeStorageConfig, Defaults) {
  auto r = load_node("");
  ASSERT_TRUE(r.config) << errors_of(r);
  const NodeConfig& n = r.config->node;
  EXPECT_EQ(n.retention.events, 30 * kDay);
  EXPECT_EQ(n.retention.stats, 395 * kDay);
  EXPECT_EQ(n.retention.interval, seconds(3600));
  EXPECT_EQ(n.min_free_space.bytes, 1024ULL * 1024 * 1024);
  EXPECT_EQ(n.min_free_space.percent, 0.0);
}

TEST(NodeStorageConfig, Values) {
  auto r = load_node(
      "  retention:\n    events: 5s\n    stats: 400d\n    interval: 1s\n"
      "  min_free_space: 512M\n");
  ASSERT_TRUE(r.config) << errors_of(r);
  const NodeConfig& n = r.config->node;
  EXPECT_EQ(n.retention.events, seconds(5));
  EXPECT_EQ(n.retention.stats, 400 * kDay);
  EXPECT_EQ(n.retention.interval, seconds(1));
  EXPECT_EQ(n.min_free_space.bytes, 512ULL * 1024 * 1024);
  EXPECT_EQ(n.min_free_space.percent, 0.0);
}

TEST(NodeStorageConfig, ZeroMeansForeverAndOff) {
  auto r = load_node("  retention:\n    events: 0s\n    stats: 0s\n  min_free_space: 0\n");
  ASSERT_TRUE(r.config) << errors_of(r);
  const NodeConfig& n = r.config->node;
  EXPECT_EQ(n.retention.events, seconds(0));
  EXPECT_EQ(n.retention.stats, seconds(0));
  EXPECT_EQ(n.min_free_space.bytes, 0u);
  EXPECT_EQ(n.min_free_space.percent, 0.0);
}

TEST(NodeStorageConfig, PercentOfTheFileSystem) {
  struct Case {
    const char* text;
    double percent;
  };
  for (const Case& c :
       {Case{"5%", 5.0}, Case{"'0.5%'", 0.5}, Case{"99.99%", 99.99}, Case{"0%", 0.0}}) {
    auto r = load_node(std::string("  min_free_space: ") + c.text + "\n");
    ASSERT_TRUE(r.config) << c.text << ": " << errors_of(r);
    EXPECT_EQ(r.config->node.min_free_space.bytes, 0u) << c.text;
    EXPECT_DOUBLE_EQ(r.config->node.min_free_space.percent, c.percent) << c.text;
  }
}

TEST(NodeStorageConfig, BadValuesNameLineAndKey) {
  struct Case {
    const char* node_lines;
    const char* error;
  };
  const Case cases[] = {
      {"  min_free_space: lots\n",
       "n.yaml:3: node.min_free_space: 'lots' is not a size (use bytes or a number with K, M or "
       "G, e.g. 25M)"},
      {"  min_free_space: 100%\n",
       "n.yaml:3: node.min_free_space: '100%' is not a percentage of the file system (0% up to "
       "99.99%)"},
      {"  min_free_space: -5%\n",
       "n.yaml:3: node.min_free_space: '-5%' is not a percentage of the file system (0% up to "
       "99.99%)"},
      {"  min_free_space: [1G]\n", "n.yaml:3: node.min_free_space: expected a string"},
      {"  retention:\n    events: soon\n", "n.yaml:4: node.retention.events: "},
      {"  retention:\n    interval: 0s\n",
       "n.yaml:4: node.retention.interval: must be between 1s and 1d, got 0s"},
      {"  retention:\n    stats: 7d\n",
       "n.yaml:4: node.retention.stats: 7d is shorter than the monthly quota needs (0 = forever, "
       "else at least 32d)"},
      {"  retention:\n    event: 5d\n",
       "n.yaml:4: node.retention.event: unknown key 'event' (did you mean 'events'?)"},
      {"  retention: 30d\n", "n.yaml:3: node.retention: expected a mapping"},
  };
  for (const Case& c : cases) {
    auto r = load_node(c.node_lines);
    EXPECT_FALSE(r.config) << c.node_lines;
    const std::string text = errors_of(r);
    EXPECT_EQ(r.errors.size(), 1u) << text;
    EXPECT_EQ(text.rfind(c.error, 0), 0u) << "got: " << text << "want: " << c.error;
  }
}

}  // namespace
}  // namespace portcullis::config
