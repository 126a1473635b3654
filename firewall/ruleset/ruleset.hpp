#pragma once
// The nftables model of the port-25 policy: what `table inet <name>` must
// contain for a set of tenants, rendered as nft text (the plan, the full
// replace script) and as element diffs between two models (incremental
// updates). Pure functions, no kernel access. No untrusted input: tenant ids,
// prefixes and modes were validated by the store, and the config by its loader.
//
// Layout (static chains, dynamic membership): per family an interval vmap
// verdictN (prefix → accept | goto port25_block | goto port25_leak), counter
// maps trafficN (prefix → "t.<tenant>.<mode>") and attemptsN (prefix →
// "t.<tenant>.<mode>.new"), and the sets redirectN (NAT) and tenantsN (every
// tenant address). Every lookup is one interval-tree search however many
// prefixes are loaded; tenants and modes change through element updates only.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "firewall/ruleset/intervals.hpp"
#include "gateway/core/result.hpp"
#include "gateway/core/store/tenant.hpp"

namespace portcullis::config {
struct Config;
}
namespace portcullis::tenants {
class TenantDirectory;
}

namespace portcullis::firewall {

struct RulesetSettings {
  std::string table = "portcullis";
  store::Port25Mode default_mode = store::Port25Mode::block;
  bool reject_with_reset = false;
  std::uint16_t nflog_group = 25;
  // The relay's intercept port; without one, redirect prefixes are blocked
  // instead (fail closed: a flow is never let through for lack of a listener).
  std::optional<std::uint16_t> intercept_port;

  static Result<RulesetSettings> from_config(const config::Config& config);
};

// What one element of a set or map holds.
struct ElementValue {
  enum class Kind { none, accept, go_to, counter };
  Kind kind = Kind::none;
  std::string name;  // the chain (go_to) or the counter
  bool operator==(const ElementValue&) const = default;
};

// One element added to or deleted from a named set or map of the table.
struct ElementChange {
  std::string set;  // "verdict4", "traffic6", …
  AddressBlock block;
  ElementValue value;  // for a deletion: what the element held
};

// The changes that turn one model's elements and counters into another's, in
// the order they must reach the kernel: deletions first (interval sets refuse
// even a transient overlap), then new counters, additions, and the counters
// no element refers to any more. Elements are grouped per set.
struct RulesetDiff {
  std::vector<ElementChange> removals;
  std::vector<std::string> counters_added;
  std::vector<ElementChange> additions;
  std::vector<std::string> counters_removed;

  bool empty() const {
    return removals.empty() && additions.empty() && counters_added.empty() &&
           counters_removed.empty();
  }
};

// "198.18.1.0/24 : goto port25_block", as nft writes an element.
std::string element_text(const ElementChange& change);

// Elements per add/delete command: keeps each command's parse and netlink
// message small; the commands still form one transaction.
inline constexpr std::size_t kDefaultChunk = 4096;

class Ruleset {
 public:
  // Suspended tenants are blocked whatever their mode; overrides outside the
  // tenant's current subnets are ignored.
  static Ruleset build(const tenants::TenantDirectory& directory, const RulesetSettings& settings);

  const RulesetSettings& settings() const { return settings_; }
  const std::map<AddressBlock, Assignment>& elements() const { return elements_; }
  // "t.<tenant>.<mode>" and "…​.new" for every tenant, plus the default's.
  const std::set<std::string>& counter_names() const { return counters_; }

  // `table inet <name> { … }` with every element inline: what `firewall plan`
  // prints, in the shape `nft list table` prints the live one.
  std::string render_table() const;

  // One script, one transaction: create-if-missing, delete, recreate the
  // table (chains, counters, empty sets), then the elements in chunks.
  std::string render_replace(std::size_t chunk = kDefaultChunk) const;

  // Both must have the same settings.
  static RulesetDiff diff(const Ruleset& from, const Ruleset& to);

  // The diff as nft commands (what an update sends, in text); empty when
  // nothing changed.
  static std::string render_update(const RulesetDiff& diff,
                                   const std::string& table,
                                   std::size_t chunk = kDefaultChunk);
  static std::string render_update(const Ruleset& from,
                                   const Ruleset& to,
                                   std::size_t chunk = kDefaultChunk);

 private:
  std::string render_skeleton(bool with_elements) const;

  RulesetSettings settings_;
  std::map<AddressBlock, Assignment> elements_;
  std::set<std::string> counters_;
};

// Counter object names.
std::string counter_name(const std::string& tenant_id, store::Port25Mode mode, bool attempts);
struct CounterKey {
  std::string tenant_id;  // "" = addresses in no tenant
  store::Port25Mode mode = store::Port25Mode::block;
  bool attempts = false;
};
std::optional<CounterKey> parse_counter_name(std::string_view name);

}  // namespace portcullis::firewall
