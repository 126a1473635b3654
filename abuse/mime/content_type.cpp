#include "abuse/mime/content_type.hpp"

#include "abuse/mime/text.hpp"

namespace portcullis::abuse::mime {
namespace {

constexpr std::size_t kMaxParameters = 64;
constexpr std::size_t kMaxCommentDepth = 8;

bool is_tspecial(char c) {
  return std::string_view("()<>@,;:\\\"/[]?=").find(c) != std::string_view::npos;
}

bool is_token_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && !is_tspecial(c);
}

// Reads RFC 2045 values left to right; every step is bounded by the value's length.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  bool done() {
    skip_cfws();
    return pos_ >= text_.size();
  }

  bool eat(char c) {
    skip_cfws();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  std::string token() {
    skip_cfws();
    const std::size_t start = pos_;
    while (pos_ < text_.size() && is_token_char(text_[pos_])) {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // A quoted-string (backslash escapes undone) or a token.
  std::string value() {
    skip_cfws();
    if (pos_ < text_.size() && text_[pos_] == '"') {
      ++pos_;
      std::string out;
      while (pos_ < text_.size() && text_[pos_] != '"') {
        if (text_[pos_] == '\\' && pos_ + 1 < text_.size()) {
          ++pos_;
        }
        out.push_back(text_[pos_]);
        ++pos_;
      }
      if (pos_ < text_.size()) {
        ++pos_;  // the closing quote; an unclosed string runs to the end
      }
      return out;
    }
    // Lenient: some senders leave "/" or "?" unquoted in boundaries; take up to ';' or space.
    const std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != ';' && text_[pos_] != ' ' && text_[pos_] != '\t') {
      ++pos_;
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // Moves past the next ';' (or to the end), so one bad parameter does not hide the rest.
  void skip_to_semicolon() {
    while (pos_ < text_.size() && text_[pos_] != ';') {
      if (text_[pos_] == '"') {
        value();
        continue;
      }
      ++pos_;
    }
  }

 private:
  void skip_cfws() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        ++pos_;
      } else if (c == '(') {
        skip_comment();
      } else {
        return;
      }
    }
  }

  void skip_comment() {
    std::size_t depth = 0;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '\\' && pos_ < text_.size()) {
        ++pos_;
      } else if (c == '(') {
        // Past the bound the rest of the value is treated as one comment.
        depth = std::min(depth + 1, kMaxCommentDepth);
      } else if (c == ')' && --depth == 0) {
        return;
      }
    }
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

std::optional<std::string_view> ContentType::parameter(std::string_view name) const {
  for (const auto& [key, value] : parameters) {
    if (iequals(key, name)) {
      return std::string_view(value);
    }
  }
  return std::nullopt;
}

bool ContentType::is(std::string_view type_and_subtype) const {
  const auto slash = type_and_subtype.find('/');
  return slash != std::string_view::npos && iequals(type, type_and_subtype.substr(0, slash)) &&
         iequals(subtype, type_and_subtype.substr(slash + 1));
}

ContentType parse_content_type(std::string_view value) {
  Scanner s(value);
  ContentType ct;
  const std::string type = s.token();
  if (type.empty() || !s.eat('/')) {
    ct.valid = false;
    return ct;
  }
  const std::string subtype = s.token();
  if (subtype.empty()) {
    ct.valid = false;
    return ct;
  }
  ct.type = to_lower(type);
  ct.subtype = to_lower(subtype);
  while (!s.done() && ct.parameters.size() < kMaxParameters) {
    if (!s.eat(';')) {
      s.skip_to_semicolon();
      continue;
    }
    if (s.done()) {
      break;
    }
    const std::string name = to_lower(s.token());
    if (name.empty() || !s.eat('=')) {
      s.skip_to_semicolon();
      continue;
    }
    std::string v = s.value();
    if (!ct.parameter(name)) {
      ct.parameters.emplace_back(name, std::move(v));
    }
  }
  return ct;
}

TransferEncoding parse_transfer_encoding(std::string_view value) {
  // Comments are legal here too ("base64 (from the gateway)"): keep the first token only.
  std::string_view v = trim(value);
  if (const auto end = v.find_first_of(" \t(;"); end != std::string_view::npos) {
    v = v.substr(0, end);
  }
  if (v.empty() || iequals(v, "7bit") || iequals(v, "8bit") || iequals(v, "binary")) {
    return TransferEncoding::identity;
  }
  if (iequals(v, "base64")) {
    return TransferEncoding::base64;
  }
  if (iequals(v, "quoted-printable")) {
    return TransferEncoding::quoted_printable;
  }
  return TransferEncoding::unknown;
}

}  // namespace portcullis::abuse::mime
