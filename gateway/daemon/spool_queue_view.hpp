#pragma once
// The control API's view of the relay's durable queue: list, show (with
// per-recipient delivery state), retry and operator delete, and the tools at
// depth (summary; hold, release, retry, delete, bounce by filter) through a
// QueueAdmin of its own beside the spool.

#include <functional>
#include <memory>
#include <string>

#include "gateway/core/control/queue_view.hpp"
#include "relay/queue/queue_admin.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {

class SpoolQueueView final : public control::QueueView {
 public:
  // reporting_host: relay.hostname, named in the DSNs of `queue bounce`.
  // retry_hook: the spool's SpoolHooks::retry_now (posting to the delivery
  // engine); without it a bulk retry tells the engine through
  // Spool::retry_now, one transaction per message. Opens the admin's
  // connection to queue.db: start-up only (a failure is logged, and the
  // bulk routes answer 500).
  explicit SpoolQueueView(relay::queue::Spool& spool,
                          std::string reporting_host = {},
                          std::function<void(std::string)> retry_hook = {});

  std::vector<control::QueuedMessageSummary> list(std::size_t limit) const override;
  std::optional<control::QueuedMessageDetail> get(std::string_view id) const override;
  std::size_t size() const override { return spool_.size(); }
  Result<bool> retry(std::string_view id) override { return spool_.retry_now(id); }
  Result<bool> remove(std::string_view id) override { return spool_.remove(id); }
  Result<control::QueueShape> summary(std::size_t top) const override;
  Result<control::QueueActionResult> act(control::QueueAction action,
                                         const control::QueueFilter& filter) override;

 private:
  relay::queue::Spool& spool_;
  std::unique_ptr<relay::queue::QueueAdmin> admin_;
};

}  // namespace portcullis::daemon
