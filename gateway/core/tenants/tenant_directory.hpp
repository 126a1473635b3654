#pragma once
// Read-only view of the tenants for the data path: by id (AUTH) and by client
// address (intercepted port-25 flows, where the source address is all we know
// about the peer). Built from the store, published as an immutable snapshot;
// lookups take no lock beyond the pointer swap.

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/core/store/tenant.hpp"

namespace portcullis::tenants {

class TenantDirectory {
 public:
  TenantDirectory() = default;
  explicit TenantDirectory(std::vector<store::Tenant> tenants);

  const store::Tenant* find(std::string_view id) const;
  // Longest-prefix match; v4-mapped IPv6 addresses are looked up as IPv4.
  // Suspended tenants are returned too: the caller decides.
  const store::Tenant* find_by_address(const boost::asio::ip::address& address) const;

  const std::vector<store::Tenant>& tenants() const { return tenants_; }

 private:
  struct IdHash {
    using is_transparent = void;  // find(string_view) without a temporary string
    std::size_t operator()(std::string_view id) const noexcept {
      return std::hash<std::string_view>{}(id);
    }
  };
  struct Key16Hash {
    std::size_t operator()(const std::array<unsigned char, 16>& key) const noexcept;
  };
  // One hash table per prefix length present, longest first: a lookup costs
  // one probe per distinct length, independent of the number of tenants.
  template <class Key, class Hash>
  using Tables = std::vector<std::pair<std::uint8_t, std::unordered_map<Key, std::size_t, Hash>>>;

  std::vector<store::Tenant> tenants_;
  std::unordered_map<std::string, std::size_t, IdHash, std::equal_to<>> by_id_;
  Tables<std::uint32_t, std::hash<std::uint32_t>> v4_;
  Tables<std::array<unsigned char, 16>, Key16Hash> v6_;
};

// Holds the current snapshot; the control plane publishes a new one after each
// change, sessions keep the one they started with.
class TenantRegistry {
 public:
  TenantRegistry();
  explicit TenantRegistry(std::shared_ptr<const TenantDirectory> initial);

  std::shared_ptr<const TenantDirectory> snapshot() const;         // never null
  void publish(std::shared_ptr<const TenantDirectory> directory);  // null = empty

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const TenantDirectory> current_;
};

}  // namespace portcullis::tenants
