#include "gateway/core/firewall/egress_events.hpp"

#include <utility>

namespace portcullis::firewall {

void EgressBus::subscribe(Handler handler) {
  std::lock_guard lock(mutex_);
  handlers_.push_back(std::move(handler));
}

void EgressBus::publish(const EgressObservation& observation) const {
  // Handlers run outside the lock so that one may subscribe another.
  std::vector<Handler> handlers;
  {
    std::lock_guard lock(mutex_);
    handlers = handlers_;
  }
  for (const auto& h : handlers) {
    h(observation);
  }
}

}  // namespace portcullis::firewall
