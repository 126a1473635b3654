#include "gateway/daemon/spool_mail_submitter.hpp"

#include "gateway/core/log/log.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {

void SpoolMailSubmitter::submit(mail::OutboundMessage message, Done done) {
  relay::queue::Message queued;
  queued.id = relay::queue::new_message_id();
  auto& e = queued.envelope;
  e.listener = "abuse";
  e.client_address = "127.0.0.1";
  e.helo = hostname_;
  e.mail_from = std::move(message.mail_from);
  e.recipients = std::move(message.recipients);
  e.body_type = "8BITMIME";
  e.received_at = clock_.unix_now();
  queued.data = std::move(message.data);
  const auto id = queued.id;
  spool_.async_commit(std::move(queued),
                      asio::bind_executor(executor_, [id, done = std::move(done)](
                                                         const boost::system::error_code& ec) {
                        if (ec) {
                          log::error("notification_not_queued", {{"error", ec.message()}});
                          done(make_error("the queue refused the notification: " + ec.message()));
                          return;
                        }
                        done(Result<std::string>(boost::system::in_place_value, id));
                      }));
}

}  // namespace portcullis::daemon
