#include "gateway/daemon/spool_queue_view.hpp"

#include "gateway/core/asio.hpp"
#include "gateway/core/log/log.hpp"

namespace portcullis::daemon {
namespace {

control::QueueShapeRow row_of(relay::queue::ShapeRow row) {
  return {std::move(row.name),
          row.messages,
          row.recipients,
          row.queued,
          row.deferred,
          row.held,
          std::vector<std::uint64_t>(row.ages.begin(), row.ages.end())};
}

}  // namespace

SpoolQueueView::SpoolQueueView(relay::queue::Spool& spool,
                               std::string reporting_host,
                               std::function<void(std::string)> retry_hook)
    : spool_(spool) {
  if (reporting_host.empty()) {
    boost::system::error_code ec;
    reporting_host = asio::ip::host_name(ec);
  }
  auto admin = relay::queue::QueueAdmin::open(
      spool, {.reporting_host = std::move(reporting_host), .retry_hook = std::move(retry_hook)});
  if (admin) {
    admin_ = std::move(*admin);
  } else {
    log::error("queue_admin_unavailable", {{"error", admin.error().message}});
  }
}

Result<control::QueueShape> SpoolQueueView::summary(std::size_t top) const {
  if (!admin_) {
    return make_error("the queue admin could not open the queue database");
  }
  auto shape = admin_->summary(top);
  if (!shape) {
    return shape.error();
  }
  control::QueueShape out;
  out.now = shape->now;
  for (const auto name : relay::queue::age_bucket_names()) {
    out.buckets.emplace_back(name);
  }
  out.total = row_of(std::move(shape->total));
  out.held_messages = shape->held_messages;
  for (auto& row : shape->destinations) {
    out.destinations.push_back(row_of(std::move(row)));
  }
  for (auto& row : shape->tenants) {
    out.tenants.push_back(row_of(std::move(row)));
  }
  out.destination_count = shape->destination_count;
  out.tenant_count = shape->tenant_count;
  return out;
}

Result<control::QueueActionResult> SpoolQueueView::act(control::QueueAction action,
                                                       const control::QueueFilter& filter) {
  if (!admin_) {
    return make_error("the queue admin could not open the queue database");
  }
  const relay::queue::QueueFilter f{filter.id, filter.tenant, filter.destination, filter.sender,
                                    filter.older_than};
  Result<relay::queue::AdminResult> r = make_error("unknown action");
  switch (action) {
    case control::QueueAction::hold:
      r = admin_->hold(f);
      break;
    case control::QueueAction::release:
      r = admin_->release(f);
      break;
    case control::QueueAction::retry:
      r = admin_->retry_now(f);
      break;
    case control::QueueAction::remove:
      r = admin_->remove(f);
      break;
    case control::QueueAction::bounce:
      r = admin_->bounce(f);
      break;
  }
  if (!r) {
    return r.error();
  }
  return control::QueueActionResult{r->messages, r->recipients};
}

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
