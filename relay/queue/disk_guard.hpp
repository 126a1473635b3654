#pragma once
// Watches the free space of the state directory's file system so the relay
// refuses new mail (452 4.3.1, RFC 3463) before the queue database cannot
// grow, instead of failing commits it already half-accepted. Mail already
// queued keeps being delivered, which frees space.
//
// statvfs is a syscall that may block (a network file system): it runs on
// the guard's own thread every interval, and the SMTP sessions only read an
// atomic flag. The log says when the state changes, not per message. Once
// low, mail flows again only when free space is back above the threshold
// plus 5% of it, so space hovering at the threshold does not flap.
//
// Untrusted input: none. Needs only to stat the state directory.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "gateway/core/config/config.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::relay::queue {

struct FreeSpace {
  std::uint64_t available = 0;  // for unprivileged users (f_bavail), in bytes
  std::uint64_t total = 0;      // the file system's size, in bytes
};

// statvfs(2) of the file system holding `dir`.
Result<FreeSpace> statvfs_free_space(const std::filesystem::path& dir);

class DiskGuard {
 public:
  using Probe = std::function<Result<FreeSpace>(const std::filesystem::path&)>;

  DiskGuard(std::filesystem::path dir,
            config::FreeSpaceThreshold threshold,
            std::chrono::milliseconds interval = std::chrono::seconds(1),
            Probe probe = statvfs_free_space);
  DiskGuard(const DiskGuard&) = delete;
  DiskGuard& operator=(const DiskGuard&) = delete;
  ~DiskGuard();  // stop()

  // Probes now (so the first session already sees the state), then every
  // interval on the guard's own thread. Nothing when the guard is off.
  void start();
  void stop();  // idempotent, prompt

  // One probe on the caller's thread; returns low(). start() uses it too.
  bool refresh();

  // True while new mail should be refused. Cheap: any thread, any time.
  bool low() const { return low_.load(std::memory_order_acquire); }
  // Both thresholds 0: the guard never refuses.
  bool enabled() const { return threshold_.bytes != 0 || threshold_.percent != 0; }
  // The threshold in bytes for a file system of `total` bytes.
  std::uint64_t threshold_bytes(std::uint64_t total) const;

 private:
  void run();

  const std::filesystem::path dir_;
  const config::FreeSpaceThreshold threshold_;
  const std::chrono::milliseconds interval_;
  const Probe probe_;

  std::atomic<bool> low_{false};
  std::mutex refresh_mutex_;  // one probe at a time; probe_failed_
  bool probe_failed_ = false;

  std::mutex mutex_;  // stopping_
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace portcullis::relay::queue
