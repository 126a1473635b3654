#include "gateway/core/control/api_dkim.hpp"

#include <boost/json.hpp>
#include <ctime>
#include <string>
#include <string_view>

#include "gateway/core/dkim/key_generator.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::control {
namespace {

namespace json = boost::json;
using store::DkimKey;

constexpr int kMaxSelectorAttempts = 100;

json::object key_json(const DkimKey& k) {
  const auto algorithm = dkim::parse_algorithm(k.algorithm).value_or(dkim::Algorithm::rsa_sha256);
  const auto txt = dkim::txt_record(algorithm, k.public_key);
  return {{"tenant_id", k.tenant_id},
          {"domain", k.domain},
          {"selector", k.selector},
          {"algorithm", k.algorithm},
          {"public_key", k.public_key},
          {"created_at", k.created_at},
          {"dns_name", dkim::dns_name(k.selector, k.domain)},
          {"dns_txt", txt},
          {"zone_record", dkim::zone_record(k.selector, k.domain, txt)}};
}

Response no_tenant(const std::string& id) {
  return error_response(404, "no tenant '" + id + "'");
}

void keys_changed(ApiContext& ctx) {
  if (ctx.on_dkim_keys_changed) {
    ctx.on_dkim_keys_changed();
  }
}

// "pc20261123", then "pc20261123-2"...: dated so a rotation is visible in DNS.
std::string default_selector(ApiContext& ctx, const std::string& tenant, std::string_view domain) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char date[16];
  std::strftime(date, sizeof date, "%Y%m%d", &utc);
  const std::string base = std::string("pc") + date;
  const auto existing = ctx.store.list_dkim_keys(tenant);
  auto taken = [&](const std::string& selector) {
    for (const auto& k : existing) {
      if (k.domain == domain && k.selector == selector) {
        return true;
      }
    }
    return false;
  };
  std::string selector = base;
  for (int n = 2; taken(selector) && n < kMaxSelectorAttempts; ++n) {
    selector = base + "-" + std::to_string(n);
  }
  return selector;
}

Response generate(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto* body = request.body.if_object();
  if (body == nullptr) {
    return error_response(400, "the request body must be a JSON object with a 'domain'");
  }
  std::string domain;
  std::string selector;
  std::string algorithm_name = "rsa";
  for (const auto& [key, value] : *body) {
    const std::string_view k(key.data(), key.size());
    std::string* target = k == "domain"      ? &domain
                          : k == "selector"  ? &selector
                          : k == "algorithm" ? &algorithm_name
                                             : nullptr;
    if (target == nullptr) {
      return error_response(400, "unknown field '" + std::string(k) + "'");
    }
    if (!value.is_string()) {
      return error_response(400, "field '" + std::string(k) + "' must be a string");
    }
    *target = std::string(value.get_string());
  }
  if (domain.empty()) {
    return error_response(400, "field 'domain' is required");
  }
  const auto algorithm = dkim::parse_algorithm(algorithm_name);
  if (!algorithm) {
    return error_response(400, "algorithm '" + algorithm_name + "' is not one of rsa, ed25519");
  }
  const auto normalized = store::normalize_domain(domain);
  if (!normalized) {
    return error_response(400, "'" + domain +
                                   "' is not a valid domain name (letters, digits and hyphens "
                                   "in two or more labels; IDNs in their xn-- form)");
  }
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  if (selector.empty()) {
    selector = default_selector(ctx, id, *normalized);
  }
  auto pair = dkim::generate_key(*algorithm);
  if (!pair) {
    return error_response(500, pair.error().message);
  }
  DkimKey key{.tenant_id = id,
              .domain = *normalized,
              .selector = selector,
              .algorithm = std::string(dkim::to_string(*algorithm)),
              .private_key_pem = std::move(pair->private_key_pem),
              .public_key = std::move(pair->public_key),
              .created_at = 0};
  auto added = ctx.store.add_dkim_key(std::move(key));
  if (!added) {
    const auto& message = added.error().message;
    return error_response(message.find("already") != std::string::npos ? 409 : 400, message);
  }
  log::info("dkim_key_added", {{"tenant", id},
                               {"domain", added->domain},
                               {"selector", added->selector},
                               {"algorithm", added->algorithm}});
  keys_changed(ctx);
  return {201, key_json(*added)};
}

Response list(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  json::array keys;
  for (const auto& k : ctx.store.list_dkim_keys(id)) {
    keys.emplace_back(key_json(k));
  }
  return {200, json::object{{"keys", std::move(keys)}}};
}

Response show(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  auto key = ctx.store.get_dkim_key(id, request.params.at("domain"));
  if (!key) {
    return error_response(404, key.error().message);
  }
  return {200, key_json(*key)};
}

Response remove(ApiContext& ctx, const Request& request) {
  const auto& id = request.params.at("id");
  const auto& domain = request.params.at("domain");
  if (!ctx.store.get_tenant(id)) {
    return no_tenant(id);
  }
  std::vector<std::string> selectors;
  if (auto it = request.query.find("selector"); it != request.query.end()) {
    selectors.push_back(it->second);
  } else {
    const auto normalized = store::normalize_domain(domain).value_or(domain);
    for (const auto& k : ctx.store.list_dkim_keys(id)) {
      if (k.domain == normalized) {
        selectors.push_back(k.selector);
      }
    }
    if (selectors.empty()) {
      return error_response(404, "tenant '" + id + "' has no DKIM key for '" + domain + "'");
    }
  }
  json::array removed;
  for (const auto& selector : selectors) {
    if (auto ok = ctx.store.remove_dkim_key(id, domain, selector); !ok) {
      if (!removed.empty()) {
        keys_changed(ctx);
      }
      return error_response(404, ok.error().message);
    }
    log::info("dkim_key_removed", {{"tenant", id}, {"domain", domain}, {"selector", selector}});
    removed.emplace_back(selector);
  }
  keys_changed(ctx);
  return {200,
          json::object{{"tenant_id", id}, {"domain", domain}, {"removed", std::move(removed)}}};
}

}  // namespace

void register_dkim_routes(Router& router, ApiContext& context) {
  ApiContext* ctx = &context;
  auto bind = [ctx](Response (*handler)(ApiContext&, const Request&)) {
    return [ctx, handler](const Request& r) { return handler(*ctx, r); };
  };
  router.add("POST", "/v1/tenants/{id}/dkim", bind(generate));
  router.add("GET", "/v1/tenants/{id}/dkim", bind(list));
  router.add("GET", "/v1/tenants/{id}/dkim/{domain}", bind(show));
  router.add("DELETE", "/v1/tenants/{id}/dkim/{domain}", bind(remove));
}

}  // namespace portcullis::control
