#pragma once
// The abuse desk: records signals from the collectors, scores tenants, opens
// tickets past abuse.ticket_threshold (one per tenant and category: later
// signals attach to it), applies the automatic actions of abuse.actions and
// notifies the tenant's abuse contact through the relay; the desk reviews,
// notes, resolves and reverts. Port-25 exception requests are decided here
// and take effect as host overrides in the firewall: approval exempts the
// host, expiry and revocation restore what was there before.
//
// Runs on one executor (the daemon's I/O thread): every AbuseDesk and
// SignalSink call, the one-second tick (expiry, reminders) and the mail
// submitter's completions, which are posted back here. Every change is in the
// audit trail with who, when and why.
//
// Untrusted input: signals' evidence (remote parties, through the collectors)
// is stored and mailed as opaque text (notification.hpp); everything else
// comes from the control API, which validated it.

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "gateway/core/abuse/abuse_desk.hpp"
#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/mail/mail_submitter.hpp"
#include "gateway/core/store/abuse_store.hpp"
#include "gateway/core/store/store.hpp"

#include "abuse/signal_sink.hpp"

namespace portcullis::abuse {

struct DeskServices {
  const config::Config& config;
  store::Store& store;
  store::AbuseStore& abuse_store;
  const Clock& clock;
  mail::MailSubmitter* mailer = nullptr;  // nullptr: tickets are kept, nobody is mailed
  // Publishes the tenants' new host overrides and limits (firewall, relay);
  // when it returns, the kernel has the new ruleset.
  std::function<void()> tenants_changed;
};

class AbuseEngine final : public AbuseDesk, public SignalSink {
 public:
  AbuseEngine(asio::any_io_executor executor, DeskServices services);
  ~AbuseEngine() override;

  void start();  // the one-second tick
  void stop();   // idempotent
  // Expires exceptions whose time has come and sends due reminders (the timer
  // calls it; tests call it with a fake clock).
  void tick();

  void record_signal(store::Signal signal) override;

  Result<Reputation> reputation(const std::string& tenant_id) const override;
  Result<store::Ticket> open_ticket(const NewTicket& ticket) override;
  std::vector<store::Ticket> list_tickets(const store::TicketFilter& filter) const override;
  Result<store::TicketDetail> ticket(std::int64_t id) const override;
  Result<void> add_note(std::int64_t id,
                        const std::string& actor,
                        const std::string& text) override;
  Result<store::Ticket> set_status(std::int64_t id,
                                   store::TicketStatus status,
                                   const std::string& actor,
                                   const std::string& note) override;
  Result<store::TicketDetail> revert(std::int64_t id,
                                     std::optional<std::int64_t> action_id,
                                     const std::string& actor) override;

  Result<store::ExceptionRequest> request_exception(const NewException& request) override;
  std::vector<store::ExceptionRequest> list_exceptions(
      const std::string& tenant_id, std::optional<store::ExceptionStatus> status) const override;
  Result<ExceptionReview> exception(std::int64_t id) const override;
  Result<store::ExceptionRequest> approve(std::int64_t id,
                                          const std::string& actor,
                                          std::optional<std::int64_t> expires_in_seconds,
                                          const std::string& note) override;
  Result<store::ExceptionRequest> deny(std::int64_t id,
                                       const std::string& actor,
                                       const std::string& reason) override;
  Result<store::ExceptionRequest> revoke(std::int64_t id,
                                         const std::string& actor,
                                         const std::string& reason) override;

  std::vector<store::InboundReport> list_reports(
      std::optional<store::ReportStatus> status) const override;
  Result<store::InboundReport> report(std::int64_t id) const override;

 private:
  struct Timer;

  void open_automatic(const store::Signal& trigger, std::int64_t since);
  void attach(store::Ticket ticket, const store::Signal& signal);
  // Automatic consequences of hosts joining a ticket: their exceptions are
  // revoked, and for block_host tickets they are blocked.
  void act_on_hosts(const store::Ticket& ticket, const std::vector<std::string>& hosts);
  // True when it revoked one (the caller publishes the change).
  bool revoke_exceptions_for(const store::Ticket& ticket, const std::vector<std::string>& hosts);
  void act_on_tenant(const store::Ticket& ticket);
  void record_action(const store::Ticket& ticket, Result<store::TicketAction> action);
  void notify(std::int64_t ticket_id, int reminder);
  void send_reminders();
  void schedule_tick();
  void expire_exceptions();
  // Restores the override an exception replaced and records why it ended.
  Result<store::ExceptionRequest> end_exception(store::ExceptionRequest request,
                                                store::ExceptionStatus status,
                                                const std::string& actor,
                                                const std::string& reason);
  // The request, or an error when it is unknown or not in `status` (409).
  Result<store::ExceptionRequest> exception_in(std::int64_t id,
                                               store::ExceptionStatus status) const;
  Result<void> undo(const store::Ticket& ticket, const store::TicketAction& action);
  void audit(std::string_view subject,
             std::int64_t id,
             const std::string& actor,
             std::string action,
             std::string text);
  void changed();

  asio::any_io_executor executor_;
  DeskServices services_;
  std::unique_ptr<Timer> timer_;
  // Posted completions (mail submitted) check it: the engine may be gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::set<std::int64_t> notifying_;  // tickets whose mail is being queued
};

}  // namespace portcullis::abuse
