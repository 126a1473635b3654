#include "firewall/monitor/packet_parser.hpp"

#include <gtest/gtest.h>
#include <pcap/dlt.h>

#include <cstring>
#include <random>
#include <vector>

namespace portcullis::firewall::monitor {
namespace {

using Frame = std::vector<std::uint8_t>;

void put16(Frame& f, std::size_t at, std::uint16_t v) {
  f[at] = static_cast<std::uint8_t>(v >> 8);
  f[at + 1] = static_cast<std::uint8_t>(v & 0xff);
}

Frame tcp_header(std::uint16_t dport, std::uint8_t flags) {
  Frame t(20, 0);
  put16(t, 0, 40000);
  put16(t, 2, dport);
  t[12] = 5 << 4;
  t[13] = flags;
  return t;
}

Frame ipv4(std::array<std::uint8_t, 4> src,
           std::array<std::uint8_t, 4> dst,
           const Frame& l4,
           std::uint8_t proto = 6) {
  Frame p(20, 0);
  p[0] = 0x45;
  put16(p, 2, static_cast<std::uint16_t>(20 + l4.size()));
  p[8] = 64;
  p[9] = proto;
  std::memcpy(&p[12], src.data(), 4);
  std::memcpy(&p[16], dst.data(), 4);
  p.insert(p.end(), l4.begin(), l4.end());
  return p;
}

std::array<std::uint8_t, 16> v6(std::uint8_t last) {
  std::array<std::uint8_t, 16> a{0xfd, 0x00, 0, 1};
  a[15] = last;
  return a;
}

Frame ipv6(const std::array<std::uint8_t, 16>& src,
           const std::array<std::uint8_t, 16>& dst,
           std::uint8_t next,
           const Frame& rest) {
  Frame p(40, 0);
  p[0] = 0x60;
  put16(p, 4, static_cast<std::uint16_t>(rest.size()));
  p[6] = next;
  p[7] = 64;
  std::memcpy(&p[8], src.data(), 16);
  std::memcpy(&p[24], dst.data(), 16);
  p.insert(p.end(), rest.begin(), rest.end());
  return p;
}

void tlv(Frame& f, std::uint16_t type, const Frame& value) {
  const auto length = static_cast<std::uint16_t>(4 + value.size());
  std::uint8_t header[4];
  std::memcpy(header, &length, 2);  // host byte order, as DLT_NFLOG delivers it
  std::memcpy(header + 2, &type, 2);
  f.insert(f.end(), header, header + 4);
  f.insert(f.end(), value.begin(), value.end());
  while (f.size() % 4 != 0) {
    f.push_back(0);
  }
}

Frame nflog(const Frame& packet, std::uint8_t family = 2) {
  Frame f{family, 0, 0, 25};
  tlv(f, 1, Frame{0x08, 0x00, 3, 0});        // NFULA_PACKET_HDR
  tlv(f, 10, Frame{'p', 'c', '2', '5', 0});  // NFULA_PREFIX, odd length → padding
  tlv(f, 9, packet);                         // NFULA_PAYLOAD
  return f;
}

Frame ethernet(const Frame& packet, std::uint16_t ethertype, int vlans = 0) {
  Frame f(12, 0xaa);
  for (int i = 0; i < vlans; ++i) {
    f.push_back(0x81);
    f.push_back(0x00);
    f.push_back(0x00);
    f.push_back(0x07);
  }
  f.push_back(static_cast<std::uint8_t>(ethertype >> 8));
  f.push_back(static_cast<std::uint8_t>(ethertype));
  f.insert(f.end(), packet.begin(), packet.end());
  return f;
}

const Frame kSyn4 = ipv4({198, 18, 1, 10}, {198, 18, 2, 20}, tcp_header(25, 0x02));

TEST(PacketParser, Ipv4SynToPort25) {
  auto r = parse_ip(kSyn4);
  ASSERT_EQ(r.status, ParseStatus::syn);
  EXPECT_EQ(r.record.source.to_string(), "198.18.1.10");
  EXPECT_EQ(r.record.destination.to_string(), "198.18.2.20");
  EXPECT_TRUE(r.record.source.v4);
  EXPECT_EQ(r.record.source_port, 40000);
  EXPECT_EQ(r.record.destination_port, 25);
}

TEST(PacketParser, OtherTrafficIsNotCounted) {
  EXPECT_EQ(parse_ip(ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, tcp_header(587, 0x02))).status,
            ParseStatus::other);
  EXPECT_EQ(parse_ip(ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, tcp_header(25, 0x12))).status,
            ParseStatus::other);  // SYN-ACK
  EXPECT_EQ(parse_ip(ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, tcp_header(25, 0x10))).status,
            ParseStatus::other);  // ACK
  EXPECT_EQ(parse_ip(ipv4({1, 2, 3, 4}, {5, 6, 7, 8}, tcp_header(25, 0x02), 17)).status,
            ParseStatus::other);  // UDP
  auto fragment = kSyn4;
  put16(fragment, 6, 0x0010);  // offset 128 bytes: no TCP header in here
  EXPECT_EQ(parse_ip(fragment).status, ParseStatus::other);
}

TEST(PacketParser, Ipv4TruncatedAndInconsistent) {
  for (std::size_t n = 0; n < 20 + 14; ++n) {
    EXPECT_EQ(parse_ip(std::span(kSyn4.data(), n)).status, ParseStatus::malformed) << n;
  }
  auto bad_ihl = kSyn4;
  bad_ihl[0] = 0x44;  // header shorter than 20
  EXPECT_EQ(parse_ip(bad_ihl).status, ParseStatus::malformed);
  auto long_ihl = kSyn4;
  long_ihl[0] = 0x4f;  // 60-byte header in a 40-byte packet
  EXPECT_EQ(parse_ip(long_ihl).status, ParseStatus::malformed);
  auto short_total = kSyn4;
  put16(short_total, 2, 10);
  EXPECT_EQ(parse_ip(short_total).status, ParseStatus::malformed);
  auto total_cuts_tcp = kSyn4;
  put16(total_cuts_tcp, 2, 30);  // claims 10 bytes of TCP
  EXPECT_EQ(parse_ip(total_cuts_tcp).status, ParseStatus::malformed);
  auto bad_offset = kSyn4;
  bad_offset[20 + 12] = 0x40;  // TCP data offset 4
  EXPECT_EQ(parse_ip(bad_offset).status, ParseStatus::malformed);
  EXPECT_EQ(parse_ip(Frame{0x55}).status, ParseStatus::malformed);
  // Ethernet padding after the packet is ignored.
  auto padded = kSyn4;
  padded.resize(64, 0);
  EXPECT_EQ(parse_ip(padded).status, ParseStatus::syn);
}

TEST(PacketParser, Ipv6WithExtensionHeaders) {
  auto plain = ipv6(v6(0x10), v6(0x99), 6, tcp_header(25, 0x02));
  auto r = parse_ip(plain);
  ASSERT_EQ(r.status, ParseStatus::syn);
  EXPECT_EQ(r.record.source.to_string(), "fd00:1::10");
  EXPECT_EQ(r.record.destination.to_string(), "fd00:1::99");
  EXPECT_FALSE(r.record.source.v4);

  // hop-by-hop (8 bytes) → fragment (offset 0) → TCP
  Frame chain{44, 0, 1, 4, 0, 0, 0, 0};  // hop-by-hop: next = fragment, length 8
  Frame fragment{6, 0, 0, 0, 0, 0, 0, 1};
  chain.insert(chain.end(), fragment.begin(), fragment.end());
  auto tcp = tcp_header(25, 0x02);
  chain.insert(chain.end(), tcp.begin(), tcp.end());
  EXPECT_EQ(parse_ip(ipv6(v6(1), v6(2), 0, chain)).status, ParseStatus::syn);

  Frame later_fragment{6, 0, 0x01, 0x00, 0, 0, 0, 1};  // offset 32
  later_fragment.insert(later_fragment.end(), tcp.begin(), tcp.end());
  EXPECT_EQ(parse_ip(ipv6(v6(1), v6(2), 44, later_fragment)).status, ParseStatus::other);
  EXPECT_EQ(parse_ip(ipv6(v6(1), v6(2), 58, Frame(8, 0))).status, ParseStatus::other);  // ICMPv6
}

TEST(PacketParser, Ipv6MaliciousChains) {
  // An option header claiming 2048 bytes.
  Frame huge{6, 255, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(parse_ip(ipv6(v6(1), v6(2), 60, huge)).status, ParseStatus::malformed);
  // A loop of destination-options headers longer than any real packet's chain.
  Frame loop;
  for (int i = 0; i < 20; ++i) {
    Frame h{60, 0, 0, 0, 0, 0, 0, 0};
    loop.insert(loop.end(), h.begin(), h.end());
  }
  EXPECT_EQ(parse_ip(ipv6(v6(1), v6(2), 60, loop)).status, ParseStatus::malformed);
  // Payload length beyond the capture: everything is cut at the capture.
  auto cut = ipv6(v6(1), v6(2), 6, tcp_header(25, 0x02));
  for (std::size_t n = 0; n < 40 + 14; ++n) {
    EXPECT_EQ(parse_ip(std::span(cut.data(), n)).status, ParseStatus::malformed) << n;
  }
  // Payload length shorter than the TCP header.
  auto short_payload = cut;
  put16(short_payload, 4, 8);
  EXPECT_EQ(parse_ip(short_payload).status, ParseStatus::malformed);
}

TEST(PacketParser, NflogWalksTlvsToThePayload) {
  auto r = parse_frame(DLT_NFLOG, nflog(kSyn4));
  ASSERT_EQ(r.status, ParseStatus::syn);
  EXPECT_EQ(r.record.source.to_string(), "198.18.1.10");
  auto r6 = parse_frame(DLT_NFLOG, nflog(ipv6(v6(0x10), v6(0x20), 6, tcp_header(25, 2)), 10));
  ASSERT_EQ(r6.status, ParseStatus::syn);
  EXPECT_EQ(r6.record.destination.to_string(), "fd00:1::20");
  // Netlink's byte-order flag in the type does not hide the payload.
  Frame flagged{2, 0, 0, 25};
  tlv(flagged, 9 | 0x4000, kSyn4);
  EXPECT_EQ(parse_nflog(flagged).status, ParseStatus::syn);
}

TEST(PacketParser, NflogMalformed) {
  const auto good = nflog(kSyn4);
  for (std::size_t n = 0; n < good.size(); ++n) {
    EXPECT_EQ(parse_nflog(std::span(good.data(), n)).status, ParseStatus::malformed) << n;
  }
  auto version = good;
  version[1] = 1;
  EXPECT_EQ(parse_nflog(version).status, ParseStatus::malformed);
  // A TLV length of 0 would loop forever; of 2 is shorter than its header;
  // 0xffff runs past the frame.
  for (std::uint16_t length : {0, 2, 0xffff}) {
    auto bad = good;
    std::memcpy(&bad[4], &length, 2);
    EXPECT_EQ(parse_nflog(bad).status, ParseStatus::malformed) << length;
  }
  Frame no_payload{2, 0, 0, 25};
  tlv(no_payload, 1, Frame{8, 0, 3, 0});
  EXPECT_EQ(parse_nflog(no_payload).status, ParseStatus::malformed);
  // A payload TLV whose IP header lies about its size.
  auto lying = kSyn4;
  lying[0] = 0x4f;
  EXPECT_EQ(parse_nflog(nflog(lying)).status, ParseStatus::malformed);
}

TEST(PacketParser, EthernetSllAndVlan) {
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(kSyn4, 0x0800)).status, ParseStatus::syn);
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(kSyn4, 0x0800, 1)).status, ParseStatus::syn);
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(kSyn4, 0x0800, 2)).status, ParseStatus::syn);
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(kSyn4, 0x0800, 3)).status, ParseStatus::malformed);
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(kSyn4, 0x0806)).status, ParseStatus::other);  // ARP
  auto six = ipv6(v6(1), v6(2), 6, tcp_header(25, 2));
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(six, 0x86dd)).status, ParseStatus::syn);
  // IPv6 ethertype with an IPv4 packet behind it.
  EXPECT_EQ(parse_frame(DLT_EN10MB, ethernet(kSyn4, 0x86dd)).status, ParseStatus::malformed);
  const auto eth = ethernet(kSyn4, 0x0800, 1);
  for (std::size_t n = 0; n < 18 + 20 + 14; ++n) {
    EXPECT_EQ(parse_ethernet(std::span(eth.data(), n)).status, ParseStatus::malformed) << n;
  }

  Frame sll(16, 0);
  put16(sll, 14, 0x0800);
  sll.insert(sll.end(), kSyn4.begin(), kSyn4.end());
  EXPECT_EQ(parse_frame(DLT_LINUX_SLL, sll).status, ParseStatus::syn);
  EXPECT_EQ(parse_frame(DLT_LINUX_SLL, std::span(sll.data(), 15)).status, ParseStatus::malformed);
  Frame sll2(20, 0);
  put16(sll2, 0, 0x86dd);
  sll2.insert(sll2.end(), six.begin(), six.end());
  EXPECT_EQ(parse_frame(DLT_LINUX_SLL2, sll2).status, ParseStatus::syn);
  EXPECT_EQ(parse_frame(DLT_RAW, kSyn4).status, ParseStatus::syn);
  EXPECT_EQ(parse_frame(DLT_IEEE802_11, kSyn4).status, ParseStatus::unsupported);
}

TEST(PacketParser, RandomBytesNeverCrash) {
  // Run under ASan in CI; here it proves no input throws or loops.
  std::mt19937 rng(25);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<std::size_t> length(0, 200);
  const int types[] = {DLT_NFLOG, DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2, DLT_RAW};
  for (int i = 0; i < 50000; ++i) {
    Frame f(length(rng));
    for (auto& b : f) {
      b = static_cast<std::uint8_t>(byte(rng));
    }
    if (!f.empty() && i % 2 == 0) {
      f[0] = static_cast<std::uint8_t>((i % 4 == 0 ? 0x40 : 0x60) | (f[0] & 0x0f));
    }
    (void)parse_frame(types[i % 5], f);
  }
}

}  // namespace
}  // namespace portcullis::firewall::monitor
