#pragma once
// The relay's TLS server context: TLS 1.2 or newer, the configured (or
// generated) certificate chain and key. Built once at start-up, while the
// key is still readable, before privileges are dropped.

#include <filesystem>

#include "gateway/core/asio.hpp"

namespace portcullis::relay::tls {

// Throws std::runtime_error naming the file that cannot be used.
asio::ssl::context make_server_context(const std::filesystem::path& cert_chain,
                                       const std::filesystem::path& key);

}  // namespace portcullis::relay::tls
