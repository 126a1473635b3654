#include "gateway/core/events/delivery_event.hpp"

#include <array>
#include <utility>

namespace portcullis::events {
namespace {

constexpr std::array<std::pair<DeliveryEventType, std::string_view>, 6> kNames = {{
    {DeliveryEventType::accepted, "accepted"},
    {DeliveryEventType::delivered, "delivered"},
    {DeliveryEventType::deferred, "deferred"},
    {DeliveryEventType::bounced, "bounced"},
    {DeliveryEventType::expired, "expired"},
    {DeliveryEventType::deleted, "deleted"},
}};

}  // namespace

std::string_view to_string(DeliveryEventType type) {
  for (const auto& [value, name] : kNames) {
    if (value == type) {
      return name;
    }
  }
  return "unknown";
}

std::optional<DeliveryEventType> parse_delivery_event_type(std::string_view text) {
  for (const auto& [value, name] : kNames) {
    if (name == text) {
      return value;
    }
  }
  return std::nullopt;
}

void EventBus::subscribe(Handler handler) {
  std::lock_guard lock(mutex_);
  auto next = handlers_ ? std::make_shared<std::vector<Handler>>(*handlers_)
                        : std::make_shared<std::vector<Handler>>();
  next->push_back(std::move(handler));
  handlers_ = std::move(next);
}

void EventBus::publish(const DeliveryEvent& event) const {
  std::shared_ptr<const std::vector<Handler>> handlers;
  {
    std::lock_guard lock(mutex_);
    handlers = handlers_;
  }
  if (!handlers) {
    return;
  }
  for (const auto& handler : *handlers) {
    handler(event);
  }
}

}  // namespace portcullis::events
