#include "gateway/core/control/api.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "gateway/core/config/config.hpp"
#include "gateway/core/control/api_abuse.hpp"
#include "gateway/core/control/api_dkim.hpp"
#include "gateway/core/control/api_firewall.hpp"
#include "gateway/core/control/api_monitor.hpp"
#include "gateway/core/control/api_policy.hpp"
#include "gateway/core/control/api_queue_events.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/net/prefix.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;
using store::Credential;
using store::Tenant;

constexpr std::size_t kDefaultQueueLimit = 100;
constexpr std::size_t kMaxQueueLimit = 10000;

// ---- JSON shapes ----

json::object tenant_json(const Tenant& t) {
  json::array subnets;
  for (const auto& s : t.subnets) {
    subnets.emplace_back(s.to_string());
  }
  return {{"id", t.id},
          {"plan", t.plan},
          {"subnets", std::move(subnets)},
          {"port25_mode", store::to_string(t.port25_mode)},
          {"abuse_contact", t.abuse_contact},
          {"status", store::to_string(t.status)},
          {"status_reason", t.status_reason},
          {"created_at", t.created_at}};
}

json::object credential_json(const Credential& c) {
  json::object o{{"username", c.username},
                 {"tenant_id", c.tenant_id},
                 {"description", c.description},
                 {"created_at", c.created_at}};
  if (c.revoked_at) {
    o["revoked_at"] = *c.revoked_at;
  } else {
    o["revoked_at"] = nullptr;
  }
  return o;
}

json::object summary_json(const QueuedMessageSummary& m) {
  return {{"id", m.id},
          {"tenant_id", m.tenant_id},
          {"mail_from", m.mail_from},
          {"recipients", static_cast<std::uint64_t>(m.recipients)},
          {"size", m.size},
          {"received_at", m.received_at},
          {"pending", static_cast<std::uint64_t>(m.pending)},
          {"next_attempt_at", m.next_attempt_at}};
}

json::object detail_json(const QueuedMessageDetail& m) {
  json::array recipients;
  for (const auto& r : m.recipients) {
    recipients.emplace_back(r);
  }
  return {{"id", m.id},
          {"tenant_id", m.tenant_id},
          {"credential", m.credential},
          {"listener", m.listener},
          {"client_address", m.client_address},
          {"helo", m.helo},
          {"original_destination", m.original_destination},
          {"mail_from", m.mail_from},
          {"recipients", std::move(recipients)},
          {"body_type", m.body_type},
          {"smtputf8", m.smtputf8},
          {"received_at", m.received_at},
          {"headers", m.headers},
          {"size", m.size},
          {"recipient_states", recipient_states_json(m.recipient_states)}};
}

// ---- request bodies ----

Result<std::string> string_field(const json::value& v, std::string_view name) {
  if (const auto* s = v.if_string()) {
    // Explicit: Error is constructible from a string too (C++20 aggregate parens).
    return Result<std::string>(boost::system::in_place_value, s->data(), s->size());
  }
  return make_error("field '" + std::string(name) + "' must be a string");
}

Result<const json::object*> body_object(const Request& request) {
  if (request.body.is_null()) {
    static const json::object kEmpty;
    return &kEmpty;
  }
  if (const auto* o = request.body.if_object()) {
    return o;
  }
  return make_error("the request body must be a JSON object");
}

std::string plan_names(const config::Config& config) {
  std::string names;
  for (const auto& [name, plan] : config.plans) {
    names += names.empty() ? "" : ", ";
    names += name;
  }
  return names.empty() ? "none" : names;
}

// Applies the fields present in body to t. Creating: id is taken from the body;
// otherwise an id in the body must match (a GET result can be sent back as is).
Result<void> apply_tenant_fields(const json::object& body,
                                 Tenant& t,
                                 const config::Config& config,
                                 bool creating) {
  bool reason_given = false;
  for (const auto& [key, value] : body) {
    const std::string_view k(key.data(), key.size());
    if (k == "id") {
      auto id = string_field(value, k);
      if (!id) {
        return id.error();
      }
      if (creating) {
        t.id = *id;
      } else if (*id != t.id) {
        return make_error("the tenant id cannot be changed (body says '" + *id + "', path says '" +
                          t.id + "')");
      }
    } else if (k == "plan") {
      auto plan = string_field(value, k);
      if (!plan) {
        return plan.error();
      }
      if (!config.plans.contains(*plan)) {
        return make_error("unknown plan '" + *plan + "' (configured plans: " + plan_names(config) +
                          ")");
      }
      t.plan = *plan;
    } else if (k == "subnets") {
      const auto* list = value.if_array();
      if (list == nullptr) {
        return make_error("field 'subnets' must be a list of strings");
      }
      std::vector<net::Prefix> subnets;
      for (const auto& item : *list) {
        auto text = string_field(item, "subnets");
        if (!text) {
          return make_error("field 'subnets' must be a list of strings");
        }
        auto prefix = net::Prefix::parse(*text);
        if (!prefix) {
          return prefix.error();
        }
        subnets.push_back(*prefix);
      }
      t.subnets = std::move(subnets);
    } else if (k == "port25_mode") {
      auto text = string_field(value, k);
      if (!text) {
        return text.error();
      }
      auto mode = store::parse_port25_mode(*text);
      if (!mode) {
        return make_error("port25_mode '" + *text + "' is not one of block, redirect, exempt");
      }
      t.port25_mode = *mode;
    } else if (k == "abuse_contact") {
      auto text = string_field(value, k);
      if (!text) {
        return text.error();
      }
      t.abuse_contact = *text;
    } else if (k == "status") {
      auto text = string_field(value, k);
      if (!text) {
        return text.error();
      }
      auto status = store::parse_tenant_status(*text);
      if (!status) {
        return make_error("status '" + *text + "' is not one of active, suspended");
      }
      t.status = *status;
    } else if (k == "status_reason") {
      auto text = string_field(value, k);
      if (!text) {
        return text.error();
      }
      t.status_reason = *text;
      reason_given = true;
    } else if (k == "created_at") {
      // Read-only; accepted so that a tenant from GET can be sent back.
    } else {
      return make_error("unknown field '" + std::string(k) + "'");
    }
  }
  if (!reason_given && t.status == store::TenantStatus::active) {
    t.status_reason.clear();  // a reactivated tenant keeps no stale suspension reason
  }
  if (creating && t.id.empty()) {
    return make_error("field 'id' is required");
  }
  if (creating && t.plan.empty()) {
    return make_error("field 'plan' is required (configured plans: " + plan_names(config) + ")");
  }
  return {};
}

// ---- handlers ----

Response not_found_tenant(const std::string& id) {
  return error_response(404, "no tenant '" + id + "'");
}

Response health(ApiContext& ctx) {
  return {200,
          json::object{{"status", "ok"}, {"node", ctx.config.node.name}, {"version", kVersion}}};
}

Response list_tenants(ApiContext& ctx) {
  json::array tenants;
  for (const auto& t : ctx.store.list_tenants()) {
    tenants.emplace_back(tenant_json(t));
  }
  return {200, json::object{{"tenants", std::move(tenants)}}};
}

Response add_tenant(ApiContext& ctx, const Request& request) {
  auto body = body_object(request);
  if (!body) {
    return error_response(400, body.error().message);
  }
  Tenant t;
  if (auto ok = apply_tenant_fields(**body, t, ctx.config, true); !ok) {
    return error_response(400, ok.error().message);
  }
  if (ctx.store.get_tenant(t.id)) {
    return error_response(409, "tenant '" + t.id + "' already exists");
  }
  auto added = ctx.store.add_tenant(t);
  if (!added) {
    return error_response(400, added.error().message);
  }
  log::info("tenant_added", {{"tenant", added->id}, {"plan", added->plan}});
  tenants_changed(ctx);
  return {201, tenant_json(*added)};
}

Response get_tenant(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto t = ctx.store.get_tenant(id);
  if (!t) {
    return not_found_tenant(id);
  }
  return {200, tenant_json(*t)};
}

Response update_tenant(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto body = body_object(request);
  if (!body) {
    return error_response(400, body.error().message);
  }
  auto t = ctx.store.get_tenant(id);
  if (!t) {
    return not_found_tenant(id);
  }
  if (auto ok = apply_tenant_fields(**body, *t, ctx.config, false); !ok) {
    return error_response(400, ok.error().message);
  }
  auto updated = ctx.store.update_tenant(*t);
  if (!updated) {
    return error_response(400, updated.error().message);
  }
  log::info("tenant_updated", {{"tenant", updated->id},
                               {"plan", updated->plan},
                               {"status", store::to_string(updated->status)}});
  tenants_changed(ctx);
  return {200, tenant_json(*updated)};
}

Response remove_tenant(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (!ctx.store.get_tenant(id)) {
    return not_found_tenant(id);
  }
  if (auto ok = ctx.store.remove_tenant(id); !ok) {
    return error_response(400, ok.error().message);
  }
  log::info("tenant_removed", {{"tenant", id}});
  tenants_changed(ctx);
  return {200, json::object{{"id", id}, {"removed", true}}};
}

Response issue_credential(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto body = body_object(request);
  if (!body) {
    return error_response(400, body.error().message);
  }
  std::string description;
  for (const auto& [key, value] : **body) {
    const std::string_view k(key.data(), key.size());
    if (k != "description") {
      return error_response(400, "unknown field '" + std::string(k) + "'");
    }
    auto text = string_field(value, k);
    if (!text) {
      return error_response(400, text.error().message);
    }
    description = *text;
  }
  if (!ctx.store.get_tenant(id)) {
    return not_found_tenant(id);
  }
  auto issued = ctx.store.issue_credential(id, description);
  if (!issued) {
    return error_response(400, issued.error().message);
  }
  log::info("credential_issued", {{"tenant", id}, {"username", issued->credential.username}});
  auto out = credential_json(issued->credential);
  out["password"] = issued->password;
  return {201, std::move(out)};
}

Response list_credentials(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (!ctx.store.get_tenant(id)) {
    return not_found_tenant(id);
  }
  json::array credentials;
  for (const auto& c : ctx.store.list_credentials(id)) {
    credentials.emplace_back(credential_json(c));
  }
  return {200, json::object{{"credentials", std::move(credentials)}}};
}

std::optional<Credential> find_any_credential(ApiContext& ctx, const std::string& username) {
  auto in_tenant = [&](std::string_view tenant) -> std::optional<Credential> {
    for (auto& c : ctx.store.list_credentials(tenant)) {
      if (c.username == username) {
        return std::move(c);
      }
    }
    return std::nullopt;
  };
  // Usernames are "<tenant>.<random>": try that tenant before scanning them all.
  if (auto dot = username.rfind('.'); dot != std::string::npos) {
    if (auto c = in_tenant(std::string_view(username).substr(0, dot))) {
      return c;
    }
  }
  for (const auto& t : ctx.store.list_tenants()) {
    if (auto c = in_tenant(t.id)) {
      return c;
    }
  }
  return std::nullopt;
}

Response revoke_credential(ApiContext& ctx, const Request& request) {
  const auto& username = request.params.at("username");
  auto credential = find_any_credential(ctx, username);
  if (!credential) {
    return error_response(404, "no credential '" + username + "'");
  }
  if (credential->revoked_at) {
    return error_response(409, "credential '" + username + "' is already revoked");
  }
  if (auto ok = ctx.store.revoke_credential(username); !ok) {
    return error_response(400, ok.error().message);
  }
  log::info("credential_revoked", {{"tenant", credential->tenant_id}, {"username", username}});
  if (auto revoked = find_any_credential(ctx, username)) {
    credential = std::move(revoked);
  }
  return {200, credential_json(*credential)};
}

Response list_queue(ApiContext& ctx, const Request& request) {
  std::size_t limit = kDefaultQueueLimit;
  if (auto it = request.query.find("limit"); it != request.query.end()) {
    const auto& text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (ec != std::errc{} || end != text.data() + text.size() || limit == 0 ||
        limit > kMaxQueueLimit) {
      return error_response(400,
                            "limit must be a number from 1 to " + std::to_string(kMaxQueueLimit));
    }
  }
  json::array messages;
  for (const auto& m : ctx.queue.list(limit)) {
    messages.emplace_back(summary_json(m));
  }
  return {200, json::object{{"messages", std::move(messages)},
                            {"total", static_cast<std::uint64_t>(ctx.queue.size())}}};
}

Response get_queued(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto m = ctx.queue.get(id);
  if (!m) {
    return error_response(404, "no queued message '" + id + "'");
  }
  return {200, detail_json(*m)};
}

}  // namespace

void tenants_changed(ApiContext& ctx) {
  if (ctx.registry != nullptr) {
    ctx.registry->publish(
        std::make_shared<const tenants::TenantDirectory>(ctx.store.list_tenants()));
  }
  if (ctx.on_tenants_changed) {
    ctx.on_tenants_changed();
  }
}

void register_api(Router& router, ApiContext& context) {
  ApiContext* ctx = &context;
  auto bind = [ctx](Response (*handler)(ApiContext&, const Request&)) {
    return [ctx, handler](const Request& r) { return handler(*ctx, r); };
  };
  router.add("GET", "/v1/health", [ctx](const Request&) { return health(*ctx); });
  router.add("GET", "/v1/tenants", [ctx](const Request&) { return list_tenants(*ctx); });
  router.add("POST", "/v1/tenants", bind(add_tenant));
  router.add("GET", "/v1/tenants/{id}", bind(get_tenant));
  router.add("PATCH", "/v1/tenants/{id}", bind(update_tenant));
  router.add("DELETE", "/v1/tenants/{id}", bind(remove_tenant));
  router.add("POST", "/v1/tenants/{id}/credentials", bind(issue_credential));
  router.add("GET", "/v1/tenants/{id}/credentials", bind(list_credentials));
  router.add("DELETE", "/v1/credentials/{username}", bind(revoke_credential));
  router.add("GET", "/v1/queue", bind(list_queue));
  router.add("GET", "/v1/queue/{id}", bind(get_queued));
  register_monitor_routes(router, context.monitor);
  register_dkim_routes(router, context);
  register_firewall_routes(router, context);
  register_queue_event_routes(router, context);
  register_policy_api(router, context);
  register_abuse_api(router, context);
}

}  // namespace portcullis::control
