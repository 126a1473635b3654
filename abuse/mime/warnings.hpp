#pragma once
// Problems in a report that did not stop it from being read (an unparsable Source-IP, an
// unclosed inner multipart). They go to the abuse desk beside the report, so they are bounded:
// a hostile report could otherwise produce one warning per line.

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::abuse::mime {

class Warnings {
 public:
  explicit Warnings(std::size_t max_items = 32) : max_items_(max_items) {}

  void add(std::string text) {
    if (items_.size() < max_items_) {
      items_.push_back(std::move(text));
    } else {
      ++dropped_;
    }
  }

  // The warnings, with a last line counting those that did not fit.
  std::vector<std::string> take() {
    if (dropped_ > 0) {
      items_.push_back(std::to_string(dropped_) + " more warnings omitted");
      dropped_ = 0;
    }
    return std::move(items_);
  }

  const std::vector<std::string>& items() const { return items_; }

 private:
  std::size_t max_items_;
  std::size_t dropped_ = 0;
  std::vector<std::string> items_;
};

}  // namespace portcullis::abuse::mime
