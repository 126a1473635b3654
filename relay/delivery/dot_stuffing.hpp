#pragma once
// Turns a queued message into the octets sent after DATA (RFC 5321 4.5.2):
// a line starting with "." gets another ".", the last line ends with CRLF and
// ".\r\n" ends the data. The message was accepted from a client (untrusted),
// so line ends are normalised too: a bare CR or LF becomes CRLF, so no
// receiver can read an end-of-data sequence that this server did not mean
// (SMTP smuggling). Messages from the spool are already CRLF-only, and then
// nothing but the dots changes.

#include <string>
#include <string_view>

namespace portcullis::relay::delivery {

std::string dot_stuff(std::string_view message);

}  // namespace portcullis::relay::delivery
