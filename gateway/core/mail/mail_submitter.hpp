#pragma once
// Mail the gateway writes itself (abuse notifications and reminders), handed
// to the relay's queue so that it is delivered, retried and logged like any
// other message. The daemon implements it over the spool; abuse/ calls it
// without including relay/.

#include <functional>
#include <string>
#include <vector>

#include "gateway/core/result.hpp"

namespace portcullis::mail {

struct OutboundMessage {
  std::string mail_from;
  std::vector<std::string> recipients;
  std::string data;  // a whole RFC 5322 message with CRLF line ends
};

class MailSubmitter {
 public:
  using Done = std::function<void(Result<std::string>)>;  // the queue id
  virtual ~MailSubmitter() = default;
  // done is called exactly once, from any thread, after the message is
  // durable in the queue (or with the error).
  virtual void submit(OutboundMessage message, Done done) = 0;
};

}  // namespace portcullis::mail
