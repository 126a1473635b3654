#include "gateway/core/control/api_firewall.hpp"

#include <boost/json.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/core/config/config.hpp"
#include "gateway/core/firewall/port25_policy.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/net/prefix.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;

json::object override_json(const store::HostOverride& o) {
  return {{"prefix", o.prefix.to_string()},
          {"mode", store::to_string(o.mode)},
          {"reason", o.reason},
          {"created_at", o.created_at}};
}

Response no_firewall() {
  return error_response(503, "the firewall is not available in this daemon");
}

Response no_tenant(const std::string& id) {
  return error_response(404, "no tenant '" + id + "'");
}

Response live_table(ApiContext& ctx) {
  if (ctx.firewall == nullptr) {
    return no_firewall();
  }
  auto table = ctx.firewall->live_table();
  if (!table) {
    return error_response(500, "cannot list the firewall table: " + table.error().message);
  }
  return {200, json::object{{"table", *table}, {"enabled", ctx.config.firewall.enabled}}};
}

Response planned_table(ApiContext& ctx) {
  if (ctx.firewall == nullptr) {
    return no_firewall();
  }
  const tenants::TenantDirectory directory(ctx.store.list_tenants());
  return {200, json::object{{"table", ctx.firewall->planned_table(directory)},
                            {"enabled", ctx.config.firewall.enabled}}};
}

Response counters(ApiContext& ctx, const Request& request) {
  if (ctx.firewall == nullptr) {
    return no_firewall();
  }
  std::string tenant;
  if (auto it = request.query.find("tenant"); it != request.query.end()) {
    tenant = it->second;
    if (!ctx.store.get_tenant(tenant)) {
      return no_tenant(tenant);
    }
  }
  auto rows = ctx.firewall->counters();
  if (!rows) {
    return error_response(500, "cannot read the firewall counters: " + rows.error().message);
  }
  json::array out;
  for (const auto& row : *rows) {
    if (!tenant.empty() && row.tenant_id != tenant) {
      continue;
    }
    out.emplace_back(json::object{{"tenant_id", row.tenant_id},
                                  {"mode", store::to_string(row.mode)},
                                  {"packets", row.packets},
                                  {"bytes", row.bytes},
                                  {"connections", row.connections}});
  }
  return {200, json::object{{"counters", std::move(out)}}};
}

Response reconcile(ApiContext& ctx) {
  if (ctx.firewall == nullptr) {
    return no_firewall();
  }
  if (!ctx.config.firewall.enabled) {
    return error_response(409, "the firewall is disabled (firewall.enabled: false)");
  }
  const tenants::TenantDirectory directory(ctx.store.list_tenants());
  if (auto applied = ctx.firewall->apply(directory); !applied) {
    return error_response(500, applied.error().message);
  }
  log::info("firewall_reconciled", {{"tenants", directory.tenants().size()}});
  return {200, json::object{{"applied", true}}};
}

Response list_overrides(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto tenant = ctx.store.get_tenant(id);
  if (!tenant) {
    return no_tenant(id);
  }
  json::array out;
  for (const auto& o : tenant->host_overrides) {
    out.emplace_back(override_json(o));
  }
  return {200, json::object{{"overrides", std::move(out)}}};
}

Result<std::string> text_field(const json::value& v, std::string_view name) {
  if (const auto* s = v.if_string()) {
    return Result<std::string>(boost::system::in_place_value, s->data(), s->size());
  }
  return make_error("field '" + std::string(name) + "' must be a string");
}

Response set_override(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto* body = request.body.if_object();
  if (body == nullptr) {
    return error_response(400, "the request body must be a JSON object");
  }
  store::HostOverride o;
  bool have_prefix = false;
  bool have_mode = false;
  for (const auto& [key, value] : *body) {
    const std::string_view k(key.data(), key.size());
    auto text = text_field(value, k);
    if (!text) {
      return error_response(400, text.error().message);
    }
    if (k == "prefix") {
      auto prefix = net::Prefix::parse(*text);
      if (!prefix) {
        return error_response(400, prefix.error().message);
      }
      o.prefix = *prefix;
      have_prefix = true;
    } else if (k == "mode") {
      auto mode = store::parse_port25_mode(*text);
      if (!mode) {
        return error_response(400, "mode '" + *text + "' is not one of block, redirect, exempt");
      }
      o.mode = *mode;
      have_mode = true;
    } else if (k == "reason") {
      o.reason = *text;
    } else if (k != "created_at") {
      return error_response(400, "unknown field '" + std::string(k) + "'");
    }
  }
  if (!have_prefix || !have_mode) {
    return error_response(400, "fields 'prefix' and 'mode' are required");
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  auto saved = ctx.store.set_host_override(id, o);
  if (!saved) {
    return error_response(400, saved.error().message);
  }
  log::info("port25_override_set", {{"tenant", id},
                                    {"prefix", saved->prefix.to_string()},
                                    {"mode", store::to_string(saved->mode)}});
  tenants_changed(ctx);
  return {200, override_json(*saved)};
}

Response remove_override(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  auto prefix = net::Prefix::parse(request.params.at("prefix"));
  if (!prefix) {
    return error_response(400, prefix.error().message);
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  if (auto removed = ctx.store.remove_host_override(id, *prefix); !removed) {
    return error_response(404, removed.error().message);
  }
  log::info("port25_override_removed", {{"tenant", id}, {"prefix", prefix->to_string()}});
  tenants_changed(ctx);
  return {200, json::object{{"prefix", prefix->to_string()}, {"removed", true}}};
}

}  // namespace

void register_firewall_routes(Router& router, ApiContext& context) {
  ApiContext* ctx = &context;
  auto bind = [ctx](Response (*handler)(ApiContext&, const Request&)) {
    return [ctx, handler](const Request& r) { return handler(*ctx, r); };
  };
  router.add("GET", "/v1/firewall/table", [ctx](const Request&) { return live_table(*ctx); });
  router.add("GET", "/v1/firewall/plan", [ctx](const Request&) { return planned_table(*ctx); });
  router.add("GET", "/v1/firewall/counters", bind(counters));
  router.add("POST", "/v1/firewall/reconcile", [ctx](const Request&) { return reconcile(*ctx); });
  router.add("GET", "/v1/tenants/{id}/overrides", bind(list_overrides));
  router.add("POST", "/v1/tenants/{id}/overrides", bind(set_override));
  router.add("DELETE", "/v1/tenants/{id}/overrides/{prefix}", bind(remove_override));
}

}  // namespace portcullis::control
