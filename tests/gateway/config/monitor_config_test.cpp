// The egress monitor's keys in the firewall section.
#include <gtest/gtest.h>

#include <string>

#include "gateway/core/config/loader.hpp"

namespace portcullis::config {
namespace {

using std::chrono::seconds;

const std::string kBase = "node:\n  state_dir: /var/lib/pc\nrelay:\n  hostname: gw\n";

std::string errors_of(const LoadResult& result) {
  std::string out;
  for (const auto& e : result.errors) {
    out += e.to_string() + "\n";
  }
  return out;
}

TEST(MonitorConfig, Defaults) {
  auto r = load_config_string(kBase, "m.yaml");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_EQ(r.config->firewall.monitor_interface, "");
  EXPECT_EQ(r.config->firewall.monitor_max_hosts, 65536u);
  EXPECT_EQ(r.config->firewall.monitor_window, seconds(600));
}

TEST(MonitorConfig, Values) {
  auto r = load_config_string(kBase +
                                  "firewall:\n  monitor_interface: br-tenants\n"
                                  "  monitor_max_hosts: 1000\n  monitor_window: 5m\n",
                              "m.yaml");
  ASSERT_TRUE(r.config) << errors_of(r);
  EXPECT_EQ(r.config->firewall.monitor_interface, "br-tenants");
  EXPECT_EQ(r.config->firewall.monitor_max_hosts, 1000u);
  EXPECT_EQ(r.config->firewall.monitor_window, seconds(300));
}

TEST(MonitorConfig, Errors) {
  auto r = load_config_string(kBase +
                                  "firewall:\n  monitor_interface: \"eth0; rm\"\n"
                                  "  monitor_max_hosts: 0\n  monitor_window: 1s\n",
                              "m.yaml");
  EXPECT_FALSE(r.config);
  const auto text = errors_of(r);
  EXPECT_NE(text.find("m.yaml:6: firewall.monitor_interface: "), std::string::npos) << text;
  EXPECT_NE(text.find("m.yaml:7: firewall.monitor_max_hosts: "), std::string::npos) << text;
  EXPECT_NE(text.find("m.yaml:8: firewall.monitor_window: "), std::string::npos) << text;
  EXPECT_EQ(r.errors.size(), 3u) << text;
}

}  // namespace
}  // namespace portcullis::config
