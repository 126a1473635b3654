#include "firewall/monitor/packet_parser.hpp"

#include <pcap/dlt.h>

#include <algorithm>
#include <cstring>

namespace portcullis::firewall::monitor {
namespace {

using Bytes = std::span<const std::uint8_t>;

constexpr std::uint8_t kProtoTcp = 6;
constexpr std::uint16_t kEtherIpv4 = 0x0800;
constexpr std::uint16_t kEtherIpv6 = 0x86dd;
constexpr std::uint8_t kTcpSyn = 0x02;
constexpr std::uint8_t kTcpAck = 0x10;
constexpr std::size_t kTcpFlagsEnd = 14;  // ports, seq, ack, offset and flags bytes
// A chain longer than this is not a real packet; stop walking it.
constexpr int kMaxIpv6ExtensionHeaders = 8;
constexpr int kMaxVlanTags = 2;
// NFLOG (linux/netfilter/nfnetlink_log.h): attribute types and netlink's flag bits.
constexpr std::uint16_t kNfulaPayload = 9;
constexpr std::uint16_t kNlaTypeMask = 0x3fff;

std::uint16_t be16(const std::uint8_t* p) {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

ParseResult with(ParseStatus status) {
  ParseResult r;
  r.status = status;
  return r;
}

ParseResult parse_tcp(Bytes tcp, const IpAddress& source, const IpAddress& destination) {
  if (tcp.size() < kTcpFlagsEnd) {
    return with(ParseStatus::malformed);
  }
  if ((tcp[12] >> 4) < 5) {  // data offset below the fixed header
    return with(ParseStatus::malformed);
  }
  const auto destination_port = be16(&tcp[2]);
  const auto flags = tcp[13];
  if (destination_port != kSmtpPort || (flags & (kTcpSyn | kTcpAck)) != kTcpSyn) {
    return with(ParseStatus::other);
  }
  ParseResult r;
  r.status = ParseStatus::syn;
  r.record.source = source;
  r.record.destination = destination;
  r.record.source_port = be16(&tcp[0]);
  r.record.destination_port = destination_port;
  return r;
}

ParseResult parse_ipv4(Bytes p) {
  if (p.size() < 20) {
    return with(ParseStatus::malformed);
  }
  const std::size_t header_length = static_cast<std::size_t>(p[0] & 0x0f) * 4;
  const std::size_t total_length = be16(&p[2]);
  if (header_length < 20 || header_length > p.size() || total_length < header_length) {
    return with(ParseStatus::malformed);
  }
  // Link-layer padding may follow the packet; a short capture may cut it.
  const std::size_t end = std::min(p.size(), total_length);
  if ((be16(&p[6]) & 0x1fff) != 0 || p[9] != kProtoTcp) {
    return with(ParseStatus::other);  // a later fragment carries no TCP header
  }
  return parse_tcp(p.subspan(header_length, end - header_length), IpAddress::from_v4(&p[12]),
                   IpAddress::from_v4(&p[16]));
}

ParseResult parse_ipv6(Bytes p) {
  if (p.size() < 40) {
    return with(ParseStatus::malformed);
  }
  const std::size_t payload_length = be16(&p[4]);
  // 0 = a jumbogram (RFC 2675): the capture length is all we have.
  const std::size_t end = payload_length == 0 ? p.size() : std::min(p.size(), 40 + payload_length);
  std::uint8_t next = p[6];
  std::size_t offset = 40;
  for (int i = 0; i <= kMaxIpv6ExtensionHeaders; ++i) {
    if (next == kProtoTcp) {
      return parse_tcp(p.subspan(offset, end - offset), IpAddress::from_v6(&p[8]),
                       IpAddress::from_v6(&p[24]));
    }
    std::size_t length = 0;
    switch (next) {
      case 0:   // hop-by-hop options
      case 43:  // routing
      case 60:  // destination options
        if (end - offset < 2) {
          return with(ParseStatus::malformed);
        }
        length = (static_cast<std::size_t>(p[offset + 1]) + 1) * 8;
        break;
      case 44:  // fragment
        if (end - offset < 8) {
          return with(ParseStatus::malformed);
        }
        if ((be16(&p[offset + 2]) & 0xfff8) != 0) {
          return with(ParseStatus::other);
        }
        length = 8;
        break;
      case 51:  // authentication header: length in 4-octet units, minus 2
        if (end - offset < 2) {
          return with(ParseStatus::malformed);
        }
        length = (static_cast<std::size_t>(p[offset + 1]) + 2) * 4;
        break;
      default:  // no next header, ESP, UDP, ICMPv6, ...
        return with(ParseStatus::other);
    }
    if (length > end - offset) {
      return with(ParseStatus::malformed);
    }
    next = p[offset];
    offset += length;
  }
  return with(ParseStatus::malformed);
}

ParseResult parse_ethertype(std::uint16_t ethertype, Bytes payload) {
  switch (ethertype) {
    case kEtherIpv4:
      return parse_ipv4(payload);
    case kEtherIpv6:
      return parse_ipv6(payload);
    default:
      return with(ParseStatus::other);
  }
}

}  // namespace

IpAddress IpAddress::from_v4(const std::uint8_t* four) {
  IpAddress a;
  a.v4 = true;
  a.bytes[10] = 0xff;
  a.bytes[11] = 0xff;
  std::memcpy(&a.bytes[12], four, 4);
  return a;
}

IpAddress IpAddress::from_v6(const std::uint8_t* sixteen) {
  IpAddress a;
  std::memcpy(a.bytes.data(), sixteen, 16);
  return a;
}

IpAddress IpAddress::from(const boost::asio::ip::address& address) {
  if (address.is_v4()) {
    const auto b = address.to_v4().to_bytes();
    return from_v4(b.data());
  }
  const auto b = address.to_v6().to_bytes();
  return from_v6(b.data());
}

boost::asio::ip::address IpAddress::to_address() const {
  if (v4) {
    return boost::asio::ip::address_v4(
        boost::asio::ip::address_v4::bytes_type{bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  boost::asio::ip::address_v6::bytes_type b;
  std::copy(bytes.begin(), bytes.end(), b.begin());
  return boost::asio::ip::address_v6(b);
}

std::string IpAddress::to_string() const {
  return to_address().to_string();
}

ParseResult parse_ip(Bytes packet) {
  if (packet.empty()) {
    return with(ParseStatus::malformed);
  }
  switch (packet[0] >> 4) {
    case 4:
      return parse_ipv4(packet);
    case 6:
      return parse_ipv6(packet);
    default:
      return with(ParseStatus::malformed);
  }
}

// DLT_NFLOG: a 4-byte header (family, version 0, resource id) and then
// netlink-style TLVs whose length and type are in host byte order (libpcap
// swaps them when reading a file from another host); each TLV is padded to 4.
ParseResult parse_nflog(Bytes frame) {
  if (frame.size() < 4 || frame[1] != 0) {
    return with(ParseStatus::malformed);
  }
  std::size_t offset = 4;
  while (frame.size() - offset >= 4) {
    std::uint16_t length = 0;
    std::uint16_t type = 0;
    std::memcpy(&length, &frame[offset], 2);
    std::memcpy(&type, &frame[offset + 2], 2);
    if (length < 4 || length > frame.size() - offset) {
      return with(ParseStatus::malformed);
    }
    if ((type & kNlaTypeMask) == kNfulaPayload) {
      return parse_ip(frame.subspan(offset + 4, length - 4u));
    }
    const std::size_t padded = (static_cast<std::size_t>(length) + 3) & ~std::size_t{3};
    if (padded >= frame.size() - offset) {
      break;
    }
    offset += padded;
  }
  return with(ParseStatus::malformed);  // no payload attribute
}

ParseResult parse_ethernet(Bytes frame) {
  if (frame.size() < 14) {
    return with(ParseStatus::malformed);
  }
  std::size_t offset = 12;
  std::uint16_t ethertype = be16(&frame[offset]);
  for (int tags = 0; ethertype == 0x8100 || ethertype == 0x88a8 || ethertype == 0x9100; ++tags) {
    if (tags == kMaxVlanTags || frame.size() - offset < 8) {
      return with(ParseStatus::malformed);
    }
    offset += 4;
    ethertype = be16(&frame[offset]);
  }
  return parse_ethertype(ethertype, frame.subspan(offset + 2));
}

ParseResult parse_linux_sll(Bytes frame) {
  if (frame.size() < 16) {
    return with(ParseStatus::malformed);
  }
  return parse_ethertype(be16(&frame[14]), frame.subspan(16));
}

ParseResult parse_linux_sll2(Bytes frame) {
  if (frame.size() < 20) {
    return with(ParseStatus::malformed);
  }
  return parse_ethertype(be16(&frame[0]), frame.subspan(20));
}

ParseResult parse_frame(int link_type, Bytes frame) {
  switch (link_type) {
    case DLT_NFLOG:
      return parse_nflog(frame);
    case DLT_EN10MB:
      return parse_ethernet(frame);
    case DLT_LINUX_SLL:
      return parse_linux_sll(frame);
    case DLT_LINUX_SLL2:
      return parse_linux_sll2(frame);
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
      return parse_ip(frame);
    default:
      return with(ParseStatus::unsupported);
  }
}

}  // namespace portcullis::firewall::monitor
