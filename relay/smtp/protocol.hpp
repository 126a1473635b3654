#pragma once
// The SMTP server protocol as a state machine without I/O: a command line in,
// a reply and the next action out. The session coroutine (session.hpp) does
// the reading, writing, TLS, credential checks and queueing that an action
// asks for, and feeds the outcome back.
//
// Untrusted input: every command line and AUTH response a client sends. No
// privilege needed. Nothing here throws on peer behaviour.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "relay/smtp/content_checker.hpp"
#include "relay/smtp/reply.hpp"

namespace portcullis::relay::smtp {

// feedback: mail to the gateway's own mailboxes (feedback-loop reports, abuse@),
// no AUTH and no tenant; RCPT only for local recipients, so it never relays.
enum class ListenerKind { submission, smtps, intercept, feedback };
std::string_view to_string(ListenerKind kind);

struct ProtocolSettings {
  ListenerKind kind = ListenerKind::submission;
  std::string hostname;
  std::size_t max_message_size = 25 * 1024 * 1024;
  std::size_t max_recipients = 100;
  // The error that reaches this count is answered with 421 and the session ends.
  unsigned max_errors = 10;
  bool tls_available = true;
};

enum class Action {
  none,         // send the reply (if any) and read the next command
  start_tls,    // send the reply, drop buffered input, handshake, then on_tls_started()
  verify_auth,  // check pending_auth(), then on_auth_result()
  read_data,    // send the 354 reply, read DATA content, then on_data_received()
  read_bdat,  // read bdat_size() octets (even when the chunk will be refused), then on_bdat_chunk()
  commit,     // queue the message durably, then on_commit_result()
  close,      // send the reply and close the connection
};

struct Step {
  std::optional<Reply> reply;
  Action action = Action::none;
};

struct AuthRequest {
  std::string username;
  std::string password;
};

// connection_refused: the credentials are good but the tenant has all the
// connections its plan allows; the session ends with `refusal` (a 421).
enum class AuthStatus {
  ok,
  bad_credentials,
  locked_out,
  temporary_failure,
  tenant_suspended,
  connection_refused
};

struct AuthResult {
  AuthStatus status = AuthStatus::bad_credentials;
  std::string tenant_id;
  std::string username;
  std::string reason;            // for tenant_suspended
  std::optional<Reply> refusal;  // for connection_refused
};

// What a client may submit once the transaction is complete.
struct Transaction {
  std::string mail_from;  // without <>; "" is the null reverse-path
  std::vector<std::string> recipients;
  std::string body_type = "7BIT";
  bool smtputf8 = false;
  std::size_t declared_size = 0;
};

class Protocol {
 public:
  // Checks a MAIL FROM for the authenticated tenant (suspension, limits;
  // declared_size is the SIZE parameter, 0 when absent). Returns a refusal,
  // or nothing to start the transaction.
  using MailGate =
      std::function<std::optional<Reply>(std::string_view tenant_id, std::uint64_t declared_size)>;
  // Checks a RCPT TO once its syntax and the listener's recipient limit
  // passed; recipients_so_far were accepted before it in this transaction.
  using RcptGate = std::function<std::optional<Reply>(
      std::string_view tenant_id, std::string_view address, std::size_t recipients_so_far)>;
  // The feedback listener's only recipients: whether `address` (as the client
  // wrote it; the predicate compares case-insensitively) is one of the
  // gateway's own mailboxes. Unset = no mailbox, every RCPT refused.
  using LocalRecipients = std::function<bool(std::string_view address)>;
  // Called exactly once for every transaction the MAIL gate let start, when
  // it ends: accepted only when it was queued (the 250 after the durable
  // commit); RSET, EHLO, STARTTLS, refused content, a failed commit and
  // on_close() end it unaccepted.
  using TransactionEnd = std::function<void(bool accepted)>;

  explicit Protocol(ProtocolSettings settings);

  // Intercepted flows are attributed by source address before the greeting.
  void attribute_to_tenant(std::string tenant_id);
  void set_mail_gate(MailGate gate) { mail_gate_ = std::move(gate); }
  void set_rcpt_gate(RcptGate gate) { rcpt_gate_ = std::move(gate); }
  void set_transaction_end(TransactionEnd end) { transaction_end_ = std::move(end); }
  void set_local_recipients(LocalRecipients local) { local_recipients_ = std::move(local); }

  Reply greeting() const;
  Step on_line(std::string_view line);
  Step on_line_too_long();
  void on_tls_started();
  Step on_auth_result(const AuthResult& result);
  Step on_data_received(DataError error);
  Step on_bdat_chunk(DataError error);
  // queue_id: the spool's id, or for the feedback listener the mailbox's.
  Step on_commit_result(std::optional<std::string> queue_id);
  // The session will not queue the content it read (the disk guard): ends
  // the transaction unaccepted with `refusal`.
  Step on_commit_refused(Reply refusal);
  Step on_timeout() const;
  // The connection is gone: ends an open transaction (unaccepted). Idempotent.
  void on_close();

  // The longest line the session should accept now (AUTH responses may be longer).
  std::size_t max_line_length() const;
  const AuthRequest& pending_auth() const { return pending_auth_; }
  const Transaction& transaction() const { return transaction_; }
  std::uint64_t bdat_size() const { return bdat_size_; }
  bool bdat_last() const { return bdat_last_; }
  bool tls_active() const { return tls_active_; }
  const std::string& helo() const { return helo_; }
  bool esmtp() const { return esmtp_; }
  const std::string& tenant_id() const { return tenant_id_; }
  const std::string& username() const { return username_; }
  bool authenticated() const { return !tenant_id_.empty(); }

 private:
  enum class State { command, auth_plain_response, auth_login_username, auth_login_password };

  Step ehlo(std::string_view argument, bool extended);
  Step starttls(std::string_view argument);
  Step auth(std::string_view argument);
  Step auth_response(std::string_view line);
  Step mail(std::string_view argument);
  Step rcpt(std::string_view argument);
  Step data(std::string_view argument);
  Step bdat(std::string_view argument);
  Step rset(std::string_view argument);
  Step quit();
  Step finish_auth_plain(std::string_view base64);
  Step error(Reply reply);
  void reset_transaction(bool accepted = false);
  bool requires_auth() const {
    return settings_.kind != ListenerKind::intercept && settings_.kind != ListenerKind::feedback;
  }

  ProtocolSettings settings_;
  State state_ = State::command;
  bool tls_active_ = false;
  bool esmtp_ = false;
  std::string helo_;
  std::string tenant_id_;
  std::string username_;
  AuthRequest pending_auth_;
  bool in_transaction_ = false;
  Transaction transaction_;
  bool bdat_in_progress_ = false;
  std::uint64_t bdat_size_ = 0;
  bool bdat_last_ = false;
  unsigned errors_ = 0;
  MailGate mail_gate_;
  RcptGate rcpt_gate_;
  TransactionEnd transaction_end_;
  LocalRecipients local_recipients_;
};

}  // namespace portcullis::relay::smtp
