#pragma once
// The gateway's own mail (abuse notifications and reminders) goes into the
// relay's queue like any accepted message, so it is delivered, retried,
// bounced and logged the same way. Its envelope names no tenant and the
// listener "abuse": it counts against no tenant's quota and is never signed
// with a tenant's DKIM key. No untrusted input: the abuse engine composed it.

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/mail/mail_submitter.hpp"

namespace portcullis::relay::queue {
class Spool;
}

namespace portcullis::daemon {

class SpoolMailSubmitter final : public mail::MailSubmitter {
 public:
  SpoolMailSubmitter(asio::any_io_executor executor,
                     relay::queue::Spool& spool,
                     const Clock& clock,
                     std::string hostname)
      : executor_(std::move(executor)),
        spool_(spool),
        clock_(clock),
        hostname_(std::move(hostname)) {}
  void submit(mail::OutboundMessage message, Done done) override;

 private:
  asio::any_io_executor executor_;
  relay::queue::Spool& spool_;
  const Clock& clock_;
  std::string hostname_;
};

}  // namespace portcullis::daemon
