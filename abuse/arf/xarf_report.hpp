#pragma once
// X-ARF (x-arf.org 0.1/0.2, and the JSON of XARF v3/v4) where it is simple: a multipart whose
// report part is flat "Key: value" YAML or a JSON object, followed by an evidence part. Only
// what the abuse desk needs is read: Report-Type, Category, Source and the evidence. Nested
// YAML is ignored; JSON is parsed by Boost.JSON with a depth bound.
//
// Untrusted input, like everything a report carries.

#include <optional>
#include <string>
#include <string_view>

#include "abuse/arf/arf_report.hpp"
#include "abuse/mime/entity.hpp"
#include "abuse/mime/warnings.hpp"

namespace portcullis::abuse::arf {

struct XarfFields {
  std::string report_type;  // "spam", "login-attack", ...
  std::string category;     // "abuse", "messaging", ...
  std::string source;       // an address or a name, as sent
  std::string reported_from;
  std::string date;
};

// The fields of an X-ARF report part; nullopt unless it names a report type.
std::optional<XarfFields> read_xarf_fields(std::string_view body);

// True when `root` says it is X-ARF ("X-ARF: yes").
bool declares_xarf(const mime::Entity& root);

// Reads an X-ARF report out of the multipart `container` (the message, or a multipart/report
// without a message/feedback-report part). Error when no part holds X-ARF fields.
Result<FeedbackReport> read_xarf(const mime::Entity& container,
                                 const mime::Limits& limits,
                                 mime::Warnings& warnings);

}  // namespace portcullis::abuse::arf
