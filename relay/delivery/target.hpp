#pragma once
// One address to deliver to: an MX host (or a static route's host) and one
// of its addresses. Built by routing from DNS answers or the config; the
// SMTP client connects to it. Holds no untrusted input itself.

#include <cstdint>
#include <string>

#include "gateway/core/asio.hpp"

namespace portcullis::relay::delivery {

struct Target {
  std::string host;
  asio::ip::address address;
  std::uint16_t port = 25;
  int preference = 0;
};

}  // namespace portcullis::relay::delivery
