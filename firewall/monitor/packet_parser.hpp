#pragma once
// Decodes captured frames into port-25 SYN records for the egress monitor.
// Untrusted input: every byte of a frame comes from a tenant host (or whoever
// can send to the gateway), so every read is bounds-checked against the
// captured length, TLV and header lengths are validated before use, and a bad
// frame yields ParseStatus::malformed, never a read past the buffer.
// Link types: DLT_NFLOG (TLVs walked to NFULA_PAYLOAD), DLT_EN10MB (up to two
// VLAN tags), DLT_LINUX_SLL / SLL2, and raw IPv4/IPv6.

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <span>
#include <string>

namespace portcullis::firewall::monitor {

// An address in 16 bytes; IPv4 as v4-mapped (::ffff:a.b.c.d) so that one key
// type serves both families.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v4 = false;

  static IpAddress from_v4(const std::uint8_t* four);
  static IpAddress from_v6(const std::uint8_t* sixteen);
  static IpAddress from(const boost::asio::ip::address& address);
  boost::asio::ip::address to_address() const;
  std::string to_string() const;
  bool operator==(const IpAddress&) const = default;
};

struct SynRecord {
  IpAddress source;
  IpAddress destination;
  std::uint16_t source_port = 0;
  std::uint16_t destination_port = 0;
};

enum class ParseStatus {
  syn,          // a TCP SYN (without ACK) to port 25: record is filled
  other,        // well-formed, but something else (other port, protocol, later fragment)
  malformed,    // truncated or inconsistent headers
  unsupported,  // a link type we do not decode
};

struct ParseResult {
  ParseStatus status = ParseStatus::malformed;
  SynRecord record;
};

inline constexpr std::uint16_t kSmtpPort = 25;

// An IP packet starting at its IPv4 or IPv6 header (the version nibble decides).
ParseResult parse_ip(std::span<const std::uint8_t> packet);
ParseResult parse_nflog(std::span<const std::uint8_t> frame);
ParseResult parse_ethernet(std::span<const std::uint8_t> frame);
ParseResult parse_linux_sll(std::span<const std::uint8_t> frame);
ParseResult parse_linux_sll2(std::span<const std::uint8_t> frame);
// Dispatches on the pcap link type (DLT_*).
ParseResult parse_frame(int link_type, std::span<const std::uint8_t> frame);

}  // namespace portcullis::firewall::monitor
