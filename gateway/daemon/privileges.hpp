#pragma once
// Dropping root after the listeners and the control socket are bound.

#include <filesystem>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::daemon {

// Gives `paths` (recursively) to `user`, then switches to that user and its
// group for good. keep_net_admin keeps CAP_NET_ADMIN and CAP_NET_RAW (and no
// other capability) for the firewall and the egress monitor. A no-op when
// `user` is empty.
Result<void> drop_privileges(const std::string& user,
                             const std::vector<std::filesystem::path>& paths,
                             bool keep_net_admin);

}  // namespace portcullis::daemon
