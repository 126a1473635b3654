#include "relay/smtp/content_checker.hpp"

#include <algorithm>
#include <utility>

namespace portcullis::relay::smtp {

std::string_view to_string(DataError e) {
  switch (e) {
    case DataError::none:
      return "none";
    case DataError::too_big:
      return "too_big";
    case DataError::line_too_long:
      return "line_too_long";
    case DataError::bare_lf:
      return "bare_lf";
    case DataError::bare_cr:
      return "bare_cr";
  }
  return "unknown";
}

ContentChecker::ContentChecker(std::size_t max_message_size, std::size_t max_text_line)
    : max_message_size_(max_message_size), max_text_line_(max_text_line) {}

void ContentChecker::fail(DataError e) {
  if (error_ != DataError::none) {
    return;  // the first problem is the one reported
  }
  error_ = e;
  // Release the memory at once: a rejected message is never delivered.
  std::string().swap(message_);
}

void ContentChecker::store(std::string_view bytes) {
  size_ += bytes.size();
  if (error_ != DataError::none) {
    return;
  }
  if (bytes.size() > max_message_size_ - std::min(message_.size(), max_message_size_)) {
    fail(DataError::too_big);
    return;
  }
  message_.append(bytes);
}

void ContentChecker::grow_line(std::size_t n) {
  line_length_ += n;
  // Checked as the line grows, not at its CRLF, so an endless line is caught early.
  if (line_length_ + 2 > max_text_line_) {
    fail(DataError::line_too_long);
  }
}

void ContentChecker::append(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (bytes[i] == '\n') {
        store("\r\n");
        line_length_ = 0;
        at_line_start_ = true;
        ++i;
        continue;
      }
      fail(DataError::bare_cr);
      store("\r");
      grow_line(1);
      // bytes[i] is then handled as an ordinary octet below.
    }
    const char c = bytes[i];
    if (c == '\r') {
      pending_cr_ = true;
      at_line_start_ = false;
      ++i;
      continue;
    }
    if (c == '\n') {
      fail(DataError::bare_lf);
      store("\n");
      at_line_start_ = false;
      ++i;
      continue;
    }
    const std::size_t end = std::min(bytes.find_first_of("\r\n", i), bytes.size());
    const std::string_view run = bytes.substr(i, end - i);
    grow_line(run.size());
    store(run);
    at_line_start_ = false;
    i = end;
  }
}

void ContentChecker::finish() {
  if (pending_cr_) {
    pending_cr_ = false;
    fail(DataError::bare_cr);
    store("\r");
  }
  if (!at_line_start_ && error_ == DataError::none) {
    grow_line(0);
    store("\r\n");
    line_length_ = 0;
    at_line_start_ = true;
  }
}

std::string ContentChecker::take_message() {
  return std::exchange(message_, std::string());
}

}  // namespace portcullis::relay::smtp
