#pragma once
// Control API routes for delivery: POST /v1/queue/{id}/retry, DELETE
// /v1/queue/{id} and GET /v1/events?tenant=T&since=UNIX&message=ID&limit=N.
// Untrusted input: path and query parameters from local operators; since and
// limit must be plain numbers in range, else 400.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <vector>

#include "gateway/core/control/api.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

inline constexpr std::size_t kDefaultEventLimit = 100;
inline constexpr std::size_t kMaxEventLimit = 10000;

// context.events may be null: GET /v1/events answers 503.
void register_queue_event_routes(Router& router, ApiContext& context);

// JSON shapes shared with the queue routes in api.cpp.
boost::json::array recipient_states_json(const std::vector<QueuedRecipient>& states);
boost::json::object event_json(const events::DeliveryEvent& e);

}  // namespace portcullis::control
