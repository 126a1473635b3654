#pragma once
// RFC 2045 Content-Type and Content-Transfer-Encoding values: "type/subtype" and parameters
// (token or quoted-string, comments skipped). Untrusted input; a value that cannot be read falls
// back to the RFC 2045 5.2 default (text/plain), so a garbled part is kept as text instead of
// being misread as a container.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portcullis::abuse::mime {

struct ContentType {
  std::string type = "text";      // lowercase
  std::string subtype = "plain";  // lowercase
  // Names lowercase, values as sent (unquoted). The first of duplicate names wins.
  std::vector<std::pair<std::string, std::string>> parameters;
  bool valid = true;  // false: the value was unreadable and these are the defaults

  std::optional<std::string_view> parameter(std::string_view name) const;
  // "type/subtype" compared case-insensitively, e.g. is("message/rfc822").
  bool is(std::string_view type_and_subtype) const;
  bool is_multipart() const { return type == "multipart"; }
  std::string mime_type() const { return type + "/" + subtype; }
};

ContentType parse_content_type(std::string_view value);

enum class TransferEncoding { identity, base64, quoted_printable, unknown };

// 7bit, 8bit and binary (and an absent field) are identity; unknown names are reported as such.
TransferEncoding parse_transfer_encoding(std::string_view value);

}  // namespace portcullis::abuse::mime
