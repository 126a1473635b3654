#pragma once
// What a ticket does to a tenant by itself (abuse.actions) and how the desk
// undoes it: throttle lowers the sending limits, suspend stops its relaying,
// block_host gives one host a port-25 block override. Each action keeps the
// state it replaced as JSON (TicketAction::previous), so undoing restores
// exactly that, not a default. Runs through the Store; the caller publishes
// the change (tenants_changed) once for all actions of a ticket.
//
// Input: the store's own records and the ticket's hosts (addresses the
// collectors derived); nothing from the network directly.

#include <cstdint>
#include <string>

#include "gateway/core/config/config.hpp"
#include "gateway/core/result.hpp"
#include "gateway/core/store/abuse_types.hpp"
#include "gateway/core/store/store.hpp"

namespace portcullis::abuse {

// A ticket host as the /32 or /128 it names (a v4-mapped address as IPv4).
Result<net::Prefix> host_prefix(std::string_view host);

// Sets the tenant's per-minute and per-hour message limits to the throttle values.
Result<store::TicketAction> apply_throttle(store::Store& store,
                                           const config::AbuseConfig& config,
                                           const std::string& tenant_id,
                                           std::int64_t ticket_id);

Result<store::TicketAction> apply_suspend(store::Store& store,
                                          const std::string& tenant_id,
                                          std::int64_t ticket_id);

// host is an address inside one of the tenant's subnets ("198.18.1.10").
Result<store::TicketAction> apply_block_host(store::Store& store,
                                             const std::string& tenant_id,
                                             const std::string& host,
                                             std::int64_t ticket_id);

// Restores what `action` replaced (throttle, suspend, block_host). The
// desk's own later changes to the same setting are overwritten: undo is the
// desk's explicit request.
Result<void> undo_action(store::Store& store,
                         const std::string& tenant_id,
                         const store::TicketAction& action);

}  // namespace portcullis::abuse
