#include "relay/smtp/session.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <tuple>

#include "gateway/core/log/log.hpp"
#include "gateway/core/mail/local_mailbox.hpp"
#include "gateway/core/offload.hpp"
#include "relay/auth/auth_limiter.hpp"
#include "relay/auth/credential_verifier.hpp"
#include "relay/dkim/signer.hpp"
#include "relay/policy/policy_engine.hpp"
#include "relay/queue/disk_guard.hpp"
#include "relay/queue/spool.hpp"
#include "relay/smtp/bdat_reader.hpp"
#include "relay/smtp/data_reader.hpp"
#include "relay/smtp/message_headers.hpp"

namespace portcullis::relay::smtp {
namespace {

using tcp = asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr std::size_t kReadChunk = 16 * 1024;
constexpr auto kFinalWriteTimeout = std::chrono::seconds(5);
constexpr auto kHandshakeTimeout = std::chrono::seconds(30);

std::string address_text(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

// Holds the session's completion handler while a LocalMailbox stores the
// message. done may run on any thread: the first call posts the handler to
// the session's executor; if every copy of done is dropped uncalled, the
// session gets an error instead of waiting forever.
class DeliveryWaiter {
 public:
  using Handler = asio::any_completion_handler<void(Result<std::string>)>;

  DeliveryWaiter(Handler handler, asio::any_completion_executor executor)
      : handler_(std::move(handler)), executor_(std::move(executor)) {}
  DeliveryWaiter(const DeliveryWaiter&) = delete;
  DeliveryWaiter& operator=(const DeliveryWaiter&) = delete;
  ~DeliveryWaiter() { complete(make_error("the mailbox dropped the message without an answer")); }

  void complete(Result<std::string> result) {
    if (fired_.exchange(true)) {
      return;
    }
    // The executor was prepared blocking.never: never runs the handler inline.
    executor_.execute(
        [h = std::move(handler_), r = std::move(result)]() mutable { std::move(h)(std::move(r)); });
    executor_ = {};  // the outstanding work ends with the handler handed over
  }

 private:
  Handler handler_;
  asio::any_completion_executor executor_;
  std::atomic<bool> fired_{false};
};

// LocalMailbox::deliver as an asynchronous operation: completes with the
// mailbox's id or error on the caller's executor, never inline.
template <class Token>
auto async_deliver(mail::LocalMailbox& mailbox, mail::InboundMessage message, Token&& token) {
  return asio::async_initiate<Token, void(Result<std::string>)>(
      [&mailbox](auto handler, mail::InboundMessage m) {
        // Tracked: the io_context keeps running while the mailbox works.
        asio::any_completion_executor executor = asio::prefer(
            asio::get_associated_executor(handler), asio::execution::outstanding_work.tracked,
            asio::execution::blocking.never);
        auto waiter = std::make_shared<DeliveryWaiter>(DeliveryWaiter::Handler(std::move(handler)),
                                                       std::move(executor));
        mailbox.deliver(std::move(m), [waiter](Result<std::string> result) {
          waiter->complete(std::move(result));
        });
      },
      token, std::move(message));
}

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, SessionOrigin origin, SessionServices& services)
      : services_(services),
        origin_(std::move(origin)),
        client_address_(address_text(origin_.client.address())),
        stream_(std::move(socket), services.tls),
        timer_(stream_.get_executor()),
        protocol_(settings_for(origin_.kind, services.config)) {}
  // Whatever way the session ended (even an exception), an open transaction
  // gives its quota reservation back.
  ~Connection() { protocol_.on_close(); }

  awaitable<void> run();

 private:
  enum class LineStatus { line, too_long, need_more };

  static ProtocolSettings settings_for(ListenerKind kind, const config::RelayConfig& config) {
    ProtocolSettings s;
    s.kind = kind;
    s.hostname = config.hostname;
    s.max_message_size = config.limits.max_message_size;
    s.max_recipients = config.limits.max_recipients;
    s.max_errors = config.limits.max_errors;
    return s;
  }

  bool admit();
  awaitable<void> watchdog();
  void arm_idle_deadline();
  void set_deadline(SteadyTime deadline);
  awaitable<bool> fill();
  awaitable<bool> flush();
  awaitable<bool> handshake();
  LineStatus next_line(std::string& line);
  awaitable<bool> perform(Step step);
  awaitable<std::optional<DataError>> read_data();
  awaitable<std::optional<DataError>> read_bdat();
  awaitable<AuthResult> authenticate();
  awaitable<std::optional<std::string>> commit();
  awaitable<std::optional<std::string>> deliver_locally();
  bool is_local(std::string_view address) const;
  std::optional<Reply> mail_gate(std::string_view tenant_id, std::uint64_t declared_size) const;
  std::optional<Reply> suspended(std::string_view tenant_id) const;
  std::optional<Reply> storage_refusal() const;
  std::optional<Reply> take_connection_slot(const std::string& tenant_id);
  std::size_t max_message_size() const;
  void close();

  SessionServices& services_;
  SessionOrigin origin_;
  std::string client_address_;
  asio::ssl::stream<tcp::socket> stream_;
  asio::steady_timer timer_;
  SteadyTime deadline_ = SteadyTime::max();
  SteadyTime session_end_ = SteadyTime::max();
  bool timed_out_ = false;
  bool done_ = false;
  bool tls_ = false;
  bool discarding_long_line_ = false;
  std::string in_;
  std::string out_;
  std::string message_;
  std::optional<BdatReader> bdat_;
  policy::ConnectionSlot slot_;  // the tenant's connection, once attributed or authenticated
  Protocol protocol_;
};

// The deadline of whichever read or write is outstanding; on expiry the
// socket is cancelled and the session answers 421 if it still can.
awaitable<void> Connection::watchdog() {
  auto self = shared_from_this();
  while (!done_) {
    timer_.expires_at(deadline_);
    co_await timer_.async_wait(asio_nothrow);
    if (done_) {
      break;
    }
    if (deadline_ <= std::chrono::steady_clock::now()) {
      timed_out_ = true;
      deadline_ = SteadyTime::max();
      boost::system::error_code ignored;
      stream_.next_layer().cancel(ignored);
    }
  }
}

void Connection::set_deadline(SteadyTime deadline) {
  deadline_ = std::min(deadline, session_end_);
  if (deadline_ < timer_.expiry()) {
    timer_.cancel();
  }
}

void Connection::arm_idle_deadline() {
  set_deadline(std::chrono::steady_clock::now() + services_.config.limits.idle_timeout);
}

awaitable<bool> Connection::fill() {
  std::array<char, kReadChunk> buffer;
  arm_idle_deadline();
  // Plain if/else: GCC 12 mishandles co_await inside a conditional expression.
  boost::system::error_code ec;
  std::size_t n = 0;
  if (tls_) {
    std::tie(ec, n) = co_await stream_.async_read_some(asio::buffer(buffer), asio_nothrow);
  } else {
    std::tie(ec, n) =
        co_await stream_.next_layer().async_read_some(asio::buffer(buffer), asio_nothrow);
  }
  if (ec) {
    if (ec != asio::error::eof && ec != asio::ssl::error::stream_truncated && !timed_out_) {
      log::debug("smtp_read_failed", {{"session", origin_.id}, {"error", ec.message()}});
    }
    co_return false;
  }
  in_.append(buffer.data(), n);
  co_return true;
}

awaitable<bool> Connection::flush() {
  if (out_.empty()) {
    co_return true;
  }
  arm_idle_deadline();
  boost::system::error_code ec;
  if (tls_) {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(stream_, asio::buffer(out_), asio_nothrow);
  } else {
    std::tie(ec, std::ignore) =
        co_await asio::async_write(stream_.next_layer(), asio::buffer(out_), asio_nothrow);
  }
  out_.clear();
  co_return !ec;
}

awaitable<bool> Connection::handshake() {
  set_deadline(std::chrono::steady_clock::now() + kHandshakeTimeout);
  auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, asio_nothrow);
  if (ec) {
    log::info("tls_handshake_failed",
              {{"session", origin_.id}, {"client", client_address_}, {"error", ec.message()}});
    co_return false;
  }
  tls_ = true;
  co_return true;
}

// Command lines end with LF; a CR before it is dropped. Lines over the limit
// are discarded up to their end and answered once.
Connection::LineStatus Connection::next_line(std::string& line) {
  const std::size_t limit = protocol_.max_line_length();
  const auto lf = in_.find('\n');
  if (discarding_long_line_) {
    if (lf == std::string::npos) {
      in_.clear();
      return LineStatus::need_more;
    }
    in_.erase(0, lf + 1);
    discarding_long_line_ = false;
    return LineStatus::too_long;
  }
  if (lf == std::string::npos) {
    if (in_.size() > limit) {
      in_.clear();
      discarding_long_line_ = true;
    }
    return LineStatus::need_more;
  }
  if (lf + 1 > limit) {
    in_.erase(0, lf + 1);
    return LineStatus::too_long;
  }
  const std::size_t end = (lf > 0 && in_[lf - 1] == '\r') ? lf - 1 : lf;
  line.assign(in_, 0, end);
  in_.erase(0, lf + 1);
  return LineStatus::line;
}

// The listener's limit, lowered by the tenant's plan.
std::size_t Connection::max_message_size() const {
  std::uint64_t limit = services_.config.limits.max_message_size;
  if (services_.policy != nullptr && protocol_.authenticated()) {
    if (const auto tenant_limit = services_.policy->max_message_size(protocol_.tenant_id())) {
      limit = std::min(limit, *tenant_limit);
    }
  }
  return static_cast<std::size_t>(limit);
}

awaitable<std::optional<DataError>> Connection::read_data() {
  const auto& limits = services_.config.limits;
  DataReader reader(max_message_size(), limits.max_text_line);
  for (;;) {
    const std::size_t used = reader.feed(in_);
    in_.erase(0, used);
    if (reader.done()) {
      break;
    }
    if (!co_await fill()) {
      co_return std::nullopt;
    }
  }
  message_ = reader.take_message();
  co_return reader.error();
}

awaitable<std::optional<DataError>> Connection::read_bdat() {
  const auto& limits = services_.config.limits;
  if (!bdat_) {
    bdat_.emplace(max_message_size(), limits.max_text_line);
  }
  std::uint64_t remaining = protocol_.bdat_size();
  while (remaining > 0) {
    if (in_.empty() && !co_await fill()) {
      co_return std::nullopt;
    }
    const std::size_t take =
        static_cast<std::size_t>(std::min<std::uint64_t>(remaining, in_.size()));
    bdat_->add(std::string_view(in_).substr(0, take));
    in_.erase(0, take);
    remaining -= take;
  }
  DataError error = bdat_->error();
  if (protocol_.bdat_last() || error != DataError::none) {
    bdat_->finish();
    error = bdat_->error();
    message_ = bdat_->take_message();
    bdat_.reset();
  }
  co_return error;
}

awaitable<AuthResult> Connection::authenticate() {
  const AuthRequest& request = protocol_.pending_auth();
  AuthResult result;
  result.username = request.username;
  if (services_.auth_limiter.locked(client_address_, request.username)) {
    log::warning(
        "auth_locked_out",
        {{"session", origin_.id}, {"client", client_address_}, {"user", request.username}});
    result.status = AuthStatus::locked_out;
    co_return result;
  }
  const auth::AuthOutcome outcome =
      co_await services_.verifier.async_verify(request.username, request.password, use_awaitable);
  switch (outcome.status) {
    case auth::AuthOutcome::Status::ok: {
      services_.auth_limiter.record_success(client_address_, request.username);
      const auto directory = services_.tenants.snapshot();
      const store::Tenant* tenant = directory ? directory->find(outcome.tenant_id) : nullptr;
      if (tenant == nullptr) {
        result.status = AuthStatus::bad_credentials;
      } else if (tenant->status == store::TenantStatus::suspended) {
        result.status = AuthStatus::tenant_suspended;
        result.tenant_id = tenant->id;
        result.reason =
            tenant->status_reason.empty() ? "contact your provider" : tenant->status_reason;
      } else if (auto refusal = take_connection_slot(tenant->id)) {
        result.status = AuthStatus::connection_refused;
        result.tenant_id = tenant->id;
        result.refusal = std::move(refusal);
      } else {
        result.status = AuthStatus::ok;
        result.tenant_id = outcome.tenant_id;
      }
      break;
    }
    case auth::AuthOutcome::Status::bad_credentials:
      services_.auth_limiter.record_failure(client_address_, request.username);
      result.status = AuthStatus::bad_credentials;
      break;
    case auth::AuthOutcome::Status::temporary_failure:
      result.status = AuthStatus::temporary_failure;
      break;
  }
  // A connection refused for the tenant's limit had good credentials; the
  // refusal itself is logged by take_connection_slot.
  const bool credentials_ok =
      result.status == AuthStatus::ok || result.status == AuthStatus::connection_refused;
  log::info(credentials_ok ? "auth_succeeded" : "auth_failed", {{"session", origin_.id},
                                                                {"client", client_address_},
                                                                {"user", request.username},
                                                                {"tenant", result.tenant_id}});
  co_return result;
}

awaitable<std::optional<std::string>> Connection::commit() {
  if (origin_.kind == ListenerKind::feedback) {
    co_return co_await deliver_locally();
  }
  const Transaction& t = protocol_.transaction();
  queue::Message message;
  message.id = queue::new_message_id();
  auto& e = message.envelope;
  e.tenant_id = protocol_.tenant_id();
  e.credential = protocol_.username();
  e.listener = std::string(to_string(origin_.kind));
  e.client_address = client_address_;
  e.helo = protocol_.helo();
  e.original_destination = origin_.original_destination;
  e.mail_from = t.mail_from;
  e.recipients = t.recipients;
  e.body_type = t.body_type;
  e.smtputf8 = t.smtputf8;
  e.received_at = services_.clock.unix_now();

  FinalizeInfo info;
  info.received.helo = protocol_.helo();
  info.received.client_address = client_address_;
  info.received.hostname = services_.config.hostname;
  info.received.queue_id = message.id;
  info.received.esmtp = protocol_.esmtp();
  info.received.tls = protocol_.tls_active();
  info.received.authenticated = !protocol_.username().empty();
  if (t.recipients.size() == 1) {
    info.received.recipient = t.recipients.front();
  }
  info.received.smtputf8 = t.smtputf8;
  info.received.unix_time = e.received_at;
  info.tenant_id = e.tenant_id;
  info.hostname = services_.config.hostname;
  info.message_id = message.id;
  message.data = finalize_message(message_, info);
  message_.clear();
  // Signed once, before queueing: the signature covers our own trace headers,
  // is durable with the message, and every retry sends the same bytes.
  if (services_.dkim != nullptr) {
    // RSA signing and body hashing take milliseconds of CPU: on the workers
    // when there are some, so the I/O thread keeps serving other sessions.
    auto signer = services_.dkim->snapshot();
    const auto sign = [&signer, &message, tenant = e.tenant_id, at = e.received_at] {
      return signer->sign(message.data, tenant, at);
    };
    // Not a co_await inside ?: (GCC 12 destroys that temporary twice).
    std::optional<std::string> signature;
    if (services_.workers != nullptr) {
      signature = co_await offload(*services_.workers, sign);
    } else {
      signature = sign();
    }
    if (signature) {
      message.data.insert(0, *signature);
    }
  }
  const std::size_t size = message.data.size();
  const std::size_t recipients = t.recipients.size();
  const std::string id = message.id;
  const std::string tenant = e.tenant_id;
  const std::string listener = e.listener;
  const std::string from = e.mail_from;

  auto [ec] = co_await services_.spool.async_commit(std::move(message), asio_nothrow);
  if (ec) {
    log::error("queue_commit_failed", {{"session", origin_.id}, {"error", ec.message()}});
    co_return std::nullopt;
  }
  log::info("message_queued", {{"session", origin_.id},
                               {"msg", id},
                               {"tenant", tenant},
                               {"listener", listener},
                               {"client", client_address_},
                               {"from", from},
                               {"rcpts", recipients},
                               {"size", size}});
  co_return id;
}

bool Connection::is_local(std::string_view address) const {
  return services_.mailbox != nullptr && services_.mailbox->accepts(address);
}

// Mail to the gateway itself: no tenant, no policy, no DKIM; only our trace
// field is added. The mailbox stores it durably before the 250.
awaitable<std::optional<std::string>> Connection::deliver_locally() {
  const Transaction& t = protocol_.transaction();
  if (services_.mailbox == nullptr) {
    // Unreachable (RCPT is refused without a mailbox); fail safe all the same.
    co_return std::nullopt;
  }
  mail::InboundMessage message;
  message.client_address = client_address_;
  message.helo = protocol_.helo();
  message.mail_from = t.mail_from;
  message.recipients = t.recipients;
  message.received_at = services_.clock.unix_now();

  ReceivedInfo received;
  received.helo = protocol_.helo();
  received.client_address = client_address_;
  received.hostname = services_.config.hostname;
  received.queue_id = queue::new_message_id();  // ours, for tracing; the mailbox names its own
  received.esmtp = protocol_.esmtp();
  received.tls = protocol_.tls_active();
  if (t.recipients.size() == 1) {
    received.recipient = t.recipients.front();
  }
  received.smtputf8 = t.smtputf8;
  received.unix_time = message.received_at;
  message.data = trace_message(message_, received);
  message_.clear();
  const std::size_t size = message.data.size();
  const std::size_t recipients = message.recipients.size();
  const std::string from = message.mail_from;

  Result<std::string> stored =
      co_await async_deliver(*services_.mailbox, std::move(message), use_awaitable);
  if (!stored) {
    log::error("local_delivery_failed", {{"session", origin_.id},
                                         {"trace_id", received.queue_id},
                                         {"error", stored.error().message}});
    co_return std::nullopt;
  }
  log::info("message_stored_locally", {{"session", origin_.id},
                                       {"report", *stored},
                                       {"trace_id", received.queue_id},
                                       {"client", client_address_},
                                       {"from", from},
                                       {"rcpts", recipients},
                                       {"size", size}});
  co_return std::move(*stored);
}

awaitable<bool> Connection::perform(Step step) {
  for (;;) {
    if (step.reply) {
      out_ += step.reply->render();
    }
    switch (step.action) {
      case Action::none:
        co_return true;
      case Action::close:
        co_await flush();
        co_return false;
      case Action::start_tls:
        if (!co_await flush()) {
          co_return false;
        }
        // Anything pipelined after STARTTLS arrived in clear text: drop it
        // (the CVE-2011-0411 command injection).
        in_.clear();
        if (!co_await handshake()) {
          co_return false;
        }
        protocol_.on_tls_started();
        co_return true;
      case Action::verify_auth:
        step = protocol_.on_auth_result(co_await authenticate());
        continue;
      case Action::read_data: {
        if (!co_await flush()) {
          co_return false;
        }
        const auto error = co_await read_data();
        if (!error) {
          log::info("client_lost_in_data", {{"session", origin_.id}, {"client", client_address_}});
          co_return false;
        }
        step = protocol_.on_data_received(*error);
        continue;
      }
      case Action::read_bdat: {
        const auto error = co_await read_bdat();
        if (!error) {
          log::info("client_lost_in_data", {{"session", origin_.id}, {"client", client_address_}});
          co_return false;
        }
        step = protocol_.on_bdat_chunk(*error);
        if (step.reply && !step.reply->positive()) {
          // A refused chunk ends the message: the next BDAT starts a new one.
          bdat_.reset();
        }
        continue;
      }
      case Action::commit:
        // Checked again: the disk may have filled while the content arrived.
        if (auto refusal = storage_refusal()) {
          step = protocol_.on_commit_refused(std::move(*refusal));
          continue;
        }
        step = protocol_.on_commit_result(co_await commit());
        continue;
    }
  }
}

// The tenant's connection limit counts every listener; the slot is given
// back when the session ends.
std::optional<Reply> Connection::take_connection_slot(const std::string& tenant_id) {
  if (services_.policy == nullptr) {
    return std::nullopt;
  }
  if (auto refusal = services_.policy->open_connection(tenant_id)) {
    log::warning("connection_refused_tenant_limit",
                 {{"session", origin_.id}, {"client", client_address_}, {"tenant", tenant_id}});
    return refusal;
  }
  slot_ = policy::ConnectionSlot(*services_.policy, tenant_id);
  return std::nullopt;
}

// RFC 5321 452 and RFC 3463 4.3.1: a temporary refusal, the client keeps
// the message and tries later. The guard logs the state change itself.
std::optional<Reply> Connection::storage_refusal() const {
  if (services_.disk_guard != nullptr && services_.disk_guard->low()) {
    return Reply(452, "4.3.1", "Insufficient system storage");
  }
  return std::nullopt;
}

std::optional<Reply> Connection::mail_gate(std::string_view tenant_id,
                                           std::uint64_t declared_size) const {
  if (auto refusal = storage_refusal()) {
    return refusal;
  }
  if (auto refusal = suspended(tenant_id)) {
    return refusal;
  }
  if (services_.policy != nullptr) {
    return services_.policy->check_mail(tenant_id, declared_size);
  }
  return std::nullopt;
}

std::optional<Reply> Connection::suspended(std::string_view tenant_id) const {
  const auto directory = services_.tenants.snapshot();
  const store::Tenant* tenant = directory ? directory->find(tenant_id) : nullptr;
  if (tenant == nullptr) {
    return Reply(554, "5.7.1", "Tenant " + std::string(tenant_id) + " no longer exists");
  }
  if (tenant->status == store::TenantStatus::suspended) {
    return Reply(
        554, "5.7.1",
        "Tenant " + tenant->id + " is suspended: " +
            (tenant->status_reason.empty() ? "contact your provider" : tenant->status_reason));
  }
  return std::nullopt;
}

// Intercepted flows have no credentials: the source address names the tenant.
bool Connection::admit() {
  if (origin_.kind != ListenerKind::intercept) {
    return true;
  }
  const auto directory = services_.tenants.snapshot();
  const store::Tenant* tenant =
      directory ? directory->find_by_address(origin_.client.address()) : nullptr;
  if (tenant == nullptr) {
    out_ +=
        Reply(554, "5.7.1", client_address_ + " is not a tenant address; relaying denied").render();
    log::warning("intercept_refused", {{"session", origin_.id}, {"client", client_address_}});
    return false;
  }
  if (tenant->status == store::TenantStatus::suspended) {
    out_ += suspended(tenant->id)->render();
    return false;
  }
  if (auto refusal = take_connection_slot(tenant->id)) {
    out_ += refusal->render();
    return false;
  }
  protocol_.attribute_to_tenant(tenant->id);
  return true;
}

void Connection::close() {
  protocol_.on_close();
  slot_.reset();
  done_ = true;
  timer_.cancel();
  boost::system::error_code ignored;
  stream_.next_layer().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.next_layer().close(ignored);
}

awaitable<void> Connection::run() {
  session_end_ = std::chrono::steady_clock::now() + services_.config.limits.session_timeout;
  asio::co_spawn(stream_.get_executor(), watchdog(), asio::detached);
  log::info("session_started", {{"session", origin_.id},
                                {"listener", to_string(origin_.kind)},
                                {"client", client_address_},
                                {"original_dst", origin_.original_destination}});
  if (origin_.kind == ListenerKind::feedback) {
    // No tenant here, so no tenant checks: only the local recipient gate.
    protocol_.set_local_recipients([this](std::string_view address) { return is_local(address); });
    protocol_.set_mail_gate([this](std::string_view, std::uint64_t) { return storage_refusal(); });
  } else {
    protocol_.set_mail_gate([this](std::string_view tenant, std::uint64_t declared_size) {
      return mail_gate(tenant, declared_size);
    });
  }
  if (services_.policy != nullptr && origin_.kind != ListenerKind::feedback) {
    protocol_.set_rcpt_gate(
        [this](std::string_view tenant, std::string_view address, std::size_t so_far) {
          return services_.policy->check_rcpt(tenant, address, so_far);
        });
    protocol_.set_transaction_end(
        [this](bool accepted) { services_.policy->message_done(protocol_.tenant_id(), accepted); });
  }

  bool open = true;
  if (origin_.kind == ListenerKind::smtps) {
    open = co_await handshake();
  }
  if (open && !admit()) {
    co_await flush();
    open = false;
  }
  if (open) {
    out_ += protocol_.greeting().render();
  }
  std::string line;
  while (open) {
    const LineStatus status = next_line(line);
    if (status == LineStatus::need_more) {
      open = co_await flush();
      if (open) {
        open = co_await fill();
      }
      continue;
    }
    Step step =
        status == LineStatus::too_long ? protocol_.on_line_too_long() : protocol_.on_line(line);
    open = co_await perform(std::move(step));
  }
  if (timed_out_) {
    // The watchdog cancelled a read: say why before closing, briefly.
    timed_out_ = false;
    session_end_ = std::chrono::steady_clock::now() + kFinalWriteTimeout;
    out_ = protocol_.on_timeout().reply->render();
    co_await flush();
  }
  close();
  log::info("session_ended", {{"session", origin_.id}, {"client", client_address_}});
}

}  // namespace

awaitable<void> run_session(tcp::socket socket, SessionOrigin origin, SessionServices& services) {
  auto connection = std::make_shared<Connection>(std::move(socket), std::move(origin), services);
  co_await connection->run();
}

}  // namespace portcullis::relay::smtp
