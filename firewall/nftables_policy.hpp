#pragma once
// Port25Policy on nftables: keeps `table inet <firewall.table>` equal to the
// Ruleset model of the current tenants, through libnftables. A full replace is
// one transaction (the old table stays in force if the kernel refuses the new
// one); tenant changes are element diffs against the model last applied, so
// chains, the table handle and unchanged tenants' counters survive. Never
// flushes the ruleset and never touches other tables; the table has no
// `owner` flag, so it outlives the daemon (fail closed on a crash).
// Needs CAP_NET_ADMIN. No untrusted input (see firewall/ruleset).

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

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

  // Test hook: sees (and may change) every script just before it goes to the
  // kernel, e.g. to append a command the kernel refuses.
  void set_script_hook(std::function<void(std::string&)> hook);

 private:
  Result<void> run_locked(std::string script);
  Result<void> apply_locked(Ruleset next);

  mutable std::mutex mutex_;
  mutable NftContext nft_;
  RulesetSettings settings_;
  std::size_t chunk_;
  std::optional<Ruleset> applied_;  // what the kernel holds, as far as we know
  std::function<void(std::string&)> script_hook_;
};

// Reads `nft -j list counters` output (libnftables JSON) into per-tenant,
// per-mode rows; counters that are not ours are skipped.
Result<std::vector<TenantCounters>> parse_counters_json(std::string_view json,
                                                        std::string_view table);

}  // namespace portcullis::firewall
