#pragma once
// Mail addressed to the gateway itself (the feedback-loop and abuse addresses
// on the relay's hostname), as the relay's feedback listener hands it over.
// abuse/ implements it; relay/ must not include abuse/, so the interface
// lives here. Untrusted input: everything in an InboundMessage comes from
// whoever connected to the feedback listener.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::mail {

struct InboundMessage {
  std::string client_address;
  std::string helo;
  std::string mail_from;  // "" = the null sender (most bounces)
  std::vector<std::string> recipients;
  std::string data;  // CRLF lines, dot-unstuffed, with the relay's Received field
  std::int64_t received_at = 0;
};

class LocalMailbox {
 public:
  using Done = std::function<void(Result<std::string>)>;
  virtual ~LocalMailbox() = default;
  // The feedback listener's RCPT gate: only these addresses are accepted
  // (case-insensitive), everything else is refused, so it is never a relay.
  virtual bool accepts(std::string_view address) const = 0;
  // Stores the message durably, then calls done exactly once, from any
  // thread, with an id for the 250 reply, or with an error (451).
  virtual void deliver(InboundMessage message, Done done) = 0;
};

}  // namespace portcullis::mail
