#pragma once
// One function per portcullisctl command: build the request, call the control
// API, print the answer as a table (or its JSON with --json).

#include <vector>

#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& commands();

}  // namespace portcullis::ctl
