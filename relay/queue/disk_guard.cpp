#include "relay/queue/disk_guard.hpp"

#include <sys/statvfs.h>

#include <cerrno>
#include <cmath>
#include <string>
#include <system_error>
#include <utility>

#include "gateway/core/log/log.hpp"

namespace portcullis::relay::queue {

Result<FreeSpace> statvfs_free_space(const std::filesystem::path& dir) {
  struct statvfs st {};
  if (::statvfs(dir.c_str(), &st) != 0) {
    return make_error("statvfs " + dir.string() + ": " + std::generic_category().message(errno));
  }
  const auto unit = static_cast<std::uint64_t>(st.f_frsize != 0 ? st.f_frsize : st.f_bsize);
  return FreeSpace{static_cast<std::uint64_t>(st.f_bavail) * unit,
                   static_cast<std::uint64_t>(st.f_blocks) * unit};
}

DiskGuard::DiskGuard(std::filesystem::path dir,
                     config::FreeSpaceThreshold threshold,
                     std::chrono::milliseconds interval,
                     Probe probe)
    : dir_(std::move(dir)), threshold_(threshold), interval_(interval), probe_(std::move(probe)) {}

DiskGuard::~DiskGuard() {
  stop();
}

std::uint64_t DiskGuard::threshold_bytes(std::uint64_t total) const {
  if (threshold_.percent > 0) {
    return static_cast<std::uint64_t>(
        std::ceil(static_cast<double>(total) * threshold_.percent / 100.0));
  }
  return threshold_.bytes;
}

bool DiskGuard::refresh() {
  std::lock_guard lock(refresh_mutex_);
  if (!enabled()) {
    return false;
  }
  auto space = probe_(dir_);
  if (!space) {
    // Keep the last state: an unreadable file system is no reason to start
    // or stop refusing mail. Said once until a probe works again.
    if (!probe_failed_) {
      log::error("disk_space_unknown", {{"dir", dir_.string()}, {"error", space.error().message}});
      probe_failed_ = true;
    }
    return low();
  }
  probe_failed_ = false;
  const std::uint64_t threshold = threshold_bytes(space->total);
  const bool was_low = low();
  const bool now_low =
      was_low ? space->available < threshold + threshold / 20 : space->available < threshold;
  if (now_low != was_low) {
    low_.store(now_low, std::memory_order_release);
    if (now_low) {
      log::warning("disk_space_low", {{"dir", dir_.string()},
                                      {"available", space->available},
                                      {"threshold", threshold},
                                      {"action", "new mail refused with 452 4.3.1"}});
    } else {
      log::info("disk_space_ok", {{"dir", dir_.string()},
                                  {"available", space->available},
                                  {"threshold", threshold},
                                  {"action", "new mail accepted again"}});
    }
  }
  return now_low;
}

void DiskGuard::start() {
  if (!enabled()) {
    return;
  }
  refresh();
  std::lock_guard lock(mutex_);
  if (!thread_.joinable() && !stopping_) {
    thread_ = std::thread([this] { run(); });
  }
}

void DiskGuard::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void DiskGuard::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    refresh();
    lock.lock();
  }
}

}  // namespace portcullis::relay::queue
