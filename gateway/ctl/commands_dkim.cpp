#include "gateway/ctl/commands_dkim.hpp"

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
  if (const auto* o = v.if_object()) {
    if (const auto* f = o->if_contains(key); f != nullptr && f->is_string()) {
      return printable(f->get_string());
    }
  }
  return {};
}

std::int64_t number(const json::value& v, std::string_view key) {
  if (const auto* o = v.if_object()) {
    if (const auto* f = o->if_contains(key); f != nullptr && f->is_int64()) {
      return f->get_int64();
    }
  }
  return 0;
}

// "/v1/tenants/T/dkim", with "/DOMAIN" when the command names one.
std::string dkim_path(const std::string& tenant, const std::string& domain = "") {
  return "/v1/tenants/" + percent_encode(tenant) + "/dkim" +
         (domain.empty() ? "" : "/" + percent_encode(domain));
}

// The zone-file line an operator publishes, and what it is.
void print_key(std::ostream& out, const json::value& key) {
  out << "tenant:     " << text(key, "tenant_id") << '\n'
      << "domain:     " << text(key, "domain") << '\n'
      << "selector:   " << text(key, "selector") << '\n'
      << "algorithm:  " << text(key, "algorithm") << '\n'
      << "created:    " << format_time(number(key, "created_at")) << '\n'
      << "\nPublish this TXT record in DNS:\n\n"
      << text(key, "zone_record") << '\n';
}

Result<void> generate(CommandContext& ctx, const Args& args) {
  json::object body{{"domain", args.positionals[1]}};
  if (auto selector = args.get("--selector")) {
    body["selector"] = *selector;
  }
  if (auto algorithm = args.get("--algorithm")) {
    body["algorithm"] = *algorithm;
  }
  auto key = call(ctx, "POST", dkim_path(args.positionals[0]), body);
  if (!key) {
    return key.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *key);
  } else {
    print_key(ctx.out, *key);
  }
  return {};
}

Result<void> list(CommandContext& ctx, const Args& args) {
  auto r = call(ctx, "GET", dkim_path(args.positionals[0]));
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  Table table({"DOMAIN", "SELECTOR", "ALGORITHM", "CREATED", "DNS NAME"});
  if (const auto* keys = r->as_object().if_contains("keys"); keys != nullptr && keys->is_array()) {
    for (const auto& k : keys->get_array()) {
      table.add_row({text(k, "domain"), text(k, "selector"), text(k, "algorithm"),
                     format_time(number(k, "created_at")), text(k, "dns_name")});
    }
  }
  table.print(ctx.out);
  return {};
}

Result<void> show(CommandContext& ctx, const Args& args) {
  auto key = call(ctx, "GET", dkim_path(args.positionals[0], args.positionals[1]));
  if (!key) {
    return key.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *key);
  } else {
    ctx.out << text(*key, "zone_record") << '\n';
  }
  return {};
}

Result<void> remove(CommandContext& ctx, const Args& args) {
  auto target = dkim_path(args.positionals[0], args.positionals[1]);
  if (auto selector = args.get("--selector")) {
    target += "?selector=" + percent_encode(*selector);
  }
  auto r = call(ctx, "DELETE", target);
  if (!r) {
    return r.error();
  }
  if (ctx.json) {
    print_json(ctx.out, *r);
    return {};
  }
  if (const auto* removed = r->as_object().if_contains("removed");
      removed != nullptr && removed->is_array()) {
    for (const auto& selector : removed->get_array()) {
      if (selector.is_string()) {
        ctx.out << "removed DKIM key " << printable(selector.get_string()) << " of "
                << printable(args.positionals[1]) << '\n';
      }
    }
  }
  return {};
}

}  // namespace

const std::vector<CommandSpec>& dkim_commands() {
  static const std::vector<CommandSpec> kCommands = {
      {{"dkim", "generate"},
       {"TENANT", "DOMAIN"},
       {{"--selector", "S", false, "DNS selector (default pc<YYYYMMDD>)"},
        {"--algorithm", "A", false, "rsa (2048 bits, default) or ed25519"}},
       "Generates a DKIM key for a tenant's domain and prints the TXT record to publish.",
       generate},
      {{"dkim", "list"}, {"TENANT"}, {}, "Lists a tenant's DKIM keys.", list},
      {{"dkim", "show"},
       {"TENANT", "DOMAIN"},
       {},
       "Prints the TXT record of the domain's signing key.",
       show},
      {{"dkim", "remove"},
       {"TENANT", "DOMAIN"},
       {{"--selector", "S", false, "only this selector (default: every key of the domain)"}},
       "Removes DKIM keys; mail from the domain is no longer signed.",
       remove},
  };
  return kCommands;
}

}  // namespace portcullis::ctl
