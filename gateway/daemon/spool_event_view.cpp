#include "gateway/daemon/spool_event_view.hpp"

namespace portcullis::daemon {

std::vector<events::DeliveryEvent> SpoolEventView::events(const events::EventFilter& filter) const {
  return spool_.events(filter);
}

}  // namespace portcullis::daemon
