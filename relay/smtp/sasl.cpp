#include "relay/smtp/sasl.hpp"

#include <array>
#include <cstdint>

namespace portcullis::relay::smtp {

namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<std::int8_t, 256> make_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}

constexpr auto kDecode = make_table();

bool has_control(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 32 || u == 127) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    std::size_t pad = 0;
    if (last) {
      pad = text[i + 3] == '=' ? (text[i + 2] == '=' ? 2 : 1) : 0;
    }
    std::uint32_t v = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const char c = text[i + k];
      if (k >= 4 - pad) {
        v <<= 6;  // '=' checked by pad
        continue;
      }
      const std::int8_t d = kDecode[static_cast<unsigned char>(c)];
      if (d < 0) {
        return std::nullopt;  // includes '=' anywhere but the end
      }
      v = (v << 6) | static_cast<std::uint32_t>(d);
    }
    // Canonical encoding: the bits dropped by padding must be zero.
    if ((pad == 1 && (v & 0xFF) != 0) || (pad == 2 && (v & 0xFFFF) != 0)) {
      return std::nullopt;
    }
    out.push_back(static_cast<char>((v >> 16) & 0xFF));
    if (pad < 2) {
      out.push_back(static_cast<char>((v >> 8) & 0xFF));
    }
    if (pad < 1) {
      out.push_back(static_cast<char>(v & 0xFF));
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  const std::size_t left = bytes.size() - i;
  if (left > 0) {
    std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (left == 2) {
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    }
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(left == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> decode_sasl_response(std::string_view response) {
  if (response == "=") {
    return std::string();
  }
  if (response.empty()) {
    return std::nullopt;  // "=" is how an empty response is sent
  }
  return base64_decode(response);
}

std::optional<PlainCredentials> parse_auth_plain(std::string_view decoded) {
  const std::size_t first = decoded.find('\0');
  if (first == std::string_view::npos) {
    return std::nullopt;
  }
  const std::size_t second = decoded.find('\0', first + 1);
  if (second == std::string_view::npos ||
      decoded.find('\0', second + 1) != std::string_view::npos) {
    return std::nullopt;
  }
  PlainCredentials out;
  out.authzid = std::string(decoded.substr(0, first));
  out.authcid = std::string(decoded.substr(first + 1, second - first - 1));
  out.password = std::string(decoded.substr(second + 1));
  if (!valid_login_username(out.authcid) || !valid_login_password(out.password)) {
    return std::nullopt;
  }
  if (!out.authzid.empty() && out.authzid != out.authcid) {
    return std::nullopt;
  }
  return out;
}

bool valid_login_username(std::string_view username) {
  return !username.empty() && username.size() <= kMaxSaslUsername && !has_control(username);
}

bool valid_login_password(std::string_view password) {
  return !password.empty() && password.size() <= kMaxSaslPassword &&
         password.find('\0') == std::string_view::npos;
}

}  // namespace portcullis::relay::smtp
