#pragma once
// Test helpers for the webhook tests: a throwaway CA and server certificate
// (made with OpenSSL here: tls::ensure_self_signed only takes a DNS name), and
// a tiny Beast HTTPS server on 127.0.0.1 that records each request and
// answers with scripted statuses. Header-only: the test glob takes *_test.cpp.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gateway/core/asio.hpp"

namespace portcullis::webhooks::test_support {

struct KeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct CertDeleter {
  void operator()(X509* p) const { X509_free(p); }
};
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;
using CertPtr = std::unique_ptr<X509, CertDeleter>;

inline void check(bool ok, const char* what) {
  if (!ok) {
    throw std::runtime_error(std::string("test PKI: ") + what);
  }
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  check(ext != nullptr, "extension");
  check(X509_add_ext(cert, ext, -1) == 1, "add extension");
  X509_EXTENSION_free(ext);
}

inline CertPtr new_cert(EVP_PKEY* key, const char* cn, long serial) {
  CertPtr cert(X509_new());
  check(cert != nullptr, "X509_new");
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert.get()), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  return cert;
}

inline std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

inline std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

// A CA (its certificate in ca_file, for DispatcherSettings::ca_file) and a
// server certificate it signed, with the given subjectAltName ("IP:127.0.0.1").
struct TestPki {
  std::filesystem::path ca_file;
  std::string server_cert_pem;
  std::string server_key_pem;
};

inline TestPki make_pki(const std::filesystem::path& dir,
                        const std::string& name,
                        const char* server_san) {
  KeyPtr ca_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  KeyPtr server_key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(ca_key && server_key, "keygen");

  auto ca = new_cert(ca_key.get(), ("Test CA " + name).c_str(), 1);
  X509_set_issuer_name(ca.get(), X509_get_subject_name(ca.get()));
  add_ext(ca.get(), ca.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(ca.get(), ca.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(ca.get(), ca.get(), NID_subject_key_identifier, "hash");
  check(X509_sign(ca.get(), ca_key.get(), EVP_sha256()) != 0, "sign CA");

  auto server = new_cert(server_key.get(), "webhook receiver", 2);
  X509_set_issuer_name(server.get(), X509_get_subject_name(ca.get()));
  add_ext(server.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(server.get(), ca.get(), NID_key_usage, "critical,digitalSignature");
  add_ext(server.get(), ca.get(), NID_ext_key_usage, "serverAuth");
  add_ext(server.get(), ca.get(), NID_authority_key_identifier, "keyid:always");
  add_ext(server.get(), ca.get(), NID_subject_alt_name, server_san);
  check(X509_sign(server.get(), ca_key.get(), EVP_sha256()) != 0, "sign server");

  TestPki pki;
  pki.ca_file = dir / (name + "-ca.pem");
  std::ofstream(pki.ca_file) << pem_of(ca.get());
  pki.server_cert_pem = pem_of(server.get());
  pki.server_key_pem = pem_of(server_key.get());
  return pki;
}

struct ReceivedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Answers each request with the next scripted status (200 once the script is
// used up) and closes the connection. Runs on its own thread.
class TestHttpsServer {
 public:
  // port 0: an ephemeral one.
  TestHttpsServer(const TestPki& pki, std::uint16_t port = 0)
      : tls_(asio::ssl::context::tls_server), acceptor_(io_) {
    tls_.use_certificate_chain(asio::buffer(pki.server_cert_pem));
    tls_.use_private_key(asio::buffer(pki.server_key_pem), asio::ssl::context::pem);
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), port);
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~TestHttpsServer() {
    asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
      io_.stop();
    });
    thread_.join();
  }

  std::uint16_t port() const { return port_; }

  void script(std::vector<unsigned> statuses) {
    std::lock_guard lock(mutex_);
    script_.assign(statuses.begin(), statuses.end());
  }

  // Runs on the server thread for each request, before it is answered.
  void on_request(std::function<void(const ReceivedRequest&)> hook) {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
  }

  bool wait_for_requests(std::size_t n, std::chrono::seconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
  }

  bool wait_for_handshake_failures(std::size_t n,
                                   std::chrono::seconds timeout = std::chrono::seconds(20)) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return handshake_failures_ >= n; });
  }

  std::vector<ReceivedRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  using Stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio_nothrow);
      if (ec) {
        co_return;
      }
      asio::co_spawn(io_, serve(Stream(std::move(socket), tls_)), asio::detached);
    }
  }

  awaitable<void> serve(Stream stream) {
    namespace http = boost::beast::http;
    boost::beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
    if (auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, asio_nothrow);
        ec) {
      std::lock_guard lock(mutex_);
      ++handshake_failures_;
      cv_.notify_all();
      co_return;
    }
    boost::beast::flat_buffer buffer;
    http::request_parser<http::string_body> parser;
    parser.body_limit(4 * 1024 * 1024);
    if (auto [ec, n] = co_await http::async_read(stream, buffer, parser, asio_nothrow); ec) {
      co_return;
    }
    const auto& req = parser.get();
    ReceivedRequest received;
    received.method = std::string(req.method_string());
    received.target = std::string(req.target());
    for (const auto& field : req) {
      std::string name(field.name_string());
      for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      received.headers[name] = std::string(field.value());
    }
    received.body = req.body();

    std::function<void(const ReceivedRequest&)> hook;
    {
      std::lock_guard lock(mutex_);
      hook = hook_;
    }
    if (hook) {
      hook(received);
    }
    unsigned status = 200;
    {
      std::lock_guard lock(mutex_);
      if (!script_.empty()) {
        status = script_.front();
        script_.pop_front();
      }
    }
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "text/plain");
    res.body() = "ok\n";
    res.keep_alive(false);
    res.prepare_payload();
    {
      // Recorded before the answer goes out: once the dispatcher has seen a
      // 2xx (a test waits on its cursor), the request is here.
      std::lock_guard lock(mutex_);
      requests_.push_back(received);
      cv_.notify_all();
    }
    // A failed write is the dispatcher's to notice; the request still counts.
    co_await http::async_write(stream, res, asio_nothrow);
    boost::system::error_code ignored;
    boost::beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both,
                                                             ignored);
  }

  asio::io_context io_;
  asio::ssl::context tls_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<unsigned> script_;
  std::function<void(const ReceivedRequest&)> hook_;
  std::vector<ReceivedRequest> requests_;
  std::size_t handshake_failures_ = 0;
};

// Accepts TCP connections and never answers (not even the TLS handshake):
// a receiver that hangs. Counts connections accepted and closed by the peer.
class SilentServer {
 public:
  SilentServer() : acceptor_(io_) {
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), 0);
    acceptor_.open(endpoint.protocol());
    acceptor_.bind(endpoint);
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~SilentServer() {
    asio::post(io_, [this] { io_.stop(); });
    thread_.join();
  }

  std::uint16_t port() const { return port_; }

  bool wait_for_accepted(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return accepted_ >= n; });
  }
  bool wait_for_closed(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return closed_ >= n; });
  }

 private:
  awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio_nothrow);
      if (ec) {
        co_return;
      }
      {
        std::lock_guard lock(mutex_);
        ++accepted_;
        cv_.notify_all();
      }
      asio::co_spawn(io_, hold(std::move(socket)), asio::detached);
    }
  }

  awaitable<void> hold(asio::ip::tcp::socket socket) {
    char buffer[4096];
    for (;;) {
      auto [ec, n] = co_await socket.async_read_some(asio::buffer(buffer), asio_nothrow);
      if (ec) {
        break;
      }
    }
    std::lock_guard lock(mutex_);
    ++closed_;
    cv_.notify_all();
  }

  asio::io_context io_;
  asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::size_t accepted_ = 0;
  std::size_t closed_ = 0;
};

// A loopback port nothing listens on (bound, then released): connection refused.
inline std::uint16_t unused_port() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io,
                                   asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace portcullis::webhooks::test_support
