#pragma once
// portcullisctl's DKIM commands: `dkim generate TENANT DOMAIN [--selector S]
// [--algorithm rsa|ed25519]`, `dkim list TENANT`, `dkim show TENANT DOMAIN`
// (prints the TXT record to publish), `dkim remove TENANT DOMAIN
// [--selector S]`. Input: the operator's arguments; the daemon's JSON answer.
// Private keys never reach this program.

#include <vector>

#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

const std::vector<CommandSpec>& dkim_commands();

}  // namespace portcullis::ctl
