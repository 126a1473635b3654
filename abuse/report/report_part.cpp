#include "abuse/report/report_part.hpp"

#include "abuse/mime/text.hpp"

namespace portcullis::abuse {
namespace {

const mime::Entity* search(const mime::Entity& e, std::string_view report_type, bool& other_type) {
  if (e.content_type.is("multipart/report")) {
    const auto type = e.content_type.parameter("report-type");
    if (type && mime::iequals(mime::trim(*type), report_type)) {
      return &e;
    }
    other_type = true;
  }
  if (!e.content_type.is_multipart()) {
    return nullptr;
  }
  for (const auto& part : e.parts) {
    if (const auto* found = search(part, report_type, other_type)) {
      return found;
    }
  }
  return nullptr;
}

}  // namespace

Result<const mime::Entity*> find_report(const mime::Entity& root, std::string_view report_type) {
  bool other_type = false;
  const mime::Entity* report = search(root, report_type, other_type);
  if (report == nullptr) {
    if (root.content_type.is("multipart/report")) {
      const auto type = root.content_type.parameter("report-type");
      return make_error("multipart/report with report-type=" +
                        (type ? mime::sanitize(*type, 60) : std::string("(none)")) + ", not " +
                        std::string(report_type));
    }
    if (other_type) {
      return make_error("the message holds a multipart/report, but not of report-type " +
                        std::string(report_type));
    }
    return make_error("not a multipart/report (Content-Type is " + root.content_type.mime_type() +
                      ")");
  }
  if (!report->problem.empty()) {
    return make_error("malformed multipart/report: " + report->problem);
  }
  if (report->unclosed) {
    return make_error("truncated report: the multipart/report boundary \"" +
                      mime::sanitize(report->content_type.parameter("boundary").value_or(""), 80) +
                      "\" is never closed");
  }
  return report;
}

const mime::Entity* find_part(const mime::Entity& report,
                              std::initializer_list<std::string_view> types) {
  for (const auto& part : report.parts) {
    for (const auto type : types) {
      if (part.content_type.is(type)) {
        return &part;
      }
    }
  }
  return nullptr;
}

const mime::Entity* human_part(const mime::Entity& report) {
  for (const auto& part : report.parts) {
    if (part.content_type.is("text/plain")) {
      return &part;
    }
    if (part.content_type.type == "message") {
      break;
    }
  }
  return nullptr;
}

const mime::Entity* original_part(const mime::Entity& report, bool& headers_only) {
  if (const auto* whole = find_part(report, {"message/rfc822", "message/global"})) {
    headers_only = false;
    return whole;
  }
  if (const auto* headers = find_part(
          report, {"text/rfc822-headers", "message/global-headers", "message/rfc822-headers"})) {
    headers_only = true;
    return headers;
  }
  return nullptr;
}

}  // namespace portcullis::abuse
