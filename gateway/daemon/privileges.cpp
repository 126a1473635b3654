#include "gateway/daemon/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace portcullis::daemon {
namespace {

void give(const std::filesystem::path& path, uid_t uid, gid_t gid) {
  if (::lchown(path.c_str(), uid, gid) != 0) {
    return;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(std::filesystem::symlink_status(path, ec))) {
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path, ec)) {
      [[maybe_unused]] const int rc = ::lchown(entry.path().c_str(), uid, gid);
    }
  }
}

}  // namespace

Result<void> drop_privileges(const std::string& user,
                             const std::vector<std::filesystem::path>& paths) {
  if (user.empty()) {
    return {};
  }
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    return make_error("node.user: no such user '" + user + "'");
  }
  for (const auto& path : paths) {
    give(path, pw->pw_uid, pw->pw_gid);
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    return make_error("cannot switch to user '" + user + "': " + std::strerror(errno));
  }
  if (::setuid(0) == 0) {
    return make_error("privileges were not dropped: setuid(0) still succeeds");
  }
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return {};
}

}  // namespace portcullis::daemon
