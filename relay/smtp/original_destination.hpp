#pragma once
// The destination a redirected client originally tried to reach, read from
// the kernel's connection tracking (SO_ORIGINAL_DST) after an nftables
// redirect/DNAT. Empty when the flow was not translated.

#include <string>

#include "gateway/core/asio.hpp"

namespace portcullis::relay::smtp {

std::string original_destination(asio::ip::tcp::socket& socket);

}  // namespace portcullis::relay::smtp
