#include "gateway/core/store/csv.hpp"

namespace portcullis::store {
namespace {

Error at_line(std::size_t line, std::string_view message) {
  return make_error("line " + std::to_string(line) + ": " + std::string(message));
}

bool ends_field(char c) {
  return c == ',' || c == '\r' || c == '\n';
}

}  // namespace

Result<std::vector<CsvRecord>> parse_csv(std::string_view text) {
  if (text.starts_with("\xef\xbb\xbf")) {
    text.remove_prefix(3);  // spreadsheets write a BOM before UTF-8 CSV
  }
  std::vector<CsvRecord> records;
  std::size_t line = 1;
  std::size_t pos = 0;
  const std::size_t n = text.size();
  while (pos < n) {
    CsvRecord record{.line = line, .fields = {}};
    while (true) {
      std::string field;
      if (pos < n && text[pos] == '"') {
        ++pos;
        while (true) {
          if (pos >= n) {
            return at_line(record.line, "unterminated quoted field");
          }
          const char c = text[pos];
          if (c == '"') {
            if (pos + 1 < n && text[pos + 1] == '"') {
              field += '"';
              pos += 2;
              continue;
            }
            ++pos;
            break;
          }
          line += c == '\n' ? 1 : 0;
          field += c;
          ++pos;
        }
        if (pos < n && !ends_field(text[pos])) {
          return at_line(line, "text after the closing quote of a field");
        }
      } else {
        const auto start = pos;
        while (pos < n && !ends_field(text[pos])) {
          if (text[pos] == '"') {
            return at_line(line,
                           "a quote inside an unquoted field (quote the field, double the quote)");
          }
          ++pos;
        }
        field.assign(text.substr(start, pos - start));
      }
      record.fields.push_back(std::move(field));
      if (pos < n && text[pos] == ',') {
        ++pos;
        continue;
      }
      // End of the record: CRLF, LF, a lone CR, or the end of the text.
      if (pos < n && text[pos] == '\r') {
        ++pos;
      }
      if (pos < n && text[pos] == '\n') {
        ++pos;
      }
      ++line;
      break;
    }
    if (record.fields.size() == 1 && record.fields.front().empty()) {
      continue;  // a blank line
    }
    records.push_back(std::move(record));
  }
  return records;
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) {
    return std::string(text);
  }
  std::string out = "\"";
  for (char c : text) {
    out += c;
    if (c == '"') {
      out += '"';
    }
  }
  out += '"';
  return out;
}

}  // namespace portcullis::store
