#include "relay/smtp/data_reader.hpp"

#include <algorithm>

namespace portcullis::relay::smtp {

DataReader::DataReader(std::size_t max_message_size, std::size_t max_text_line)
    : checker_(max_message_size, max_text_line) {}

std::size_t DataReader::feed(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size() && state_ != State::done) {
    const char c = bytes[i];
    switch (state_) {
      case State::dot:
        if (c == '\r') {
          state_ = State::dot_cr;
          ++i;
          continue;
        }
        // ".foo" or "..foo": the leading dot was stuffing; the rest is content.
        state_ = State::body;
        break;
      case State::dot_cr:
        if (c == '\n') {
          state_ = State::done;
          ++i;
          continue;
        }
        // "." CR x: the held CR is content (and bare); x is handled as content below.
        state_ = State::body;
        checker_.append("\r");
        break;
      case State::body:
        // The checker alone decides what a line start is, so a bare CR or LF never makes one.
        if (checker_.at_line_start() && c == '.') {
          state_ = State::dot;
          ++i;
          continue;
        }
        break;
      case State::done:
        break;
    }
    // Everything through the next LF is plain content; a line can only start after it.
    const std::size_t lf = bytes.find('\n', i);
    const std::size_t end = lf == std::string_view::npos ? bytes.size() : lf + 1;
    checker_.append(bytes.substr(i, end - i));
    i = end;
  }
  return i;
}

}  // namespace portcullis::relay::smtp
