#include "firewall/monitor/egress_monitor.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "gateway/core/log/log.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall::monitor {
namespace {

// Frames per pcap_dispatch call, and calls per wake-up before the loop looks
// at the clock again: bounded work per turn keeps publication on time in a flood.
constexpr int kDispatchCount = 512;
constexpr int kDispatchRounds = 64;
constexpr int kPollMillis = 250;
constexpr int kNflogSnaplen = 65535;

std::int64_t to_unix(const Clock& clock, Clock::time_point t) {
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(clock.now() - t).count();
  return clock.unix_now() - std::max<std::int64_t>(age, 0);
}

}  // namespace

EgressMonitor::EgressMonitor(MonitorSettings settings,
                             const Clock& clock,
                             const tenants::TenantRegistry& registry,
                             EgressObserver* observer)
    : settings_(std::move(settings)),
      clock_(clock),
      registry_(registry),
      observer_(observer),
      aggregator_(AggregatorSettings{settings_.max_hosts, settings_.window}),
      last_published_(Clock::time_point::min()) {}

EgressMonitor::~EgressMonitor() {
  stop();
  for (auto& s : sources_) {
    pcap_close(s.handle);
  }
  if (wake_fd_ >= 0) {
    ::close(wake_fd_);
  }
}

Result<void> EgressMonitor::open_source(const std::string& device, bool is_nflog) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_create(device.c_str(), error);
  if (p == nullptr) {
    return make_error("cannot capture on " + device + ": " + error);
  }
  auto fail = [&](std::string what) {
    std::string message = "cannot capture on " + device + ": " + what;
    pcap_close(p);
    return make_error(std::move(message));
  };
  // libpcap reads NFLOG with a receive buffer sized from the snap length, and
  // the kernel batches up to 100 log messages (or a page or two) into one
  // datagram: a small snap length would truncate the batch and lose all but
  // its first few messages. The payload of a SYN is tiny either way.
  pcap_set_snaplen(p, is_nflog ? kNflogSnaplen : settings_.snaplen);
  pcap_set_buffer_size(p, settings_.buffer_bytes);
  pcap_set_promisc(p, 0);
  // Packets as they arrive, not in blocks: poll() wakes for each batch.
  pcap_set_immediate_mode(p, 1);
  pcap_set_timeout(p, kPollMillis);
  const int status = pcap_activate(p);
  if (status < 0) {
    return fail(status == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(status));
  }
  if (status > 0) {
    log::warning("monitor_capture_warning",
                 {{"source", device}, {"warning", pcap_statustostr(status)}});
  }
  if (!is_nflog) {
    // Only what tenants send: the gateway's own forwarded copies leave by
    // another interface, and replies are not SYNs.
    if (pcap_setdirection(p, PCAP_D_IN) != 0) {
      log::warning("monitor_capture_warning", {{"source", device}, {"warning", pcap_geterr(p)}});
    }
    bpf_program program{};
    if (pcap_compile(p, &program, kSynFilter, 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return fail(std::string("filter: ") + pcap_geterr(p));
    }
    const int set = pcap_setfilter(p, &program);
    pcap_freecode(&program);
    if (set != 0) {
      return fail(std::string("filter: ") + pcap_geterr(p));
    }
  }
  if (pcap_setnonblock(p, 1, error) != 0) {
    return fail(error);
  }
  const int fd = pcap_get_selectable_fd(p);
  if (fd < 0) {
    return fail("no selectable descriptor");
  }
  sources_.push_back(Source{device, p, pcap_datalink(p), fd});
  return {};
}

Result<void> EgressMonitor::open() {
  if (settings_.nflog_group) {
    if (auto ok = open_source("nflog:" + std::to_string(*settings_.nflog_group), true); !ok) {
      return ok;
    }
  }
  if (!settings_.interface.empty()) {
    if (auto ok = open_source(settings_.interface, false); !ok) {
      return ok;
    }
  }
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    return make_error(std::string("eventfd: ") + std::strerror(errno));
  }
  for (const auto& s : sources_) {
    log::info("monitor_capture", {{"source", s.name}, {"link_type", s.link_type}});
  }
  return {};
}

void EgressMonitor::start() {
  if (thread_.joinable() || wake_fd_ < 0) {
    return;
  }
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void EgressMonitor::stop() {
  if (!thread_.joinable()) {
    return;
  }
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
}

void EgressMonitor::decode(int link_type, std::span<const std::uint8_t> frame, Batch& batch) {
  ++batch.packets;
  auto parsed = parse_frame(link_type, frame);
  switch (parsed.status) {
    case ParseStatus::syn:
      batch.syns.push_back(parsed.record);
      break;
    case ParseStatus::other:
      ++batch.ignored;
      break;
    case ParseStatus::malformed:
    case ParseStatus::unsupported:
      ++batch.malformed;
      break;
  }
}

void EgressMonitor::flush(Batch& batch) {
  if (batch.packets == 0) {
    return;
  }
  const auto now = clock_.now();
  std::lock_guard lock(mutex_);
  for (const auto& r : batch.syns) {
    aggregator_.record(r.source, r.destination, now);
  }
  packets_ += batch.packets;
  syns_ += batch.syns.size();
  malformed_ += batch.malformed;
  ignored_ += batch.ignored;
  batch.syns.clear();
  batch.packets = batch.malformed = batch.ignored = 0;
}

void EgressMonitor::handle_frame(int link_type, std::span<const std::uint8_t> frame) {
  Batch batch;
  decode(link_type, frame, batch);
  flush(batch);
}

void EgressMonitor::on_packet(u_char* user, const pcap_pkthdr* header, const u_char* bytes) {
  auto* self = reinterpret_cast<EgressMonitor*>(user);
  decode(self->batch_link_, std::span<const std::uint8_t>(bytes, header->caplen), self->batch_);
}

void EgressMonitor::drain(Source& source) {
  batch_link_ = source.link_type;
  for (int round = 0; round < kDispatchRounds; ++round) {
    const int n = pcap_dispatch(source.handle, kDispatchCount, &EgressMonitor::on_packet,
                                reinterpret_cast<u_char*>(this));
    flush(batch_);
    if (n < 0) {
      // PCAP_ERROR: e.g. the interface went away. Keep the other sources.
      log::error("monitor_capture_error",
                 {{"source", source.name}, {"error", pcap_geterr(source.handle)}});
      source.fd = -1;
      return;
    }
    if (n < kDispatchCount) {
      return;
    }
  }
}

void EgressMonitor::read_drop_counters() {
  std::uint64_t dropped = 0;
  for (const auto& s : sources_) {
    pcap_stat st{};
    if (pcap_stats(s.handle, &st) == 0) {
      dropped += st.ps_drop + st.ps_ifdrop;
    }
  }
  std::lock_guard lock(mutex_);
  dropped_ = dropped;
}

void EgressMonitor::run() {
  auto next_publish = clock_.now() + settings_.publish_interval;
  auto next_stats = clock_.now();
  std::vector<pollfd> fds;
  while (!stopping_) {
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (const auto& s : sources_) {
      fds.push_back(pollfd{s.fd, POLLIN, 0});  // fd -1 is ignored by poll
    }
    const int ready = ::poll(fds.data(), fds.size(), kPollMillis);
    if (ready < 0 && errno != EINTR) {
      log::error("monitor_poll_error", {{"error", std::strerror(errno)}});
      break;
    }
    for (std::size_t i = 0; i < sources_.size(); ++i) {
      if (sources_[i].fd >= 0 && (fds[i + 1].revents & (POLLIN | POLLERR | POLLHUP)) != 0) {
        drain(sources_[i]);
      }
    }
    const auto now = clock_.now();
    if (now >= next_stats) {
      read_drop_counters();
      next_stats = now + std::chrono::seconds(1);
    }
    if (now >= next_publish) {
      publish();
      next_publish = now + settings_.publish_interval;
    }
  }
}

Result<FileRun> EgressMonitor::read_file(const std::filesystem::path& file) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_open_offline(file.c_str(), error);
  if (p == nullptr) {
    return make_error("cannot read " + file.string() + ": " + error);
  }
  FileRun run;
  const auto syns_before = stats().syns;
  const auto started = std::chrono::steady_clock::now();
  batch_link_ = pcap_datalink(p);
  for (;;) {
    const int n = pcap_dispatch(p, kDispatchCount, &EgressMonitor::on_packet,
                                reinterpret_cast<u_char*>(this));
    run.frames += batch_.packets;
    flush(batch_);
    if (n == 0 || n == PCAP_ERROR_BREAK) {
      break;
    }
    if (n < 0) {
      std::string message = "cannot read " + file.string() + ": " + pcap_geterr(p);
      pcap_close(p);
      return make_error(std::move(message));
    }
  }
  run.elapsed = std::chrono::steady_clock::now() - started;
  pcap_close(p);
  run.syns = stats().syns - syns_before;
  return run;
}

void EgressMonitor::publish() {
  std::vector<HostSummary> seen;
  Clock::time_point now;
  {
    std::lock_guard lock(mutex_);
    now = clock_.now();
    seen = aggregator_.seen_since(last_published_, now);
    last_published_ = now;
    aggregator_.expire(now);
  }
  if (seen.size() > kMaxPublished) {
    std::partial_sort(
        seen.begin(), seen.begin() + kMaxPublished, seen.end(),
        [](const HostSummary& a, const HostSummary& b) { return a.attempts > b.attempts; });
    log::warning("monitor_publish_truncated",
                 {{"hosts", seen.size()}, {"published", kMaxPublished}});
    seen.resize(kMaxPublished);
  }
  if (observer_ == nullptr) {
    return;
  }
  const auto directory = registry_.snapshot();
  const auto unix_now = clock_.unix_now();
  for (const auto& h : seen) {
    const auto* tenant = directory->find_by_address(h.host.to_address());
    observer_->on_egress(EgressObservation{unix_now, tenant == nullptr ? "" : tenant->id,
                                           h.host.to_string(), h.attempts, h.distinct_destinations,
                                           h.syn_per_minute});
  }
}

std::vector<EgressObservation> EgressMonitor::top(std::size_t n) const {
  std::vector<HostSummary> hosts;
  {
    std::lock_guard lock(mutex_);
    hosts = aggregator_.top(n, clock_.now());
  }
  const auto directory = registry_.snapshot();
  std::vector<EgressObservation> out;
  out.reserve(hosts.size());
  for (const auto& h : hosts) {
    const auto* tenant = directory->find_by_address(h.host.to_address());
    out.push_back(EgressObservation{to_unix(clock_, h.last_seen),
                                    tenant == nullptr ? "" : tenant->id, h.host.to_string(),
                                    h.attempts, h.distinct_destinations, h.syn_per_minute});
  }
  return out;
}

std::vector<TenantEgress> EgressMonitor::top_tenants(std::size_t n) const {
  struct Sum {
    TenantEgress egress;
    DistinctEstimator destinations;
  };
  std::map<std::string, Sum> sums;
  const auto directory = registry_.snapshot();
  {
    std::lock_guard lock(mutex_);
    aggregator_.for_each_active(clock_.now(), [&](const Aggregator::ActiveHost& h) {
      const auto* tenant = directory->find_by_address(h.host.to_address());
      auto& sum = sums[tenant == nullptr ? std::string() : tenant->id];
      ++sum.egress.hosts;
      sum.egress.attempts += h.attempts;
      sum.egress.syn_per_minute += h.syn_per_minute;
      sum.destinations.merge(h.destinations);
    });
  }
  std::vector<TenantEgress> out;
  for (auto& [id, sum] : sums) {
    sum.egress.tenant_id = id;
    sum.egress.distinct_destinations = static_cast<std::uint32_t>(
        std::min<std::uint64_t>(sum.destinations.estimate(), sum.egress.attempts));
    out.push_back(std::move(sum.egress));
  }
  std::sort(out.begin(), out.end(),
            [](const TenantEgress& a, const TenantEgress& b) { return a.attempts > b.attempts; });
  out.resize(std::min(n, out.size()));
  return out;
}

MonitorStats EgressMonitor::stats() const {
  MonitorStats s;
  for (const auto& source : sources_) {
    s.sources.push_back(source.name);
  }
  std::lock_guard lock(mutex_);
  s.packets = packets_;
  s.syns = syns_;
  s.malformed = malformed_;
  s.ignored = ignored_;
  s.dropped = dropped_;
  s.evicted = aggregator_.evicted();
  s.hosts = aggregator_.size();
  s.max_hosts = aggregator_.max_hosts();
  s.window_seconds = aggregator_.window().count();
  return s;
}

}  // namespace portcullis::firewall::monitor
