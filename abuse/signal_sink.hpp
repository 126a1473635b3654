#pragma once
// Where collectors put what they found: the abuse engine records the signal,
// applies the cooldown, scores and opens or feeds tickets. Called on the
// engine's executor only (collectors fed from other threads post there first).

#include "gateway/core/store/abuse_types.hpp"

namespace portcullis::abuse {

class SignalSink {
 public:
  virtual ~SignalSink() = default;
  // signal.time 0 = now. A signal of the same tenant, kind and host within
  // abuse.signal_cooldown of the last one is dropped; complaints never are
  // (each report is another recipient).
  virtual void record_signal(store::Signal signal) = 0;
};

}  // namespace portcullis::abuse
