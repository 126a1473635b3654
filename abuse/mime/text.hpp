#pragma once
// Small text helpers shared by the report parsers: ASCII case folding, trimming, line walking
// over CRLF or LF text, and the sanitiser that every value passes through before it becomes
// evidence (shown to the desk, written to the store, quoted in a notification mail).

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::abuse::mime {

bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view text, std::string_view prefix);
// Case-insensitive search; npos when absent.
std::size_t ifind(std::string_view text, std::string_view needle, std::size_t from = 0);
std::string to_lower(std::string_view text);
// Without leading and trailing space, tab, CR and LF.
std::string_view trim(std::string_view text);

// One line of `text` starting at `pos`, without its line break (LF, or CRLF); `pos` moves past
// the break. A CR not followed by LF stays in the line: only LF ends lines, so that CRLF and LF
// input split the same way.
std::string_view next_line(std::string_view text, std::size_t& pos);

// Printable ASCII only: tabs and line breaks become one space, runs of spaces collapse, other
// bytes (controls, 8-bit) become '?'. At most max_bytes, cut with "..." when longer.
std::string sanitize(std::string_view text, std::size_t max_bytes);

}  // namespace portcullis::abuse::mime
