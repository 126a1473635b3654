#pragma once
// Test helper: a private dnsmasq on 127.0.0.1 and a free port, serving only
// the records the test passes (no upstream, no /etc/hosts, no config file).
// Names under the --local domains that are not configured answer NXDOMAIN.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::testing {

// A port nobody listens on right now (the kernel's pick for a throwaway socket).
inline std::uint16_t free_port(int type) {
  int fd = ::socket(AF_INET, type, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

class DnsmasqServer {
 public:
  explicit DnsmasqServer(const std::vector<std::string>& records) {
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
      port_ = free_port(SOCK_DGRAM);
      start(records);
      if (!wait_ready()) {
        stop();
      }
    }
    if (pid_ <= 0) {
      throw std::runtime_error("dnsmasq did not start");
    }
  }
  ~DnsmasqServer() { stop(); }
  DnsmasqServer(const DnsmasqServer&) = delete;
  DnsmasqServer& operator=(const DnsmasqServer&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  void start(const std::vector<std::string>& records) {
    std::vector<std::string> args = {"dnsmasq",
                                     "--keep-in-foreground",
                                     "--conf-file=/dev/null",
                                     "--no-resolv",
                                     "--no-hosts",
                                     "--no-poll",
                                     "--pid-file=",
                                     "--bind-interfaces",
                                     "--listen-address=127.0.0.1",
                                     "--port=" + std::to_string(port_)};
    if (::geteuid() == 0) {
      // Stay root: a change of user or group would clear PR_SET_PDEATHSIG.
      args.insert(args.end(), {"--user=root", "--group=root"});
    }
    args.insert(args.end(), records.begin(), records.end());
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    // fork+exec rather than posix_spawn so the child can ask to be killed
    // when the test process dies (a crashed test must not leave dnsmasq behind).
    // Between fork and exec only async-signal-safe calls.
    const pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      int null_fd = ::open("/dev/null", O_RDWR);
      ::dup2(null_fd, 1);
      ::dup2(null_fd, 2);
      ::execv("/usr/sbin/dnsmasq", argv.data());
      ::execvp("dnsmasq", argv.data());
      ::_exit(127);
    }
    pid_ = pid;
  }

  // Ready once its TCP listener accepts (dnsmasq binds UDP and TCP together).
  bool wait_ready() {
    for (int i = 0; i < 100; ++i) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;  // exited (most likely the port was taken meanwhile); already reaped
        return false;
      }
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(port_);
      const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      ::close(fd);
      if (ok) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  void stop() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
    }
  }

  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace portcullis::testing
