#include "relay/smtp/original_destination.hpp"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <sstream>

namespace portcullis::relay::smtp {

std::string original_destination(asio::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  const auto local = socket.local_endpoint(ec);
  if (ec) {
    return {};
  }
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  const bool v6 = local.address().is_v6() && !local.address().to_v6().is_v4_mapped();
  const int rc =
      v6 ? getsockopt(socket.native_handle(), SOL_IPV6, IP6T_SO_ORIGINAL_DST, &storage, &length)
         : getsockopt(socket.native_handle(), SOL_IP, SO_ORIGINAL_DST, &storage, &length);
  if (rc != 0) {
    return {};
  }
  asio::ip::tcp::endpoint original;
  if (storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    original = {asio::ip::address_v4(ntohl(in->sin_addr.s_addr)), ntohs(in->sin_port)};
  } else if (storage.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    asio::ip::address_v6::bytes_type bytes;
    std::copy(std::begin(in6->sin6_addr.s6_addr), std::end(in6->sin6_addr.s6_addr), bytes.begin());
    original = {asio::ip::address_v6(bytes), ntohs(in6->sin6_port)};
  } else {
    return {};
  }
  // Without a translation the kernel reports the local endpoint itself.
  if (original == local) {
    return {};
  }
  std::ostringstream out;
  out << original;
  return out.str();
}

}  // namespace portcullis::relay::smtp
