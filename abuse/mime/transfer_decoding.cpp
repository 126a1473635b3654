#include "abuse/mime/transfer_decoding.hpp"

#include <array>
#include <cstdint>

namespace portcullis::abuse::mime {
namespace {

constexpr std::uint8_t kInvalid = 0xff;

constexpr std::array<std::uint8_t, 256> make_base64_table() {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) {
    v = kInvalid;
  }
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return t;
}

constexpr auto kBase64 = make_base64_table();

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;  // lowercase is not RFC 2045 but common
  }
  return -1;
}

}  // namespace

Decoded decode_base64(std::string_view text) {
  Decoded out;
  out.data.reserve(text.size() / 4 * 3 + 3);
  std::uint32_t acc = 0;
  int bits = 0;
  bool padded = false;
  for (const char c : text) {
    if (c == '=') {
      padded = true;
      continue;
    }
    if (c == '\r' || c == '\n' || c == ' ' || c == '\t') {
      continue;
    }
    const std::uint8_t v = kBase64[static_cast<unsigned char>(c)];
    if (v == kInvalid || padded) {
      // Data after padding is a second encoded blob glued on, or junk: skip, but say so.
      out.clean = false;
      continue;
    }
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.data.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits >= 6) {
    out.clean = false;  // a lone trailing character: truncated input
  }
  return out;
}

Decoded decode_quoted_printable(std::string_view text) {
  Decoded out;
  out.data.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '=') {
      out.data.push_back(c);
      ++i;
      continue;
    }
    // Soft line break: '=' then optional trailing whitespace then the line break.
    std::size_t j = i + 1;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) {
      ++j;
    }
    if (j == text.size()) {
      i = j;
      continue;
    }
    if (text[j] == '\n' || (text[j] == '\r' && j + 1 < text.size() && text[j + 1] == '\n')) {
      i = j + (text[j] == '\r' ? 2 : 1);
      continue;
    }
    if (i + 2 < text.size() && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
      out.data.push_back(static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2])));
      i += 3;
      continue;
    }
    out.clean = false;
    out.data.push_back('=');
    ++i;
  }
  return out;
}

}  // namespace portcullis::abuse::mime
