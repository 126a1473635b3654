#pragma once
// portcullisctl's delivery commands: `queue retry ID`, `queue summary`,
// `queue hold|release|retry-now|delete|bounce [ID] [--tenant T]
// [--destination D] [--sender S] [--older-than 1h] [--all]` and `events
// [--tenant T] [--since 1h|2026-11-23T10:00:00Z|UNIX] [--message ID]
// [--limit N]`, plus the recipient-state table of `queue show`. Input: the
// operator's arguments and the daemon's JSON, whose text (addresses, remote
// replies, tenant names) goes through printable().

#include <boost/json/fwd.hpp>
#include <cstdint>
#include <ostream>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& events_commands();

// "1h" / "30m" (that long before now), "2026-11-23T10:00:00Z", "2026-11-23"
// (UTC) or unix seconds.
Result<std::int64_t> parse_since(std::string_view text, std::int64_t now);

// The table of a queued message's "recipient_states" (nothing if absent).
void print_recipient_states(std::ostream& out, const boost::json::value& message);

}  // namespace portcullis::ctl
