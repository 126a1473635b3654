// Not a unit test: the hook tests/integration/test_monitor.py runs (inside a
// network namespace, as root) to drive the real capture path before the daemon
// wires the monitor. Skipped unless PORTCULLIS_MONITOR_PROBE names an output
// file. Environment:
//   PORTCULLIS_MONITOR_PROBE      JSON snapshot written (atomically) every 200 ms
//   PORTCULLIS_MONITOR_NFLOG      NFLOG group to capture
//   PORTCULLIS_MONITOR_INTERFACE  interface to capture
//   PORTCULLIS_MONITOR_MAX_HOSTS  host table bound (default 65536)
//   PORTCULLIS_MONITOR_SOCKET     serve GET /v1/monitor/top on this control socket
//   PORTCULLIS_MONITOR_TENANT     "id=prefix,prefix" for the host → tenant map
//   PORTCULLIS_MONITOR_SECONDS    run at most this long (default 60); <file>.stop ends it sooner
//   PORTCULLIS_MONITOR_READ       instead: read this pcap file and print the rate

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "firewall/monitor/egress_monitor.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/control/api_monitor.hpp"
#include "gateway/core/control/control_server.hpp"
#include "gateway/core/net/prefix.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall::monitor {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string env(const char* name, std::string fallback = {}) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::string(v);
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::strtol(line.c_str() + 6, nullptr, 10);
    }
  }
  return -1;
}

std::shared_ptr<const tenants::TenantDirectory> tenant_from_env() {
  auto spec = env("PORTCULLIS_MONITOR_TENANT");
  std::vector<store::Tenant> tenants;
  if (auto eq = spec.find('='); eq != std::string::npos) {
    store::Tenant t;
    t.id = spec.substr(0, eq);
    t.plan = "standard";
    std::stringstream prefixes(spec.substr(eq + 1));
    for (std::string p; std::getline(prefixes, p, ',');) {
      t.subnets.push_back(net::Prefix::parse(p).value());
    }
    tenants.push_back(t);
  }
  return std::make_shared<const tenants::TenantDirectory>(std::move(tenants));
}

TEST(MonitorProbe, Run) {
  const auto out = env("PORTCULLIS_MONITOR_PROBE");
  if (out.empty()) {
    GTEST_SKIP() << "integration hook; set PORTCULLIS_MONITOR_PROBE to run it";
  }
  SystemClock clock;
  tenants::TenantRegistry registry(tenant_from_env());
  EgressBus bus;
  std::atomic<std::uint64_t> observations{0};
  bus.subscribe([&](const EgressObservation&) { ++observations; });

  MonitorSettings settings;
  if (auto group = env("PORTCULLIS_MONITOR_NFLOG"); !group.empty()) {
    settings.nflog_group = static_cast<std::uint16_t>(std::stoi(group));
  }
  settings.interface = env("PORTCULLIS_MONITOR_INTERFACE");
  settings.max_hosts = std::stoul(env("PORTCULLIS_MONITOR_MAX_HOSTS", "65536"));
  settings.publish_interval = 1s;
  EgressMonitor monitor(settings, clock, registry, &bus);

  if (auto file = env("PORTCULLIS_MONITOR_READ"); !file.empty()) {
    auto run = monitor.read_file(file);
    ASSERT_TRUE(run) << run.error().message;
    const double seconds = std::chrono::duration<double>(run->elapsed).count();
    std::ofstream(out) << json::serialize(json::object{
        {"frames", run->frames},
        {"syns", run->syns},
        {"seconds", seconds},
        {"frames_per_second", seconds > 0 ? static_cast<double>(run->frames) / seconds : 0.0},
        {"hosts", static_cast<std::uint64_t>(monitor.stats().hosts)}});
    return;
  }

  auto opened = monitor.open();
  ASSERT_TRUE(opened) << opened.error().message;
  monitor.start();

  asio::io_context io;
  std::unique_ptr<control::ControlServer> server;
  if (auto socket = env("PORTCULLIS_MONITOR_SOCKET"); !socket.empty()) {
    control::Router router;
    control::register_monitor_routes(router, &monitor);
    server = std::make_unique<control::ControlServer>(io.get_executor(), socket, std::move(router));
    server->start();
  }
  std::thread io_thread([&] {
    auto guard = asio::make_work_guard(io);
    io.run();
  });

  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(std::stoi(env("PORTCULLIS_MONITOR_SECONDS", "60")));
  const std::filesystem::path stop_file = out + ".stop";
  while (std::chrono::steady_clock::now() < deadline && !std::filesystem::exists(stop_file)) {
    const auto s = monitor.stats();
    json::array hosts;
    for (const auto& h : monitor.top(50)) {
      hosts.emplace_back(json::object{{"host", h.host},
                                      {"tenant_id", h.tenant_id},
                                      {"attempts", h.attempts},
                                      {"distinct_destinations", h.distinct_destinations},
                                      {"syn_per_minute", h.syn_per_minute}});
    }
    json::array sources;
    for (const auto& name : s.sources) {
      sources.emplace_back(name);
    }
    json::object snapshot{{"sources", std::move(sources)},
                          {"packets", s.packets},
                          {"syns", s.syns},
                          {"malformed", s.malformed},
                          {"dropped", s.dropped},
                          {"evicted", s.evicted},
                          {"hosts_tracked", static_cast<std::uint64_t>(s.hosts)},
                          {"max_hosts", static_cast<std::uint64_t>(s.max_hosts)},
                          {"observations", observations.load()},
                          {"rss_kib", rss_kib()},
                          {"hosts", std::move(hosts)}};
    {
      std::ofstream tmp(out + ".tmp");
      tmp << json::serialize(snapshot);
    }
    std::filesystem::rename(out + ".tmp", out);
    std::this_thread::sleep_for(200ms);
  }
  monitor.stop();
  asio::post(io, [&] {
    if (server) {
      server->stop();
    }
    io.stop();
  });
  io_thread.join();
}

}  // namespace
}  // namespace portcullis::firewall::monitor
