#pragma once
// portcullisctl's firewall commands: `firewall show` (the live nftables
// table), `firewall plan` (what a reconcile would install), `firewall
// counters [--tenant T]`, `firewall reconcile`, and a tenant's per-host
// overrides (`firewall override set|list|remove`). Input: the operator's
// arguments; the daemon's JSON answer (strings go through printable()).

#include <vector>

#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& firewall_commands();

}  // namespace portcullis::ctl
