#pragma once
// Helpers shared by the Store's source files (store.cpp, store_policy.cpp);
// not part of its interface. Callers hold the Store's mutex.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/core/result.hpp"
#include "gateway/core/store/policy.hpp"
#include "gateway/core/store/sqlite.hpp"

namespace portcullis::store::detail {

// The RCPT-time lookup. INDEXED BY: without statistics SQLite prefers the
// primary key (tenant_id, list, address) for its tenant_id prefix and walks
// every suppression of the tenant, ~1 ms at 10,000 of them, on every RCPT.
inline constexpr std::string_view kFindSuppressionSql =
    "SELECT tenant_id, list, address, reason, created_at FROM suppressions "
    "INDEXED BY suppressions_by_address WHERE tenant_id = ? AND address = ?";

std::int64_t unix_now();
Error no_tenant(std::string_view id);
Result<bool> tenant_exists(Database& db, std::string_view id);
// Steps `query`; false at the end and on an error, which is logged: listings
// return what they could read rather than nothing.
bool next_row(Statement& query, std::string_view event);

// Tenant::limits, for load_tenant() and list_tenants() (store_policy.cpp).
Result<LimitOverrides> load_limit_overrides(Database& db, std::string_view tenant_id);
// Every tenant's that has any, ordered by tenant.
Result<std::vector<std::pair<std::string, LimitOverrides>>> load_all_limit_overrides(Database& db);

}  // namespace portcullis::store::detail
