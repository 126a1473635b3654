#pragma once
// Control API routes for tenants' DKIM keys: generate, list, show (with the
// DNS TXT record to publish), remove. Private keys are generated here and go
// straight into the store; no route ever returns one. Untrusted input: path
// parameters and bodies from local operators, validated by the store.

#include "gateway/core/control/api.hpp"
#include "gateway/core/control/router.hpp"

namespace portcullis::control {

// POST   /v1/tenants/{id}/dkim           {"domain", "selector"?, "algorithm"?: "rsa"|"ed25519"}
// GET    /v1/tenants/{id}/dkim           → {"keys": [KEY...]}
// GET    /v1/tenants/{id}/dkim/{domain}  → KEY (the domain's newest key: the one signing)
// DELETE /v1/tenants/{id}/dkim/{domain}[?selector=S]   (no selector: every key of the domain)
// KEY: {"tenant_id", "domain", "selector", "algorithm", "public_key", "created_at",
//       "dns_name", "dns_txt", "zone_record"}
void register_dkim_routes(Router& router, ApiContext& context);

}  // namespace portcullis::control
