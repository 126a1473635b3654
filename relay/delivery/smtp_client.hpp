#pragma once
// The outbound SMTP client (RFC 5321, 3207, 2920, 1870, 6152, 6531): one
// connection to one target, reusable for several messages. Everything the
// remote server sends is untrusted: replies are bounded and parsed by
// reply_parser, a deadline guards every connect, read and write, and peer
// behaviour never throws; it ends in a SessionFailure or per-recipient
// results. Needs no privilege (binding a source address the host owns is fine).
//
// Use from one thread at a time: the executor passed to connect() must be a
// single-threaded io_context or a strand, and one operation at a time.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "gateway/core/asio.hpp"
#include "gateway/core/config/config.hpp"
#include "relay/delivery/target.hpp"

namespace portcullis::relay::delivery {

struct ClientSettings {
  std::string helo_hostname;
  config::TlsPolicyKind tls = config::TlsPolicyKind::opportunistic;
  std::optional<asio::ip::address> source;  // local address to bind before connecting
  // Extra CA for policy verify. Not read by the client: the caller passes the
  // context made by make_client_tls_context(ca_file) to connect().
  std::optional<std::filesystem::path> ca_file;
  // RFC 5321 4.5.3.2; connect_timeout also bounds the TLS handshake.
  std::chrono::seconds connect_timeout{30};
  std::chrono::seconds greeting_timeout{300};  // also EHLO/HELO, STARTTLS, RSET
  std::chrono::seconds mail_timeout{300};
  std::chrono::seconds rcpt_timeout{300};
  std::chrono::seconds data_init_timeout{120};
  std::chrono::seconds data_block_timeout{180};
  std::chrono::seconds data_term_timeout{600};
};

struct OutboundEnvelope {
  std::string mail_from;                // without <>, "" = null sender
  std::vector<std::string> recipients;  // without <>
  bool smtputf8 = false;                // needs SMTPUTF8 (RFC 6531)
  bool eight_bit = false;               // BODY=8BITMIME content (RFC 6152)
};

struct RecipientResult {
  enum class Kind { delivered, temporary, permanent };
  std::string recipient;
  Kind kind = Kind::temporary;
  std::string reply;  // "550 5.1.1 no such user": the remote reply, one line
};

// The whole attempt failed. reason starts with the remote reply ("421 4.3.2 ...")
// when the server said no, with an enhanced status ("5.3.4 ...") for a refusal
// made here, else it is free text (connection errors, timeouts, bad replies).
struct SessionFailure {
  bool permanent = false;
  std::string reason;
};

template <class T>
using ClientResult = boost::system::result<T, SessionFailure>;

class SmtpClient {
 public:
  // Connects (binding settings.source first), reads the greeting, says EHLO
  // (HELO on a 5xx) and does STARTTLS per settings.tls. opportunistic: TLS
  // when offered, plain text when not or when the handshake fails (one
  // reconnect); require: no STARTTLS → temporary failure; verify: as require,
  // and the certificate must chain to a trusted CA and name target.host.
  static awaitable<ClientResult<std::unique_ptr<SmtpClient>>> connect(
      asio::any_io_executor executor,
      const Target& target,
      const ClientSettings& settings,
      asio::ssl::context& tls_client);

  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  // One message. Results come in envelope order, one per recipient. A
  // SessionFailure covers every recipient; afterwards usable() says whether
  // the connection may carry the next message (RSET is sent first).
  // data: the message, CRLF lines, not dot-stuffed.
  awaitable<ClientResult<std::vector<RecipientResult>>> send(const OutboundEnvelope& envelope,
                                                             std::string_view data);

  // Says QUIT (briefly) and closes. The destructor closes without QUIT.
  awaitable<void> quit();

  bool usable() const;
  bool tls_active() const;
  std::string remote() const;  // "mx.example.test [198.18.2.10]"

  class Impl;

 private:
  explicit SmtpClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

// The client TLS context, built once at start-up: the system trust store plus
// ca_file when given (throws std::runtime_error naming an unusable file).
// Verification itself is switched on per connection, for policy verify only.
asio::ssl::context make_client_tls_context(std::optional<std::filesystem::path> ca_file);

}  // namespace portcullis::relay::delivery
