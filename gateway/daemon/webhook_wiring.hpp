#pragma once
// The webhook dispatcher's view of the world: the spool's event log (ids are
// the cursor) and the store's registrations and cursors. Errors are thrown,
// as the dispatcher expects: it logs and retries them; an error must never
// read as "no cursor yet", which would skip a tenant's backlog.

#include "gateway/core/webhooks/webhook_dispatcher.hpp"

namespace portcullis::store {
class Store;
}
namespace portcullis::relay::queue {
class Spool;
}

namespace portcullis::daemon {

class SpoolEventLog final : public webhooks::EventLog {
 public:
  explicit SpoolEventLog(const relay::queue::Spool& spool) : spool_(spool) {}
  std::vector<events::DeliveryEvent> events_after(std::string_view tenant,
                                                  std::int64_t after_id,
                                                  std::size_t limit) const override;
  std::int64_t last_event_id() const override;

 private:
  const relay::queue::Spool& spool_;
};

class StoreCursors final : public webhooks::CursorStore {
 public:
  explicit StoreCursors(store::Store& store) : store_(store) {}
  std::vector<webhooks::Endpoint> endpoints() const override;
  std::optional<std::int64_t> cursor(std::string_view tenant) const override;
  void set_cursor(std::string_view tenant, std::int64_t id) override;

 private:
  store::Store& store_;
};

}  // namespace portcullis::daemon
