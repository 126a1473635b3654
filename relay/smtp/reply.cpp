#include "relay/smtp/reply.hpp"

namespace portcullis::relay::smtp {

std::string Reply::render() const {
  std::string out;
  const std::string code_text = std::to_string(code);
  const std::size_t count = lines.empty() ? 1 : lines.size();
  for (std::size_t i = 0; i < count; ++i) {
    out += code_text;
    out += (i + 1 < count) ? '-' : ' ';
    if (!enhanced.empty()) {
      out += enhanced;
      out += ' ';
    }
    if (!lines.empty()) {
      out += lines[i];
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace portcullis::relay::smtp
