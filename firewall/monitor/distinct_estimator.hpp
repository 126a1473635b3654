#pragma once
// Counts distinct destination addresses in fixed memory (256 bytes): exact
// for up to 64 distinct values (their 32-bit hashes), then a HyperLogLog with
// 256 registers (standard error ~6.5%). Fixed size matters more than
// precision: the monitor keeps two of these per host and must not grow under a
// flood. Input: 32-bit hashes (see hash_address); no untrusted parsing here.

#include <array>
#include <cstdint>

#include "firewall/monitor/packet_parser.hpp"

namespace portcullis::firewall::monitor {

class DistinctEstimator {
 public:
  static constexpr std::size_t kExactLimit = 64;
  static constexpr std::size_t kRegisters = 256;

  void add(std::uint32_t hash);
  void merge(const DistinctEstimator& other);
  std::uint32_t estimate() const;
  bool exact() const { return !dense_; }
  void clear();

 private:
  void densify();
  void add_dense(std::uint32_t hash);
  std::uint8_t* registers() { return reinterpret_cast<std::uint8_t*>(words_.data()); }
  const std::uint8_t* registers() const {
    return reinterpret_cast<const std::uint8_t*>(words_.data());
  }

  // Exact mode: the first count_ words are the distinct hashes seen.
  // Dense mode: the same 256 bytes are the HyperLogLog registers.
  std::array<std::uint32_t, kExactLimit> words_{};
  std::uint8_t count_ = 0;
  bool dense_ = false;
};
static_assert(sizeof(std::array<std::uint32_t, DistinctEstimator::kExactLimit>) ==
              DistinctEstimator::kRegisters);

// Mixes an address into 32 well-spread bits (the estimator needs uniform hashes).
std::uint32_t hash_address(const IpAddress& address);

}  // namespace portcullis::firewall::monitor
