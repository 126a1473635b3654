#include "firewall/monitor/distinct_estimator.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace portcullis::firewall::monitor {
namespace {

// splitmix64's finaliser: a bijection with full avalanche.
std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

std::uint32_t hash_address(const IpAddress& address) {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  std::memcpy(&hi, address.bytes.data(), 8);
  std::memcpy(&lo, address.bytes.data() + 8, 8);
  const auto h = mix64(mix64(hi ^ 0x9e3779b97f4a7c15ULL) ^ lo);
  return static_cast<std::uint32_t>(h >> 32);
}

void DistinctEstimator::clear() {
  words_.fill(0);
  count_ = 0;
  dense_ = false;
}

void DistinctEstimator::add(std::uint32_t hash) {
  if (dense_) {
    add_dense(hash);
    return;
  }
  const auto end = words_.begin() + count_;
  if (std::find(words_.begin(), end, hash) != end) {
    return;
  }
  if (count_ < kExactLimit) {
    words_[count_++] = hash;
    return;
  }
  densify();
  add_dense(hash);
}

void DistinctEstimator::add_dense(std::uint32_t hash) {
  // Top 8 bits pick the register; the rank is the position of the first 1 in
  // the remaining 24 bits (25 when they are all zero).
  const auto index = hash >> 24;
  const auto rest = hash << 8;
  const auto rank = static_cast<std::uint8_t>(rest == 0 ? 25 : std::countl_zero(rest) + 1);
  auto* r = registers();
  r[index] = std::max(r[index], rank);
}

void DistinctEstimator::densify() {
  if (dense_) {
    return;
  }
  const auto hashes = words_;
  const auto n = count_;
  words_.fill(0);
  dense_ = true;
  count_ = 0;
  for (std::size_t i = 0; i < n; ++i) {
    add_dense(hashes[i]);
  }
}

void DistinctEstimator::merge(const DistinctEstimator& other) {
  if (!other.dense_) {
    for (std::size_t i = 0; i < other.count_; ++i) {
      add(other.words_[i]);
    }
    return;
  }
  densify();
  auto* mine = registers();
  const auto* theirs = other.registers();
  for (std::size_t i = 0; i < kRegisters; ++i) {
    mine[i] = std::max(mine[i], theirs[i]);
  }
}

std::uint32_t DistinctEstimator::estimate() const {
  if (!dense_) {
    return count_;
  }
  constexpr double m = kRegisters;
  constexpr double alpha = 0.7213 / (1.0 + 1.079 / m);
  double sum = 0;
  std::size_t zeros = 0;
  const auto* r = registers();
  for (std::size_t i = 0; i < kRegisters; ++i) {
    sum += std::ldexp(1.0, -static_cast<int>(r[i]));
    zeros += r[i] == 0 ? 1 : 0;
  }
  double e = alpha * m * m / sum;
  if (e <= 2.5 * m && zeros > 0) {
    e = m * std::log(m / static_cast<double>(zeros));  // linear counting for small ranges
  }
  // Densified only after 64 distinct values: never report fewer.
  return std::max<std::uint32_t>(static_cast<std::uint32_t>(std::lround(e)), kExactLimit + 1);
}

}  // namespace portcullis::firewall::monitor
