#pragma once
// Versioned schema migrations for SQLite databases. A database records the
// scripts it has applied in `schema_migrations`; script i (0-based) brings it
// to version i + 1. Scripts are never edited once released, only appended.

#include <span>
#include <string_view>

#include "gateway/core/result.hpp"
#include "gateway/core/store/sqlite.hpp"

namespace portcullis::store {

// The version recorded in `db`, 0 for a new database.
Result<int> schema_version(Database& db);

// Applies the scripts newer than the database's version, each in its own
// transaction together with its version row; returns the resulting version.
// A database newer than `scripts` is refused rather than guessed at.
Result<int> apply_migrations(Database& db, std::span<const std::string_view> scripts);

// The scripts of state.db (tenants, subnets, credentials, DKIM keys, host
// overrides, limit overrides, suppressions, webhooks).
std::span<const std::string_view> state_migrations();

}  // namespace portcullis::store
