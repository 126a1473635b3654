#pragma once
// DKIM "relaxed" canonicalisation (RFC 6376 3.4.2 headers, 3.4.4 body) and
// the split of a message into header fields and body it works on. Untrusted
// input: the whole message as a tenant submitted it (CRLF lines, possibly odd
// folding, whitespace, or no body at all); nothing here allocates more than a
// copy of one header field, and the body is handed to a sink line by line so
// a 25 MB message is hashed without a second copy.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::relay::dkim {

struct HeaderField {
  std::string_view name;  // as written, without trailing WSP
  std::string_view raw;   // the whole field: name, ":", value, continuation lines, final CRLF
};

struct MessageParts {
  std::vector<HeaderField> fields;  // in message order
  std::string_view body;            // after the empty separator line
};

// The header section ends at the first empty line, or at the first line that
// is neither a header field nor a continuation of one (that line starts the
// body), as in relay/smtp/message_headers.hpp.
MessageParts split_message(std::string_view message);

// "name:value\r\n": name lowercased, value unfolded, WSP runs compressed to
// one SP, WSP around the value removed.
std::string relaxed_header(std::string_view raw_field);

// Feeds the relaxed canonical body to `sink` in pieces: trailing WSP removed
// from every line, WSP runs compressed, empty lines at the end dropped, a
// final line without CRLF completed with one. An empty body (or one of only
// empty lines) canonicalises to nothing (RFC 6376 3.4.4; "simple" would give
// CRLF).
void relaxed_body(std::string_view body, const std::function<void(std::string_view)>& sink);

// The same into a string, for tests and small bodies.
std::string relaxed_body(std::string_view body);

// ASCII case-insensitive comparison of header field names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace portcullis::relay::dkim
