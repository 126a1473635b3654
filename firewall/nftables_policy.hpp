#pragma once
// Port25Policy on nftables: keeps `table inet <firewall.table>` equal to the
// Ruleset model of the current tenants, through libnftables. A full replace is
// one transaction through libnftables (the old table stays in force if the
// kernel refuses the new one); tenant changes are element diffs against the
// model last applied, sent through libnftnl (ElementWriter) as one
// transaction, so chains, the table handle and unchanged tenants' counters
// survive and a change costs the same at 10 or 100,000 prefixes. Never
// flushes the ruleset and never touches other tables; the table has no
// `owner` flag, so it outlives the daemon (fail closed on a crash).
// Needs CAP_NET_ADMIN. No untrusted input (see firewall/ruleset).

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "firewall/nft/element_writer.hpp"
#include "firewall/nft/nft_context.hpp"
#include "firewall/ruleset/ruleset.hpp"
#include "gateway/core/firewall/port25_policy.hpp"

namespace portcullis::firewall {

class NftablesPolicy final : public Port25Policy {
 public:
  explicit NftablesPolicy(RulesetSettings settings, std::size_t chunk = kDefaultChunk);

  Result<void> apply(const tenants::TenantDirectory& directory) override;
  Result<void> update(const tenants::TenantDirectory& directory) override;
  Result<std::string> live_table() const override;
  std::string planned_table(const tenants::TenantDirectory& directory) const override;
  Result<std::vector<TenantCounters>> counters() const override;

  // Fault injection for tests: while `refuse` returns true, every change sent
  // to the kernel (full replace or element update) carries one step the
  // kernel refuses, so the whole transaction fails. It can only make changes
  // fail, never open anything.
  void set_refusal_for_test(std::function<bool()> refuse);

 private:
  Result<void> apply_locked(Ruleset next);
  bool refuse_locked() const { return refuse_for_test_ && refuse_for_test_(); }

  mutable std::mutex mutex_;
  mutable NftContext nft_;  // full replaces, listings and counters
  ElementWriter writer_;    // element updates
  RulesetSettings settings_;
  std::size_t chunk_;
  std::optional<Ruleset> applied_;  // what the kernel holds, as far as we know
  std::function<bool()> refuse_for_test_;
};

// Reads `nft -j list counters` output (libnftables JSON) into per-tenant,
// per-mode rows; counters that are not ours are skipped.
Result<std::vector<TenantCounters>> parse_counters_json(std::string_view json,
                                                        std::string_view table);

}  // namespace portcullis::firewall
