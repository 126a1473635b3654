#pragma once
// Bounds on what the report parsers accept. Reports arrive by mail from anyone on the internet
// (feedback loops, bounces, spammers who know the abuse address), so every dimension that a
// sender controls has a ceiling; past it the parser answers with an error, never a crash or an
// unbounded allocation.

#include <cstddef>

namespace portcullis::abuse::mime {

struct Limits {
  // A report with its original message; providers cut originals far below this.
  std::size_t max_input_bytes = 10 * 1024 * 1024;
  // Header fields in one header section (the message's, a part's, or a report block).
  std::size_t max_header_fields = 1000;
  // Nested multiparts; real reports use two levels, a message bomb uses hundreds.
  std::size_t max_depth = 5;
  // Body parts in the whole message.
  std::size_t max_parts = 256;
  // The original message's header section kept as evidence; longer is cut, with a warning.
  std::size_t max_original_headers_bytes = 64 * 1024;
  // Free text kept as evidence (the human-readable part, X-ARF evidence, diagnostics).
  std::size_t max_text_bytes = 4 * 1024;
  // Warnings kept per report; more are summarised in one last line.
  std::size_t max_warnings = 32;
};

}  // namespace portcullis::abuse::mime
