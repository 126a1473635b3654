// Figures for the firewall benchmark (tests/bench/firewall_bench.py drives it;
// not a test: nothing here passes or fails on time).
//
//   firewall_bench apply [--prefixes N]
//       in a private network namespace: full apply of N prefixes (half v4,
//       half v6, 100 per tenant), then the time of single changes.
//   firewall_bench load --prefixes N --exempt CIDR
//       applies N filler prefixes plus one exempt tenant in the current
//       namespace and leaves the table loaded (for the forwarding run).
//   firewall_bench synflood FILE --packets N
//       writes a pcap (Ethernet) of N TCP SYNs to port 25 from 500 hosts to
//       random destinations: a flood as the monitor would see it.
//   firewall_bench monitor FILE
//       runs the egress monitor's decoding and counting over FILE, as fast as
//       it can, and prints packets per second.
#include <pcap/pcap.h>
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "firewall/monitor/aggregator.hpp"
#include "firewall/monitor/packet_parser.hpp"
#include "firewall/nftables_policy.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace {

using namespace portcullis;
using Steady = std::chrono::steady_clock;

double ms_since(Steady::time_point t) {
  return std::chrono::duration<double, std::milli>(Steady::now() - t).count();
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "firewall_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string option(int argc, char** argv, std::string_view name, std::string fallback) {
  for (int i = 2; i + 1 < argc; ++i) {
    if (argv[i] == name) {
      return argv[i + 1];
    }
  }
  return fallback;
}

// N prefixes in 198.18.0.0/15 hosts (never adjacent, so never merged) and
// fd00::/8 /64s, 100 per tenant, modes in turn.
std::vector<store::Tenant> filler(int prefixes) {
  std::vector<store::Tenant> tenants;
  for (int n = 0; n < prefixes; ++n) {
    if (n % 100 == 0) {
      store::Tenant t;
      t.id = "t" + std::to_string(n / 100);
      t.plan = "standard";
      t.port25_mode = static_cast<store::Port25Mode>((n / 100) % 3);
      tenants.push_back(std::move(t));
    }
    char text[64];
    if (n % 2 == 0) {
      // Skips 198.18.1.0/24..198.18.3.255: the lab's own subnets.
      const int host = n + 1024;
      std::snprintf(text, sizeof text, "198.%d.%d.%d", 18 + host / 65536, (host / 256) % 256,
                    host % 256);
    } else {
      std::snprintf(text, sizeof text, "fd00:%x:%x::/64", 0x100 + n / 65536, n % 65536);
    }
    tenants.back().subnets.push_back(net::Prefix::parse(text).value());
  }
  return tenants;
}

firewall::RulesetSettings settings() {
  firewall::RulesetSettings s;
  s.intercept_port = 2525;
  return s;
}

int run_apply(int prefixes) {
  if (::unshare(CLONE_NEWNET) != 0) {
    fail("needs root: cannot create a private network namespace");
  }
  auto tenants = filler(prefixes);
  firewall::NftablesPolicy policy(settings());
  auto t = Steady::now();
  if (auto applied = policy.apply(tenants::TenantDirectory(tenants)); !applied) {
    fail(applied.error().message);
  }
  const double apply_ms = ms_since(t);
  auto update = [&](const char* what) {
    const auto started = Steady::now();
    if (auto updated = policy.update(tenants::TenantDirectory(tenants)); !updated) {
      fail(updated.error().message);
    }
    std::printf("%-44s %10.1f ms\n", what, ms_since(started));
  };
  std::printf("prefixes loaded                              %10d\n", prefixes);
  std::printf("%-44s %10.1f ms\n", "full apply (one transaction)", apply_ms);
  tenants[7].host_overrides.push_back(
      {tenants[7].subnets.front(), store::Port25Mode::exempt, "bench", 0});
  update("one element (a host override)");
  tenants[7].port25_mode = store::Port25Mode::exempt;
  update("one tenant's mode (its 100 prefixes)");
  store::Tenant added;
  added.id = "new";
  added.plan = "standard";
  added.subnets.push_back(net::Prefix::parse("198.18.2.0/24").value());
  tenants.push_back(added);
  update("one tenant added (one prefix, new counters)");
  tenants.erase(tenants.begin() + 9);
  update("one tenant removed (100 prefixes)");
  return 0;
}

int run_load(int prefixes, const std::string& exempt) {
  auto tenants = filler(prefixes);
  store::Tenant lab;
  lab.id = "lab";
  lab.plan = "standard";
  lab.port25_mode = store::Port25Mode::exempt;
  lab.subnets.push_back(net::Prefix::parse(exempt).value());
  tenants.push_back(lab);
  firewall::NftablesPolicy policy(settings());
  const auto t = Steady::now();
  if (auto applied = policy.apply(tenants::TenantDirectory(tenants)); !applied) {
    fail(applied.error().message);
  }
  std::printf("loaded %d prefixes and %s (exempt) in %.0f ms\n", prefixes, exempt.c_str(),
              ms_since(t));
  return 0;
}

int run_synflood(const std::string& path, long packets) {
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 128);
  pcap_dumper_t* out = pcap_dump_open(dead, path.c_str());
  if (out == nullptr) {
    fail(pcap_geterr(dead));
  }
  std::mt19937 random(42);
  unsigned char frame[54] = {};
  // Ethernet: IPv4.
  frame[12] = 0x08;
  // IPv4 header: 20 bytes, TCP, TTL 64.
  unsigned char* ip = frame + 14;
  ip[0] = 0x45;
  ip[3] = 40;
  ip[8] = 64;
  ip[9] = 6;
  // TCP header: SYN to port 25, data offset 5.
  unsigned char* tcp = ip + 20;
  tcp[2] = 0;
  tcp[3] = 25;
  tcp[12] = 0x50;
  tcp[13] = 0x02;
  pcap_pkthdr header{};
  header.caplen = header.len = sizeof frame;
  for (long i = 0; i < packets; ++i) {
    const unsigned host = static_cast<unsigned>(i % 500);
    ip[12] = 198;
    ip[13] = 18;
    ip[14] = static_cast<unsigned char>(1 + host / 250);
    ip[15] = static_cast<unsigned char>(10 + host % 250);
    const auto dst = random();
    std::memcpy(ip + 16, &dst, 4);
    const auto sport = static_cast<std::uint16_t>(1024 + random() % 60000);
    tcp[0] = static_cast<unsigned char>(sport >> 8);
    tcp[1] = static_cast<unsigned char>(sport);
    header.ts.tv_sec = 1'700'000'000 + i / 100'000;
    header.ts.tv_usec = static_cast<int>((i % 100'000) * 10);
    pcap_dump(reinterpret_cast<u_char*>(out), &header, frame);
  }
  pcap_dump_close(out);
  pcap_close(dead);
  std::printf("wrote %ld SYNs to %s\n", packets, path.c_str());
  return 0;
}

struct MonitorRun {
  int link_type = 0;
  firewall::monitor::Aggregator* aggregator = nullptr;
  Clock::time_point start;
  Clock::time_point last;
  long packets = 0;
  long syns = 0;
};

int run_monitor(const std::string& path) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* in = pcap_open_offline(path.c_str(), error);
  if (in == nullptr) {
    fail(error);
  }
  firewall::monitor::Aggregator aggregator({65536, std::chrono::seconds(600)});
  MonitorRun run{pcap_datalink(in), &aggregator, Clock::time_point{}, Clock::time_point{}, 0, 0};
  const auto started = Steady::now();
  pcap_loop(
      in, -1,
      [](u_char* user, const pcap_pkthdr* h, const u_char* bytes) {
        auto& r = *reinterpret_cast<MonitorRun*>(user);
        ++r.packets;
        const auto parsed = firewall::monitor::parse_frame(r.link_type, {bytes, h->caplen});
        if (parsed.status == firewall::monitor::ParseStatus::syn) {
          ++r.syns;
          const auto now = r.start + std::chrono::seconds(h->ts.tv_sec) +
                           std::chrono::microseconds(h->ts.tv_usec);
          r.aggregator->record(parsed.record.source, parsed.record.destination, now);
          r.last = now;
        }
      },
      reinterpret_cast<u_char*>(&run));
  const double seconds = ms_since(started) / 1000.0;
  pcap_close(in);
  const auto top = aggregator.top(1, run.last);
  std::printf(
      "monitor: %ld packets (%ld SYNs to 25) in %.3f s = %.0f packets/s; top host %s "
      "(%llu attempts, %u distinct destinations)\n",
      run.packets, run.syns, seconds, run.packets / seconds,
      top.empty() ? "-" : top.front().host.to_string().c_str(),
      top.empty() ? 0ULL : static_cast<unsigned long long>(top.front().attempts),
      top.empty() ? 0U : top.front().distinct_destinations);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "apply") {
    return run_apply(std::stoi(option(argc, argv, "--prefixes", "100000")));
  }
  if (mode == "load") {
    return run_load(std::stoi(option(argc, argv, "--prefixes", "10")),
                    option(argc, argv, "--exempt", "198.18.1.0/24"));
  }
  if (mode == "synflood" && argc > 2) {
    return run_synflood(argv[2], std::stol(option(argc, argv, "--packets", "1000000")));
  }
  if (mode == "monitor" && argc > 2) {
    return run_monitor(argv[2]);
  }
  std::fprintf(stderr,
               "usage: firewall_bench apply [--prefixes N] | load --prefixes N --exempt CIDR |\n"
               "       synflood FILE [--packets N] | monitor FILE\n");
  return 2;
}
