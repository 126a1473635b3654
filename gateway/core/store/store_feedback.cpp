// What delivery tells the store back: how far each webhook receiver has
// acknowledged the event log, and soft-bounce counts per recipient.
#include <mutex>

#include "gateway/core/store/store.hpp"
#include "gateway/core/store/store_detail.hpp"

namespace portcullis::store {

using detail::unix_now;

Result<std::optional<std::int64_t>> Store::webhook_cursor(std::string_view tenant_id) const {
  std::lock_guard lock(mutex_);
  auto query = db_->prepare("SELECT cursor FROM webhooks WHERE tenant_id = ?");
  if (!query) {
    return query.error();
  }
  query->bind(1, tenant_id);
  auto row = query->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return std::optional<std::int64_t>{};
  }
  return query->column_optional_int64(0);
}

Result<void> Store::set_webhook_cursor(std::string_view tenant_id, std::int64_t event_id) {
  std::lock_guard lock(mutex_);
  auto update = db_->prepare("UPDATE webhooks SET cursor = ? WHERE tenant_id = ?");
  if (!update) {
    return update.error();
  }
  return update->bind(1, event_id).bind(2, tenant_id).run();
}

Result<std::uint64_t> Store::add_soft_bounce(std::string_view tenant_id, std::string_view address) {
  const auto normalized = normalize_address(address);
  std::lock_guard lock(mutex_);
  auto upsert = db_->prepare(
      "INSERT INTO soft_bounces (tenant_id, address, count, last_at) VALUES (?, ?, 1, ?) "
      "ON CONFLICT (tenant_id, address) DO UPDATE SET count = count + 1, last_at = "
      "excluded.last_at "
      "RETURNING count");
  if (!upsert) {
    return upsert.error();
  }
  upsert->bind(1, tenant_id).bind(2, normalized).bind(3, unix_now());
  auto row = upsert->step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return make_error("no soft-bounce count returned");
  }
  return static_cast<std::uint64_t>(upsert->column_int64(0));
}

Result<void> Store::clear_soft_bounce(std::string_view tenant_id, std::string_view address) {
  const auto normalized = normalize_address(address);
  std::lock_guard lock(mutex_);
  auto erase = db_->prepare("DELETE FROM soft_bounces WHERE tenant_id = ? AND address = ?");
  if (!erase) {
    return erase.error();
  }
  return erase->bind(1, tenant_id).bind(2, normalized).run();
}

}  // namespace portcullis::store
