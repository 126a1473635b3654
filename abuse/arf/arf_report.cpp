#include "abuse/arf/arf_report.hpp"

#include "abuse/arf/xarf_report.hpp"
#include "abuse/mime/address.hpp"
#include "abuse/mime/entity.hpp"
#include "abuse/mime/text.hpp"
#include "abuse/report/report_part.hpp"

namespace portcullis::abuse::arf {
namespace {

constexpr std::size_t kMaxFieldText = 200;
constexpr std::size_t kMaxReportedDomains = 20;

std::optional<boost::asio::ip::address> read_ip(std::string_view text, mime::Warnings& warnings) {
  const std::string_view v = mime::trim(text);
  // make_address accepts "%scope" suffixes; a scoped address never comes from the internet.
  boost::system::error_code ec;
  const auto address = v.empty() || v.find('%') != std::string_view::npos
                           ? boost::asio::ip::address()
                           : boost::asio::ip::make_address(std::string(v), ec);
  if (v.empty() || v.find('%') != std::string_view::npos || ec) {
    warnings.add("unusable Source-IP \"" + mime::sanitize(v, 80) + "\"");
    return std::nullopt;
  }
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  }
  return address;
}

// "dns; mx.example" → "mx.example".
std::string without_type(std::string_view value) {
  if (const auto semi = value.find(';'); semi != std::string_view::npos) {
    value = value.substr(semi + 1);
  }
  return mime::sanitize(mime::trim(value), kMaxFieldText);
}

void read_complainant(const mime::Headers& fields,
                      FeedbackReport& report,
                      mime::Warnings& warnings) {
  for (const auto rcpt : fields.all("Original-Rcpt-To")) {
    if (auto address = mime::single_mailbox(rcpt)) {
      report.complainant = std::move(*address);
      report.complainant_source = ComplainantSource::original_rcpt_to;
      return;
    }
    warnings.add("unusable Original-Rcpt-To \"" + mime::sanitize(rcpt, 80) + "\"");
  }
  const std::string& to = report.original.to;
  // RFC 6590 redaction: the original's To: then holds the placeholder, not the complainant.
  for (const auto redacted : fields.all("Redacted-Address")) {
    const auto placeholder = mime::single_mailbox(redacted);
    if (to.empty() || (placeholder && mime::iequals(*placeholder, to))) {
      report.complainant_source = ComplainantSource::redacted;
      warnings.add("the complainant's address was redacted by the reporter");
      return;
    }
  }
  if (!to.empty()) {
    report.complainant = to;
    report.complainant_source = ComplainantSource::original_to;
    return;
  }
  warnings.add("no complainant address: no usable Original-Rcpt-To and no To: in the original");
}

Result<FeedbackReport> read_arf(const mime::Entity& report_entity,
                                const mime::Entity& feedback_part,
                                const mime::Limits& limits,
                                mime::Warnings& warnings) {
  auto fields = mime::parse_header_fields(feedback_part.body, limits, warnings);
  if (!fields) {
    return make_error("message/feedback-report part: " + fields.error().message);
  }
  FeedbackReport report;
  report.format = ReportFormat::arf;
  const auto type = fields->first("Feedback-Type");
  if (!type || mime::trim(*type).empty()) {
    return make_error("message/feedback-report part has no Feedback-Type field");
  }
  report.feedback_type_text = mime::to_lower(mime::sanitize(*type, 40));
  report.feedback_type = parse_feedback_type(report.feedback_type_text);
  if (report.feedback_type == FeedbackType::unknown) {
    warnings.add("unknown Feedback-Type \"" + report.feedback_type_text + "\"");
  }
  if (const auto ua = fields->first("User-Agent")) {
    report.user_agent = mime::sanitize(*ua, kMaxFieldText);
  } else {
    warnings.add("message/feedback-report part has no User-Agent field");
  }
  if (const auto version = fields->first("Version")) {
    report.version = mime::sanitize(*version, 20);
  } else {
    warnings.add("message/feedback-report part has no Version field");
  }
  if (const auto ip = fields->first("Source-IP")) {
    report.source_ip = read_ip(*ip, warnings);
  }
  // Received-Date is the name drafts of RFC 5965 used.
  auto date = fields->first("Arrival-Date");
  if (!date) {
    date = fields->first("Received-Date");
  }
  if (date) {
    report.arrival_date = mime::sanitize(*date, 100);
  }
  if (const auto from = fields->first("Original-Mail-From")) {
    const std::string_view v = mime::trim(*from);
    if (v != "<>" && !v.empty()) {
      if (auto address = mime::single_mailbox(v)) {
        report.original_mail_from = std::move(*address);
      } else {
        warnings.add("unusable Original-Mail-From \"" + mime::sanitize(v, 80) + "\"");
      }
    }
  }
  if (const auto mta = fields->first("Reporting-MTA")) {
    report.reporting_mta = without_type(*mta);
  }
  for (const auto domain : fields->all("Reported-Domain")) {
    if (report.reported_domains.size() == kMaxReportedDomains) {
      warnings.add("more than " + std::to_string(kMaxReportedDomains) +
                   " Reported-Domain fields; the rest are ignored");
      break;
    }
    report.reported_domains.push_back(mime::sanitize(mime::trim(domain), kMaxFieldText));
  }

  if (const auto* human = human_part(report_entity)) {
    report.human_text = mime::sanitize(human->body, limits.max_text_bytes);
  }
  bool headers_only = false;
  if (const auto* original = original_part(report_entity, headers_only)) {
    report.original = read_original_message(original->body, headers_only, limits, warnings);
  } else {
    warnings.add("the report does not include the original message or its headers");
  }
  read_complainant(*fields, report, warnings);
  return report;
}

}  // namespace

FeedbackType parse_feedback_type(std::string_view text) {
  const std::string t = mime::to_lower(mime::trim(text));
  if (t == "abuse") {
    return FeedbackType::abuse;
  }
  if (t == "fraud") {
    return FeedbackType::fraud;
  }
  if (t == "virus") {
    return FeedbackType::virus;
  }
  if (t == "other") {
    return FeedbackType::other;
  }
  if (t == "not-spam") {
    return FeedbackType::not_spam;
  }
  if (t == "auth-failure") {
    return FeedbackType::auth_failure;
  }
  return FeedbackType::unknown;
}

std::string_view to_string(FeedbackType type) {
  switch (type) {
    case FeedbackType::abuse:
      return "abuse";
    case FeedbackType::fraud:
      return "fraud";
    case FeedbackType::virus:
      return "virus";
    case FeedbackType::other:
      return "other";
    case FeedbackType::not_spam:
      return "not-spam";
    case FeedbackType::auth_failure:
      return "auth-failure";
    case FeedbackType::unknown:
      break;
  }
  return "unknown";
}

std::string_view to_string(ComplainantSource source) {
  switch (source) {
    case ComplainantSource::original_rcpt_to:
      return "original-rcpt-to";
    case ComplainantSource::original_to:
      return "original-to";
    case ComplainantSource::redacted:
      return "redacted";
    case ComplainantSource::none:
      break;
  }
  return "none";
}

std::string_view to_string(ReportFormat format) {
  return format == ReportFormat::xarf ? "x-arf" : "arf";
}

Result<FeedbackReport> parse_feedback_report(std::string_view raw, const mime::Limits& limits) {
  mime::Warnings warnings(limits.max_warnings);
  auto root = mime::parse_message(raw, limits, warnings);
  if (!root) {
    return root.error();
  }
  Result<FeedbackReport> report = make_error("");
  auto found = find_report(*root, "feedback-report");
  if (found) {
    const mime::Entity& entity = **found;
    if (const auto* feedback = find_part(entity, {"message/feedback-report"})) {
      report = read_arf(entity, *feedback, limits, warnings);
    } else if (auto xarf = read_xarf(entity, limits, warnings)) {
      report = std::move(xarf);
    } else {
      return make_error("no message/feedback-report part in the multipart/report");
    }
  } else if (declares_xarf(*root) || root->content_type.is("multipart/mixed")) {
    report = read_xarf(*root, limits, warnings);
    if (!report && !declares_xarf(*root)) {
      return found.error();  // a plain multipart/mixed: say it is not a report
    }
  } else {
    return found.error();
  }
  if (report) {
    report->warnings = warnings.take();
  }
  return report;
}

}  // namespace portcullis::abuse::arf
