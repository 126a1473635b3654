#include "relay/queue/pending_rows.hpp"

#include <cstdint>
#include <string>
#include <utility>

namespace portcullis::relay::queue {

Result<std::vector<DueMessage>> read_pending(detail::Db& db,
                                             std::string_view messages_where,
                                             std::string_view recipients_where) {
  std::vector<DueMessage> out;
  auto message = db.prepare(
      "SELECT id, tenant_id, credential, listener, client_address, helo, original_destination, "
      "mail_from, body_type, smtputf8, received_at, size FROM messages WHERE " +
      std::string(messages_where) + " ORDER BY id");
  auto rcpt = db.prepare(
      "SELECT message_id, idx, address, status, attempts, next_attempt_at, first_failure_at, "
      "delay_notified FROM recipients WHERE " +
      std::string(recipients_where) + " ORDER BY message_id, idx");
  if (!message || !rcpt) {
    return make_error("read pending messages: " + db.error_message());
  }
  bool rcpt_row = rcpt->step() == SQLITE_ROW;
  while (message->step() == SQLITE_ROW) {
    DueMessage d;
    d.id = message->column_text(0);
    Envelope& e = d.envelope;
    e.tenant_id = message->column_text(1);
    e.credential = message->column_text(2);
    e.listener = message->column_text(3);
    e.client_address = message->column_text(4);
    e.helo = message->column_text(5);
    e.original_destination = message->column_text(6);
    e.mail_from = message->column_text(7);
    e.body_type = message->column_text(8);
    e.smtputf8 = message->column_int(9) != 0;
    e.received_at = message->column_int(10);
    d.size = static_cast<std::uint64_t>(message->column_int(11));
    while (rcpt_row && rcpt->column_text(0) < d.id) {
      rcpt_row = rcpt->step() == SQLITE_ROW;  // a recipient without its message: skipped
    }
    while (rcpt_row && rcpt->column_text(0) == d.id) {
      e.recipients.push_back(rcpt->column_text(2));
      const auto status = parse_recipient_status(rcpt->column_text(3));
      if (status && !is_final(*status)) {
        PendingRecipient p;
        p.idx = static_cast<std::size_t>(rcpt->column_int(1));
        p.address = e.recipients.back();
        p.attempts = static_cast<int>(rcpt->column_int(4));
        p.status = *status;
        p.next_attempt_at = rcpt->column_is_null(5) ? 0 : rcpt->column_int(5);
        if (!rcpt->column_is_null(6)) {
          p.first_failure_at = rcpt->column_int(6);
        }
        p.delay_notified = rcpt->column_int(7) != 0;
        d.recipients.push_back(std::move(p));
      }
      rcpt_row = rcpt->step() == SQLITE_ROW;
    }
    if (!d.recipients.empty()) {
      out.push_back(std::move(d));
    }
  }
  return out;
}

}  // namespace portcullis::relay::queue
