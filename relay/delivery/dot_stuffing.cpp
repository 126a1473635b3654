#include "relay/delivery/dot_stuffing.hpp"

namespace portcullis::relay::delivery {

std::string dot_stuff(std::string_view message) {
  std::string out;
  out.reserve(message.size() + message.size() / 64 + 5);
  bool line_start = true;
  for (std::size_t i = 0; i < message.size(); ++i) {
    const char c = message[i];
    if (c == '\r' || c == '\n') {
      out.append("\r\n");
      if (c == '\r' && i + 1 < message.size() && message[i + 1] == '\n') {
        ++i;
      }
      line_start = true;
      continue;
    }
    if (line_start && c == '.') {
      out.push_back('.');
    }
    out.push_back(c);
    line_start = false;
  }
  if (!line_start) {
    out.append("\r\n");
  }
  out.append(".\r\n");
  return out;
}

}  // namespace portcullis::relay::delivery
