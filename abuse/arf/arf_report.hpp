#pragma once
// Feedback-loop complaints: RFC 5965 ARF reports (multipart/report; report-type=feedback-report
// with a note for people, a message/feedback-report part and the original message or its
// headers), and X-ARF reports where they are simple (a multipart whose report part is flat YAML
// or JSON, see xarf_report.hpp).
//
// Untrusted input: the raw bytes of a message received on the relay's feedback address, from
// anyone. Pure code, no I/O, no exceptions on bad input: anything malformed is an error value
// with a sentence the abuse desk can act on ("no message/feedback-report part"), and the caller
// keeps the report for the desk. Bounded by mime::Limits (size, header fields, nesting, parts).
//
// The result names the complainant (whose address goes on the tenant's spam-report suppression
// list) and what attribution needs (original's X-Portcullis-Tenant, relay queue id, Message-ID);
// it does not decide attribution itself.

#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "abuse/mime/limits.hpp"
#include "abuse/report/original_message.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::abuse::arf {

enum class ReportFormat { arf, xarf };

// RFC 5965 3.5 and RFC 6591 feedback types; X-ARF report types map "spam" to abuse.
enum class FeedbackType { abuse, fraud, virus, other, not_spam, auth_failure, unknown };

enum class ComplainantSource {
  none,              // no usable address anywhere
  original_rcpt_to,  // the report's Original-Rcpt-To field
  original_to,       // the To: of the original message
  redacted,          // the report says the recipient was redacted (RFC 6590)
};

struct FeedbackReport {
  ReportFormat format = ReportFormat::arf;
  FeedbackType feedback_type = FeedbackType::unknown;
  std::string feedback_type_text;  // as sent, lowercase (X-ARF: the Report-Type)
  std::string user_agent;
  std::string version;
  std::string complainant;  // a plausible mailbox, or "" (see complainant_source)
  ComplainantSource complainant_source = ComplainantSource::none;
  std::optional<boost::asio::ip::address> source_ip;  // Source-IP (X-ARF: Source), when valid
  std::string arrival_date;                           // as sent, sanitised
  std::string original_mail_from;                     // "" for the null sender or none
  std::string reporting_mta;                          // host name without "dns;"
  std::vector<std::string> reported_domains;
  std::string category;      // X-ARF Category (empty for ARF)
  std::string human_text;    // the note for people, sanitised, bounded
  std::string evidence;      // X-ARF evidence that is not a message (log lines), sanitised
  OriginalMessage original;  // present == false when the report left it out
  std::vector<std::string> warnings;
};

Result<FeedbackReport> parse_feedback_report(std::string_view raw, const mime::Limits& limits = {});

FeedbackType parse_feedback_type(std::string_view text);
std::string_view to_string(FeedbackType type);
std::string_view to_string(ComplainantSource source);
std::string_view to_string(ReportFormat format);

}  // namespace portcullis::abuse::arf
