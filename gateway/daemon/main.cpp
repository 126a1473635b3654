// portcullisd: the Portcullis egress gateway daemon.
// Usage: portcullisd --config FILE [--check]
#include <cstdio>
#include <string_view>

#include "gateway/daemon/daemon.hpp"

int main(int argc, char** argv) {
  portcullis::daemon::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      options.config_path = argv[++i];
    } else if (arg == "--check") {
      options.check_only = true;
    } else if (arg == "--version") {
      std::puts("portcullisd 0.1.0");
      return 0;
    } else {
      std::fprintf(stderr, "usage: portcullisd --config FILE [--check]\n");
      return 2;
    }
  }
  if (options.config_path.empty()) {
    std::fprintf(stderr, "usage: portcullisd --config FILE [--check]\n");
    return 2;
  }
  return portcullis::daemon::run(options);
}
