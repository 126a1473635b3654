#include "gateway/daemon/privileges.hpp"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
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

// Leaves exactly `keep` in the permitted and effective sets (nothing
// inheritable). Raw capset: one call does not justify a libcap dependency.
bool limit_capabilities(std::uint32_t keep) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3> data{};
  data[0].permitted = keep;
  data[0].effective = keep;
  return ::syscall(SYS_capset, &header, data.data()) == 0;
}

}  // namespace

Result<void> drop_privileges(const std::string& user,
                             const std::vector<std::filesystem::path>& paths,
                             bool keep_net_admin) {
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
  // Without KEEPCAPS, setuid() empties the permitted set and the firewall
  // could no longer follow tenant changes.
  if (keep_net_admin && ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
    return make_error(std::string("cannot keep CAP_NET_ADMIN: ") + std::strerror(errno));
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    return make_error("cannot switch to user '" + user + "': " + std::strerror(errno));
  }
  if (keep_net_admin) {
    // nf_tables changes and the nflog capture need CAP_NET_ADMIN; capturing
    // on an interface needs CAP_NET_RAW. Nothing else survives (no
    // CAP_SETUID: the check below still holds).
    ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (!limit_capabilities((1U << CAP_NET_ADMIN) | (1U << CAP_NET_RAW))) {
      return make_error(std::string("cannot keep CAP_NET_ADMIN as user '") + user +
                        "': " + std::strerror(errno));
    }
  }
  if (::setuid(0) == 0) {
    return make_error("privileges were not dropped: setuid(0) still succeeds");
  }
  ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return {};
}

}  // namespace portcullis::daemon
