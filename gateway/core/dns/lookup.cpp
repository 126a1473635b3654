#include "gateway/core/dns/lookup.hpp"

namespace portcullis::dns {

std::string_view to_string(DnsErrorKind kind) {
  switch (kind) {
    case DnsErrorKind::temporary:
      return "temporary";
    case DnsErrorKind::nxdomain:
      return "nxdomain";
    case DnsErrorKind::nodata:
      return "nodata";
  }
  return "temporary";
}

bool is_valid_query_name(std::string_view name) {
  if (name.ends_with('.')) {
    name.remove_suffix(1);
  }
  if (name.empty() || name.size() > 253) {
    return false;
  }
  std::size_t label = 0;
  for (char c : name) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return false;
    }
    if (c == '.') {
      if (label == 0) {
        return false;
      }
      label = 0;
    } else if (++label > 63) {
      return false;
    }
  }
  return label > 0;
}

}  // namespace portcullis::dns
