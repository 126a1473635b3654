#pragma once
// Accumulates the chunks of a CHUNKING transfer (RFC 3030, "BDAT n [LAST]") into one message.
// Untrusted input: the chunk octets. BDAT has no dot-stuffing and no terminator, but since
// BINARYMIME is not offered the content must still be CRLF text: a bare CR or LF would let the
// message smuggle an end-of-data into a later DATA delivery downstream. The same checks as for
// DATA apply (size and line length across chunks; a CRLF split between chunks is fine).

#include <cstddef>
#include <string>
#include <string_view>

#include "relay/smtp/content_checker.hpp"

namespace portcullis::relay::smtp {

class BdatReader {
 public:
  BdatReader(std::size_t max_message_size, std::size_t max_text_line);

  // Chunk octets in any split; the session reads exactly n octets per BDAT and passes them on.
  void add(std::string_view bytes) { checker_.append(bytes); }
  // After the octets of the LAST chunk: resolves a trailing CR (bare) and terminates a final
  // line that lacks CRLF with one, so the stored message is valid text for DATA delivery.
  void finish() { checker_.finish(); }

  DataError error() const { return checker_.error(); }
  // Octets received so far over all chunks, counted even after an error.
  std::size_t size() const { return checker_.size(); }
  // The content (CRLF lines, ending in CRLF or empty); only meaningful after finish() with
  // error() == none.
  std::string take_message() { return checker_.take_message(); }

 private:
  ContentChecker checker_;
};

}  // namespace portcullis::relay::smtp
