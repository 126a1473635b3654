#pragma once
// RFC 4180 CSV, as suppression lists are imported and exported: fields
// separated by commas, records by CRLF or LF, fields holding a comma, quote or
// line break enclosed in double quotes with inner quotes doubled. Input is an
// operator's file, often exported from another provider: errors name the line
// (of the record's start) so the file can be fixed, and nothing here throws.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::store {

struct CsvRecord {
  std::size_t line = 0;  // 1-based line where the record starts
  std::vector<std::string> fields;
};

// Every record of text; blank lines are skipped, a leading UTF-8 byte order
// mark is ignored. Errors: "line 7: unterminated quoted field", ...
Result<std::vector<CsvRecord>> parse_csv(std::string_view text);

// The field as it goes into a record: quoted only when it has to be.
std::string csv_field(std::string_view text);

}  // namespace portcullis::store
