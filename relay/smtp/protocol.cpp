#include "relay/smtp/protocol.hpp"

#include <algorithm>
#include <cctype>

#include "relay/smtp/command.hpp"
#include "relay/smtp/message_headers.hpp"
#include "relay/smtp/sasl.hpp"

namespace portcullis::relay::smtp {
namespace {

// RFC 5321 4.5.3.1.4 for commands; RFC 4954 4 for AUTH responses.
constexpr std::size_t kMaxCommandLine = 512;
constexpr std::size_t kMaxAuthLine = 12288;

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

Reply ok(std::string enhanced, std::string text) {
  return Reply(250, std::move(enhanced), std::move(text));
}

Step reply_only(Reply r) {
  return Step{std::move(r), Action::none};
}

Reply bad_sequence(std::string text) {
  return Reply(503, "5.5.1", std::move(text));
}

}  // namespace

std::string_view to_string(ListenerKind kind) {
  switch (kind) {
    case ListenerKind::submission:
      return "submission";
    case ListenerKind::smtps:
      return "smtps";
    case ListenerKind::intercept:
      return "intercept";
    case ListenerKind::feedback:
      return "feedback";
  }
  return "?";
}

Protocol::Protocol(ProtocolSettings settings) : settings_(std::move(settings)) {
  // Implicit TLS: the handshake happened before the greeting.
  tls_active_ = settings_.kind == ListenerKind::smtps;
}

void Protocol::attribute_to_tenant(std::string tenant_id) {
  tenant_id_ = std::move(tenant_id);
}

Reply Protocol::greeting() const {
  return Reply(220, "", settings_.hostname + " ESMTP Portcullis");
}

std::size_t Protocol::max_line_length() const {
  return state_ == State::command ? kMaxCommandLine : kMaxAuthLine;
}

Step Protocol::error(Reply reply) {
  ++errors_;
  if (errors_ >= settings_.max_errors) {
    return Step{Reply(421, "4.7.0", settings_.hostname + " Too many errors, closing connection"),
                Action::close};
  }
  return reply_only(std::move(reply));
}

Step Protocol::on_line_too_long() {
  if (state_ != State::command) {
    state_ = State::command;
    pending_auth_ = {};
  }
  return error(Reply(500, "5.5.2", "Line too long"));
}

Step Protocol::on_timeout() const {
  return Step{Reply(421, "4.4.2", settings_.hostname + " Idle timeout, closing connection"),
              Action::close};
}

Step Protocol::on_line(std::string_view line) {
  if (state_ != State::command) {
    return auth_response(line);
  }
  const Command command = parse_command(line);
  const std::string_view argument = command.argument;
  switch (command.verb) {
    case Verb::ehlo:
      return ehlo(argument, true);
    case Verb::helo:
      return ehlo(argument, false);
    case Verb::starttls:
      return starttls(argument);
    case Verb::auth:
      return auth(argument);
    case Verb::mail:
      return mail(argument);
    case Verb::rcpt:
      return rcpt(argument);
    case Verb::data:
      return data(argument);
    case Verb::bdat:
      return bdat(argument);
    case Verb::rset:
      return rset(argument);
    case Verb::noop:
      return reply_only(ok("2.0.0", "Ok"));
    case Verb::quit:
      return quit();
    case Verb::vrfy:
      return reply_only(
          Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery"));
    case Verb::expn:
      return error(Reply(502, "5.5.1", "EXPN not available"));
    case Verb::help:
      return reply_only(Reply(214, "2.0.0",
                              "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT "
                              "RSET NOOP QUIT VRFY HELP"));
    case Verb::unknown:
      break;
  }
  return error(Reply(500, "5.5.2", "Command unrecognized"));
}

Step Protocol::ehlo(std::string_view argument, bool extended) {
  const std::string_view domain = trim(argument);
  if (domain.empty()) {
    return error(Reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname"));
  }
  reset_transaction();
  helo_ = std::string(domain);
  esmtp_ = extended;
  if (!extended) {
    return reply_only(Reply(250, "", settings_.hostname));
  }
  std::vector<std::string> lines{settings_.hostname};
  lines.emplace_back("PIPELINING");
  lines.emplace_back("SIZE " + std::to_string(settings_.max_message_size));
  lines.emplace_back("8BITMIME");
  lines.emplace_back("ENHANCEDSTATUSCODES");
  if (!tls_active_ && settings_.tls_available) {
    lines.emplace_back("STARTTLS");
  }
  if (requires_auth() && tls_active_ && !authenticated()) {
    lines.emplace_back("AUTH PLAIN LOGIN");
  }
  lines.emplace_back("CHUNKING");
  lines.emplace_back("SMTPUTF8");
  return reply_only(Reply(250, "", std::move(lines)));
}

Step Protocol::starttls(std::string_view argument) {
  if (!trim(argument).empty()) {
    return error(Reply(501, "5.5.4", "Syntax: STARTTLS"));
  }
  if (tls_active_) {
    return error(bad_sequence("TLS already active"));
  }
  if (!settings_.tls_available) {
    return error(Reply(454, "4.7.0", "TLS not available"));
  }
  return Step{Reply(220, "2.0.0", "Ready to start TLS"), Action::start_tls};
}

void Protocol::on_tls_started() {
  // RFC 3207 4.2: forget everything learned before the handshake.
  tls_active_ = true;
  helo_.clear();
  esmtp_ = false;
  reset_transaction();
}

Step Protocol::auth(std::string_view argument) {
  if (!requires_auth()) {
    return error(bad_sequence("AUTH not available on this service"));
  }
  if (helo_.empty() || !esmtp_) {
    return error(bad_sequence("Send EHLO first"));
  }
  if (authenticated()) {
    return error(bad_sequence("Already authenticated"));
  }
  if (in_transaction_) {
    return error(bad_sequence("AUTH not allowed during a mail transaction"));
  }
  if (!tls_active_) {
    return error(
        Reply(538, "5.7.11", "Encryption required for requested authentication mechanism"));
  }
  argument = trim(argument);
  const auto space = argument.find(' ');
  const std::string_view mechanism = argument.substr(0, space);
  const std::string_view initial =
      space == std::string_view::npos ? std::string_view{} : trim(argument.substr(space + 1));
  if (iequals(mechanism, "PLAIN")) {
    if (initial.empty()) {
      state_ = State::auth_plain_response;
      return reply_only(Reply(334, "", ""));
    }
    return finish_auth_plain(initial);
  }
  if (iequals(mechanism, "LOGIN")) {
    if (!initial.empty()) {
      // RFC 4954 allows an initial response: the username.
      state_ = State::auth_login_username;
      return auth_response(initial);
    }
    state_ = State::auth_login_username;
    return reply_only(Reply(334, "", std::string(kLoginUsernamePrompt)));
  }
  if (mechanism.empty()) {
    return error(Reply(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]"));
  }
  return error(Reply(504, "5.5.4", "Unrecognized authentication type"));
}

Step Protocol::auth_response(std::string_view line) {
  const State state = state_;
  state_ = State::command;
  if (line == "*") {
    pending_auth_ = {};
    return error(Reply(501, "5.0.0", "Authentication cancelled"));
  }
  if (state == State::auth_plain_response) {
    return finish_auth_plain(line);
  }
  auto decoded = base64_decode(line);
  if (!decoded || decoded->empty() || decoded->find('\0') != std::string::npos) {
    pending_auth_ = {};
    return error(Reply(501, "5.5.2", "Cannot decode authentication response"));
  }
  if (state == State::auth_login_username) {
    pending_auth_.username = std::move(*decoded);
    state_ = State::auth_login_password;
    return reply_only(Reply(334, "", std::string(kLoginPasswordPrompt)));
  }
  pending_auth_.password = std::move(*decoded);
  return Step{std::nullopt, Action::verify_auth};
}

Step Protocol::finish_auth_plain(std::string_view base64) {
  auto decoded = base64_decode(base64);
  std::optional<PlainCredentials> credentials;
  if (decoded) {
    credentials = parse_auth_plain(*decoded);
  }
  if (!credentials) {
    pending_auth_ = {};
    return error(Reply(501, "5.5.2", "Cannot decode authentication response"));
  }
  pending_auth_ = AuthRequest{std::move(credentials->authcid), std::move(credentials->password)};
  return Step{std::nullopt, Action::verify_auth};
}

Step Protocol::on_auth_result(const AuthResult& result) {
  pending_auth_ = {};
  switch (result.status) {
    case AuthStatus::ok:
      tenant_id_ = result.tenant_id;
      username_ = result.username;
      return reply_only(Reply(235, "2.7.0", "Authentication successful"));
    case AuthStatus::bad_credentials:
      return error(Reply(535, "5.7.8", "Authentication credentials invalid"));
    case AuthStatus::locked_out:
      return reply_only(
          Reply(454, "4.7.0", "Too many failed authentication attempts, try again later"));
    case AuthStatus::temporary_failure:
      return reply_only(Reply(454, "4.7.0", "Temporary authentication failure"));
    case AuthStatus::tenant_suspended:
      return reply_only(
          Reply(554, "5.7.1", "Tenant " + result.tenant_id + " is suspended: " + result.reason));
    case AuthStatus::connection_refused:
      return Step{result.refusal.value_or(Reply(
                      421, "4.7.0",
                      "Too many connections for tenant " + result.tenant_id + ", try again later")),
                  Action::close};
  }
  return error(Reply(535, "5.7.8", "Authentication credentials invalid"));
}

Step Protocol::mail(std::string_view argument) {
  if (helo_.empty()) {
    return error(bad_sequence("Send EHLO or HELO first"));
  }
  if (in_transaction_) {
    return error(bad_sequence("Nested MAIL command"));
  }
  if (requires_auth() && !authenticated()) {
    return error(Reply(530, "5.7.0", "Authentication required"));
  }
  auto parsed = parse_mail_from(argument);
  if (!parsed) {
    const CommandError& e = parsed.error();
    return error(Reply(e.code, e.enhanced_code, e.text));
  }
  const MailFrom& mail = *parsed;
  if (mail.smtputf8 && !esmtp_) {
    return error(Reply(555, "5.5.4", "SMTPUTF8 requires EHLO"));
  }
  if (mail.path.non_ascii && !mail.smtputf8) {
    return error(Reply(553, "5.6.7", "Non-ASCII address requires SMTPUTF8"));
  }
  if (mail.size && *mail.size > settings_.max_message_size) {
    return error(Reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
  }
  if (mail_gate_) {
    if (auto refusal = mail_gate_(tenant_id_, mail.size.value_or(0))) {
      return reply_only(std::move(*refusal));
    }
  }
  reset_transaction();
  in_transaction_ = true;
  transaction_.mail_from = mail.null_path ? std::string{} : mail.path.address;
  transaction_.smtputf8 = mail.smtputf8;
  transaction_.body_type = mail.body == BodyType::eight_bit_mime ? "8BITMIME" : "7BIT";
  transaction_.declared_size = static_cast<std::size_t>(mail.size.value_or(0));
  return reply_only(ok("2.1.0", "Ok"));
}

Step Protocol::rcpt(std::string_view argument) {
  if (!in_transaction_) {
    return error(bad_sequence("Need MAIL command first"));
  }
  auto parsed = parse_rcpt_to(argument, transaction_.smtputf8);
  if (!parsed) {
    const CommandError& e = parsed.error();
    return error(Reply(e.code, e.enhanced_code, e.text));
  }
  if (transaction_.recipients.size() >= settings_.max_recipients) {
    // RFC 5321 4.5.3.1.10: a temporary reply, so the client sends the rest later.
    return reply_only(Reply(452, "4.5.3", "Too many recipients"));
  }
  std::string address = parsed->postmaster ? std::string("postmaster") : parsed->path.address;
  if (settings_.kind == ListenerKind::feedback &&
      !(local_recipients_ && local_recipients_(address))) {
    // Counted as an error: a client probing for relaying is closed after max_errors.
    return error(
        Reply(550, "5.7.1", "Relaying denied: <" + address + "> is not a mailbox of this gateway"));
  }
  if (rcpt_gate_) {
    if (auto refusal = rcpt_gate_(tenant_id_, address, transaction_.recipients.size())) {
      return reply_only(std::move(*refusal));
    }
  }
  transaction_.recipients.push_back(std::move(address));
  return reply_only(ok("2.1.5", "Ok"));
}

Step Protocol::data(std::string_view argument) {
  if (!trim(argument).empty()) {
    return error(Reply(501, "5.5.4", "Syntax: DATA"));
  }
  if (bdat_in_progress_) {
    return error(bad_sequence("DATA not allowed after BDAT"));
  }
  if (!in_transaction_) {
    return error(bad_sequence("Need MAIL command first"));
  }
  if (transaction_.recipients.empty()) {
    return error(Reply(554, "5.5.1", "No valid recipients"));
  }
  return Step{Reply(354, "", "End data with <CR><LF>.<CR><LF>"), Action::read_data};
}

Step Protocol::on_data_received(DataError content) {
  switch (content) {
    case DataError::none:
      return Step{std::nullopt, Action::commit};
    case DataError::too_big:
      reset_transaction();
      return reply_only(Reply(552, "5.3.4", "Message size exceeds fixed maximum message size"));
    case DataError::line_too_long:
      reset_transaction();
      return reply_only(Reply(550, "5.6.0", "Message contains a line longer than 1000 octets"));
    case DataError::bare_lf:
    case DataError::bare_cr:
      reset_transaction();
      return reply_only(
          Reply(550, "5.6.0", "Message contains bare CR or LF; lines must end with CRLF"));
  }
  return reply_only(Reply(451, "4.3.0", "Could not queue message, try again later"));
}

Step Protocol::bdat(std::string_view argument) {
  auto parsed = parse_bdat(argument);
  if (!parsed) {
    // The chunk length is unknown, so the rest of the stream cannot be framed.
    const CommandError& e = parsed.error();
    return Step{Reply(e.code, e.enhanced_code, e.text + "; closing connection"), Action::close};
  }
  bdat_size_ = parsed->size;
  bdat_last_ = parsed->last;
  // RFC 3030 2: the chunk is read even when it will be refused, to stay in sync.
  if (in_transaction_ && !transaction_.recipients.empty()) {
    bdat_in_progress_ = true;
  }
  return Step{std::nullopt, Action::read_bdat};
}

Step Protocol::on_bdat_chunk(DataError content) {
  if (!in_transaction_ || transaction_.recipients.empty()) {
    bdat_in_progress_ = false;
    return error(in_transaction_ ? Reply(554, "5.5.1", "No valid recipients")
                                 : bad_sequence("Need MAIL command first"));
  }
  if (content != DataError::none) {
    // The transaction is over; RFC 3030 forbids the client further chunks.
    return on_data_received(content);
  }
  if (!bdat_last_) {
    return reply_only(ok("2.0.0", std::to_string(bdat_size_) + " octets received"));
  }
  bdat_in_progress_ = false;
  return Step{std::nullopt, Action::commit};
}

Step Protocol::on_commit_result(std::optional<std::string> queue_id) {
  reset_transaction(queue_id.has_value());
  if (settings_.kind == ListenerKind::feedback) {
    if (!queue_id) {
      return reply_only(Reply(451, "4.3.0", "Could not store message, try again later"));
    }
    return reply_only(ok("2.0.0", "Ok: report " + replace_controls(*queue_id) + " stored"));
  }
  if (!queue_id) {
    return reply_only(Reply(451, "4.3.0", "Could not queue message, try again later"));
  }
  return reply_only(ok("2.0.0", "Ok: queued as " + *queue_id));
}

Step Protocol::on_commit_refused(Reply refusal) {
  reset_transaction();
  return reply_only(std::move(refusal));
}

Step Protocol::rset(std::string_view argument) {
  if (!trim(argument).empty()) {
    return error(Reply(501, "5.5.4", "Syntax: RSET"));
  }
  reset_transaction();
  return reply_only(ok("2.0.0", "Ok"));
}

Step Protocol::quit() {
  return Step{Reply(221, "2.0.0", settings_.hostname + " closing connection"), Action::close};
}

void Protocol::on_close() {
  reset_transaction();
}

void Protocol::reset_transaction(bool accepted) {
  if (in_transaction_ && transaction_end_) {
    in_transaction_ = false;  // first: the hook must never run twice for one transaction
    transaction_end_(accepted);
  }
  in_transaction_ = false;
  transaction_ = Transaction{};
  bdat_in_progress_ = false;
  bdat_size_ = 0;
  bdat_last_ = false;
}

}  // namespace portcullis::relay::smtp
