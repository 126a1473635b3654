#include "gateway/core/control/api_queue_events.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
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

// ---- the queue at depth: summary and actions by filter ----

// Addresses and domains are at most 320 octets (RFC 5321 4.5.3.1), ids 64.
constexpr std::size_t kMaxFilterText = 320;
// Ten years: "older than" beyond that is a typo, not a filter.
constexpr std::int64_t kMaxOlderThan = 10LL * 365 * 24 * 3600;

json::object shape_row_json(const QueueShapeRow& row) {
  json::array ages;
  for (const auto n : row.ages) {
    ages.emplace_back(n);
  }
  return {{"name", row.name},       {"messages", row.messages}, {"recipients", row.recipients},
          {"queued", row.queued},   {"deferred", row.deferred}, {"held", row.held},
          {"ages", std::move(ages)}};
}

Response queue_summary(ApiContext& ctx, const Request& request) {
  std::size_t top = kDefaultSummaryTop;
  for (const auto& [key, value] : request.query) {
    if (key != "top") {
      return error_response(400, "unknown query parameter '" + key + "' (known: top)");
    }
    if (!parse_number(value, top) || top == 0 || top > kMaxSummaryTop) {
      return error_response(400,
                            "top must be a number from 1 to " + std::to_string(kMaxSummaryTop));
    }
  }
  auto shape = ctx.queue.summary(top);
  if (!shape) {
    log::error("queue_summary_failed", {{"error", shape.error().message}});
    return error_response(500, "could not summarize the queue: " + shape.error().message);
  }
  json::array buckets;
  for (const auto& b : shape->buckets) {
    buckets.emplace_back(b);
  }
  json::array destinations;
  for (const auto& row : shape->destinations) {
    destinations.emplace_back(shape_row_json(row));
  }
  json::array tenants;
  for (const auto& row : shape->tenants) {
    tenants.emplace_back(shape_row_json(row));
  }
  return {200, json::object{{"now", shape->now},
                            {"buckets", std::move(buckets)},
                            {"total", shape_row_json(shape->total)},
                            {"held_messages", shape->held_messages},
                            {"destinations", std::move(destinations)},
                            {"destination_count", shape->destination_count},
                            {"tenants", std::move(tenants)},
                            {"tenant_count", shape->tenant_count}}};
}

// A filter field's text: a non-empty string without control characters.
Result<std::string> filter_text(const json::value& v, std::string_view key) {
  if (!v.is_string()) {
    return make_error("field '" + std::string(key) + "' must be a string");
  }
  std::string text(v.get_string());
  if (text.size() > kMaxFilterText) {
    return make_error("field '" + std::string(key) + "' is longer than " +
                      std::to_string(kMaxFilterText) + " characters");
  }
  for (const unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      return make_error("field '" + std::string(key) + "' has a control character");
    }
  }
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

// {"all": true} or any of id, tenant, destination, sender ("<>" or "" for the
// null sender), older_than (seconds). Nothing given without "all" is refused,
// so a forgotten filter never empties the whole queue.
Result<QueueFilter> parse_filter(const json::value& body) {
  QueueFilter filter;
  bool all = false;
  if (body.is_null()) {
    return make_error("no filter given: pass \"all\": true to act on the whole queue");
  }
  if (!body.is_object()) {
    return make_error("the body must be a JSON object");
  }
  for (const auto& field : body.get_object()) {
    const std::string_view key = field.key();
    const json::value& value = field.value();
    if (key == "all") {
      if (!value.is_bool()) {
        return make_error("field 'all' must be true or false");
      }
      all = value.get_bool();
    } else if (key == "older_than") {
      if (!value.is_int64() && !value.is_uint64()) {
        return make_error("field 'older_than' must be a number of seconds");
      }
      const auto seconds = value.is_int64() ? value.get_int64() : -1;
      if (seconds < 0 || seconds > kMaxOlderThan) {
        return make_error("field 'older_than' must be from 0 to " + std::to_string(kMaxOlderThan) +
                          " seconds");
      }
      filter.older_than = seconds;
    } else if (key == "sender") {
      auto text = filter_text(value, key);
      if (!text) {
        return text.error();
      }
      filter.sender = *text == "<>" ? std::string() : std::move(*text);
    } else if (key == "id" || key == "tenant" || key == "destination") {
      auto text = filter_text(value, key);
      if (!text) {
        return text.error();
      }
      if (key == "destination" && text->starts_with('@')) {
        text->erase(0, 1);
      }
      if (text->empty()) {
        return make_error("field '" + std::string(key) + "' must not be empty");
      }
      (key == "id"       ? filter.id
       : key == "tenant" ? filter.tenant
                         : filter.destination) = std::move(*text);
    } else {
      return make_error("unknown field '" + std::string(key) +
                        "' (known: all, id, tenant, destination, sender, older_than)");
    }
  }
  if (filter.empty() && !all) {
    return make_error("no filter given: pass \"all\": true to act on the whole queue");
  }
  return filter;
}

json::object filter_json(const QueueFilter& f) {
  json::object out;
  const auto put = [&](std::string_view key, const std::optional<std::string>& v) {
    if (v) {
      out[key] = *v;
    }
  };
  put("id", f.id);
  put("tenant", f.tenant);
  put("destination", f.destination);
  put("sender", f.sender);
  if (f.older_than) {
    out["older_than"] = *f.older_than;
  }
  return out;
}

// One line per filter, for the log: "tenant=acme older_than=3600" or "all".
std::string filter_text_for_log(const QueueFilter& f) {
  std::string out;
  const auto put = [&](std::string_view key, const std::optional<std::string>& v) {
    if (v) {
      out += (out.empty() ? "" : " ") + std::string(key) + "=" + (v->empty() ? "<>" : *v);
    }
  };
  put("id", f.id);
  put("tenant", f.tenant);
  put("destination", f.destination);
  put("sender", f.sender);
  if (f.older_than) {
    out += (out.empty() ? "" : " ") + std::string("older_than=") + std::to_string(*f.older_than);
  }
  return out.empty() ? "all" : out;
}

Response act_on_queue(ApiContext& ctx, const Request& request, QueueAction action) {
  auto filter = parse_filter(request.body);
  if (!filter) {
    return error_response(400, filter.error().message);
  }
  const auto name = to_string(action);
  const auto started = std::chrono::steady_clock::now();
  auto result = ctx.queue.act(action, *filter);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - started)
                      .count();
  if (!result) {
    log::error("queue_action_failed", {{"action", name},
                                       {"filter", filter_text_for_log(*filter)},
                                       {"error", result.error().message}});
    return error_response(
        500, "could not " + std::string(name) + " messages: " + result.error().message);
  }
  // The audit line; the control server's control_request line beside it names the uid.
  log::info("queue_" + std::string(name), {{"filter", filter_text_for_log(*filter)},
                                           {"messages", result->messages},
                                           {"recipients", result->recipients},
                                           {"ms", ms}});
  return {200, json::object{{"action", name},
                            {"filter", filter_json(*filter)},
                            {"messages", result->messages},
                            {"recipients", result->recipients}}};
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
  // Not /v1/queue/summary: GET /v1/queue/{id} is registered first and would take it.
  router.add("GET", "/v1/queue-summary",
             [ctx](const Request& r) { return queue_summary(*ctx, r); });
  for (const auto action : {QueueAction::hold, QueueAction::release, QueueAction::retry,
                            QueueAction::remove, QueueAction::bounce}) {
    router.add("POST", "/v1/queue/" + std::string(to_string(action)),
               [ctx, action](const Request& r) { return act_on_queue(*ctx, r, action); });
  }
}

}  // namespace portcullis::control
