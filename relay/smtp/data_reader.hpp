#pragma once
// Reads the DATA phase (RFC 5321 4.1.1.4, 4.5.2): finds the end of data, removes dot-stuffing
// and checks the content. Untrusted input: the raw octets a client sends after "354".
// Only <CRLF>.<CRLF> ends the data (at the very start the DATA command's CRLF stands in for the
// first one). <LF>.<LF>, <CR>.<CR>, <CRLF>.<LF> and the like are content, and their bare CR or
// LF marks the message bad, so no other parser on the path can find an end the gateway missed
// (SMTP smuggling). A bad message is still read to its real end so the session stays in sync.

#include <cstddef>
#include <string>
#include <string_view>

#include "relay/smtp/content_checker.hpp"

namespace portcullis::relay::smtp {

class DataReader {
 public:
  DataReader(std::size_t max_message_size, std::size_t max_text_line);

  // Consumes input, in chunks split anywhere, and returns how many octets it used: all of them,
  // or fewer when the terminating CRLF.CRLF ends inside `bytes`; the rest are the client's next
  // (pipelined) commands. Consumes nothing once done().
  std::size_t feed(std::string_view bytes);

  bool done() const { return state_ == State::done; }
  DataError error() const { return checker_.error(); }
  // Content octets after unstuffing, counted even after an error.
  std::size_t size() const { return checker_.size(); }
  // The dot-unstuffed content with CRLF line ends, ending in CRLF (or empty), without the
  // terminating ".CRLF". Only meaningful once done() with error() == none.
  std::string take_message() { return checker_.take_message(); }

 private:
  enum class State {
    body,    // inside a line, or at a line start whose first octet is not yet seen
    dot,     // a line's leading dot was dropped; nothing else on the line yet
    dot_cr,  // "." then CR at a line start: an LF here ends the data
    done,
  };

  ContentChecker checker_;
  State state_ = State::body;
};

}  // namespace portcullis::relay::smtp
