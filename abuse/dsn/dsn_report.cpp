#include "abuse/dsn/dsn_report.hpp"

#include <optional>

#include "abuse/mime/address.hpp"
#include "abuse/mime/entity.hpp"
#include "abuse/mime/header_fields.hpp"
#include "abuse/mime/text.hpp"
#include "abuse/report/report_part.hpp"

namespace portcullis::abuse::dsn {
namespace {

constexpr std::size_t kMaxDiagnostic = 1000;
constexpr std::size_t kMaxFieldText = 200;

bool is_blank(std::string_view line) {
  return mime::trim(line).empty();
}

// The delivery-status body is a per-message block and per-recipient blocks, separated by
// empty lines (RFC 3464 2.1). Folded lines never are empty, so empty lines split safely.
std::vector<std::string_view> blocks(std::string_view body) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  std::size_t start = std::string_view::npos;
  while (pos < body.size()) {
    const std::size_t line_start = pos;
    const std::string_view line = mime::next_line(body, pos);
    if (is_blank(line)) {
      if (start != std::string_view::npos) {
        out.push_back(body.substr(start, line_start - start));
        start = std::string_view::npos;
      }
    } else if (start == std::string_view::npos) {
      start = line_start;
    }
  }
  if (start != std::string_view::npos) {
    out.push_back(body.substr(start));
  }
  return out;
}

// "dns; mx.example" → "mx.example".
std::string without_type(std::string_view value) {
  if (const auto semi = value.find(';'); semi != std::string_view::npos) {
    value = value.substr(semi + 1);
  }
  return mime::sanitize(mime::trim(value), kMaxFieldText);
}

std::string address_field(std::string_view value, std::string_view name, mime::Warnings& warnings) {
  if (auto address = mime::single_mailbox(value)) {
    return std::move(*address);
  }
  warnings.add("unusable " + std::string(name) + " \"" + mime::sanitize(value, 80) + "\"");
  return {};
}

bool is_recipient_block(const mime::Headers& fields) {
  return fields.first("Final-Recipient") || fields.first("Original-Recipient") ||
         fields.first("Action");
}

std::optional<RecipientStatus> read_recipient(const mime::Headers& fields,
                                              mime::Warnings& warnings) {
  RecipientStatus r;
  if (const auto original = fields.first("Original-Recipient")) {
    r.original_recipient = address_field(*original, "Original-Recipient", warnings);
  }
  if (const auto final_rcpt = fields.first("Final-Recipient")) {
    r.final_recipient = address_field(*final_rcpt, "Final-Recipient", warnings);
  } else {
    warnings.add("a recipient block without Final-Recipient");
  }
  if (r.final_recipient.empty()) {
    // Original-Recipient names the same mailbox before aliasing; better than nothing.
    r.final_recipient = r.original_recipient;
  }
  if (r.final_recipient.empty()) {
    return std::nullopt;
  }
  if (const auto action = fields.first("Action")) {
    r.action = parse_action(*action);
    if (r.action == Action::unknown) {
      warnings.add("unknown Action \"" + mime::sanitize(*action, 40) + "\" for " +
                   r.final_recipient);
    }
  } else {
    warnings.add("no Action for " + r.final_recipient);
  }
  if (const auto status = fields.first("Status")) {
    // "5.1.1 (user unknown)" happens: the code is the first word.
    std::string_view code = mime::trim(*status);
    code = code.substr(0, code.find_first_of(" \t("));
    if (is_status_code(code)) {
      r.status = std::string(code);
    } else {
      warnings.add("malformed Status \"" + mime::sanitize(*status, 40) + "\" for " +
                   r.final_recipient);
    }
  } else {
    warnings.add("no Status for " + r.final_recipient);
  }
  if (const auto diagnostic = fields.first("Diagnostic-Code")) {
    const auto semi = diagnostic->find(';');
    if (semi != std::string_view::npos && semi < 40) {
      r.diagnostic_type = mime::sanitize(mime::trim(diagnostic->substr(0, semi)), 40);
      r.diagnostic = mime::sanitize(mime::trim(diagnostic->substr(semi + 1)), kMaxDiagnostic);
    } else {
      r.diagnostic = mime::sanitize(*diagnostic, kMaxDiagnostic);
    }
  }
  if (const auto mta = fields.first("Remote-MTA")) {
    r.remote_mta = without_type(*mta);
  }
  if (const auto date = fields.first("Last-Attempt-Date")) {
    r.last_attempt_date = mime::sanitize(*date, 100);
  }
  if (const auto date = fields.first("Will-Retry-Until")) {
    r.will_retry_until = mime::sanitize(*date, 100);
  }
  return r;
}

void read_per_message(const mime::Headers& fields, DeliveryReport& report) {
  if (const auto mta = fields.first("Reporting-MTA")) {
    report.reporting_mta = without_type(*mta);
  }
  if (const auto date = fields.first("Arrival-Date")) {
    report.arrival_date = mime::sanitize(*date, 100);
  }
  if (const auto envid = fields.first("Original-Envelope-Id")) {
    report.original_envelope_id = mime::sanitize(*envid, kMaxFieldText);
  }
  if (const auto id = fields.first("X-Portcullis-Queue-ID")) {
    report.portcullis_queue_id = mime::sanitize(*id, 100);
  }
}

Result<void> read_status(std::string_view body,
                         DeliveryReport& report,
                         const mime::Limits& limits,
                         mime::Warnings& warnings) {
  bool first = true;
  bool capped = false;
  for (const auto block : blocks(body)) {
    auto fields = mime::parse_header_fields(block, limits, warnings);
    if (!fields) {
      return make_error("message/delivery-status part: " + fields.error().message);
    }
    if (first) {
      read_per_message(*fields, report);
      first = false;
      // Some generators leave out the empty line after the per-message fields.
      if (!is_recipient_block(*fields)) {
        continue;
      }
    }
    if (!is_recipient_block(*fields)) {
      warnings.add("a block in the delivery status names no recipient; ignored");
      continue;
    }
    if (report.recipients.size() == kMaxRecipients) {
      capped = true;
      break;
    }
    if (auto r = read_recipient(*fields, warnings)) {
      report.recipients.push_back(std::move(*r));
    }
  }
  if (capped) {
    warnings.add("more than " + std::to_string(kMaxRecipients) +
                 " recipients in the delivery status; the rest are ignored");
  }
  return {};
}

}  // namespace

bool RecipientStatus::permanent() const {
  if (!status.empty()) {
    return status.front() == '5';
  }
  return action == Action::failed;
}

Action parse_action(std::string_view text) {
  // "failed (bad destination mailbox address)" is seen in the wild: the word comes first.
  std::string_view word = mime::trim(text);
  word = word.substr(0, word.find_first_of(" \t("));
  if (mime::iequals(word, "failed")) {
    return Action::failed;
  }
  if (mime::iequals(word, "delayed")) {
    return Action::delayed;
  }
  if (mime::iequals(word, "delivered")) {
    return Action::delivered;
  }
  if (mime::iequals(word, "relayed")) {
    return Action::relayed;
  }
  if (mime::iequals(word, "expanded")) {
    return Action::expanded;
  }
  return Action::unknown;
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::failed:
      return "failed";
    case Action::delayed:
      return "delayed";
    case Action::delivered:
      return "delivered";
    case Action::relayed:
      return "relayed";
    case Action::expanded:
      return "expanded";
    case Action::unknown:
      break;
  }
  return "unknown";
}

bool is_status_code(std::string_view text) {
  if (text.size() < 5 || (text[0] != '2' && text[0] != '4' && text[0] != '5') || text[1] != '.') {
    return false;
  }
  std::size_t pos = 2;
  for (int part = 0; part < 2; ++part) {
    std::size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      ++pos;
      ++digits;
    }
    if (digits < 1 || digits > 3) {
      return false;
    }
    if (part == 0) {
      if (pos >= text.size() || text[pos] != '.') {
        return false;
      }
      ++pos;
    }
  }
  return pos == text.size();
}

Result<DeliveryReport> parse_delivery_report(std::string_view raw, const mime::Limits& limits) {
  mime::Warnings warnings(limits.max_warnings);
  auto root = mime::parse_message(raw, limits, warnings);
  if (!root) {
    return root.error();
  }
  auto found = find_report(*root, "delivery-status");
  if (!found) {
    return found.error();
  }
  const mime::Entity& entity = **found;
  const mime::Entity* status =
      find_part(entity, {"message/delivery-status", "message/global-delivery-status"});
  if (status == nullptr) {
    return make_error("no message/delivery-status part in the multipart/report");
  }
  DeliveryReport report;
  if (auto read = read_status(status->body, report, limits, warnings); !read) {
    return read.error();
  }
  if (report.recipients.empty()) {
    return make_error("the delivery status names no recipient (no usable Final-Recipient)");
  }
  if (const auto* human = human_part(entity)) {
    report.human_text = mime::sanitize(human->body, limits.max_text_bytes);
  }
  bool headers_only = false;
  if (const auto* original = original_part(entity, headers_only)) {
    report.original = read_original_message(original->body, headers_only, limits, warnings);
  }
  report.warnings = warnings.take();
  return report;
}

}  // namespace portcullis::abuse::dsn
