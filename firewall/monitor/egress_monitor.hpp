#pragma once
// The egress monitor: captures port-25 SYNs with libpcap from the NFLOG group
// the ruleset logs blocked attempts to ("nflog:<group>") and, optionally, a
// tenant-facing interface (filter: SYNs to port 25), and counts them per
// source host and per tenant over a sliding window (see aggregator.hpp).
// Untrusted input: every captured frame (decoded by packet_parser.hpp with
// bounds checks); spoofed floods are absorbed by the bounded host table.
//
// Threading: capture, decoding and counting run on the monitor's own thread
// (poll on pcap's non-blocking descriptors), so a flood never touches the
// relay's io thread; top()/stats() take a short lock. Observations are
// published on the monitor thread every publish_interval for the hosts seen
// since the last publication (the noisiest first, at most kMaxPublished).
// With both sources, a blocked SYN that crosses the interface is counted twice:
// use the interface for hosts the ruleset does not log (exempt, firewall off).

#include <pcap/pcap.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "firewall/monitor/aggregator.hpp"
#include "firewall/monitor/packet_parser.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/firewall/egress_events.hpp"
#include "gateway/core/firewall/monitor_view.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::tenants {
class TenantRegistry;
}

namespace portcullis::firewall::monitor {

inline constexpr const char* kSynFilter =
    "tcp dst port 25 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn";

struct MonitorSettings {
  std::optional<std::uint16_t> nflog_group;  // nullopt: no NFLOG capture
  std::string interface;                     // "": none
  std::size_t max_hosts = 65536;
  std::chrono::seconds window{600};
  std::chrono::seconds publish_interval{60};
  int snaplen = 256;                   // interface: headers only, the payload is never needed
  int buffer_bytes = 4 * 1024 * 1024;  // kernel buffer per source, absorbs bursts
};

// Result of reading a capture file (benchmarks, offline analysis).
struct FileRun {
  std::uint64_t frames = 0;
  std::uint64_t syns = 0;
  std::chrono::nanoseconds elapsed{};
};

class EgressMonitor final : public MonitorView {
 public:
  static constexpr std::size_t kMaxPublished = 1024;

  // registry maps a host to its tenant at report time; observer may be null.
  EgressMonitor(MonitorSettings settings,
                const Clock& clock,
                const tenants::TenantRegistry& registry,
                EgressObserver* observer);
  ~EgressMonitor() override;
  EgressMonitor(const EgressMonitor&) = delete;
  EgressMonitor& operator=(const EgressMonitor&) = delete;

  // Opens the configured sources. NFLOG needs CAP_NET_ADMIN and an interface
  // CAP_NET_RAW: call before the daemon drops privileges.
  Result<void> open();
  // Starts the capture thread (after open()).
  void start();
  // Stops and joins the thread; idempotent.
  void stop();

  // Reads a pcap file on the calling thread, counting as if live.
  Result<FileRun> read_file(const std::filesystem::path& file);
  // One frame, counted at once (tests; the capture thread batches instead).
  void handle_frame(int link_type, std::span<const std::uint8_t> frame);
  // Publishes the hosts seen since the last publication now.
  void publish();

  std::vector<EgressObservation> top(std::size_t n) const override;
  std::vector<TenantEgress> top_tenants(std::size_t n) const override;
  MonitorStats stats() const override;

 private:
  struct Source {
    std::string name;
    pcap_t* handle = nullptr;
    int link_type = 0;
    int fd = -1;
  };

  Result<void> open_source(const std::string& device, bool is_nflog);
  void run();
  struct Batch {
    std::vector<SynRecord> syns;
    std::uint64_t packets = 0;
    std::uint64_t malformed = 0;
    std::uint64_t ignored = 0;
  };
  static void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* bytes);
  static void decode(int link_type, std::span<const std::uint8_t> frame, Batch& batch);
  void drain(Source& source);
  void flush(Batch& batch);
  void read_drop_counters();

  MonitorSettings settings_;
  const Clock& clock_;
  const tenants::TenantRegistry& registry_;
  EgressObserver* observer_;

  std::vector<Source> sources_;
  Batch batch_;         // capture thread only
  int batch_link_ = 0;  // link type of the source being drained
  int wake_fd_ = -1;    // eventfd: stop() wakes the poll
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mutex_;  // guards everything below
  Aggregator aggregator_;
  Clock::time_point last_published_{};
  std::uint64_t packets_ = 0;
  std::uint64_t syns_ = 0;
  std::uint64_t malformed_ = 0;
  std::uint64_t ignored_ = 0;
  std::uint64_t dropped_ = 0;
};

}  // namespace portcullis::firewall::monitor
