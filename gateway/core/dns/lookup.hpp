#pragma once
// The DNS questions the data path asks (MX, A, AAAA, TXT) as an interface, so
// routing can be tested with canned answers and run against the real Resolver.
// Answers come from the network and are untrusted: names are checked before
// they are used, and callers must bound what they do with long answers.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "gateway/core/asio.hpp"

namespace portcullis::dns {

enum class DnsErrorKind {
  temporary,  // timeout, SERVFAIL, REFUSED, no server reachable, resolver shut down: try later
  nxdomain,   // the name does not exist (or is not a valid DNS name)
  nodata,     // the name exists but has no record of the asked type
};
std::string_view to_string(DnsErrorKind kind);

struct DnsError {
  DnsErrorKind kind = DnsErrorKind::temporary;
  std::string message;  // one sentence naming the name and the type
};

template <class T>
using DnsResult = boost::system::result<T, DnsError>;

struct MxRecord {
  std::uint16_t preference = 0;
  std::string host;  // without the trailing dot; "" for the root (a null MX, RFC 7505)
  bool operator==(const MxRecord&) const = default;
};

class Lookup {
 public:
  virtual ~Lookup() = default;
  virtual asio::awaitable<DnsResult<std::vector<MxRecord>>> mx(std::string name) = 0;
  virtual asio::awaitable<DnsResult<std::vector<asio::ip::address>>> a(std::string name) = 0;
  virtual asio::awaitable<DnsResult<std::vector<asio::ip::address>>> aaaa(std::string name) = 0;
  // Each record's character-strings joined into one string.
  virtual asio::awaitable<DnsResult<std::vector<std::string>>> txt(std::string name) = 0;
};

// True for a name worth sending to a server: 1..253 octets (plus an optional
// trailing dot), labels of 1..63 octets, no control characters or spaces.
bool is_valid_query_name(std::string_view name);

}  // namespace portcullis::dns
