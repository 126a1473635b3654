#pragma once
// Finding the RFC 6522 multipart/report of a given report-type in a parsed message, and the
// parts inside it. A report is usually the message itself; some senders wrap it in a
// multipart/mixed (a forward with a cover note), so nested multiparts are searched too, but never
// inside message/rfc822 parts, where a report *about* a report would be found instead.

#include <initializer_list>
#include <string_view>

#include "abuse/mime/entity.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::abuse {

// The multipart/report whose report-type is `report_type`. The errors say what was found
// instead: "not a multipart/report (Content-Type is text/plain)", "multipart/report with
// report-type=delivery-status, not feedback-report", "... is not closed (truncated report)".
// A report that is not closed is refused: its last part, and maybe parts after it, are missing.
Result<const mime::Entity*> find_report(const mime::Entity& root, std::string_view report_type);

// The first direct part of `report` whose type is one of `types` ("message/feedback-report").
const mime::Entity* find_part(const mime::Entity& report,
                              std::initializer_list<std::string_view> types);

// The first text/plain part before the machine-readable one: the note for people.
const mime::Entity* human_part(const mime::Entity& report);

// The part holding the original message or its headers: message/rfc822, message/global,
// text/rfc822-headers, message/global-headers (and the common misspelling
// message/rfc822-headers). Sets headers_only for the header-only types.
const mime::Entity* original_part(const mime::Entity& report, bool& headers_only);

}  // namespace portcullis::abuse
