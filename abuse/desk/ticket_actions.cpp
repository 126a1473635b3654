#include "abuse/desk/ticket_actions.hpp"

#include <boost/json.hpp>

namespace portcullis::abuse {
namespace {

namespace json = boost::json;

json::value optional_number(const std::optional<std::uint64_t>& v) {
  return v ? json::value(*v) : json::value(nullptr);
}

std::optional<std::uint64_t> number_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) {
    return std::nullopt;
  }
  if (const auto* u = v->if_uint64()) {
    return *u;
  }
  if (const auto* i = v->if_int64(); i != nullptr && *i >= 0) {
    return static_cast<std::uint64_t>(*i);
  }
  return std::nullopt;
}

std::string string_of(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

Result<json::object> previous_of(const store::TicketAction& action) {
  boost::system::error_code ec;
  auto v = json::parse(action.previous, ec);
  if (ec || !v.is_object()) {
    return make_error("action " + std::to_string(action.id) + " has no readable previous state");
  }
  return std::move(v.as_object());
}

store::TicketAction make_action(store::ActionKind kind,
                                std::int64_t ticket_id,
                                std::string target,
                                const json::object& previous) {
  store::TicketAction a;
  a.ticket_id = ticket_id;
  a.kind = kind;
  a.target = std::move(target);
  a.previous = json::serialize(previous);
  return a;
}

}  // namespace

Result<net::Prefix> host_prefix(std::string_view host) {
  auto prefix = net::Prefix::parse(host);
  if (!prefix || prefix->length != (prefix->network.is_v4() ? 32 : 128)) {
    return make_error("'" + std::string(host) + "' is not an IP address");
  }
  return prefix;
}

Result<store::TicketAction> apply_throttle(store::Store& store,
                                           const config::AbuseConfig& config,
                                           const std::string& tenant_id,
                                           std::int64_t ticket_id) {
  auto limits = store.limit_overrides(tenant_id);
  const json::object previous{{"messages_per_minute", optional_number(limits.messages_per_minute)},
                              {"messages_per_hour", optional_number(limits.messages_per_hour)}};
  limits.messages_per_minute = config.throttle_messages_per_minute;
  limits.messages_per_hour = config.throttle_messages_per_hour;
  if (auto ok = store.set_limit_overrides(tenant_id, limits); !ok) {
    return ok.error();
  }
  return make_action(store::ActionKind::throttle, ticket_id, tenant_id, previous);
}

Result<store::TicketAction> apply_suspend(store::Store& store,
                                          const std::string& tenant_id,
                                          std::int64_t ticket_id) {
  auto tenant = store.get_tenant(tenant_id);
  if (!tenant) {
    return tenant.error();
  }
  const json::object previous{{"status", store::to_string(tenant->status)},
                              {"status_reason", tenant->status_reason}};
  tenant->status = store::TenantStatus::suspended;
  tenant->status_reason = "abuse ticket #" + std::to_string(ticket_id);
  if (auto ok = store.update_tenant(*tenant); !ok) {
    return ok.error();
  }
  return make_action(store::ActionKind::suspend, ticket_id, tenant_id, previous);
}

Result<store::TicketAction> apply_block_host(store::Store& store,
                                             const std::string& tenant_id,
                                             const std::string& host,
                                             std::int64_t ticket_id) {
  auto prefix = host_prefix(host);
  if (!prefix) {
    return prefix.error();
  }
  auto tenant = store.get_tenant(tenant_id);
  if (!tenant) {
    return tenant.error();
  }
  json::object previous{{"mode", ""}, {"reason", ""}};
  for (const auto& o : tenant->host_overrides) {
    if (o.prefix == *prefix) {
      previous = {{"mode", store::to_string(o.mode)}, {"reason", o.reason}};
    }
  }
  store::HostOverride block;
  block.prefix = *prefix;
  block.mode = store::Port25Mode::block;
  block.reason = "abuse ticket #" + std::to_string(ticket_id) + ": compromised host";
  if (auto ok = store.set_host_override(tenant_id, block); !ok) {
    return ok.error();
  }
  return make_action(store::ActionKind::block_host, ticket_id, prefix->to_string(), previous);
}

Result<void> undo_action(store::Store& store,
                         const std::string& tenant_id,
                         const store::TicketAction& action) {
  auto previous = previous_of(action);
  if (!previous) {
    return previous.error();
  }
  switch (action.kind) {
    case store::ActionKind::throttle: {
      auto limits = store.limit_overrides(tenant_id);
      limits.messages_per_minute = number_of(*previous, "messages_per_minute");
      limits.messages_per_hour = number_of(*previous, "messages_per_hour");
      return store.set_limit_overrides(tenant_id, limits);
    }
    case store::ActionKind::suspend: {
      auto tenant = store.get_tenant(tenant_id);
      if (!tenant) {
        return tenant.error();
      }
      tenant->status = store::parse_tenant_status(string_of(*previous, "status"))
                           .value_or(store::TenantStatus::active);
      tenant->status_reason = string_of(*previous, "status_reason");
      if (auto ok = store.update_tenant(*tenant); !ok) {
        return ok.error();
      }
      return {};
    }
    case store::ActionKind::block_host: {
      auto prefix = net::Prefix::parse(action.target);
      if (!prefix) {
        return prefix.error();
      }
      const auto mode = store::parse_port25_mode(string_of(*previous, "mode"));
      if (!mode) {
        return store.remove_host_override(tenant_id, *prefix);
      }
      store::HostOverride restored;
      restored.prefix = *prefix;
      restored.mode = *mode;
      restored.reason = string_of(*previous, "reason");
      if (auto ok = store.set_host_override(tenant_id, restored); !ok) {
        return ok.error();
      }
      return {};
    }
    case store::ActionKind::revoke_exception:
      break;
  }
  return make_error("a revoke_exception action is undone by re-approving its exception");
}

}  // namespace portcullis::abuse
