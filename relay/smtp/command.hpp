#pragma once
// Parses SMTP command lines (RFC 5321 4.1.1, 4.1.2) without I/O: the verb, and the arguments of
// MAIL, RCPT and BDAT. Untrusted input: every command line a client sends (without its CRLF).
// Errors come back as values that carry the exact reply (code, enhanced code, text), so the
// protocol only forwards them.

#include <boost/system/result.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::relay::smtp {

struct CommandError {
  enum class Kind {
    syntax,           // 501 5.5.4: not "FROM:<...>" / "TO:<...>", bad BDAT arguments
    bad_address,      // 553 5.1.7 (sender) / 553 5.1.3 (recipient): the path's syntax
    path_too_long,    // 501 5.1.7 / 501 5.1.3 (RFC 5321 4.5.3.1.10 "501 Path too long")
    non_ascii,        // 553 5.6.7: UTF-8 address without SMTPUTF8 (RFC 6531 3.5)
    unknown_param,    // 555 5.5.4: parameter not offered (RFC 5321 4.1.1.11)
    duplicate_param,  // 501 5.5.4
    bad_param_value,  // 501 5.5.4 (555 5.5.4 for a BODY type we do not offer)
  };
  Kind kind;
  int code;
  std::string enhanced_code;  // "5.5.4"
  std::string text;           // "Syntax: MAIL FROM:<address>"
  // "501 5.5.4 Syntax: MAIL FROM:<address>" (no CRLF).
  std::string reply() const;
};

// Called by ParseResult<T>::value() on an error: a bug in the caller, never peer behaviour.
[[noreturn]] void throw_exception_from_error(const CommandError& e, const boost::source_location&);

template <class T>
using ParseResult = boost::system::result<T, CommandError>;

enum class Verb {
  helo,
  ehlo,
  mail,
  rcpt,
  data,
  bdat,
  rset,
  noop,
  quit,
  vrfy,
  expn,
  help,
  auth,
  starttls,
  unknown,
};

std::string_view to_string(Verb v);  // upper case, "UNKNOWN" for unknown

struct Command {
  Verb verb = Verb::unknown;
  std::string_view name;      // the verb as sent (for logs/replies), views into the line
  std::string_view argument;  // after the first SP, surrounding SP/HTAB trimmed; views the line
};

// Verb is case-insensitive; anything not in Verb is Verb::unknown. Views into `line`.
Command parse_command(std::string_view line);

// A mailbox from a path; source routes are dropped (RFC 5321 4.1.1.3, C.).
struct Path {
  std::string address;     // local-part "@" domain, as sent; "" for the null reverse-path
  std::string local_part;  // as sent, a quoted local part keeps its quotes
  std::string domain;      // as sent, "[198.18.0.1]" / "[IPv6:fd00::1]" for literals
  bool non_ascii = false;  // UTF-8 in local part or domain (only accepted with SMTPUTF8)
};

enum class BodyType { unspecified, seven_bit, eight_bit_mime };

struct MailFrom {
  Path path;
  bool null_path = false;             // MAIL FROM:<>
  std::optional<std::uint64_t> size;  // SIZE=, saturated at UINT64_MAX (then reply 552)
  BodyType body = BodyType::unspecified;
  bool smtputf8 = false;
};

struct RcptTo {
  Path path;
  bool postmaster = false;  // RCPT TO:<Postmaster> without a domain (RFC 5321 4.1.1.3)
};

struct BdatArgs {
  std::uint64_t size = 0;
  bool last = false;
};

// `argument` of MAIL: "FROM:<path> [SP params]" (a space after the colon is accepted).
// Params: SIZE=digits, BODY=7BIT|8BITMIME, SMTPUTF8, AUTH=value (accepted and ignored,
// RFC 4954 5). Anything else, or a parameter given twice, is an error.
ParseResult<MailFrom> parse_mail_from(std::string_view argument);

// `argument` of RCPT: "TO:<path>". No parameters are offered (no DSN). `smtputf8` tells
// whether this transaction's MAIL carried SMTPUTF8, which allows a UTF-8 address.
ParseResult<RcptTo> parse_rcpt_to(std::string_view argument, bool smtputf8);

// `argument` of BDAT: "size [LAST]" (RFC 3030 2).
ParseResult<BdatArgs> parse_bdat(std::string_view argument);

// Well-formed UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace portcullis::relay::smtp
