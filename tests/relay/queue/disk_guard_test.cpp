#include "relay/queue/disk_guard.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <thread>

namespace portcullis::relay::queue {
namespace {

namespace fs = std::filesystem;

// A file system whose free space the test sets; counts the probes.
struct FakeDisk {
  std::atomic<std::uint64_t> available{1'000'000};
  std::uint64_t total = 10'000'000;
  std::atomic<bool> broken{false};
  std::atomic<int> probes{0};

  DiskGuard::Probe probe() {
    return [this](const fs::path&) -> Result<FreeSpace> {
      ++probes;
      if (broken) {
        return make_error("statvfs: Input/output error");
      }
      return FreeSpace{available.load(), total};
    };
  }
};

TEST(DiskGuardTest, LowBelowTheThresholdInBytes) {
  FakeDisk disk;
  DiskGuard guard("/state", {100'000, 0}, std::chrono::hours(1), disk.probe());
  EXPECT_FALSE(guard.low());
  disk.available = 100'000;
  EXPECT_FALSE(guard.refresh());
  disk.available = 99'999;
  EXPECT_TRUE(guard.refresh());
  EXPECT_TRUE(guard.low());
  // Back only once 5% over the threshold: space hovering there does not flap.
  disk.available = 104'999;
  EXPECT_TRUE(guard.refresh());
  disk.available = 105'000;
  EXPECT_FALSE(guard.refresh());
  EXPECT_FALSE(guard.low());
}

TEST(DiskGuardTest, PercentOfTheFileSystem) {
  FakeDisk disk;
  DiskGuard guard("/state", {0, 5}, std::chrono::hours(1), disk.probe());
  EXPECT_EQ(guard.threshold_bytes(10'000'000), 500'000u);
  disk.available = 500'000;
  EXPECT_FALSE(guard.refresh());
  disk.available = 499'999;
  EXPECT_TRUE(guard.refresh());
}

TEST(DiskGuardTest, ZeroThresholdIsOffAndNeverProbes) {
  FakeDisk disk;
  disk.available = 0;
  DiskGuard guard("/state", {0, 0}, std::chrono::milliseconds(1), disk.probe());
  EXPECT_FALSE(guard.enabled());
  guard.start();
  EXPECT_FALSE(guard.refresh());
  EXPECT_FALSE(guard.low());
  guard.stop();
  EXPECT_EQ(disk.probes.load(), 0);
}

TEST(DiskGuardTest, AFailedProbeKeepsTheLastState) {
  FakeDisk disk;
  DiskGuard guard("/state", {100'000, 0}, std::chrono::hours(1), disk.probe());
  disk.broken = true;
  EXPECT_FALSE(guard.refresh());
  disk.broken = false;
  disk.available = 1;
  EXPECT_TRUE(guard.refresh());
  disk.broken = true;
  disk.available = 1'000'000;
  EXPECT_TRUE(guard.refresh());
  disk.broken = false;
  EXPECT_FALSE(guard.refresh());
}

TEST(DiskGuardTest, StartProbesAtOnceThenOnItsThread) {
  FakeDisk disk;
  disk.available = 1;
  DiskGuard guard("/state", {100'000, 0}, std::chrono::milliseconds(1), disk.probe());
  guard.start();
  EXPECT_TRUE(guard.low());  // the first session already sees it
  disk.available = 1'000'000;
  while (guard.low()) {  // the guard's thread notices; a hang here is the failure
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  guard.stop();
  const int probes = disk.probes.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_EQ(disk.probes.load(), probes);  // stopped means stopped
  guard.stop();                           // idempotent
}

TEST(DiskGuardTest, StopDoesNotWaitOutTheInterval) {
  FakeDisk disk;
  DiskGuard guard("/state", {100'000, 0}, std::chrono::hours(24), disk.probe());
  guard.start();
  guard.stop();  // a hang here is the failure
  EXPECT_EQ(disk.probes.load(), 1);
}

TEST(DiskGuardTest, StatvfsOfARealDirectory) {
  auto space = statvfs_free_space(fs::temp_directory_path());
  ASSERT_TRUE(space) << space.error().message;
  EXPECT_GT(space->total, 0u);
  EXPECT_LE(space->available, space->total);
  auto missing = statvfs_free_space("/no/such/directory/here");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("/no/such/directory/here"), std::string::npos);
}

}  // namespace
}  // namespace portcullis::relay::queue
