#pragma once
// Dropping root after the listeners and the control socket are bound.

#include <filesystem>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::daemon {

// Gives `paths` (recursively) to `user`, then switches to that user and its
// group for good. A no-op when `user` is empty.
Result<void> drop_privileges(const std::string& user,
                             const std::vector<std::filesystem::path>& paths);

}  // namespace portcullis::daemon
