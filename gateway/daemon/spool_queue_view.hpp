#pragma once
// The control API's view of the relay's durable queue: list, show (with
// per-recipient delivery state), retry and operator delete.

#include "gateway/core/control/queue_view.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {

class SpoolQueueView final : public control::QueueView {
 public:
  explicit SpoolQueueView(relay::queue::Spool& spool) : spool_(spool) {}
  std::vector<control::QueuedMessageSummary> list(std::size_t limit) const override;
  std::optional<control::QueuedMessageDetail> get(std::string_view id) const override;
  std::size_t size() const override { return spool_.size(); }
  Result<bool> retry(std::string_view id) override { return spool_.retry_now(id); }
  Result<bool> remove(std::string_view id) override { return spool_.remove(id); }

 private:
  relay::queue::Spool& spool_;
};

}  // namespace portcullis::daemon
