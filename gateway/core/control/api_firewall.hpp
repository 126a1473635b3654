#pragma once
// Control API routes for the port-25 firewall: the live and the planned
// nftables table, the kernel's per-tenant counters, a full reconcile, and the
// per-host overrides of a tenant's mode. Untrusted input: path parameters,
// query strings and bodies from local operators; prefixes are parsed and the
// store checks that an override lies inside the tenant's subnets.

#include "gateway/core/control/api.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

// GET    /v1/firewall/table              → {"table": TEXT}   (the live table, `nft list table`)
// GET    /v1/firewall/plan               → {"table": TEXT}   (what a reconcile would install)
// GET    /v1/firewall/counters[?tenant=T] → {"counters": [{"tenant_id" ("" = no tenant), "mode",
//                                            "packets", "bytes", "connections"}]}
// POST   /v1/firewall/reconcile          → {"applied": true}  (full replace from the store)
// GET    /v1/tenants/{id}/overrides      → {"overrides": [OVERRIDE...]}
// POST   /v1/tenants/{id}/overrides      {"prefix", "mode", "reason"?} → OVERRIDE (set or replace)
// DELETE /v1/tenants/{id}/overrides/{prefix}   (prefix percent-encoded: 198.18.1.10%2F32)
// OVERRIDE: {"prefix", "mode", "reason", "created_at"}
// Without a firewall (context.firewall null) the /v1/firewall routes answer
// 503; with firewall.enabled false, reconcile answers 409.
void register_firewall_routes(Router& router, ApiContext& context);

}  // namespace portcullis::control
