#pragma once
// The JSON body of a webhook POST:
//   {"tenant":"acme","events":[{"id":12,"type":"delivered","time":1700000000,
//     "message_id":"...","recipient":"...","detail":"...","remote":"..."}]}
// Events are in id order; "time" is unix seconds. Untrusted input: detail
// holds remote SMTP replies and recipient comes from clients, so text fields
// are made valid UTF-8 (bad sequences become U+FFFD) and JSON-escaped; a
// receiver whose JSON parser refused the batch would otherwise see it retried
// forever. Needs no privilege.

#include <span>
#include <string>
#include <string_view>

#include "gateway/core/events/delivery_event.hpp"

namespace portcullis::webhooks {

std::string batch_body(std::string_view tenant, std::span<const events::DeliveryEvent> events);

// text with every invalid or overlong UTF-8 sequence (and encoded surrogates)
// replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace portcullis::webhooks
