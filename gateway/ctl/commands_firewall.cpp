#include "gateway/ctl/commands_firewall.hpp"

#include <boost/json.hpp>
#include <ostream>

#include "gateway/core/control/client.hpp"
#include "gateway/core/control/router.hpp"
#include "gateway/ctl/daemon_call.hpp"
#include "gateway/ctl/format.hpp"

namespace portcullis::ctl {
namespace {

namespace json = boost::json;
using control::percent_encode;

std::string text(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  const auto* f = o == nullptr ? nullptr : o->if_contains(key);
  return f != nullptr && f->is_string() ? std::string(f->get_string()) : std::string();
}

std::uint64_t count(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  const auto* f = o == nullptr ? nullptr : o->if_contains(key);
  if (f != nullptr && f->is_uint64()) {
    return f->get_uint64();
  }
  if (f != nullptr && f->is_int64() && f->get_int64() > 0) {
    return static_cast<std::uint64_t>(f->get_int64());
  }
  return 0;
}

const json::array& list(const json::value& v, std::string_view key) {
  static const json::array kEmpty;
  const auto* o = v.if_object();
  const auto* f = o == nullptr ? nullptr : o->if_contains(key);
  return f != nullptr && f->is_array() ? f->get_array() : kEmpty;
}

// The table text is nft's own output (or our rendering): printed as is.
Result<void> print_table(CommandContext& ctx, const std::string& target) {
  auto r = call(ctx, "GET", target);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << text(*r, "table");
  }
  return {};
}

Result<void> firewall_show(CommandContext& ctx, const Args&) {
  return print_table(ctx, "/v1/firewall/table");
}

Result<void> firewall_plan(CommandContext& ctx, const Args&) {
  return print_table(ctx, "/v1/firewall/plan");
}

Result<void> firewall_counters(CommandContext& ctx, const Args& args) {
  std::string target = "/v1/firewall/counters";
  if (auto tenant = args.get("--tenant")) {
    target += "?tenant=" + percent_encode(*tenant);
  }
  auto r = call(ctx, "GET", target);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  Table table({"TENANT", "MODE", "CONNECTIONS", "PACKETS", "BYTES"});
  for (const auto& c : list(*r, "counters")) {
    const auto tenant = text(c, "tenant_id");
    table.add_row({tenant.empty() ? "(no tenant)" : printable(tenant), text(c, "mode"),
                   std::to_string(count(c, "connections")), std::to_string(count(c, "packets")),
                   format_size(count(c, "bytes"))});
  }
  table.print(ctx.out);
  return {};
}

Result<void> firewall_reconcile(CommandContext& ctx, const Args&) {
  auto r = call(ctx, "POST", "/v1/firewall/reconcile", json::object{});
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "firewall table replaced\n";
  }
  return {};
}

std::string overrides_path(const std::string& tenant) {
  return "/v1/tenants/" + percent_encode(tenant) + "/overrides";
}

Result<void> override_set(CommandContext& ctx, const Args& args) {
  json::object body{{"prefix", args.positionals[1]}, {"mode", args.positionals[2]}};
  if (auto reason = args.get("--reason")) {
    body["reason"] = *reason;
  }
  auto r = call(ctx, "POST", overrides_path(args.positionals[0]), body);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << printable(text(*r, "prefix")) << ": " << text(*r, "mode") << '\n';
  }
  return {};
}

Result<void> override_list(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "GET", overrides_path(args.positionals[0]));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  Table table({"PREFIX", "MODE", "SINCE", "REASON"});
  for (const auto& o : list(*r, "overrides")) {
    table.add_row({printable(text(o, "prefix")), text(o, "mode"),
                   format_time(static_cast<std::int64_t>(count(o, "created_at"))),
                   printable(text(o, "reason"))});
  }
  table.print(ctx.out);
  return {};
}

Result<void> override_remove(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "DELETE",
                overrides_path(args.positionals[0]) + "/" + percent_encode(args.positionals[1]));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
  } else {
    ctx.out << "override " << printable(args.positionals[1]) << " removed\n";
  }
  return {};
}

}  // namespace

const std::vector<CommandSpec>& firewall_commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"firewall", "show"}, {}, {}, "Prints the live nftables table.", firewall_show},
      {{"firewall", "plan"},
       {},
       {},
       "Prints the table a reconcile would install for the current tenants.",
       firewall_plan},
      {{"firewall", "counters"},
       {},
       {{"--tenant", "T", false, "only this tenant"}},
       "Shows the kernel's port-25 counters per tenant and mode.",
       firewall_counters},
      {{"firewall", "reconcile"},
       {},
       {},
       "Replaces the kernel's table with one built from the store (one transaction).",
       firewall_reconcile},
      {{"firewall", "override", "set"},
       {"TENANT", "PREFIX", "MODE"},
       {{"--reason", "TEXT", false, "why this host differs"}},
       "Gives a host (or a smaller network) inside a tenant's subnets its own port-25 mode.",
       override_set},
      {{"firewall", "override", "list"},
       {"TENANT"},
       {},
       "Lists a tenant's overrides.",
       override_list},
      {{"firewall", "override", "remove"},
       {"TENANT", "PREFIX"},
       {},
       "Removes an override; the host follows its tenant's mode again.",
       override_remove},
  };
  return kCommands;
}

}  // namespace portcullis::ctl
