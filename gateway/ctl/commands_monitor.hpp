#pragma once
// portcullisctl's egress-monitor commands: `monitor top [--limit N]` shows the
// hosts (and tenants) that tried port 25 directly the most within the
// monitor's window. Input: the operator's options; the daemon's JSON answer
// (host and tenant strings go through printable()).

#include <vector>

#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& monitor_commands();

}  // namespace portcullis::ctl
