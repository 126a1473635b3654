#include "gateway/daemon/webhook_wiring.hpp"

#include <stdexcept>

#include "gateway/core/store/store.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {

std::vector<events::DeliveryEvent> SpoolEventLog::events_after(std::string_view tenant,
                                                               std::int64_t after_id,
                                                               std::size_t limit) const {
  auto events = spool_.events_after(tenant, after_id, limit);
  if (!events) {
    throw std::runtime_error("cannot read the queue's event log");
  }
  return std::move(*events);
}

std::int64_t SpoolEventLog::last_event_id() const {
  auto id = spool_.last_event_id();
  if (!id) {
    throw std::runtime_error("cannot read the queue's event log");
  }
  return *id;
}

std::vector<webhooks::Endpoint> StoreCursors::endpoints() const {
  std::vector<webhooks::Endpoint> out;
  for (auto& w : store_.list_webhooks()) {
    out.push_back({std::move(w.tenant_id), std::move(w.url), std::move(w.secret)});
  }
  return out;
}

std::optional<std::int64_t> StoreCursors::cursor(std::string_view tenant) const {
  auto cursor = store_.webhook_cursor(tenant);
  if (!cursor) {
    throw std::runtime_error("cannot read the webhook cursor: " + cursor.error().message);
  }
  return *cursor;
}

void StoreCursors::set_cursor(std::string_view tenant, std::int64_t id) {
  if (auto saved = store_.set_webhook_cursor(tenant, id); !saved) {
    throw std::runtime_error("cannot save the webhook cursor: " + saved.error().message);
  }
}

}  // namespace portcullis::daemon
