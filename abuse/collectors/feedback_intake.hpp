#pragma once
// The feedback listener's mailbox: mail to the gateway's own feedback-loop and
// abuse addresses (abuse.feedback_addresses). Every message is first stored as
// it came (AbuseStore::add_report, fsync'd), and only then is the 250 given:
// nothing the listener accepted is ever dropped, whatever the parsers think of
// it. Then it is read as ARF / X-ARF (abuse/arf) or, failing that, as a bounce
// (abuse/dsn), attributed to a tenant from the original message it quotes
// (X-Portcullis-Tenant of an existing tenant, then the relay's queue id in its
// Received field, then a Message-ID <queue-id@relay.hostname>), and recorded:
// a complaint puts the complainant on the tenant's spam-reports suppression
// list and becomes a complaint signal for the desk; a bounce is only filed
// (delivery outcomes come from the relay's own events). What cannot be parsed
// or attributed keeps its raw bytes, with the reason, for the desk.
//
// Threads: deliver() is called on the I/O thread and never blocks it; storing
// (an fsync) and parsing (up to 10 MiB) run on the intake's one worker thread,
// which stop() and the destructor join. The SignalSink and on_complaint are
// only called on the engine's executor, through posts that do nothing once
// the intake is destroyed. The Store, the AbuseStore and tenant_of_queue_id
// are called from the worker (they are thread-safe).
//
// Untrusted input: the whole message and its envelope, from anyone who can
// connect to the feedback listener (feedback loops, any MTA, spammers who know
// the address). The parsers bound and sanitise it; summaries and evidence are
// printable ASCII and bounded, and evidence is mailed to the tenant only as
// text. A forged report can charge a complaint to the tenant it names, so the
// raw report stays stored, the suppression's reason names the report id, and
// the summary says which header the attribution trusted. Needs no privilege.

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/mail/local_mailbox.hpp"
#include "gateway/core/store/abuse_store.hpp"
#include "gateway/core/store/store.hpp"

#include "abuse/signal_sink.hpp"

namespace portcullis::abuse {

class FeedbackIntake final : public mail::LocalMailbox {
 public:
  // Messages waiting for the worker; past it deliver() answers an error (451), so
  // a flood of reports costs the senders a retry instead of the gateway memory.
  static constexpr std::size_t kMaxQueued = 32;

  FeedbackIntake(asio::any_io_executor executor,
                 const config::Config& config,
                 store::AbuseStore& reports,
                 store::Store& tenants,
                 SignalSink& sink,
                 const Clock& clock,
                 std::function<std::string(std::string_view queue_id)> tenant_of_queue_id,
                 std::function<void(const std::string& tenant_id)> on_complaint);
  ~FeedbackIntake() override;
  FeedbackIntake(const FeedbackIntake&) = delete;
  FeedbackIntake& operator=(const FeedbackIntake&) = delete;

  bool accepts(std::string_view address) const override;
  // Queues the message for the worker and returns; done is called there once
  // the report is stored (with its id), or right away with an error when the
  // intake is stopped or its queue is full.
  void deliver(mail::InboundMessage message, Done done) override;
  // Finishes the message in hand, answers the queued ones with an error and
  // joins the worker. Idempotent.
  void stop();

  // Which tenant a report is about and by what it was found (feedback_intake.cpp).
  struct Attribution;

 private:
  struct Job {
    mail::InboundMessage message;
    Done done;
  };
  // What posted work needs, outliving the intake: `alive` turns false (under
  // the mutex) in the destructor, after which a post does nothing.
  struct Shared {
    std::mutex mutex;
    bool alive = true;
    SignalSink* sink = nullptr;
    std::function<void(const std::string&)> on_complaint;
  };

  void run();
  void handle(Job job);
  void process(store::InboundReport report);
  Attribution attribute(std::string_view header_tenant,
                        std::initializer_list<std::string_view> queue_ids,
                        std::string_view message_id) const;
  void post_complaint(store::Signal signal);
  // The address when it lies in one of the tenant's subnets, else "".
  std::string tenant_host(const std::string& tenant_id,
                          const std::optional<boost::asio::ip::address>& address) const;

  asio::any_io_executor executor_;
  // Copied from the config at construction: the worker never reads the config.
  std::vector<std::string> addresses_;
  std::string hostname_;
  store::AbuseStore& reports_;
  store::Store& tenants_;
  const Clock& clock_;
  std::function<std::string(std::string_view)> tenant_of_queue_id_;
  std::shared_ptr<Shared> shared_;

  std::mutex mutex_;  // guards queue_ and stopping_
  std::condition_variable wake_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::mutex join_mutex_;  // one joiner at a time
  std::thread worker_;
};

}  // namespace portcullis::abuse
