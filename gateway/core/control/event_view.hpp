#pragma once
// The stored delivery events as the control API sees them (GET /v1/events).
// The daemon adapts the queue's event log to this interface, so core does not
// include relay/. No untrusted input here: the API validates the filter.

#include <vector>

#include "gateway/core/events/delivery_event.hpp"

namespace portcullis::control {

class EventView {
 public:
  virtual ~EventView() = default;
  // The most recent filter.limit matches, oldest first.
  virtual std::vector<events::DeliveryEvent> events(const events::EventFilter& filter) const = 0;
};

}  // namespace portcullis::control
