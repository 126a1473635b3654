#include "abuse/arf/xarf_report.hpp"

#include <array>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "abuse/mime/text.hpp"

namespace portcullis::abuse::arf {
namespace {

constexpr std::size_t kMaxValue = 200;
constexpr std::size_t kMaxYamlLines = 1000;
constexpr std::size_t kMaxJsonDepth = 16;

// The names X-ARF 0.2 (YAML), XARF v3 (JSON, inside "Report") and XARF v4 (JSON) use.
constexpr std::array<std::string_view, 3> kReportTypeKeys = {"Report-Type", "ReportType", "type"};
constexpr std::array<std::string_view, 3> kCategoryKeys = {"Category", "ReportClass", "category"};
constexpr std::array<std::string_view, 4> kSourceKeys = {"Source", "SourceIp", "Source-IP",
                                                         "source_identifier"};
constexpr std::array<std::string_view, 3> kReportedFromKeys = {"Reported-From", "ReporterContact",
                                                               "reporter"};
constexpr std::array<std::string_view, 1> kDateKeys = {"Date"};

template <std::size_t N>
bool matches(std::string_view key, const std::array<std::string_view, N>& names) {
  for (const auto name : names) {
    if (mime::iequals(key, name)) {
      return true;
    }
  }
  return false;
}

void assign(XarfFields& out, std::string_view key, std::string_view value) {
  const std::string clean = mime::sanitize(value, kMaxValue);
  std::string* target = nullptr;
  if (matches(key, kReportTypeKeys)) {
    target = &out.report_type;
  } else if (matches(key, kCategoryKeys)) {
    target = &out.category;
  } else if (matches(key, kSourceKeys)) {
    target = &out.source;
  } else if (matches(key, kReportedFromKeys)) {
    target = &out.reported_from;
  } else if (matches(key, kDateKeys)) {
    target = &out.date;
  }
  if (target != nullptr && target->empty()) {
    *target = clean;
  }
}

std::string_view unquote(std::string_view v) {
  if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front()) {
    return v.substr(1, v.size() - 2);
  }
  return v;
}

void read_yaml(std::string_view body, XarfFields& out) {
  std::size_t pos = 0;
  for (std::size_t n = 0; pos < body.size() && n < kMaxYamlLines; ++n) {
    const std::string_view line = mime::next_line(body, pos);
    // Indented lines belong to nested values, which the desk does not need.
    if (line.empty() || line.front() == ' ' || line.front() == '\t' || line.front() == '#') {
      continue;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      continue;
    }
    assign(out, mime::trim(line.substr(0, colon)), unquote(mime::trim(line.substr(colon + 1))));
  }
}

void read_json_object(const boost::json::object& object, XarfFields& out) {
  for (const auto& [key, value] : object) {
    if (value.is_string()) {
      const auto& s = value.get_string();
      assign(out, std::string_view(key.data(), key.size()), std::string_view(s.data(), s.size()));
    }
  }
}

bool read_json(std::string_view body, XarfFields& out) {
  boost::json::parse_options options;
  options.max_depth = kMaxJsonDepth;
  boost::system::error_code ec;
  const boost::json::value root = boost::json::parse(body, ec, {}, options);
  if (ec || !root.is_object()) {
    return false;
  }
  const auto& object = root.get_object();
  read_json_object(object, out);
  // XARF v3 keeps the report in "Report"; the top level names the reporter.
  for (const auto& [key, value] : object) {
    if (mime::iequals(std::string_view(key.data(), key.size()), "Report") && value.is_object()) {
      XarfFields inner;
      read_json_object(value.get_object(), inner);
      if (!inner.report_type.empty()) {
        inner.reported_from = out.reported_from;
        out = std::move(inner);
      }
    }
  }
  return true;
}

bool is_message(const mime::Entity& part) {
  return part.content_type.type == "message" || part.content_type.is("text/rfc822-headers");
}

}  // namespace

std::optional<XarfFields> read_xarf_fields(std::string_view body) {
  XarfFields fields;
  const std::string_view text = mime::trim(body);
  if (!(text.starts_with('{') && read_json(text, fields))) {
    read_yaml(text, fields);
  }
  if (fields.report_type.empty()) {
    return std::nullopt;
  }
  return fields;
}

bool declares_xarf(const mime::Entity& root) {
  const auto v = root.headers.first("X-ARF");
  return v && mime::iequals(mime::trim(*v), "yes");
}

Result<FeedbackReport> read_xarf(const mime::Entity& container,
                                 const mime::Limits& limits,
                                 mime::Warnings& warnings) {
  std::optional<XarfFields> fields;
  std::size_t index = 0;
  for (; index < container.parts.size(); ++index) {
    const mime::Entity& part = container.parts[index];
    if (is_message(part) || part.content_type.is_multipart()) {
      continue;
    }
    if ((fields = read_xarf_fields(part.body))) {
      break;
    }
  }
  if (!fields) {
    return make_error("X-ARF report without a part naming a Report-Type");
  }
  FeedbackReport report;
  report.format = ReportFormat::xarf;
  report.feedback_type_text = mime::to_lower(fields->report_type);
  report.feedback_type =
      report.feedback_type_text == "spam" ? FeedbackType::abuse : FeedbackType::other;
  report.category = mime::to_lower(fields->category);
  report.arrival_date = fields->date;
  report.user_agent = mime::sanitize(container.headers.first("User-Agent").value_or(""), kMaxValue);
  if (!fields->source.empty()) {
    boost::system::error_code ec;
    const auto address = fields->source.find('%') == std::string::npos
                             ? boost::asio::ip::make_address(fields->source, ec)
                             : boost::asio::ip::address();
    if (!ec && fields->source.find('%') == std::string::npos) {
      report.source_ip = address;
    } else {
      warnings.add("X-ARF Source \"" + fields->source + "\" is not an IP address");
    }
  }
  for (std::size_t i = 0; i < index; ++i) {
    if (container.parts[i].content_type.is("text/plain")) {
      report.human_text = mime::sanitize(container.parts[i].body, limits.max_text_bytes);
      break;
    }
  }
  // The evidence follows the report part: the message itself, or log lines.
  if (index + 1 < container.parts.size()) {
    const mime::Entity& evidence = container.parts[index + 1];
    if (is_message(evidence)) {
      const bool headers_only = !evidence.content_type.is("message/rfc822") &&
                                !evidence.content_type.is("message/global");
      report.original = read_original_message(evidence.body, headers_only, limits, warnings);
      if (!report.original.to.empty()) {
        report.complainant = report.original.to;
        report.complainant_source = ComplainantSource::original_to;
      }
    } else {
      report.evidence = mime::sanitize(evidence.body, limits.max_text_bytes);
    }
  } else {
    warnings.add("X-ARF report without an evidence part");
  }
  return report;
}

}  // namespace portcullis::abuse::arf
