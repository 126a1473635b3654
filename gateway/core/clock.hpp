#pragma once
// Time is injected so that rate limiters, lockouts and schedulers are tested
// with a fake clock instead of sleeping.

#include <chrono>

namespace portcullis {

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
  // Wall-clock seconds since the epoch, for records and headers.
  virtual std::int64_t unix_now() const = 0;
};

class SystemClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
  std::int64_t unix_now() const override {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

class FakeClock final : public Clock {
 public:
  time_point now() const override { return now_; }
  std::int64_t unix_now() const override {
    return unix_base_ +
           std::chrono::duration_cast<std::chrono::seconds>(now_.time_since_epoch()).count();
  }
  void advance(duration d) { now_ += d; }
  void set(time_point t) { now_ = t; }

 private:
  time_point now_{};
  std::int64_t unix_base_ = 1'700'000'000;
};

}  // namespace portcullis
