#include "abuse/mime/address.hpp"

#include "abuse/mime/text.hpp"

namespace portcullis::abuse::mime {
namespace {

constexpr std::size_t kMaxLocal = 64;
constexpr std::size_t kMaxDomain = 255;
constexpr std::size_t kMaxMessageId = 998;

bool is_domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

bool plausible_domain(std::string_view domain) {
  if (domain.empty() || domain.size() > kMaxDomain) {
    return false;
  }
  if (domain.front() == '[') {
    if (domain.back() != ']') {
      return false;
    }
    for (const char c : domain.substr(1, domain.size() - 2)) {
      if (!(is_domain_char(c) || c == ':')) {
        return false;
      }
    }
    return domain.size() > 2;
  }
  if (domain.front() == '.' || domain.back() == '.' ||
      domain.find("..") != std::string_view::npos) {
    return false;
  }
  for (const char c : domain) {
    if (!is_domain_char(c)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool is_plausible_mailbox(std::string_view address) {
  const auto at = address.rfind('@');
  if (at == std::string_view::npos || at == 0) {
    return false;
  }
  const std::string_view local = address.substr(0, at);
  if (local.size() > kMaxLocal) {
    return false;
  }
  const bool quoted = local.size() >= 2 && local.front() == '"' && local.back() == '"';
  for (const char c : local) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) {
      if (!(quoted && c == ' ')) {
        return false;
      }
    } else if (!quoted && std::string_view("<>,;:@\"()[]\\").find(c) != std::string_view::npos) {
      return false;
    }
  }
  return plausible_domain(address.substr(at + 1));
}

std::optional<std::string> single_mailbox(std::string_view value) {
  std::string_view v = trim(value);
  // RFC 3464 "rfc822; user@example"; only the rfc822 (and utf-8, RFC 6533) types are mailboxes.
  if (const auto semi = v.find(';'); semi != std::string_view::npos && v.find('@') > semi) {
    const std::string_view type = trim(v.substr(0, semi));
    if (!iequals(type, "rfc822") && !iequals(type, "utf-8")) {
      return std::nullopt;
    }
    v = trim(v.substr(semi + 1));
  }
  if (v.size() >= 2 && v.front() == '<' && v.back() == '>') {
    v = trim(v.substr(1, v.size() - 2));
  }
  if (!is_plausible_mailbox(v)) {
    return std::nullopt;
  }
  return std::string(v);
}

std::optional<std::string> first_mailbox(std::string_view value) {
  // Walk the list one element at a time, honouring quotes and comments, so a comma inside
  // "Doe, Jane" does not split an element.
  std::size_t i = 0;
  while (i < value.size()) {
    std::string element;
    std::string angle;
    bool in_angle = false;
    bool has_angle = false;
    int comment = 0;
    bool quoted = false;
    for (; i < value.size(); ++i) {
      const char c = value[i];
      if (quoted) {
        if (c == '\\' && i + 1 < value.size()) {
          (in_angle ? angle : element).push_back(value[++i]);
          continue;
        }
        quoted = c != '"';
        (in_angle ? angle : element).push_back(c);
        continue;
      }
      if (comment > 0) {
        comment += c == '(' ? 1 : (c == ')' ? -1 : 0);
        continue;
      }
      if (c == '(') {
        comment = 1;
      } else if (c == '"') {
        quoted = true;
        (in_angle ? angle : element).push_back(c);
      } else if (c == '<' && !in_angle) {
        in_angle = true;
        has_angle = true;
        angle.clear();
      } else if (c == '>' && in_angle) {
        in_angle = false;
      } else if ((c == ',' || c == ';') && !in_angle) {
        ++i;
        break;
      } else if (c == ':' && !in_angle) {
        element.clear();  // a group's label ("undisclosed-recipients:")
      } else {
        (in_angle ? angle : element).push_back(c);
      }
    }
    const std::string_view candidate = trim(has_angle ? std::string_view(angle) : element);
    if (is_plausible_mailbox(candidate)) {
      return std::string(candidate);
    }
  }
  return std::nullopt;
}

std::optional<std::string> message_id(std::string_view value) {
  std::string_view v = trim(value);
  if (const auto open = v.find('<'); open != std::string_view::npos) {
    const auto close = v.find('>', open);
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    v = trim(v.substr(open + 1, close - open - 1));
  } else if (const auto space = v.find_first_of(" \t("); space != std::string_view::npos) {
    v = v.substr(0, space);
  }
  if (v.empty() || v.size() > kMaxMessageId) {
    return std::nullopt;
  }
  for (const char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x21 || u > 0x7e) {
      return std::nullopt;
    }
  }
  return std::string(v);
}

}  // namespace portcullis::abuse::mime
