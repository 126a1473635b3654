#include "relay/smtp/command.hpp"

#include <array>
#include <limits>
#include <stdexcept>
#include <utility>

namespace portcullis::relay::smtp {

namespace {

constexpr std::size_t kMaxLocalPart = 64;  // RFC 5321 4.5.3.1.1
constexpr std::size_t kMaxDomain = 255;    // RFC 5321 4.5.3.1.2
constexpr std::size_t kMaxPath = 256;      // RFC 5321 4.5.3.1.3, incl. "<" ">" and a route
constexpr std::size_t kMaxLabel = 63;      // RFC 1035 2.3.4

constexpr std::array<std::pair<std::string_view, Verb>, 14> kVerbs{{
    {"HELO", Verb::helo},
    {"EHLO", Verb::ehlo},
    {"MAIL", Verb::mail},
    {"RCPT", Verb::rcpt},
    {"DATA", Verb::data},
    {"BDAT", Verb::bdat},
    {"RSET", Verb::rset},
    {"NOOP", Verb::noop},
    {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy},
    {"EXPN", Verb::expn},
    {"HELP", Verb::help},
    {"AUTH", Verb::auth},
    {"STARTTLS", Verb::starttls},
}};

char to_upper(char c) {
  return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_upper(a[i]) != to_upper(b[i])) {
      return false;
    }
  }
  return true;
}

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_high(char c) {
  return static_cast<unsigned char>(c) >= 0x80;
}

// RFC 5322 atext (RFC 5321 4.1.2), plus UTF-8 octets which RFC 6531 allows; whether they are
// acceptable is decided after the parameters are known.
bool is_atext(char c) {
  if (is_alpha(c) || is_digit(c) || is_high(c)) {
    return true;
  }
  static constexpr std::string_view kSpecials = "!#$%&'*+-/=?^_`{|}~";
  return kSpecials.find(c) != std::string_view::npos;
}

// qtextSMTP: %d32-33 / %d35-91 / %d93-126, plus UTF-8 octets.
bool is_qtext(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == 32 || u == 33 || (u >= 35 && u <= 91) || (u >= 93 && u <= 126) || u >= 0x80;
}

bool is_let_dig(char c) {
  return is_alpha(c) || is_digit(c) || is_high(c);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

enum class Role { sender, recipient };

CommandError make(CommandError::Kind kind, int code, std::string enhanced, std::string text) {
  return CommandError{kind, code, std::move(enhanced), std::move(text)};
}

CommandError syntax_error(Role role) {
  return make(CommandError::Kind::syntax, 501, "5.5.4",
              role == Role::sender ? "Syntax: MAIL FROM:<address> [parameters]"
                                   : "Syntax: RCPT TO:<address>");
}

CommandError address_error(Role role, std::string_view why) {
  std::string text =
      role == Role::sender ? "Bad sender address syntax" : "Bad recipient address syntax";
  if (!why.empty()) {
    text += ": ";
    text += why;
  }
  return make(CommandError::Kind::bad_address, 553, role == Role::sender ? "5.1.7" : "5.1.3",
              std::move(text));
}

// sub-domain *("." sub-domain), sub-domain = Let-dig [Ldh-str]; UTF-8 octets count as letters
// (U-labels, RFC 6531 3.3).
bool valid_dot_domain(std::string_view d) {
  if (d.empty()) {
    return false;
  }
  std::size_t start = 0;
  while (true) {
    std::size_t dot = d.find('.', start);
    const std::string_view label =
        d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || !is_let_dig(label.front()) || !is_let_dig(label.back())) {
      return false;
    }
    bool ascii = true;
    for (char c : label) {
      if (!is_let_dig(c) && c != '-') {
        return false;
      }
      ascii = ascii && !is_high(c);
    }
    // A U-label's length limit applies to its A-label form, which is not computed here.
    if (ascii && label.size() > kMaxLabel) {
      return false;
    }
    if (dot == std::string_view::npos) {
      return true;
    }
    start = dot + 1;
  }
}

bool valid_ipv4(std::string_view s) {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (i < s.size() && is_digit(s[i]) && digits < 4) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) {
      return false;
    }
    ++parts;
    if (parts == 4) {
      return i == s.size();
    }
    if (i >= s.size() || s[i] != '.') {
      return false;
    }
    ++i;
  }
}

bool is_hex(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 5321 4.1.3 IPv6-addr: full, compressed ("::") and with an IPv4 tail.
bool valid_ipv6(std::string_view s) {
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (s.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
    if (i == s.size()) {
      return true;
    }
  } else if (!s.empty() && s[0] == ':') {
    return false;
  }
  while (i < s.size()) {
    std::size_t j = i;
    while (j < s.size() && is_hex(s[j]) && j - i < 5) {
      ++j;
    }
    if (j < s.size() && s[j] == '.') {
      // IPv4 tail takes the place of two groups.
      if (!valid_ipv4(s.substr(i))) {
        return false;
      }
      groups += 2;
      i = s.size();
      break;
    }
    if (j == i || j - i > 4) {
      return false;
    }
    ++groups;
    i = j;
    if (i == s.size()) {
      break;
    }
    if (s[i] != ':') {
      return false;
    }
    ++i;
    if (i < s.size() && s[i] == ':') {
      if (compressed) {
        return false;
      }
      compressed = true;
      ++i;
    } else if (i == s.size()) {
      return false;  // a single trailing colon
    }
  }
  return compressed ? groups <= 7 : groups == 8;
}

bool valid_address_literal(std::string_view lit) {
  // lit is without the brackets.
  if (lit.size() > 5 && iequals(lit.substr(0, 5), "IPv6:")) {
    return valid_ipv6(lit.substr(5));
  }
  // General-address-literal (other tags) can't be routed; refuse it as bad syntax.
  return valid_ipv4(lit);
}

struct ParsedPath {
  Path path;
  bool null_path = false;
  bool postmaster = false;
  std::string_view rest;  // after ">"
};

// Parses "<...>" at the start of s. Accepts the null path and "<Postmaster>" as flagged results;
// the caller decides whether they are allowed.
ParseResult<ParsedPath> parse_path(std::string_view s, Role role) {
  ParsedPath out;
  if (s.empty() || s.front() != '<') {
    return syntax_error(role);
  }
  std::size_t i = 1;
  if (i < s.size() && s[i] == '>') {
    out.null_path = true;
    out.rest = s.substr(i + 1);
    return out;
  }
  // Source route "@a,@b:" (RFC 5321 4.1.2 A-d-l): MUST be accepted, SHOULD be ignored.
  if (i < s.size() && s[i] == '@') {
    const std::size_t colon = s.find(':', i);
    if (colon == std::string_view::npos) {
      return address_error(role, "bad source route");
    }
    std::string_view route = s.substr(i, colon - i);
    while (!route.empty()) {
      const std::size_t comma = route.find(',');
      const std::string_view hop = route.substr(0, comma);
      if (hop.size() < 2 || hop.front() != '@' || !valid_dot_domain(hop.substr(1))) {
        return address_error(role, "bad source route");
      }
      route = comma == std::string_view::npos ? std::string_view() : route.substr(comma + 1);
      if (comma != std::string_view::npos && route.empty()) {
        return address_error(role, "bad source route");
      }
    }
    i = colon + 1;
  }
  const std::size_t local_start = i;
  if (i < s.size() && s[i] == '"') {
    ++i;
    bool closed = false;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        closed = true;
        ++i;
        break;
      }
      if (c == '\\') {
        // quoted-pairSMTP = %d92 %d32-126
        if (i + 1 >= s.size() || static_cast<unsigned char>(s[i + 1]) < 32 ||
            static_cast<unsigned char>(s[i + 1]) > 126) {
          return address_error(role, "bad quoted local part");
        }
        i += 2;
        continue;
      }
      if (!is_qtext(c)) {
        return address_error(role, "bad quoted local part");
      }
      ++i;
    }
    if (!closed) {
      return address_error(role, "unterminated quoted local part");
    }
  } else {
    bool need_atom = true;
    while (i < s.size() && (is_atext(s[i]) || s[i] == '.')) {
      if (s[i] == '.') {
        if (need_atom) {
          return address_error(role, "bad local part");
        }
        need_atom = true;
      } else {
        need_atom = false;
      }
      ++i;
    }
    if (need_atom) {
      return address_error(role, i == local_start ? "empty local part" : "bad local part");
    }
  }
  const std::string_view local = s.substr(local_start, i - local_start);
  std::string_view domain;
  if (i < s.size() && s[i] == '>') {
    // Only "Postmaster" may come without a domain, and only as a recipient.
    if (role == Role::recipient && iequals(local, "postmaster")) {
      out.postmaster = true;
    } else {
      return address_error(role, "missing domain");
    }
  } else {
    if (i >= s.size() || s[i] != '@') {
      return address_error(role, "bad local part");
    }
    ++i;
    const std::size_t domain_start = i;
    if (i < s.size() && s[i] == '[') {
      const std::size_t close = s.find(']', i);
      if (close == std::string_view::npos) {
        return address_error(role, "bad address literal");
      }
      if (!valid_address_literal(s.substr(i + 1, close - i - 1))) {
        return address_error(role, "bad address literal");
      }
      i = close + 1;
    } else {
      while (i < s.size() && (is_let_dig(s[i]) || s[i] == '-' || s[i] == '.')) {
        ++i;
      }
      if (!valid_dot_domain(s.substr(domain_start, i - domain_start))) {
        return address_error(role, "bad domain");
      }
    }
    domain = s.substr(domain_start, i - domain_start);
    if (i >= s.size() || s[i] != '>') {
      return address_error(role, "bad domain");
    }
  }
  // i is at ">".
  if (i + 1 > kMaxPath) {
    return make(CommandError::Kind::path_too_long, 501, role == Role::sender ? "5.1.7" : "5.1.3",
                "Path too long");
  }
  if (local.size() > kMaxLocalPart) {
    return make(CommandError::Kind::path_too_long, 501, role == Role::sender ? "5.1.7" : "5.1.3",
                "Local part too long");
  }
  if (domain.size() > kMaxDomain) {
    return make(CommandError::Kind::path_too_long, 501, role == Role::sender ? "5.1.7" : "5.1.3",
                "Domain too long");
  }
  for (char c : local) {
    out.path.non_ascii = out.path.non_ascii || is_high(c);
  }
  for (char c : domain) {
    out.path.non_ascii = out.path.non_ascii || is_high(c);
  }
  if (out.path.non_ascii && !(is_valid_utf8(local) && is_valid_utf8(domain))) {
    return address_error(role, "invalid UTF-8");
  }
  out.path.local_part = std::string(local);
  out.path.domain = std::string(domain);
  out.path.address =
      domain.empty() ? std::string(local) : out.path.local_part + "@" + out.path.domain;
  out.rest = s.substr(i + 1);
  return out;
}

// Strips "FROM:" / "TO:" (case-insensitive) and spaces after the colon.
std::optional<std::string_view> strip_keyword(std::string_view arg, std::string_view keyword) {
  if (arg.size() < keyword.size() || !iequals(arg.substr(0, keyword.size()), keyword)) {
    return std::nullopt;
  }
  arg.remove_prefix(keyword.size());
  while (!arg.empty() && arg.front() == ' ') {
    arg.remove_prefix(1);
  }
  return arg;
}

struct Param {
  std::string_view keyword;
  std::optional<std::string_view> value;
};

// esmtp-param = esmtp-keyword ["=" esmtp-value]; one or more SP between params.
std::optional<Param> split_param(std::string_view p) {
  const std::size_t eq = p.find('=');
  Param out;
  out.keyword = p.substr(0, eq);
  if (out.keyword.empty() || !(is_alpha(out.keyword.front()) || is_digit(out.keyword.front()))) {
    return std::nullopt;
  }
  for (char c : out.keyword) {
    if (!is_alpha(c) && !is_digit(c) && c != '-') {
      return std::nullopt;
    }
  }
  if (eq != std::string_view::npos) {
    const std::string_view v = p.substr(eq + 1);
    if (v.empty()) {
      return std::nullopt;
    }
    // esmtp-value = 1*(%d33-60 / %d62-126), UTF-8 allowed under SMTPUTF8.
    for (char c : v) {
      const auto u = static_cast<unsigned char>(c);
      if (!((u >= 33 && u <= 60) || (u >= 62 && u <= 126) || u >= 0x80)) {
        return std::nullopt;
      }
    }
    out.value = v;
  }
  return out;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    c = to_upper(c);
  }
  return out;
}

CommandError bad_value(std::string_view keyword) {
  return make(CommandError::Kind::bad_param_value, 501, "5.5.4",
              "Bad " + upper(keyword) + " parameter value");
}

}  // namespace

std::string CommandError::reply() const {
  return std::to_string(code) + " " + enhanced_code + " " + text;
}

void throw_exception_from_error(const CommandError& e, const boost::source_location&) {
  throw std::runtime_error(e.reply());
}

std::string_view to_string(Verb v) {
  for (const auto& [name, verb] : kVerbs) {
    if (verb == v) {
      return name;
    }
  }
  return "UNKNOWN";
}

Command parse_command(std::string_view line) {
  Command out;
  const std::size_t sp = line.find(' ');
  out.name = line.substr(0, sp);
  out.argument = sp == std::string_view::npos ? std::string_view() : trim(line.substr(sp + 1));
  for (const auto& [name, verb] : kVerbs) {
    if (iequals(out.name, name)) {
      out.verb = verb;
      break;
    }
  }
  return out;
}

ParseResult<MailFrom> parse_mail_from(std::string_view argument) {
  const auto rest = strip_keyword(argument, "FROM:");
  if (!rest) {
    return syntax_error(Role::sender);
  }
  auto parsed = parse_path(*rest, Role::sender);
  if (!parsed) {
    return parsed.error();
  }
  MailFrom out;
  out.path = std::move(parsed->path);
  out.null_path = parsed->null_path;
  std::string_view params = parsed->rest;
  if (!params.empty() && params.front() != ' ') {
    return syntax_error(Role::sender);
  }
  bool seen_auth = false;
  while (true) {
    while (!params.empty() && params.front() == ' ') {
      params.remove_prefix(1);
    }
    if (params.empty()) {
      break;
    }
    const std::size_t sp = params.find(' ');
    const std::string_view token = params.substr(0, sp);
    params = sp == std::string_view::npos ? std::string_view() : params.substr(sp);
    const auto param = split_param(token);
    if (!param) {
      return make(CommandError::Kind::syntax, 501, "5.5.4", "Bad MAIL parameter syntax");
    }
    const auto duplicate = [&](bool seen) -> std::optional<CommandError> {
      if (seen) {
        return make(CommandError::Kind::duplicate_param, 501, "5.5.4",
                    "Duplicate MAIL parameter " + upper(param->keyword));
      }
      return std::nullopt;
    };
    if (iequals(param->keyword, "SIZE")) {
      if (auto e = duplicate(out.size.has_value())) {
        return *e;
      }
      if (!param->value) {
        return bad_value(param->keyword);
      }
      std::uint64_t n = 0;
      for (char c : *param->value) {
        if (!is_digit(c)) {
          return bad_value(param->keyword);
        }
        const auto d = static_cast<std::uint64_t>(c - '0');
        constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
        n = n > (kMax - d) / 10 ? kMax : n * 10 + d;
      }
      out.size = n;
    } else if (iequals(param->keyword, "BODY")) {
      if (auto e = duplicate(out.body != BodyType::unspecified)) {
        return *e;
      }
      if (!param->value) {
        return bad_value(param->keyword);
      }
      if (iequals(*param->value, "7BIT")) {
        out.body = BodyType::seven_bit;
      } else if (iequals(*param->value, "8BITMIME")) {
        out.body = BodyType::eight_bit_mime;
      } else {
        return make(CommandError::Kind::bad_param_value, 555, "5.5.4",
                    "Unsupported BODY type " + std::string(*param->value));
      }
    } else if (iequals(param->keyword, "SMTPUTF8")) {
      if (auto e = duplicate(out.smtputf8)) {
        return *e;
      }
      if (param->value) {
        return bad_value(param->keyword);
      }
      out.smtputf8 = true;
    } else if (iequals(param->keyword, "AUTH")) {
      // RFC 4954 5: we don't trust a client's claim about the original submitter; ignore it.
      if (auto e = duplicate(seen_auth)) {
        return *e;
      }
      if (!param->value) {
        return bad_value(param->keyword);
      }
      seen_auth = true;
    } else {
      return make(CommandError::Kind::unknown_param, 555, "5.5.4",
                  "Unsupported MAIL parameter " + upper(param->keyword));
    }
  }
  if (out.path.non_ascii && !out.smtputf8) {
    return make(CommandError::Kind::non_ascii, 553, "5.6.7",
                "Non-ASCII sender address requires SMTPUTF8");
  }
  return out;
}

ParseResult<RcptTo> parse_rcpt_to(std::string_view argument, bool smtputf8) {
  const auto rest = strip_keyword(argument, "TO:");
  if (!rest) {
    return syntax_error(Role::recipient);
  }
  auto parsed = parse_path(*rest, Role::recipient);
  if (!parsed) {
    return parsed.error();
  }
  if (parsed->null_path) {
    return address_error(Role::recipient, "null recipient");
  }
  std::string_view params = trim(parsed->rest);
  if (!parsed->rest.empty() && parsed->rest.front() != ' ') {
    return syntax_error(Role::recipient);
  }
  if (!params.empty()) {
    const std::string_view token = params.substr(0, params.find(' '));
    const auto param = split_param(token);
    if (!param) {
      return make(CommandError::Kind::syntax, 501, "5.5.4", "Bad RCPT parameter syntax");
    }
    return make(CommandError::Kind::unknown_param, 555, "5.5.4",
                "Unsupported RCPT parameter " + upper(param->keyword));
  }
  if (parsed->path.non_ascii && !smtputf8) {
    return make(CommandError::Kind::non_ascii, 553, "5.6.7",
                "Non-ASCII recipient address requires SMTPUTF8");
  }
  RcptTo out;
  out.path = std::move(parsed->path);
  out.postmaster = parsed->postmaster;
  return out;
}

ParseResult<BdatArgs> parse_bdat(std::string_view argument) {
  const auto error = [] {
    return make(CommandError::Kind::syntax, 501, "5.5.4", "Syntax: BDAT size [LAST]");
  };
  argument = trim(argument);
  const std::size_t sp = argument.find(' ');
  const std::string_view size = argument.substr(0, sp);
  // 20 digits hold any uint64; refuse more rather than guess how many octets follow.
  if (size.empty() || size.size() > 20) {
    return error();
  }
  BdatArgs out;
  for (char c : size) {
    if (!is_digit(c)) {
      return error();
    }
    const auto d = static_cast<std::uint64_t>(c - '0');
    if (out.size > (std::numeric_limits<std::uint64_t>::max() - d) / 10) {
      return error();
    }
    out.size = out.size * 10 + d;
  }
  if (sp != std::string_view::npos) {
    if (!iequals(trim(argument.substr(sp)), "LAST")) {
      return error();
    }
    out.last = true;
  }
  return out;
}

bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else {
      return false;
    }
    if (i + n >= s.size()) {
      return false;
    }
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace portcullis::relay::smtp
