#pragma once
// RFC 5322 header sections as found in reports: the report's own, each MIME part's, the
// original message's, and the "Field: value" blocks of message/feedback-report and
// message/delivery-status parts (same syntax). Untrusted input from any mail sender.
//
// A header section ends at the first empty line, at the first line that is neither a field
// ("name:") nor a folded continuation (some generators omit the empty line), or at the end of
// the text. Values are unfolded: line breaks removed, the continuation's whitespace kept.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "abuse/mime/limits.hpp"
#include "abuse/mime/warnings.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::abuse::mime {

struct HeaderField {
  std::string name;   // as sent
  std::string value;  // unfolded, trimmed
};

class Headers {
 public:
  std::vector<HeaderField> fields;

  // The first field of that name (case-insensitive).
  std::optional<std::string_view> first(std::string_view name) const;
  // The last one: where a later hop appends its own copy, the last is the one it wrote.
  std::optional<std::string_view> last(std::string_view name) const;
  std::vector<std::string_view> all(std::string_view name) const;
  bool empty() const { return fields.empty(); }
};

struct EntityText {
  std::string_view header_section;  // the field lines, each with its line break
  std::string_view body;            // after the empty line (or from the first non-field line)
  bool separated = false;           // an empty line ended the header section
};

// Splits an entity (a message or a body part) into header section and body. A leading mbox
// "From " line is skipped, since saved reports often carry one.
EntityText split_entity(std::string_view text);

// The fields of a header section. Lines that are neither fields nor continuations are skipped
// with a warning. More than limits.max_header_fields fields is an error.
Result<Headers> parse_header_fields(std::string_view section,
                                    const Limits& limits,
                                    Warnings& warnings);

// True for "name:" with an RFC 5322 field name (printable ASCII except ':'), allowing the
// obsolete whitespace before the colon.
bool is_field_line(std::string_view line);

}  // namespace portcullis::abuse::mime
