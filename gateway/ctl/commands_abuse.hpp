#pragma once
// portcullisctl's abuse-desk commands: `reputation`, `ticket ...`,
// `exception ...` and `report ...` (the routes of control/api_abuse.hpp).
// Input: the operator's options; the daemon's JSON answers, whose evidence,
// notes and report text come from tenants and remote parties, so every value
// printed goes through printable(). Mutating commands send an actor,
// "desk:NAME" with NAME from --actor, else $SUDO_USER, else $USER, else
// "operator" (`exception request` without --actor: "tenant:<T>").

#include <vector>

#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& abuse_commands();

// The actor a mutating command sends (see above); `tenant` non-empty: a
// tenant's own request, unless --actor was given.
std::string actor_of(const Args& args, const std::string& tenant = {});

}  // namespace portcullis::ctl
