#pragma once
// Parses SMTP replies from a remote server (RFC 5321 4.2): untrusted input.
// Pure functions without I/O. Every input is bounded: a reply line may hold at
// most kMaxReplyLine octets and a reply at most kMaxReplyLines lines; anything
// else (a line not starting with a 3-digit code, codes changing inside one
// reply) is invalid, and the caller treats the session as failed temporarily.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::relay::delivery {

inline constexpr std::size_t kMaxReplyLine = 4096;  // octets including CRLF
inline constexpr std::size_t kMaxReplyLines = 100;
// Longest reply text kept for logs, events and DSNs.
inline constexpr std::size_t kMaxReplyText = 1000;

struct Reply {
  int code = 0;
  std::vector<std::string> lines;  // the text after "NNN-" / "NNN ", control characters removed

  int kind() const { return code / 100; }  // 2, 3, 4 or 5
  bool positive() const { return kind() == 2; }
  bool intermediate() const { return kind() == 3; }
  bool transient() const { return kind() == 4; }
  bool permanent() const { return kind() == 5; }
  // "550 5.1.1 no such user": one line, bounded, for logs, events and DSNs.
  // Continuation lines are joined with spaces; a repeated enhanced status code is dropped.
  std::string text() const;
};

enum class ReplyStatus { complete, need_more, invalid };

struct ReplyParse {
  ReplyStatus status = ReplyStatus::need_more;
  std::size_t consumed = 0;  // octets of the buffer the complete reply used
  Reply reply;
  std::string error;  // for invalid: what was wrong, for the failure reason
};

// Looks for one complete reply at the start of buffer. Lines end with CRLF
// (a bare LF is tolerated).
ReplyParse parse_reply(std::string_view buffer);

// The server's EHLO keywords that change what the client sends.
struct Extensions {
  bool pipelining = false;
  bool starttls = false;
  bool eight_bit_mime = false;
  bool smtputf8 = false;
  bool size = false;
  std::uint64_t max_size = 0;  // 0: SIZE offered without a limit (or not offered)
};

// Reads the keywords from an EHLO reply (its first line is the greeting, not a keyword).
Extensions parse_extensions(const Reply& ehlo);

// The RFC 3463 enhanced status code in a reply or failure reason ("5.1.1"),
// else the class default ("5.0.0" or "4.0.0"), for DSN Status: fields.
std::string enhanced_status(std::string_view text, bool permanent);

}  // namespace portcullis::relay::delivery
