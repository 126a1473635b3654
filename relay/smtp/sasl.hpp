#pragma once
// SASL pieces for SMTP AUTH (RFC 4954): strict base64 and the PLAIN (RFC 4616) and LOGIN
// mechanisms' message formats. Untrusted input: AUTH arguments and the client's responses to
// "334" challenges, before the client is authenticated. Decoded names are checked for control
// characters because they end up in logs.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::relay::smtp {

inline constexpr std::size_t kMaxSaslUsername = 255;
inline constexpr std::size_t kMaxSaslPassword = 1024;

// "334 " challenges for AUTH LOGIN: base64 of "Username:" and "Password:".
inline constexpr std::string_view kLoginUsernamePrompt = "VXNlcm5hbWU6";
inline constexpr std::string_view kLoginPasswordPrompt = "UGFzc3dvcmQ6";

// RFC 4648 4 with padding; no whitespace, no URL alphabet, no bits left over in the last
// character. Empty input decodes to an empty string.
std::optional<std::string> base64_decode(std::string_view text);
std::string base64_encode(std::string_view bytes);

// A client answers a challenge with "*" to cancel the exchange (RFC 4954 4): reply 501 5.7.0.
inline bool is_sasl_cancel(std::string_view response) {
  return response == "*";
}

// Decodes one SASL response line. "=" is an empty initial response (RFC 4954 4).
std::optional<std::string> decode_sasl_response(std::string_view response);

struct PlainCredentials {
  std::string authzid;  // empty, or equal to authcid: no acting on behalf of another user
  std::string authcid;  // the username
  std::string password;
};

// `decoded` is "authzid NUL authcid NUL password" (RFC 4616 2). Refuses anything but exactly two
// NULs, an authzid other than "" or authcid, an empty or over-long username or password, and
// control characters in the names.
std::optional<PlainCredentials> parse_auth_plain(std::string_view decoded);

// A decoded AUTH LOGIN username: non-empty, <= kMaxSaslUsername, no NUL or control characters.
bool valid_login_username(std::string_view username);
// A decoded AUTH LOGIN password: non-empty, <= kMaxSaslPassword, no NUL.
bool valid_login_password(std::string_view password);

}  // namespace portcullis::relay::smtp
