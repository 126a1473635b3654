#include "firewall/ruleset/ruleset.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "gateway/core/config/config.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall {
namespace {

using store::Port25Mode;

constexpr std::array<Port25Mode, 3> kModes = {Port25Mode::block, Port25Mode::redirect,
                                              Port25Mode::exempt};
constexpr std::string_view kTenantCounterPrefix = "t.";
constexpr std::string_view kDefaultCounterPrefix = "default.";
constexpr std::string_view kAttemptsSuffix = ".new";

// Redirect needs a listener; without one the flow is refused rather than let through.
Port25Mode effective(Port25Mode mode, const RulesetSettings& settings) {
  if (mode == Port25Mode::redirect && !settings.intercept_port) {
    return Port25Mode::block;
  }
  return mode;
}

std::string_view verdict(Port25Mode mode) {
  switch (mode) {
    case Port25Mode::exempt:
      return "accept";
    case Port25Mode::redirect:
      // Only reached when the DNAT did not happen (table half-built, NAT
      // chain missing): fail closed.
      return "goto port25_leak";
    case Port25Mode::block:
      break;
  }
  return "goto port25_block";
}

ElementValue value_of_verdict(Port25Mode mode) {
  switch (mode) {
    case Port25Mode::exempt:
      return {ElementValue::Kind::accept, ""};
    case Port25Mode::redirect:
      return {ElementValue::Kind::go_to, "port25_leak"};
    case Port25Mode::block:
      break;
  }
  return {ElementValue::Kind::go_to, "port25_block"};
}

// The element changes of a model, or of a slice of it, grouped per set so
// that each set's elements go out together (one command or netlink message).
struct ElementLists {
  // verdict, traffic, attempts, tenants, redirect; index 0 = v4, 1 = v6.
  static constexpr std::array<std::string_view, 10> kNames = {
      "verdict4",  "verdict6", "traffic4", "traffic6",  "attempts4",
      "attempts6", "tenants4", "tenants6", "redirect4", "redirect6"};
  std::array<std::vector<ElementChange>, 10> sets;

  void push(std::size_t kind, const AddressBlock& block, ElementValue value) {
    const auto index = kind * 2 + (block.v6 ? 1 : 0);
    sets[index].push_back({std::string(kNames[index]), block, std::move(value)});
  }
  const std::vector<ElementChange>* find(std::string_view name) const {
    for (std::size_t i = 0; i < kNames.size(); ++i) {
      if (kNames[i] == name) {
        return &sets[i];
      }
    }
    return nullptr;
  }
  std::vector<ElementChange> flatten() && {
    std::vector<ElementChange> out;
    for (auto& set : sets) {
      std::move(set.begin(), set.end(), std::back_inserter(out));
    }
    return out;
  }
};

constexpr std::size_t kVerdict = 0;
constexpr std::size_t kTraffic = 1;
constexpr std::size_t kAttempts = 2;
constexpr std::size_t kTenants = 3;
constexpr std::size_t kRedirect = 4;

// Adds the element's entries; `membership` also adds it to tenantsN (a key
// whose assignment changed stays a tenant address).
void add_entries(ElementLists& lists,
                 const AddressBlock& block,
                 const Assignment& a,
                 bool membership) {
  lists.push(kVerdict, block, value_of_verdict(a.mode));
  lists.push(kTraffic, block,
             {ElementValue::Kind::counter, counter_name(a.tenant_id, a.mode, false)});
  lists.push(kAttempts, block,
             {ElementValue::Kind::counter, counter_name(a.tenant_id, a.mode, true)});
  if (membership) {
    lists.push(kTenants, block, {});
  }
  if (a.mode == Port25Mode::redirect) {
    lists.push(kRedirect, block, {});
  }
}

// Deleting needs only the key; the values are kept to say what was removed.
void delete_entries(ElementLists& lists,
                    const AddressBlock& block,
                    const Assignment& a,
                    bool membership) {
  add_entries(lists, block, a, membership);
}

void render_commands(std::string& out,
                     std::string_view verb,
                     const std::string& table,
                     const std::vector<ElementChange>& changes,
                     std::size_t chunk) {
  chunk = std::max<std::size_t>(chunk, 1);
  const bool with_values = verb == "add";
  std::size_t i = 0;
  while (i < changes.size()) {
    const auto& set = changes[i].set;
    out += verb;
    out += " element inet ";
    out += table;
    out += ' ';
    out += set;
    out += " { ";
    std::size_t n = 0;
    for (; i < changes.size() && changes[i].set == set && n < chunk; ++i, ++n) {
      if (n > 0) {
        out += ", ";
      }
      out += with_values ? element_text(changes[i]) : changes[i].block.to_string();
    }
    out += " }\n";
  }
}

}  // namespace

std::string counter_name(const std::string& tenant_id, Port25Mode mode, bool attempts) {
  // Tenant ids never contain '.', so the name splits back unambiguously, and
  // the "t." prefix makes ids starting with a digit valid nft identifiers.
  std::string name(tenant_id.empty() ? kDefaultCounterPrefix : kTenantCounterPrefix);
  if (!tenant_id.empty()) {
    name += tenant_id;
    name += '.';
  }
  name += store::to_string(mode);
  if (attempts) {
    name += kAttemptsSuffix;
  }
  return name;
}

std::optional<CounterKey> parse_counter_name(std::string_view name) {
  CounterKey key;
  if (name.ends_with(kAttemptsSuffix)) {
    key.attempts = true;
    name.remove_suffix(kAttemptsSuffix.size());
  }
  const auto dot = name.rfind('.');
  if (dot == std::string_view::npos) {
    return std::nullopt;
  }
  const auto mode = store::parse_port25_mode(name.substr(dot + 1));
  if (!mode) {
    return std::nullopt;
  }
  key.mode = *mode;
  const auto owner = name.substr(0, dot + 1);
  if (owner == kDefaultCounterPrefix) {
    return key;
  }
  if (!owner.starts_with(kTenantCounterPrefix) || owner.size() <= kTenantCounterPrefix.size() + 1) {
    return std::nullopt;
  }
  key.tenant_id = std::string(
      owner.substr(kTenantCounterPrefix.size(), owner.size() - kTenantCounterPrefix.size() - 1));
  if (!store::is_valid_tenant_id(key.tenant_id)) {
    return std::nullopt;
  }
  return key;
}

Result<RulesetSettings> RulesetSettings::from_config(const config::Config& config) {
  RulesetSettings s;
  s.table = config.firewall.table;
  const auto mode = store::parse_port25_mode(config.firewall.default_mode);
  if (!mode) {
    return make_error("firewall.default_mode '" + config.firewall.default_mode +
                      "' is not one of block, redirect, exempt");
  }
  s.default_mode = *mode;
  s.reject_with_reset = config.firewall.reject_with_reset;
  s.nflog_group = config.firewall.nflog_group;
  if (!config.relay.listen.intercept.empty()) {
    s.intercept_port = config.relay.listen.intercept.front().port;
  }
  return s;
}

Ruleset Ruleset::build(const tenants::TenantDirectory& directory, const RulesetSettings& settings) {
  Ruleset r;
  r.settings_ = settings;
  std::vector<Claim> claims;
  for (const auto& tenant : directory.tenants()) {
    const bool suspended = tenant.status == store::TenantStatus::suspended;
    auto mode_of = [&](Port25Mode mode) {
      return suspended ? Port25Mode::block : effective(mode, settings);
    };
    for (const auto& subnet : tenant.subnets) {
      // An override of the whole subnet (a tenant of one /32 host) is its
      // mode: equal claims would otherwise resolve to the stricter one.
      auto mode = tenant.port25_mode;
      for (const auto& host : tenant.host_overrides) {
        if (host.prefix == subnet) {
          mode = host.mode;
        }
      }
      claims.push_back({subnet, {tenant.id, mode_of(mode)}});
    }
    for (const auto& host : tenant.host_overrides) {
      // The store checked this when the override was set, but the subnets may
      // have changed since: an override must never reach beyond its tenant.
      if (!store::validate_host_override(tenant, host) ||
          std::find(tenant.subnets.begin(), tenant.subnets.end(), host.prefix) !=
              tenant.subnets.end()) {
        continue;
      }
      claims.push_back({host.prefix, {tenant.id, mode_of(host.mode)}});
    }
    for (auto mode : kModes) {
      r.counters_.insert(counter_name(tenant.id, mode, false));
      r.counters_.insert(counter_name(tenant.id, mode, true));
    }
  }
  const auto default_mode = effective(settings.default_mode, settings);
  r.counters_.insert(counter_name("", default_mode, false));
  r.counters_.insert(counter_name("", default_mode, true));
  for (auto& piece : resolve_claims(std::move(claims))) {
    r.elements_.emplace(piece.block, std::move(piece.assignment));
  }
  return r;
}

std::string Ruleset::render_skeleton(bool with_elements) const {
  const auto& s = settings_;
  ElementLists lists;
  if (with_elements) {
    for (const auto& [block, assignment] : elements_) {
      add_entries(lists, block, assignment, true);
    }
  }
  std::string out;
  out.reserve(4096 + (with_elements ? elements_.size() * 160 : 0) + counters_.size() * 48);
  out += "table inet " + s.table + " {\n";
  for (const auto& name : counters_) {
    out += "\tcounter " + name + " {\n\t}\n";
  }
  auto declare = [&](std::string_view kind, std::string_view name, std::string_view type) {
    out += '\t';
    out += kind;
    out += ' ';
    out += name;
    out += " {\n\t\ttype ";
    out += type;
    out += "\n\t\tflags interval\n";
    const auto* set = lists.find(name);
    if (set != nullptr && !set->empty()) {
      out += "\t\telements = { ";
      for (std::size_t i = 0; i < set->size(); ++i) {
        out += element_text((*set)[i]);
        out += i + 1 < set->size() ? ",\n\t\t\t     " : " }\n";
      }
    }
    out += "\t}\n";
  };
  declare("set", "tenants4", "ipv4_addr");
  declare("set", "tenants6", "ipv6_addr");
  declare("set", "redirect4", "ipv4_addr");
  declare("set", "redirect6", "ipv6_addr");
  declare("map", "verdict4", "ipv4_addr : verdict");
  declare("map", "verdict6", "ipv6_addr : verdict");
  declare("map", "traffic4", "ipv4_addr : counter");
  declare("map", "traffic6", "ipv6_addr : counter");
  declare("map", "attempts4", "ipv4_addr : counter");
  declare("map", "attempts6", "ipv6_addr : counter");

  const auto default_mode = effective(s.default_mode, s);
  const auto default_traffic = counter_name("", default_mode, false);
  const auto default_attempts = counter_name("", default_mode, true);
  const auto group = std::to_string(s.nflog_group);

  out +=
      "\tchain forward {\n"
      "\t\ttype filter hook forward priority filter; policy accept;\n"
      "\t\ttcp dport 25 jump port25\n"
      "\t}\n"
      "\tchain port25 {\n"
      "\t\tct state new counter name ip saddr map @attempts4\n"
      "\t\tct state new counter name ip6 saddr map @attempts6\n"
      "\t\tcounter name ip saddr map @traffic4\n"
      "\t\tcounter name ip6 saddr map @traffic6\n"
      "\t\tip saddr vmap @verdict4\n"
      "\t\tip6 saddr vmap @verdict6\n"
      // From no tenant to a tenant: inbound mail, not egress.
      "\t\tip daddr @tenants4 accept\n"
      "\t\tip6 daddr @tenants6 accept\n";
  out += "\t\tct state new counter name \"" + default_attempts + "\"\n";
  out +=
      "\t\tcounter name \"" + default_traffic + "\" " + std::string(verdict(default_mode)) + "\n";
  out += "\t}\n";
  out += "\tchain port25_block {\n";
  if (s.reject_with_reset) {
    out += "\t\tmeta l4proto tcp log group " + group + " reject with tcp reset\n";
  } else {
    out += "\t\tlog group " + group + " drop\n";
  }
  out +=
      "\t}\n"
      "\tchain port25_leak {\n"
      "\t\tdrop\n"
      "\t}\n"
      "\tchain prerouting {\n"
      "\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
      "\t\ttcp dport 25 jump port25_nat\n"
      "\t}\n"
      "\tchain port25_nat {\n"
      // Connections to the gateway's own addresses are not egress.
      "\t\tfib daddr type local return\n";
  if (s.intercept_port) {
    const auto to = " redirect to :" + std::to_string(*s.intercept_port) + "\n";
    out += "\t\tmeta l4proto tcp ip saddr @redirect4 counter name ip saddr map @attempts4" + to;
    out += "\t\tmeta l4proto tcp ip6 saddr @redirect6 counter name ip6 saddr map @attempts6" + to;
    if (default_mode == Port25Mode::redirect) {
      out += "\t\tmeta l4proto tcp ip saddr != @tenants4 ip daddr != @tenants4 counter name \"" +
             default_attempts + "\"" + to;
      out += "\t\tmeta l4proto tcp ip6 saddr != @tenants6 ip6 daddr != @tenants6 counter name \"" +
             default_attempts + "\"" + to;
    }
  }
  out +=
      "\t}\n"
      "\tchain input {\n"
      "\t\ttype filter hook input priority filter; policy accept;\n"
      "\t\tmeta l4proto tcp ct status dnat ct original proto-dst 25 jump port25_redirected\n"
      "\t}\n"
      "\tchain port25_redirected {\n"
      "\t\tcounter name ip saddr map @traffic4\n"
      "\t\tcounter name ip6 saddr map @traffic6\n";
  if (default_mode == Port25Mode::redirect) {
    out += "\t\tip saddr != @tenants4 counter name \"" + default_traffic + "\"\n";
    out += "\t\tip6 saddr != @tenants6 counter name \"" + default_traffic + "\"\n";
  }
  out += "\t}\n}\n";
  return out;
}

std::string Ruleset::render_table() const {
  return render_skeleton(true);
}

std::string Ruleset::render_replace(std::size_t chunk) const {
  const auto& table = settings_.table;
  // "add" first so that "delete" cannot fail on a missing table; all of it is
  // one batch, so the old table stays until the new one is complete.
  std::string out = "add table inet " + table + "\ndelete table inet " + table + "\n";
  out += render_skeleton(false);
  ElementLists lists;
  for (const auto& [block, assignment] : elements_) {
    add_entries(lists, block, assignment, true);
  }
  render_commands(out, "add", table, std::move(lists).flatten(), chunk);
  return out;
}

RulesetDiff Ruleset::diff(const Ruleset& from, const Ruleset& to) {
  ElementLists removals;
  ElementLists additions;
  auto old_it = from.elements_.begin();
  auto new_it = to.elements_.begin();
  while (old_it != from.elements_.end() || new_it != to.elements_.end()) {
    if (new_it == to.elements_.end() ||
        (old_it != from.elements_.end() && old_it->first < new_it->first)) {
      delete_entries(removals, old_it->first, old_it->second, true);
      ++old_it;
    } else if (old_it == from.elements_.end() || new_it->first < old_it->first) {
      add_entries(additions, new_it->first, new_it->second, true);
      ++new_it;
    } else {
      if (!(old_it->second == new_it->second)) {
        delete_entries(removals, old_it->first, old_it->second, false);
        add_entries(additions, new_it->first, new_it->second, false);
      }
      ++old_it;
      ++new_it;
    }
  }
  RulesetDiff d;
  d.removals = std::move(removals).flatten();
  d.additions = std::move(additions).flatten();
  std::set_difference(to.counters_.begin(), to.counters_.end(), from.counters_.begin(),
                      from.counters_.end(), std::back_inserter(d.counters_added));
  std::set_difference(from.counters_.begin(), from.counters_.end(), to.counters_.begin(),
                      to.counters_.end(), std::back_inserter(d.counters_removed));
  return d;
}

std::string Ruleset::render_update(const RulesetDiff& diff,
                                   const std::string& table,
                                   std::size_t chunk) {
  std::string out;
  render_commands(out, "delete", table, diff.removals, chunk);
  for (const auto& name : diff.counters_added) {
    out += "add counter inet " + table + " " + name + "\n";
  }
  render_commands(out, "add", table, diff.additions, chunk);
  for (const auto& name : diff.counters_removed) {
    out += "delete counter inet " + table + " " + name + "\n";
  }
  return out;
}

std::string Ruleset::render_update(const Ruleset& from, const Ruleset& to, std::size_t chunk) {
  return render_update(diff(from, to), to.settings_.table, chunk);
}

std::string element_text(const ElementChange& change) {
  auto text = change.block.to_string();
  switch (change.value.kind) {
    case ElementValue::Kind::none:
      break;
    case ElementValue::Kind::accept:
      text += " : accept";
      break;
    case ElementValue::Kind::go_to:
      text += " : goto " + change.value.name;
      break;
    case ElementValue::Kind::counter:
      text += " : \"" + change.value.name + "\"";
      break;
  }
  return text;
}

}  // namespace portcullis::firewall
