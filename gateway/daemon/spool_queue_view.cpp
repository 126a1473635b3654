#include "gateway/daemon/spool_queue_view.hpp"

namespace portcullis::daemon {

std::vector<control::QueuedMessageSummary> SpoolQueueView::list(std::size_t limit) const {
  std::vector<control::QueuedMessageSummary> out;
  for (auto& m : spool_.list(limit)) {
    out.push_back({std::move(m.id), std::move(m.tenant_id), std::move(m.mail_from), m.recipients,
                   m.size, m.received_at, m.pending, m.next_attempt_at});
  }
  return out;
}

std::optional<control::QueuedMessageDetail> SpoolQueueView::get(std::string_view id) const {
  auto message = spool_.get(id);
  if (!message) {
    return std::nullopt;
  }
  auto& e = message->envelope;
  control::QueuedMessageDetail d;
  d.id = message->id;
  d.tenant_id = e.tenant_id;
  d.credential = e.credential;
  d.listener = e.listener;
  d.client_address = e.client_address;
  d.helo = e.helo;
  d.original_destination = e.original_destination;
  d.mail_from = e.mail_from;
  d.recipients = e.recipients;
  d.body_type = e.body_type;
  d.smtputf8 = e.smtputf8;
  d.received_at = e.received_at;
  d.size = message->data.size();
  d.headers = control::header_section(message->data);
  for (auto& r : spool_.recipients(id)) {
    d.recipient_states.push_back({r.idx, std::move(r.address),
                                  std::string(relay::queue::to_string(r.status)), r.attempts,
                                  r.next_attempt_at, std::move(r.last_reply), std::move(r.remote),
                                  r.first_failure_at, r.updated_at});
  }
  return d;
}

}  // namespace portcullis::daemon
