#include "gateway/core/control/api_queue_events.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <string>
#include <string_view>

#include "gateway/core/log/log.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;

template <class T>
bool parse_number(const std::string& text, T& out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && !text.empty();
}

json::value optional_time(const std::optional<std::int64_t>& t) {
  if (t) {
    return *t;
  }
  return nullptr;
}

Response retry_queued(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto retried = ctx.queue.retry(id);
  if (!retried) {
    log::error("queue_retry_failed", {{"msg", id}, {"error", retried.error().message}});
    return error_response(500, "could not retry message '" + id + "': " + retried.error().message);
  }
  if (!*retried) {
    return error_response(404, "no queued message '" + id + "'");
  }
  log::info("queue_retry", {{"msg", id}});
  return {200, json::object{{"id", id}, {"retried", true}}};
}

Response remove_queued(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto removed = ctx.queue.remove(id);
  if (!removed) {
    log::error("queue_delete_failed", {{"msg", id}, {"error", removed.error().message}});
    return error_response(500, "could not delete message '" + id + "': " + removed.error().message);
  }
  if (!*removed) {
    return error_response(404, "no queued message '" + id + "'");
  }
  return {200, json::object{{"id", id}, {"removed", true}}};
}

Response list_events(ApiContext& ctx, const Request& request) {
  if (ctx.events == nullptr) {
    return error_response(503, "the event log is not available");
  }
  events::EventFilter filter;
  filter.limit = kDefaultEventLimit;
  for (const auto& [key, value] : request.query) {
    if (key == "tenant") {
      filter.tenant = value;
    } else if (key == "message") {
      filter.message_id = value;
    } else if (key == "since") {
      if (!parse_number(value, filter.since) || filter.since < 0) {
        return error_response(400, "since must be a unix time in seconds");
      }
    } else if (key == "limit") {
      if (!parse_number(value, filter.limit) || filter.limit == 0 ||
          filter.limit > kMaxEventLimit) {
        return error_response(400,
                              "limit must be a number from 1 to " + std::to_string(kMaxEventLimit));
      }
    } else {
      return error_response(
          400, "unknown query parameter '" + key + "' (known: tenant, since, message, limit)");
    }
  }
  json::array out;
  for (const auto& e : ctx.events->events(filter)) {
    out.emplace_back(event_json(e));
  }
  return {200, json::object{{"events", std::move(out)}}};
}

}  // namespace

json::array recipient_states_json(const std::vector<QueuedRecipient>& states) {
  json::array out;
  for (const auto& r : states) {
    out.emplace_back(json::object{{"idx", static_cast<std::uint64_t>(r.idx)},
                                  {"address", r.address},
                                  {"status", r.status},
                                  {"attempts", r.attempts},
                                  {"next_attempt_at", optional_time(r.next_attempt_at)},
                                  {"last_reply", r.last_reply},
                                  {"remote", r.remote},
                                  {"first_failure_at", optional_time(r.first_failure_at)},
                                  {"updated_at", optional_time(r.updated_at)}});
  }
  return out;
}

json::object event_json(const events::DeliveryEvent& e) {
  return {{"id", e.id},
          {"time", e.time},
          {"type", events::to_string(e.type)},
          {"tenant_id", e.tenant_id},
          {"message_id", e.message_id},
          {"recipient", e.recipient},
          {"detail", e.detail},
          {"remote", e.remote}};
}

void register_queue_event_routes(Router& router, ApiContext& context) {
  ApiContext* ctx = &context;
  router.add("POST", "/v1/queue/{id}/retry",
             [ctx](const Request& r) { return retry_queued(*ctx, r); });
  router.add("DELETE", "/v1/queue/{id}",
             [ctx](const Request& r) { return remove_queued(*ctx, r); });
  router.add("GET", "/v1/events", [ctx](const Request& r) { return list_events(*ctx, r); });
}

}  // namespace portcullis::control
