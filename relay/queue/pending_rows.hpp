#pragma once
// Reads messages with their pending recipients as DueMessages: one query on
// messages and one on recipients, both sorted by message id, merged in one
// pass (no query per message). Shared by Spool::load_pending (the engine's
// start) and QueueAdmin (release). Inside the caller's read transaction.

#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"
#include "relay/queue/message.hpp"
#include "relay/queue/sqlite_db.hpp"

namespace portcullis::relay::queue {

// messages_where / recipients_where: SQL conditions on the messages and the
// recipients table ("1" for all). Messages without a pending recipient are left out.
Result<std::vector<DueMessage>> read_pending(detail::Db& db,
                                             std::string_view messages_where,
                                             std::string_view recipients_where);

}  // namespace portcullis::relay::queue
