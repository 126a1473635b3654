#include "relay/tls/server_context.hpp"

#include <stdexcept>

namespace portcullis::relay::tls {

asio::ssl::context make_server_context(const std::filesystem::path& cert_chain,
                                       const std::filesystem::path& key) {
  asio::ssl::context context(asio::ssl::context::tls_server);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                      asio::ssl::context::no_tlsv1_1 | asio::ssl::context::no_compression |
                      asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  context.use_certificate_chain_file(cert_chain.string(), ec);
  if (ec) {
    throw std::runtime_error("cannot load TLS certificate " + cert_chain.string() + ": " +
                             ec.message());
  }
  context.use_private_key_file(key.string(), asio::ssl::context::pem, ec);
  if (ec) {
    throw std::runtime_error("cannot load TLS key " + key.string() + ": " + ec.message());
  }
  return context;
}

}  // namespace portcullis::relay::tls
