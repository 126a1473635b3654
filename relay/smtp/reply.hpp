#pragma once
// An SMTP reply: a code, an optional enhanced status code (RFC 3463) and one
// or more lines of text.

#include <string>
#include <vector>

namespace portcullis::relay::smtp {

struct Reply {
  int code = 0;
  std::string enhanced;            // "2.0.0"; empty for greeting and EHLO replies
  std::vector<std::string> lines;  // at least one

  Reply() = default;
  Reply(int c, std::string e, std::string text)
      : code(c), enhanced(std::move(e)), lines{std::move(text)} {}
  Reply(int c, std::string e, std::vector<std::string> text)
      : code(c), enhanced(std::move(e)), lines(std::move(text)) {}

  // "250-first\r\n250 last\r\n", each line carrying the enhanced code.
  std::string render() const;
  bool positive() const { return code >= 200 && code < 400; }
};

}  // namespace portcullis::relay::smtp
