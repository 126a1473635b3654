#include "relay/delivery/smtp_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <array>
#include <stdexcept>

#include "gateway/core/log/log.hpp"
#include "relay/delivery/dot_stuffing.hpp"
#include "relay/delivery/reply_parser.hpp"

namespace portcullis::relay::delivery {
namespace {

using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;
using Stream = asio::ssl::stream<tcp::socket>;
using Kind = RecipientResult::Kind;

constexpr std::size_t kReadChunk = 4096;
// Large enough to keep the pipe full, small enough that data_block_timeout
// measures progress rather than the whole message.
constexpr std::size_t kDataChunk = 64 * 1024;
constexpr auto kQuitTimeout = std::chrono::seconds(10);

std::string address_text(const asio::ip::address& a) {
  return a.to_string();
}

// A host name fit for SNI and name checks: no brackets, no trailing dot, not an IP literal.
std::optional<std::string> dns_name(std::string host) {
  if (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  if (host.empty() || host.front() == '[') {
    return std::nullopt;
  }
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  if (!ec) {
    return std::nullopt;
  }
  return host;
}

bool valid_path(std::string_view address) {
  return address.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos &&
         address.size() <= 1000;
}

SessionFailure temporary(std::string reason) {
  return SessionFailure{false, std::move(reason)};
}

SessionFailure failure_from(const Reply& reply) {
  return SessionFailure{reply.permanent(), reply.text()};
}

std::string seconds_text(std::chrono::seconds s) {
  return std::to_string(s.count()) + "s";
}

}  // namespace

class SmtpClient::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::any_io_executor executor,
       const Target& target,
       const ClientSettings& settings,
       asio::ssl::context& tls)
      : executor_(std::move(executor)),
        target_(target),
        settings_(settings),
        tls_context_(tls),
        timer_(executor_),
        remote_((target.host.empty() ? std::string() : target.host + " ") + "[" +
                address_text(target.address) + "]") {}

  void start_watchdog() { asio::co_spawn(executor_, watchdog(shared_from_this()), asio::detached); }

  awaitable<ClientResult<void>> establish(bool allow_tls);
  awaitable<ClientResult<std::vector<RecipientResult>>> send(const OutboundEnvelope& envelope,
                                                             std::string_view data);
  awaitable<void> quit();

  void shutdown() {
    done_ = true;
    usable_ = false;
    timer_.cancel();
    close_socket();
  }

  bool usable() const { return usable_; }
  bool tls_active() const { return tls_active_; }
  const std::string& remote() const { return remote_; }
  bool handshake_failed() const { return handshake_failed_; }

 private:
  static awaitable<void> watchdog(std::shared_ptr<Impl> self);
  void arm(std::chrono::seconds timeout);
  void disarm() { deadline_ = SteadyTime::max(); }
  void close_socket();
  SessionFailure broken(std::string reason);

  awaitable<ClientResult<void>> open_and_connect();
  awaitable<ClientResult<void>> write(std::string_view data,
                                      std::chrono::seconds timeout,
                                      std::string_view what);
  awaitable<ClientResult<Reply>> read_reply(std::chrono::seconds timeout, std::string_view what);
  awaitable<ClientResult<Reply>> command(std::string_view line,
                                         std::chrono::seconds timeout,
                                         std::string_view what);
  awaitable<ClientResult<void>> hello();
  awaitable<ClientResult<void>> start_tls();

  asio::any_io_executor executor_;
  Target target_;
  ClientSettings settings_;
  asio::ssl::context& tls_context_;
  std::unique_ptr<Stream> stream_;
  asio::steady_timer timer_;
  SteadyTime deadline_ = SteadyTime::max();
  bool timed_out_ = false;
  bool done_ = false;
  bool usable_ = false;
  bool tls_active_ = false;
  bool handshake_failed_ = false;
  std::size_t transactions_ = 0;
  Extensions extensions_;
  std::string in_;
  std::string remote_;
};

// The deadline of whichever connect, read or write is outstanding; on expiry
// the socket is closed, so the operation ends and the connection is done.
awaitable<void> SmtpClient::Impl::watchdog(std::shared_ptr<Impl> self) {
  while (!self->done_) {
    self->timer_.expires_at(self->deadline_);
    co_await self->timer_.async_wait(asio_nothrow);
    if (self->done_) {
      break;
    }
    if (self->deadline_ <= std::chrono::steady_clock::now()) {
      self->timed_out_ = true;
      self->deadline_ = SteadyTime::max();
      self->close_socket();
    }
  }
}

void SmtpClient::Impl::arm(std::chrono::seconds timeout) {
  deadline_ = std::chrono::steady_clock::now() + timeout;
  if (deadline_ < timer_.expiry()) {
    timer_.cancel();
  }
}

void SmtpClient::Impl::close_socket() {
  if (stream_) {
    boost::system::error_code ignored;
    stream_->lowest_layer().close(ignored);
  }
}

SessionFailure SmtpClient::Impl::broken(std::string reason) {
  usable_ = false;
  close_socket();
  return temporary(std::move(reason));
}

awaitable<ClientResult<void>> SmtpClient::Impl::open_and_connect() {
  close_socket();
  stream_ = std::make_unique<Stream>(executor_, tls_context_);
  in_.clear();
  tls_active_ = false;
  timed_out_ = false;
  const tcp::endpoint endpoint(target_.address, target_.port);
  auto& socket = stream_->next_layer();
  boost::system::error_code ec;
  socket.open(endpoint.protocol(), ec);
  if (ec) {
    co_return temporary("cannot open a socket for " + remote_ + ": " + ec.message());
  }
  if (settings_.source) {
    if (settings_.source->is_v4() != target_.address.is_v4()) {
      co_return broken("source address " + address_text(*settings_.source) + " cannot reach " +
                       remote_ + " (other address family)");
    }
    socket.bind(tcp::endpoint(*settings_.source, 0), ec);
    if (ec) {
      co_return broken("cannot bind source address " + address_text(*settings_.source) + ": " +
                       ec.message());
    }
  }
  arm(settings_.connect_timeout);
  auto [connect_ec] = co_await socket.async_connect(endpoint, asio_nothrow);
  disarm();
  if (connect_ec || timed_out_) {
    co_return broken("connect to " + remote_ + ":" + std::to_string(target_.port) + " failed: " +
                     (timed_out_ ? "timeout after " + seconds_text(settings_.connect_timeout)
                                 : connect_ec.message()));
  }
  usable_ = true;
  co_return ClientResult<void>{};
}

awaitable<ClientResult<void>> SmtpClient::Impl::write(std::string_view data,
                                                      std::chrono::seconds timeout,
                                                      std::string_view what) {
  if (!usable_) {
    co_return temporary("connection to " + remote_ + " is closed");
  }
  arm(timeout);
  auto [ec, n] =
      tls_active_
          ? co_await asio::async_write(*stream_, asio::buffer(data), asio_nothrow)
          : co_await asio::async_write(stream_->next_layer(), asio::buffer(data), asio_nothrow);
  disarm();
  (void)n;
  if (timed_out_) {
    co_return broken("timeout after " + seconds_text(timeout) + " sending " + std::string(what) +
                     " to " + remote_);
  }
  if (ec) {
    co_return broken("lost connection with " + remote_ + " while sending " + std::string(what) +
                     ": " + ec.message());
  }
  co_return ClientResult<void>{};
}

awaitable<ClientResult<Reply>> SmtpClient::Impl::read_reply(std::chrono::seconds timeout,
                                                            std::string_view what) {
  if (!usable_) {
    co_return temporary("connection to " + remote_ + " is closed");
  }
  // One deadline for the whole reply: a server dribbling bytes cannot stretch it.
  arm(timeout);
  for (;;) {
    ReplyParse parse = parse_reply(in_);
    if (parse.status == ReplyStatus::complete) {
      disarm();
      in_.erase(0, parse.consumed);
      if (parse.reply.code == 421) {
        // The server is closing the connection (RFC 5321 3.8).
        usable_ = false;
        close_socket();
      }
      co_return std::move(parse.reply);
    }
    if (parse.status == ReplyStatus::invalid) {
      disarm();
      co_return broken("bad reply from " + remote_ + " to " + std::string(what) + ": " +
                       parse.error);
    }
    std::array<char, kReadChunk> buffer;
    auto [ec, n] =
        tls_active_
            ? co_await stream_->async_read_some(asio::buffer(buffer), asio_nothrow)
            : co_await stream_->next_layer().async_read_some(asio::buffer(buffer), asio_nothrow);
    if (timed_out_) {
      disarm();
      co_return broken("timeout after " + seconds_text(timeout) + " waiting for the reply to " +
                       std::string(what) + " from " + remote_);
    }
    if (ec) {
      disarm();
      co_return broken("lost connection with " + remote_ + " waiting for the reply to " +
                       std::string(what) + ": " + ec.message());
    }
    in_.append(buffer.data(), n);
  }
}

awaitable<ClientResult<Reply>> SmtpClient::Impl::command(std::string_view line,
                                                         std::chrono::seconds timeout,
                                                         std::string_view what) {
  if (auto w = co_await write(line, timeout, what); !w) {
    co_return w.error();
  }
  co_return co_await read_reply(timeout, what);
}

awaitable<ClientResult<void>> SmtpClient::Impl::hello() {
  const std::string name = settings_.helo_hostname;
  auto ehlo = co_await command("EHLO " + name + "\r\n", settings_.greeting_timeout, "EHLO");
  if (!ehlo) {
    co_return ehlo.error();
  }
  if (ehlo->positive()) {
    extensions_ = parse_extensions(*ehlo);
    co_return ClientResult<void>{};
  }
  if (!ehlo->permanent()) {
    co_return failure_from(*ehlo);
  }
  // An old server that does not know EHLO (RFC 5321 3.2): plain SMTP, no extensions.
  auto helo = co_await command("HELO " + name + "\r\n", settings_.greeting_timeout, "HELO");
  if (!helo) {
    co_return helo.error();
  }
  if (!helo->positive()) {
    co_return failure_from(*helo);
  }
  extensions_ = Extensions{};
  co_return ClientResult<void>{};
}

awaitable<ClientResult<void>> SmtpClient::Impl::start_tls() {
  auto reply = co_await command("STARTTLS\r\n", settings_.greeting_timeout, "STARTTLS");
  if (!reply) {
    co_return reply.error();
  }
  if (reply->code != 220) {
    if (settings_.tls == config::TlsPolicyKind::opportunistic && usable_) {
      // RFC 3207: the server refused; carry on in plain text.
      co_return ClientResult<void>{};
    }
    co_return failure_from(*reply);
  }
  // Anything sent before the handshake would be read as if it came over TLS (CVE-2011-0411).
  in_.clear();
  SSL* ssl = stream_->native_handle();
  const auto name = dns_name(target_.host);
  if (name) {
    SSL_set_tlsext_host_name(ssl, name->c_str());
  }
  if (settings_.tls == config::TlsPolicyKind::verify) {
    stream_->set_verify_mode(asio::ssl::verify_peer);
    bool bound = false;
    if (name) {
      bound = SSL_set1_host(ssl, name->c_str()) == 1;
    } else {
      bound = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
                                            address_text(target_.address).c_str()) == 1;
    }
    if (!bound) {
      co_return broken("cannot set the name to verify for " + remote_);
    }
  } else {
    stream_->set_verify_mode(asio::ssl::verify_none);
  }
  arm(settings_.connect_timeout);
  auto [ec] = co_await stream_->async_handshake(asio::ssl::stream_base::client, asio_nothrow);
  disarm();
  if (ec || timed_out_) {
    handshake_failed_ = true;
    const std::string why =
        timed_out_ ? "timeout after " + seconds_text(settings_.connect_timeout) : ec.message();
    co_return broken("TLS handshake with " + remote_ + " failed: " + why);
  }
  tls_active_ = true;
  co_return co_await hello();
}

awaitable<ClientResult<void>> SmtpClient::Impl::establish(bool allow_tls) {
  handshake_failed_ = false;
  if (auto c = co_await open_and_connect(); !c) {
    co_return c.error();
  }
  auto greeting = co_await read_reply(settings_.greeting_timeout, "the greeting");
  if (!greeting) {
    co_return greeting.error();
  }
  if (!greeting->positive()) {
    // Like Postfix (smtp_skip_5xx_greeting): even a 5xx greeting only means
    // "not this server"; the next MX may take the mail.
    usable_ = false;
    close_socket();
    co_return temporary(greeting->text());
  }
  if (auto h = co_await hello(); !h) {
    usable_ = false;
    close_socket();
    co_return h.error();
  }
  const bool tls_required = settings_.tls != config::TlsPolicyKind::opportunistic;
  if (tls_required && !extensions_.starttls) {
    co_await quit();
    co_return temporary("TLS required by policy but not offered by " + remote_);
  }
  if (allow_tls && extensions_.starttls) {
    if (auto t = co_await start_tls(); !t) {
      usable_ = false;
      close_socket();
      co_return t.error();
    }
  }
  co_return ClientResult<void>{};
}

awaitable<ClientResult<std::vector<RecipientResult>>> SmtpClient::Impl::send(
    const OutboundEnvelope& envelope, std::string_view data) {
  if (!usable_) {
    co_return temporary("connection to " + remote_ + " is closed");
  }
  // Refusals decided here send nothing, so the connection stays usable.
  if (extensions_.size && extensions_.max_size > 0 && data.size() > extensions_.max_size) {
    co_return SessionFailure{true, "5.3.4 Message size " + std::to_string(data.size()) +
                                       " exceeds the size limit " +
                                       std::to_string(extensions_.max_size) + " of " + remote_};
  }
  if (envelope.eight_bit && !extensions_.eight_bit_mime) {
    co_return SessionFailure{
        true, "5.6.3 Message has 8-bit content but " + remote_ + " does not support 8BITMIME"};
  }
  if (envelope.smtputf8 && !extensions_.smtputf8) {
    co_return SessionFailure{
        true, "5.6.7 Message needs SMTPUTF8 but " + remote_ + " does not support SMTPUTF8"};
  }
  if (!valid_path(envelope.mail_from)) {
    co_return SessionFailure{true, "5.1.7 Invalid sender address"};
  }

  if (transactions_ > 0) {
    auto rset = co_await command("RSET\r\n", settings_.mail_timeout, "RSET");
    if (!rset) {
      co_return rset.error();
    }
    if (!rset->positive()) {
      co_return broken(rset->text());
    }
  }
  ++transactions_;

  std::string mail = "MAIL FROM:<" + envelope.mail_from + ">";
  if (extensions_.size) {
    mail += " SIZE=" + std::to_string(data.size());
  }
  if (envelope.eight_bit) {
    mail += " BODY=8BITMIME";
  }
  if (envelope.smtputf8) {
    mail += " SMTPUTF8";
  }
  mail += "\r\n";

  std::vector<RecipientResult> results;
  results.reserve(envelope.recipients.size());
  std::vector<std::size_t> to_send;  // indexes into results of RCPTs actually sent
  for (const auto& rcpt : envelope.recipients) {
    results.push_back(RecipientResult{rcpt, Kind::temporary, {}});
    if (valid_path(rcpt)) {
      to_send.push_back(results.size() - 1);
    } else {
      results.back().kind = Kind::permanent;
      results.back().reply = "5.1.3 Invalid recipient address";
    }
  }
  auto rcpt_line = [&](std::size_t i) { return "RCPT TO:<" + results[i].recipient + ">\r\n"; };

  std::optional<Reply> mail_reply;
  if (extensions_.pipelining) {
    // RFC 2920: MAIL and every RCPT in one write, then the replies in order.
    std::string batch = mail;
    for (std::size_t i : to_send) {
      batch += rcpt_line(i);
    }
    if (auto w = co_await write(batch, settings_.mail_timeout, "MAIL FROM"); !w) {
      co_return w.error();
    }
    auto m = co_await read_reply(settings_.mail_timeout, "MAIL FROM");
    if (!m) {
      co_return m.error();
    }
    mail_reply = std::move(*m);
    for (std::size_t i : to_send) {
      auto r = co_await read_reply(settings_.rcpt_timeout, "RCPT TO");
      if (!r) {
        co_return r.error();
      }
      results[i].kind =
          r->positive() ? Kind::delivered : (r->permanent() ? Kind::permanent : Kind::temporary);
      results[i].reply = r->text();
    }
    if (!mail_reply->positive()) {
      co_return failure_from(*mail_reply);
    }
  } else {
    auto m = co_await command(mail, settings_.mail_timeout, "MAIL FROM");
    if (!m) {
      co_return m.error();
    }
    if (!m->positive()) {
      co_return failure_from(*m);
    }
    for (std::size_t i : to_send) {
      auto r = co_await command(rcpt_line(i), settings_.rcpt_timeout, "RCPT TO");
      if (!r) {
        co_return r.error();
      }
      results[i].kind =
          r->positive() ? Kind::delivered : (r->permanent() ? Kind::permanent : Kind::temporary);
      results[i].reply = r->text();
    }
  }
  // From here "delivered" marks recipients the server accepted, pending the data's reply.
  std::vector<std::size_t> accepted;
  for (std::size_t i : to_send) {
    if (results[i].kind == Kind::delivered) {
      accepted.push_back(i);
    }
  }
  if (accepted.empty()) {
    co_return results;
  }
  auto apply_to_accepted = [&](const Reply& reply) {
    const Kind kind = reply.positive() ? Kind::delivered
                                       : (reply.permanent() ? Kind::permanent : Kind::temporary);
    for (std::size_t i : accepted) {
      results[i].kind = kind;
      results[i].reply = reply.text();
    }
  };

  auto go_ahead = co_await command("DATA\r\n", settings_.data_init_timeout, "DATA");
  if (!go_ahead) {
    co_return go_ahead.error();
  }
  if (go_ahead->code != 354) {
    Reply refused = *go_ahead;
    if (refused.positive()) {
      // 2xx to DATA without the data: the server is confused; try again later.
      refused.code = 451;
    }
    apply_to_accepted(refused);
    co_return results;
  }
  const std::string payload = dot_stuff(data);
  for (std::size_t offset = 0; offset < payload.size(); offset += kDataChunk) {
    const std::string_view chunk = std::string_view(payload).substr(offset, kDataChunk);
    if (auto w = co_await write(chunk, settings_.data_block_timeout, "the message"); !w) {
      co_return w.error();
    }
  }
  auto final_reply = co_await read_reply(settings_.data_term_timeout, "end of data");
  if (!final_reply) {
    co_return final_reply.error();
  }
  Reply outcome = *final_reply;
  if (outcome.intermediate()) {
    outcome.code = 451;
  }
  apply_to_accepted(outcome);
  co_return results;
}

awaitable<void> SmtpClient::Impl::quit() {
  if (usable_) {
    const auto timeout = std::min<std::chrono::seconds>(settings_.greeting_timeout, kQuitTimeout);
    co_await command("QUIT\r\n", timeout, "QUIT");
  }
  shutdown();
}

SmtpClient::SmtpClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

SmtpClient::~SmtpClient() {
  if (impl_) {
    impl_->shutdown();
  }
}

awaitable<ClientResult<std::unique_ptr<SmtpClient>>> SmtpClient::connect(
    asio::any_io_executor executor,
    const Target& target,
    const ClientSettings& settings,
    asio::ssl::context& tls_client) {
  auto impl = std::make_shared<Impl>(std::move(executor), target, settings, tls_client);
  impl->start_watchdog();
  auto established = co_await impl->establish(true);
  if (!established && impl->handshake_failed() &&
      settings.tls == config::TlsPolicyKind::opportunistic) {
    log::info("delivery_tls_fallback",
              {{"remote", impl->remote()}, {"reason", established.error().reason}});
    established = co_await impl->establish(false);
  }
  if (!established) {
    impl->shutdown();
    co_return established.error();
  }
  co_return std::unique_ptr<SmtpClient>(new SmtpClient(std::move(impl)));
}

awaitable<ClientResult<std::vector<RecipientResult>>> SmtpClient::send(
    const OutboundEnvelope& envelope, std::string_view data) {
  // The copy keeps the connection alive even if the caller drops the client mid-operation.
  auto impl = impl_;
  co_return co_await impl->send(envelope, data);
}

awaitable<void> SmtpClient::quit() {
  auto impl = impl_;
  co_await impl->quit();
}

bool SmtpClient::usable() const {
  return impl_->usable();
}

bool SmtpClient::tls_active() const {
  return impl_->tls_active();
}

std::string SmtpClient::remote() const {
  return impl_->remote();
}

asio::ssl::context make_client_tls_context(std::optional<std::filesystem::path> ca_file) {
  asio::ssl::context context(asio::ssl::context::tls_client);
  context.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_compression);
  boost::system::error_code ec;
  context.set_default_verify_paths(ec);
  if (ec) {
    throw std::runtime_error("cannot load the system trust store: " + ec.message());
  }
  if (ca_file) {
    context.load_verify_file(ca_file->string(), ec);
    if (ec) {
      throw std::runtime_error("cannot load CA file " + ca_file->string() + ": " + ec.message());
    }
  }
  context.set_verify_mode(asio::ssl::verify_none);
  return context;
}

}  // namespace portcullis::relay::delivery
