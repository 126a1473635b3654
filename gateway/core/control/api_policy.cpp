#include "gateway/core/control/api_policy.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <ctime>
#include <memory>
#include <string>
#include <utility>

#include "gateway/core/config/config.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"
#include "gateway/core/webhooks/webhook_url.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;
using store::LimitOverrides;
using store::Suppression;
using store::SuppressionList;

constexpr std::int64_t kHour = 3600;
constexpr std::int64_t kDay = 24 * kHour;
constexpr std::size_t kSecretPrefix = 4;

Response no_tenant(const std::string& id) {
  return error_response(404, "no tenant '" + id + "'");
}

// ---- limits ----

json::value optional_number(const std::optional<std::uint64_t>& v) {
  if (v) {
    return *v;
  }
  return nullptr;
}

json::object overrides_json(const LimitOverrides& o) {
  json::object out;
  for (const auto& field : store::limit_fields()) {
    out[field.name] = optional_number(o.*field.member);
  }
  if (o.dedicated_ip) {
    out[store::kDedicatedIpField] = *o.dedicated_ip;
  } else {
    out[store::kDedicatedIpField] = nullptr;
  }
  return out;
}

json::object plan_json(const config::Plan& p) {
  return {{"monthly_quota", p.monthly_quota},
          {"messages_per_minute", static_cast<std::uint64_t>(p.messages_per_minute)},
          {"messages_per_hour", static_cast<std::uint64_t>(p.messages_per_hour)},
          {"recipients_per_message", static_cast<std::uint64_t>(p.recipients_per_message)},
          {"recipients_per_hour", static_cast<std::uint64_t>(p.recipients_per_hour)},
          {"max_connections", static_cast<std::uint64_t>(p.max_connections)},
          {"max_message_size", p.max_message_size},
          {"dedicated_ip", p.dedicated_ip}};
}

json::object limits_json(const ApiContext& ctx, const store::Tenant& t) {
  json::value plan_limits = nullptr;
  json::value effective = nullptr;
  if (auto plan = ctx.config.plans.find(t.plan); plan != ctx.config.plans.end()) {
    plan_limits = plan_json(plan->second);
    effective = plan_json(store::effective_limits(plan->second, t.limits));
  }
  return {{"tenant_id", t.id},
          {"plan", t.plan},
          {"plan_limits", std::move(plan_limits)},
          {"overrides", overrides_json(t.limits)},
          {"effective", std::move(effective)}};
}

Result<LimitOverrides> parse_overrides(const json::object& body) {
  LimitOverrides out;
  for (const auto& [key, value] : body) {
    const std::string_view k(key.data(), key.size());
    if (k == store::kDedicatedIpField) {
      if (value.is_string()) {
        out.dedicated_ip = std::string(value.get_string());
      } else if (!value.is_null()) {
        return make_error("field 'dedicated_ip' must be an IP address or null");
      }
      continue;
    }
    const store::LimitField* field = nullptr;
    for (const auto& f : store::limit_fields()) {
      if (f.name == k) {
        field = &f;
      }
    }
    if (field == nullptr) {
      return make_error("unknown field '" + std::string(k) + "'");
    }
    if (value.is_null()) {
      continue;
    }
    if (const auto* u = value.if_uint64()) {
      out.*field->member = *u;
    } else if (const auto* i = value.if_int64(); i != nullptr && *i >= 0) {
      out.*field->member = static_cast<std::uint64_t>(*i);
    } else {
      return make_error("field '" + std::string(k) + "' must be a whole number or null");
    }
  }
  return out;
}

Response get_limits(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto t = ctx.store.get_tenant(id);
  if (!t) {
    return no_tenant(id);
  }
  return {200, limits_json(ctx, *t)};
}

Response set_limits(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto* body = request.body.if_object();
  if (body == nullptr) {
    return error_response(400, "the request body must be a JSON object of limits");
  }
  auto overrides = parse_overrides(*body);
  if (!overrides) {
    return error_response(400, overrides.error().message);
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  if (auto ok = ctx.store.set_limit_overrides(id, *overrides); !ok) {
    return error_response(400, ok.error().message);
  }
  auto t = ctx.store.get_tenant(id);
  if (!t) {
    return no_tenant(id);
  }
  std::string set_fields;  // "messages_per_minute=5,dedicated_ip=192.0.2.9"
  for (const auto& field : store::limit_fields()) {
    if (const auto& value = t->limits.*field.member) {
      set_fields +=
          (set_fields.empty() ? "" : ",") + std::string(field.name) + "=" + std::to_string(*value);
    }
  }
  if (t->limits.dedicated_ip) {
    set_fields += (set_fields.empty() ? "" : ",") + std::string(store::kDedicatedIpField) + "=" +
                  *t->limits.dedicated_ip;
  }
  log::info("tenant_limits_set", {{"tenant", id}, {"overrides", set_fields}});
  tenants_changed(ctx);
  return {200, limits_json(ctx, *t)};
}

// ---- suppressions ----

json::object suppression_json(const Suppression& s) {
  return {{"tenant_id", s.tenant_id},
          {"list", store::to_string(s.list)},
          {"address", s.address},
          {"reason", s.reason},
          {"created_at", s.created_at}};
}

Result<SuppressionList> parse_list(std::string_view text) {
  if (auto list = store::parse_suppression_list(text)) {
    return *list;
  }
  return make_error("'" + std::string(text) + "' is not a suppression list (" +
                    std::string(store::suppression_list_names()) + ")");
}

// ?list=L; an absent or empty parameter is no list.
Result<std::optional<SuppressionList>> list_param(const Request& request) {
  auto it = request.query.find("list");
  if (it == request.query.end() || it->second.empty()) {
    return std::optional<SuppressionList>();
  }
  auto list = parse_list(it->second);
  if (!list) {
    return list.error();
  }
  return std::optional<SuppressionList>(*list);
}

Response list_suppressions(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto list = list_param(request);
  if (!list) {
    return error_response(400, list.error().message);
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  json::array out;
  for (const auto& s : ctx.store.list_suppressions(id, *list)) {
    out.emplace_back(suppression_json(s));
  }
  return {200, json::object{{"suppressions", std::move(out)}}};
}

Response add_suppression(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto* body = request.body.if_object();
  if (body == nullptr) {
    return error_response(400, "the request body must be a JSON object with an 'address'");
  }
  Suppression s{.tenant_id = id, .list = SuppressionList::blocks, .reason = "operator"};
  for (const auto& [key, value] : *body) {
    const std::string_view k(key.data(), key.size());
    if (k != "address" && k != "list" && k != "reason") {
      return error_response(400, "unknown field '" + std::string(k) + "'");
    }
    if (!value.is_string()) {
      return error_response(400, "field '" + std::string(k) + "' must be a string");
    }
    const std::string text(value.get_string());
    if (k == "address") {
      s.address = text;
    } else if (k == "reason") {
      s.reason = text;
    } else {
      auto list = parse_list(text);
      if (!list) {
        return error_response(400, list.error().message);
      }
      s.list = *list;
    }
  }
  if (s.address.empty()) {
    return error_response(400, "field 'address' is required");
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  auto added = ctx.store.add_suppression(std::move(s));
  if (!added) {
    return error_response(400, added.error().message);
  }
  log::info("suppression_added",
            {{"tenant", id}, {"list", store::to_string(added->list)}, {"address", added->address}});
  return {201, suppression_json(*added)};
}

Response remove_suppression(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto& address = request.params.at("address");
  auto list = list_param(request);
  if (!list) {
    return error_response(400, list.error().message);
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  if (auto ok = ctx.store.remove_suppression(id, address, *list); !ok) {
    return error_response(404, ok.error().message);
  }
  const auto normalized = store::normalize_address(address);
  log::info("suppression_removed",
            {{"tenant", id},
             {"list", *list ? store::to_string(**list) : std::string_view("all")},
             {"address", normalized}});
  json::object out{{"tenant_id", id}, {"address", normalized}, {"removed", true}};
  if (*list) {
    out["list"] = store::to_string(**list);
  }
  return {200, std::move(out)};
}

Response export_suppressions(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto list = list_param(request);
  if (!list) {
    return error_response(400, list.error().message);
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  const auto csv = ctx.store.export_suppressions_csv(id, *list);
  const auto lines = static_cast<std::uint64_t>(std::count(csv.begin(), csv.end(), '\n'));
  // Lines, not rows: a reason cannot hold a line break (normalize_reason).
  return {200, json::object{{"tenant_id", id}, {"csv", csv}, {"count", lines - 1}}};
}

Response import_suppressions(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto list = list_param(request);
  if (!list) {
    return error_response(400, list.error().message);
  }
  std::string csv;
  if (const auto* text = request.body.if_string()) {
    csv = std::string(*text);
  } else if (const auto* body = request.body.if_object()) {
    for (const auto& [key, value] : *body) {
      const std::string_view k(key.data(), key.size());
      if (k != "csv" && k != "list") {
        return error_response(400, "unknown field '" + std::string(k) + "'");
      }
      if (!value.is_string()) {
        return error_response(400, "field '" + std::string(k) + "' must be a string");
      }
      if (k == "csv") {
        csv = std::string(value.get_string());
      } else if (!value.get_string().empty()) {
        auto named = parse_list(value.get_string());
        if (!named) {
          return error_response(400, named.error().message);
        }
        *list = *named;
      }
    }
  } else {
    return error_response(400, "the request body must be the CSV as a JSON string, or {\"csv\"}");
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  auto imported = ctx.store.import_suppressions(id, csv, *list);
  if (!imported) {
    return error_response(400, imported.error().message);
  }
  log::info("suppressions_imported", {{"tenant", id}, {"rows", *imported}, {"size", csv.size()}});
  return {200,
          json::object{{"tenant_id", id}, {"imported", static_cast<std::uint64_t>(*imported)}}};
}

// ---- stats ----

json::object counts_json(const StatsRow& r) {
  return {{"requested", r.requested},
          {"delivered", r.delivered},
          {"deferred", r.deferred},
          {"bounced_hard", r.bounced_hard},
          {"bounced_soft", r.bounced_soft},
          {"suppressed", r.suppressed},
          {"rejected_limits", r.rejected_limits},
          {"complained", r.complained}};
}

Response stats(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (ctx.stats == nullptr) {
    return error_response(503, "statistics are not available in this daemon");
  }
  std::optional<std::int64_t> from;
  std::int64_t to = static_cast<std::int64_t>(std::time(nullptr));
  bool by_day = false;
  for (const auto& [key, value] : request.query) {
    if (key == "from" || key == "to") {
      auto t = parse_stats_time(value, key == "to");
      if (!t) {
        return error_response(400, key + " '" + value +
                                       "' is not a time (unix seconds, YYYY-MM-DD or "
                                       "YYYY-MM-DDTHH, UTC)");
      }
      if (key == "from") {
        from = *t;
      } else {
        to = *t;
      }
    } else if (key == "by") {
      if (value != "hour" && value != "day") {
        return error_response(400, "by '" + value + "' is not one of hour, day");
      }
      by_day = value == "day";
    } else {
      return error_response(400, "unknown parameter '" + key + "' (from, to, by)");
    }
  }
  if (!from) {
    from = to > 0 ? (to - 1) - (to - 1) % kDay : 0;  // the start of the (UTC) day of `to`
  }
  if (*from >= to) {
    return error_response(400, "from must be before to");
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  StatsRow total;
  json::array rows;
  for (const auto& r : ctx.stats->stats(id, *from, to, by_day)) {
    auto row = counts_json(r);
    row.emplace("start", r.start);
    rows.emplace_back(std::move(row));
    total.requested += r.requested;
    total.delivered += r.delivered;
    total.deferred += r.deferred;
    total.bounced_hard += r.bounced_hard;
    total.bounced_soft += r.bounced_soft;
    total.suppressed += r.suppressed;
    total.rejected_limits += r.rejected_limits;
    total.complained += r.complained;
  }
  return {200, json::object{{"tenant_id", id},
                            {"from", *from},
                            {"to", to},
                            {"by", by_day ? "day" : "hour"},
                            {"rows", std::move(rows)},
                            {"total", counts_json(total)}}};
}

// ---- webhook ----

Response set_webhook(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto* body = request.body.if_object();
  if (body == nullptr) {
    return error_response(400, "the request body must be a JSON object with a 'url'");
  }
  std::string url;
  for (const auto& [key, value] : *body) {
    const std::string_view k(key.data(), key.size());
    if (k != "url") {
      return error_response(400, "unknown field '" + std::string(k) + "'");
    }
    if (!value.is_string()) {
      return error_response(400, "field 'url' must be a string");
    }
    url = std::string(value.get_string());
  }
  if (url.empty()) {
    return error_response(400, "field 'url' is required");
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  auto webhook = ctx.store.set_webhook(id, url);
  if (!webhook) {
    return error_response(400, webhook.error().message);
  }
  // Neither the secret nor the path and query, which may hold the receiver's token.
  const auto parsed = webhooks::parse_webhook_url(webhook->url);
  log::info("webhook_set", {{"tenant", id}, {"host", parsed ? parsed->authority() : "?"}});
  if (ctx.on_webhooks_changed) {
    ctx.on_webhooks_changed();
  }
  return {200, json::object{{"tenant_id", webhook->tenant_id},
                            {"url", webhook->url},
                            {"secret", webhook->secret},
                            {"created_at", webhook->created_at}}};
}

Response get_webhook(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  auto webhook = ctx.store.get_webhook(id);
  if (!webhook) {
    return error_response(404, "tenant '" + id + "' has no webhook");
  }
  // Enough to tell two secrets apart, too little to forge a signature.
  return {200, json::object{{"tenant_id", webhook->tenant_id},
                            {"url", webhook->url},
                            {"secret_prefix", webhook->secret.substr(0, kSecretPrefix) + "\u2026"},
                            {"created_at", webhook->created_at}}};
}

Response remove_webhook(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  if (auto ok = ctx.store.remove_webhook(id); !ok) {
    return error_response(404, ok.error().message);
  }
  log::info("webhook_removed", {{"tenant", id}});
  if (ctx.on_webhooks_changed) {
    ctx.on_webhooks_changed();
  }
  return {200, json::object{{"tenant_id", id}, {"removed", true}}};
}

// Exactly `width` digits at text[pos...]; -1 otherwise.
int digits(std::string_view text, std::size_t pos, std::size_t width) {
  if (pos + width > text.size()) {
    return -1;
  }
  int value = 0;
  for (std::size_t i = pos; i < pos + width; ++i) {
    if (text[i] < '0' || text[i] > '9') {
      return -1;
    }
    value = value * 10 + (text[i] - '0');
  }
  return value;
}

}  // namespace

std::optional<std::int64_t> parse_stats_time(std::string_view text, bool end) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    std::int64_t seconds = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc{} || p != text.data() + text.size()) {
      return std::nullopt;
    }
    return seconds;
  }
  // YYYY-MM-DD or YYYY-MM-DDTHH
  if ((text.size() != 10 && text.size() != 13) || text[4] != '-' || text[7] != '-' ||
      (text.size() == 13 && text[10] != 'T')) {
    return std::nullopt;
  }
  const int year = digits(text, 0, 4);
  const int month = digits(text, 5, 2);
  const int day = digits(text, 8, 2);
  const int hour = text.size() == 13 ? digits(text, 11, 2) : 0;
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  const std::time_t t = ::timegm(&tm);
  if (tm.tm_mday != day || tm.tm_mon != month - 1) {
    return std::nullopt;  // timegm normalised an impossible date such as 02-30
  }
  const std::int64_t span = text.size() == 13 ? kHour : kDay;
  return static_cast<std::int64_t>(t) + (end ? span : 0);
}

void register_policy_api(Router& router, ApiContext& context) {
  ApiContext* ctx = &context;
  auto bind = [ctx](Response (*handler)(ApiContext&, const Request&)) {
    return [ctx, handler](const Request& r) { return handler(*ctx, r); };
  };
  router.add("GET", "/v1/tenants/{id}/limits", bind(get_limits));
  router.add("PUT", "/v1/tenants/{id}/limits", bind(set_limits));
  router.add("GET", "/v1/tenants/{id}/suppressions", bind(list_suppressions));
  router.add("POST", "/v1/tenants/{id}/suppressions", bind(add_suppression));
  router.add("GET", "/v1/tenants/{id}/suppressions/export", bind(export_suppressions));
  router.add("POST", "/v1/tenants/{id}/suppressions/import", bind(import_suppressions));
  router.add("DELETE", "/v1/tenants/{id}/suppressions/{address}", bind(remove_suppression));
  router.add("GET", "/v1/tenants/{id}/stats", bind(stats));
  router.add("PUT", "/v1/tenants/{id}/webhook", bind(set_webhook));
  router.add("GET", "/v1/tenants/{id}/webhook", bind(get_webhook));
  router.add("DELETE", "/v1/tenants/{id}/webhook", bind(remove_webhook));
}

}  // namespace portcullis::control
