#include "firewall/nftables_policy.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <map>
#include <utility>

#include "gateway/core/log/log.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"

namespace portcullis::firewall {
namespace {

namespace json = boost::json;

std::int64_t elapsed_ms(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               since)
      .count();
}

std::uint64_t as_count(const json::value* v) {
  if (v == nullptr) {
    return 0;
  }
  if (const auto* u = v->if_uint64()) {
    return *u;
  }
  if (const auto* i = v->if_int64()) {
    return *i < 0 ? 0 : static_cast<std::uint64_t>(*i);
  }
  return 0;
}

}  // namespace

NftablesPolicy::NftablesPolicy(RulesetSettings settings, std::size_t chunk)
    : settings_(std::move(settings)), chunk_(chunk) {}

void NftablesPolicy::set_refusal_for_test(std::function<bool()> refuse) {
  std::lock_guard lock(mutex_);
  refuse_for_test_ = std::move(refuse);
}

Result<void> NftablesPolicy::apply_locked(Ruleset next) {
  const auto started = std::chrono::steady_clock::now();
  auto script = next.render_replace(chunk_);
  if (refuse_locked()) {
    script += "add element inet " + settings_.table +
              " traffic4 { 198.19.255.255 : \"test.refused.counter\" }\n";
  }
  if (auto ran = nft_.run(script); !ran) {
    log::error("firewall_apply_failed",
               {{"table", settings_.table}, {"error", ran.error().message}});
    return make_error("the kernel refused the firewall table (the previous one stays in force): " +
                      ran.error().message);
  }
  log::info("firewall_applied", {{"table", settings_.table},
                                 {"elements", next.elements().size()},
                                 {"counters", next.counter_names().size()},
                                 {"ms", elapsed_ms(started)}});
  applied_ = std::move(next);
  return {};
}

Result<void> NftablesPolicy::apply(const tenants::TenantDirectory& directory) {
  auto next = Ruleset::build(directory, settings_);
  std::lock_guard lock(mutex_);
  return apply_locked(std::move(next));
}

Result<void> NftablesPolicy::update(const tenants::TenantDirectory& directory) {
  auto next = Ruleset::build(directory, settings_);
  std::lock_guard lock(mutex_);
  if (!applied_) {
    return apply_locked(std::move(next));
  }
  const auto started = std::chrono::steady_clock::now();
  const auto diff = Ruleset::diff(*applied_, next);
  if (diff.empty()) {
    return {};
  }
  if (auto sent = writer_.apply(settings_.table, diff, refuse_locked()); !sent) {
    // The kernel's table is not what we think (changed behind our back?):
    // rebuild it whole; if that fails too, the old table stays in force.
    log::warning("firewall_update_failed",
                 {{"table", settings_.table}, {"error", sent.error().message}});
    return apply_locked(std::move(next));
  }
  log::info("firewall_updated", {{"table", settings_.table},
                                 {"removed", diff.removals.size()},
                                 {"added", diff.additions.size()},
                                 {"elements", next.elements().size()},
                                 {"ms", elapsed_ms(started)}});
  applied_ = std::move(next);
  return {};
}

Result<std::string> NftablesPolicy::live_table() const {
  std::lock_guard lock(mutex_);
  return nft_.run("list table inet " + settings_.table);
}

std::string NftablesPolicy::planned_table(const tenants::TenantDirectory& directory) const {
  return Ruleset::build(directory, settings_).render_table();
}

Result<std::vector<TenantCounters>> NftablesPolicy::counters() const {
  std::unique_lock lock(mutex_);
  auto listed = nft_.run("list counters table inet " + settings_.table, true);
  lock.unlock();
  if (!listed) {
    return listed.error();
  }
  return parse_counters_json(*listed, settings_.table);
}

Result<std::vector<TenantCounters>> parse_counters_json(std::string_view text,
                                                        std::string_view table) {
  boost::system::error_code ec;
  auto parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) {
    return make_error("cannot read the kernel's counters: not JSON");
  }
  const auto* items = parsed.as_object().if_contains("nftables");
  if (items == nullptr || !items->is_array()) {
    return make_error("cannot read the kernel's counters: no \"nftables\" list");
  }
  std::map<std::pair<std::string, int>, TenantCounters> rows;
  for (const auto& item : items->as_array()) {
    const auto* object = item.if_object();
    const auto* counter = object ? object->if_contains("counter") : nullptr;
    if (counter == nullptr || !counter->is_object()) {
      continue;
    }
    const auto& c = counter->as_object();
    const auto* name = c.if_contains("name");
    const auto* in_table = c.if_contains("table");
    if (name == nullptr || !name->is_string() ||
        (in_table != nullptr && in_table->is_string() && in_table->as_string() != table)) {
      continue;
    }
    const auto key = parse_counter_name(name->as_string());
    if (!key) {
      continue;
    }
    auto& row = rows[{key->tenant_id, static_cast<int>(key->mode)}];
    row.tenant_id = key->tenant_id;
    row.mode = key->mode;
    if (key->attempts) {
      row.connections = as_count(c.if_contains("packets"));
    } else {
      row.packets = as_count(c.if_contains("packets"));
      row.bytes = as_count(c.if_contains("bytes"));
    }
  }
  std::vector<TenantCounters> out;
  out.reserve(rows.size());
  for (auto& [key, row] : rows) {
    out.push_back(std::move(row));
  }
  return out;
}

}  // namespace portcullis::firewall
