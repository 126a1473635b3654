#pragma once
// Control API routes for delivery: POST /v1/queue/{id}/retry, DELETE
// /v1/queue/{id}, GET /v1/events?tenant=T&since=UNIX&message=ID&limit=N, and
// the queue at depth: GET /v1/queue-summary?top=N and POST
// /v1/queue/{hold,release,retry,delete,bounce} with a filter body
// {"tenant", "destination", "sender", "older_than", "id"} or {"all": true}.
// Untrusted input: path, query parameters and bodies from local operators;
// numbers must be in range and filter texts short and printable, else 400.
//
// The summary and the actions run synchronously on the control server's
// thread (the router has no asynchronous handlers); each action's time is in
// its log line.

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <cstddef>
#include <vector>

#include "gateway/core/control/api.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

inline constexpr std::size_t kDefaultEventLimit = 100;
inline constexpr std::size_t kMaxEventLimit = 10000;
inline constexpr std::size_t kDefaultSummaryTop = 10;
inline constexpr std::size_t kMaxSummaryTop = 1000;

// context.events may be null: GET /v1/events answers 503.
void register_queue_event_routes(Router& router, ApiContext& context);

// JSON shapes shared with the queue routes in api.cpp.
boost::json::array recipient_states_json(const std::vector<QueuedRecipient>& states);
boost::json::object event_json(const events::DeliveryEvent& e);

}  // namespace portcullis::control
