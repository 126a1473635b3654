#pragma once
// Validates and stores message content received over DATA (after dot-unstuffing) or BDAT.
// Untrusted input: every octet the client sends as message content. The content must be
// CRLF-delimited text: a bare CR or LF is refused because a downstream hop could read it as a
// line end and be tricked into seeing an end-of-data the gateway never saw (SMTP smuggling).
// After the first error nothing more is stored, so memory stays bounded by max_message_size,
// but counting continues so the caller can keep reading the rest of the message in sync.

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::relay::smtp {

enum class DataError {
  none,
  too_big,        // content exceeds max_message_size
  line_too_long,  // a line (incl. CRLF, excl. a stuffing dot) exceeds max_text_line
  bare_lf,        // LF not preceded by CR
  bare_cr,        // CR not followed by LF
};

std::string_view to_string(DataError e);

class ContentChecker {
 public:
  ContentChecker(std::size_t max_message_size, std::size_t max_text_line);

  // Content octets in any split: a CR at the end of one call is resolved by the next.
  void append(std::string_view bytes);
  // End of content: a pending CR is a bare CR; a last line without CRLF gets one (BDAT only;
  // the DATA reader always ends on CRLF).
  void finish();

  // True before any content and right after a CRLF: where a DATA line starts.
  bool at_line_start() const { return at_line_start_; }
  DataError error() const { return error_; }
  // Content octets seen so far, including those discarded after an error.
  std::size_t size() const { return size_; }
  // The stored content; empty after an error.
  std::string take_message();

 private:
  void fail(DataError e);
  void store(std::string_view bytes);
  void grow_line(std::size_t n);

  std::size_t max_message_size_;
  std::size_t max_text_line_;
  std::string message_;
  std::size_t size_ = 0;
  std::size_t line_length_ = 0;  // octets of the current line, without its CRLF
  bool pending_cr_ = false;
  bool at_line_start_ = true;
  DataError error_ = DataError::none;
};

}  // namespace portcullis::relay::smtp
