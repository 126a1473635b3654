#include "relay/queue/message.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <random>
#include <utility>

namespace portcullis::relay::queue {
namespace {

constexpr std::string_view kBase62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kTimeChars = 10;  // 62^10 microseconds lasts until year ~28600
constexpr std::size_t kRandomChars = 8;

// Strictly increasing microseconds, so two ids made in the same microsecond
// (or across a backwards clock step) still sort in creation order.
std::uint64_t next_micros() {
  static std::atomic<std::uint64_t> last{0};
  const auto now =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  std::uint64_t prev = last.load(std::memory_order_relaxed);
  std::uint64_t next = 0;
  do {
    next = now > prev ? now : prev + 1;
  } while (!last.compare_exchange_weak(prev, next, std::memory_order_relaxed));
  return next;
}

std::mt19937_64& random_engine() {
  thread_local std::mt19937_64 engine = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return engine;
}

}  // namespace

std::string new_message_id() {
  std::string id(kTimeChars + kRandomChars, '0');
  std::uint64_t micros = next_micros();
  for (std::size_t i = kTimeChars; i-- > 0;) {
    id[i] = kBase62[micros % 62];
    micros /= 62;
  }
  std::uniform_int_distribution<std::size_t> digit(0, kBase62.size() - 1);
  auto& engine = random_engine();
  for (std::size_t i = kTimeChars; i < id.size(); ++i) {
    id[i] = kBase62[digit(engine)];
  }
  return id;
}

namespace {
constexpr std::array<std::pair<RecipientStatus, std::string_view>, 5> kStatusNames = {{
    {RecipientStatus::queued, "queued"},
    {RecipientStatus::deferred, "deferred"},
    {RecipientStatus::delivered, "delivered"},
    {RecipientStatus::bounced, "bounced"},
    {RecipientStatus::expired, "expired"},
}};
}  // namespace

std::string_view to_string(RecipientStatus status) {
  for (const auto& [value, name] : kStatusNames) {
    if (value == status) {
      return name;
    }
  }
  return "unknown";
}

std::optional<RecipientStatus> parse_recipient_status(std::string_view text) {
  for (const auto& [value, name] : kStatusNames) {
    if (name == text) {
      return value;
    }
  }
  return std::nullopt;
}

}  // namespace portcullis::relay::queue
