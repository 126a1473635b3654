#pragma once
// Composes the gateway: config, store, queue, relay listeners and the control
// API, then serves until SIGTERM or SIGINT. Start-up errors are collected,
// printed and turned into a non-zero exit; nothing after start-up throws.
//
// Privilege: starts as root to bind listeners and the control socket, then
// drops to node.user when one is configured.

#include <filesystem>

namespace portcullis::daemon {

struct Options {
  std::filesystem::path config_path;
  bool check_only = false;
};

int run(const Options& options);

}  // namespace portcullis::daemon
