#include "gateway/core/tenants/tenant_directory.hpp"

#include <algorithm>
#include <cstring>

#include "gateway/core/net/prefix.hpp"

namespace portcullis::tenants {
namespace {

using Bytes16 = std::array<unsigned char, 16>;

std::uint32_t mask_v4(std::uint32_t value, std::uint8_t length) {
  return length == 0 ? 0 : value & (~std::uint32_t{0} << (32 - length));
}

Bytes16 mask_v6(Bytes16 bytes, std::uint8_t length) {
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const int bits = std::clamp(static_cast<int>(length) - static_cast<int>(i) * 8, 0, 8);
    bytes[i] &= static_cast<unsigned char>(0xff00u >> bits);
  }
  return bytes;
}

// The table for `length`, created in longest-first order if missing.
template <class Tables>
auto& table_for(Tables& tables, std::uint8_t length) {
  auto it = std::find_if(tables.begin(), tables.end(),
                         [&](const auto& entry) { return entry.first <= length; });
  if (it == tables.end() || it->first != length) {
    it = tables.insert(it, {length, {}});
  }
  return it->second;
}

}  // namespace

std::size_t TenantDirectory::Key16Hash::operator()(const Bytes16& key) const noexcept {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  std::memcpy(&high, key.data(), 8);
  std::memcpy(&low, key.data() + 8, 8);
  return std::hash<std::uint64_t>{}(high ^ (low * 0x9e3779b97f4a7c15ull));
}

TenantDirectory::TenantDirectory(std::vector<store::Tenant> tenants)
    : tenants_(std::move(tenants)) {
  for (std::size_t i = 0; i < tenants_.size(); ++i) {
    by_id_.emplace(tenants_[i].id, i);
    for (const auto& subnet : tenants_[i].subnets) {
      // The store keeps tenants' subnets disjoint; on a duplicate the first tenant keeps it.
      auto network = subnet.network;
      auto length = subnet.length;
      if (network.is_v6() && network.to_v6().is_v4_mapped() && length >= 96) {
        network = net::normalize(network);
        length = static_cast<std::uint8_t>(length - 96);
      }
      if (network.is_v4()) {
        length = std::min<std::uint8_t>(length, 32);
        table_for(v4_, length).emplace(mask_v4(network.to_v4().to_uint(), length), i);
      } else {
        length = std::min<std::uint8_t>(length, 128);
        table_for(v6_, length).emplace(mask_v6(network.to_v6().to_bytes(), length), i);
      }
    }
  }
}

const store::Tenant* TenantDirectory::find(std::string_view id) const {
  const auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tenants_[it->second];
}

const store::Tenant* TenantDirectory::find_by_address(const boost::asio::ip::address& a) const {
  const auto address = net::normalize(a);
  if (address.is_v4()) {
    const auto value = address.to_v4().to_uint();
    for (const auto& [length, table] : v4_) {
      if (const auto it = table.find(mask_v4(value, length)); it != table.end()) {
        return &tenants_[it->second];
      }
    }
    return nullptr;
  }
  const auto bytes = address.to_v6().to_bytes();
  for (const auto& [length, table] : v6_) {
    if (const auto it = table.find(mask_v6(bytes, length)); it != table.end()) {
      return &tenants_[it->second];
    }
  }
  return nullptr;
}

TenantRegistry::TenantRegistry() : current_(std::make_shared<const TenantDirectory>()) {}

TenantRegistry::TenantRegistry(std::shared_ptr<const TenantDirectory> initial)
    : current_(initial ? std::move(initial) : std::make_shared<const TenantDirectory>()) {}

std::shared_ptr<const TenantDirectory> TenantRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void TenantRegistry::publish(std::shared_ptr<const TenantDirectory> directory) {
  if (!directory) {
    directory = std::make_shared<const TenantDirectory>();
  }
  std::lock_guard lock(mutex_);
  current_.swap(directory);
  // `directory` now holds the old snapshot; it is released after the lock.
}

}  // namespace portcullis::tenants
