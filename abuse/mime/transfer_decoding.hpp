#pragma once
// Undoing base64 and quoted-printable (RFC 2045 6.7, 6.8) on report parts. Senders get these
// wrong in every way, so decoding is lenient and never fails: characters outside the alphabet
// are skipped, bad escapes are kept literally, and the caller is told that it happened so the
// desk can see it. The output is never longer than the input.

#include <string>
#include <string_view>

namespace portcullis::abuse::mime {

struct Decoded {
  std::string data;
  bool clean = true;  // false: input had bytes or escapes that had to be skipped or kept as-is
};

Decoded decode_base64(std::string_view text);
Decoded decode_quoted_printable(std::string_view text);

}  // namespace portcullis::abuse::mime
