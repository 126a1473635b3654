#pragma once
// The control API's view of the queue's durable delivery event log.

#include "gateway/core/control/event_view.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {

class SpoolEventView final : public control::EventView {
 public:
  explicit SpoolEventView(const relay::queue::Spool& spool) : spool_(spool) {}
  std::vector<events::DeliveryEvent> events(const events::EventFilter& filter) const override;

 private:
  const relay::queue::Spool& spool_;
};

}  // namespace portcullis::daemon
