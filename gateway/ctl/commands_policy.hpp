#pragma once
// portcullisctl's sending-policy commands, every one for one --tenant T:
//   limits show|set        the plan's limits, the tenant's overrides, what applies
//   suppression list|add|remove|export|import   suppression lists, CSV in and out
//   stats                  sent, delivered, bounced... per hour or day, with a total
//   webhook set|show|remove   the delivery-event webhook (its secret shown once)
// Input: the operator's arguments and, for import, a CSV file or stdin; the
// daemon's JSON answer. Values from tenants' mail (addresses, remote replies)
// go through printable() except in the CSV export, whose fields the store has
// already stripped of control characters.

#include <vector>

#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& policy_commands();

}  // namespace portcullis::ctl
