#pragma once
// Mailbox addresses as they appear in report fields: "<user@example>" (Original-Rcpt-To,
// Original-Mail-From), "rfc822; user@example" (Final-Recipient), and address lists in To:/From:
// ("Name <user@example>, other@example"). The result decides whose address is suppressed, so
// anything that does not look like exactly one plausible addr-spec is refused rather than guessed.

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::abuse::mime {

// "local@domain": local part 1..64 printable characters without spaces or <>,;:
// (quoted local parts are kept as sent), domain 1..255 of letters, digits, '-', '.', '_' (or a
// [literal]), at least one of each side of the last '@'.
bool is_plausible_mailbox(std::string_view address);

// The address of a field holding one mailbox, with or without angle brackets and an optional
// "type;" prefix (RFC 3464 address-type); nullopt when it is not plausible.
std::optional<std::string> single_mailbox(std::string_view value);

// The first mailbox of an RFC 5322 address list, skipping display names, comments and groups'
// labels; nullopt when none is plausible.
std::optional<std::string> first_mailbox(std::string_view value);

// The id of a Message-ID field without its angle brackets: "<a@b> (comment)" → "a@b";
// nullopt for empty or unprintable values.
std::optional<std::string> message_id(std::string_view value);

}  // namespace portcullis::abuse::mime
