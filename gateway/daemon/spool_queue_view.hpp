#pragma once
// The control API's read-only view of the relay's durable queue.

#include "gateway/core/control/queue_view.hpp"
#include "relay/queue/spool.hpp"

namespace portcullis::daemon {

class SpoolQueueView final : public control::QueueView {
 public:
  explicit SpoolQueueView(const relay::queue::Spool& spool) : spool_(spool) {}
  std::vector<control::QueuedMessageSummary> list(std::size_t limit) const override;
  std::optional<control::QueuedMessageDetail> get(std::string_view id) const override;
  std::size_t size() const override { return spool_.size(); }

 private:
  const relay::queue::Spool& spool_;
};

}  // namespace portcullis::daemon
