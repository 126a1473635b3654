#include "abuse/arf/arf_report.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "abuse/arf/xarf_report.hpp"
#include "tests/abuse/report_samples.hpp"

namespace portcullis::abuse::arf {
namespace {

using test::read_sample;

TEST(ArfSampleTest, FullMessage) {
  LOAD_SAMPLE(raw, "arf/full-message.eml");
  const auto r = parse_feedback_report(*raw);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->format, ReportFormat::arf);
  EXPECT_EQ(r->feedback_type, FeedbackType::abuse);
  EXPECT_EQ(r->user_agent, "ExampleFBL/2.1");
  EXPECT_EQ(r->version, "1");
  EXPECT_EQ(r->complainant, "reader@mailbox-provider.example");
  EXPECT_EQ(r->complainant_source, ComplainantSource::original_rcpt_to);
  ASSERT_TRUE(r->source_ip);
  EXPECT_EQ(r->source_ip->to_string(), "198.18.0.10");
  EXPECT_EQ(r->arrival_date, "Thu, 19 Nov 2026 09:12:40 +0000");
  EXPECT_EQ(r->original_mail_from, "news@shop.acme.test");
  EXPECT_EQ(r->reporting_mta, "mx3.mailbox-provider.example");
  ASSERT_EQ(r->reported_domains.size(), 1U);
  EXPECT_EQ(r->reported_domains[0], "acme.test");
  EXPECT_NE(r->human_text.find("email abuse report"), std::string::npos);
  ASSERT_TRUE(r->original.present);
  EXPECT_FALSE(r->original.headers_only);
  EXPECT_EQ(r->original.tenant, "acme");
  EXPECT_EQ(r->original.message_id, "01JD3K9Q7Z@relay.gw.example");
  EXPECT_EQ(r->original.queue_id, "01JD3K9Q7Z");
  EXPECT_EQ(r->original.relay_host, "relay.gw.example");
  EXPECT_EQ(r->original.to, "reader@mailbox-provider.example");
  EXPECT_EQ(r->original.from, "news@shop.acme.test");
  EXPECT_EQ(r->original.subject, "Spring sale - 70% off everything");
  EXPECT_NE(r->original.headers.find("X-Portcullis-Tenant: acme"), std::string::npos);
  // The body is not evidence: only the header section is kept.
  EXPECT_EQ(r->original.headers.find("Everything must go"), std::string::npos);
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();
}

TEST(ArfSampleTest, HeadersOnlyIsAttributableByQueueIdAndMessageId) {
  LOAD_SAMPLE(raw, "arf/headers-only.eml");
  const auto r = parse_feedback_report(*raw);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->complainant, "pat@bigmail.example");
  ASSERT_TRUE(r->original.present);
  EXPECT_TRUE(r->original.headers_only);
  EXPECT_TRUE(r->original.tenant.empty());
  EXPECT_EQ(r->original.queue_id, "01JD5ZT0AB");
  EXPECT_EQ(r->original.message_id, "01JD5ZT0AB@relay.gw.example");
  EXPECT_EQ(r->arrival_date, "20 Nov 2026 17:38:59 -0000");
}

TEST(ArfSampleTest, RedactedRecipientIsNotAComplainant) {
  LOAD_SAMPLE(raw, "arf/redacted-recipient.eml");
  const auto r = parse_feedback_report(*raw);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->complainant_source, ComplainantSource::redacted);
  EXPECT_TRUE(r->complainant.empty());
  EXPECT_EQ(r->original.tenant, "initech");
  EXPECT_EQ(r->original.message_id, "01JD7A1B2C@relay.gw.example");
  EXPECT_EQ(r->original_mail_from, "bounce-8812@lists.initech.test");
}

TEST(ArfSampleTest, BrokenSamplesAreRejectedWithAReason) {
  LOAD_SAMPLE(no_part, "arf/broken-no-feedback-part.eml");
  const auto a = parse_feedback_report(*no_part);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().message, "no message/feedback-report part in the multipart/report");

  LOAD_SAMPLE(truncated, "arf/broken-truncated.eml");
  const auto b = parse_feedback_report(*truncated);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("truncated report"), std::string::npos) << b.error().message;
}

TEST(ArfSampleTest, CrlfAndLfGiveTheSameResult) {
  LOAD_SAMPLE(raw, "arf/full-message.eml");
  const auto lf = parse_feedback_report(*raw);
  const auto crlf = parse_feedback_report(test::to_crlf(*raw));
  ASSERT_TRUE(lf);
  ASSERT_TRUE(crlf);
  EXPECT_EQ(lf->complainant, crlf->complainant);
  EXPECT_EQ(lf->original.tenant, crlf->original.tenant);
  EXPECT_EQ(lf->original.queue_id, crlf->original.queue_id);
  EXPECT_EQ(lf->arrival_date, crlf->arrival_date);
  EXPECT_EQ(lf->human_text, crlf->human_text);
}

TEST(ArfSampleTest, DeliveryReportIsNotAFeedbackReport) {
  LOAD_SAMPLE(raw, "dsn/hard-bounce.eml");
  const auto r = parse_feedback_report(*raw);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "multipart/report with report-type=delivery-status, not feedback-report");
}

// A report built from parts, for the cases the samples do not cover.
std::string report(std::string_view boundary_param,
                   std::string_view boundary,
                   std::string_view feedback_headers,
                   std::string_view feedback_body,
                   std::string_view original_headers,
                   std::string_view original_body) {
  std::string m = "From: fbl@isp.example\nTo: fbl@relay.gw.example\nMIME-Version: 1.0\n";
  m += "Content-Type: multipart/report; report-type=feedback-report; boundary=";
  m += boundary_param;
  m += "\n\n--" + std::string(boundary) + "\nContent-Type: text/plain\n\nA complaint.\n";
  m += "--" + std::string(boundary) + "\n" + std::string(feedback_headers) + "\n" +
       std::string(feedback_body) + "\n";
  m += "--" + std::string(boundary) + "\n" + std::string(original_headers) + "\n" +
       std::string(original_body) + "\n";
  m += "--" + std::string(boundary) + "--\n";
  return m;
}

constexpr std::string_view kFeedback =
    "Feedback-Type: abuse\nUser-Agent: T/1\nVersion: 1\nSource-IP: 2001:db8::25\n"
    "Original-Rcpt-To: victim@isp.example\nArrival-Date: Mon, 1 Jan 2026 00:00:00 +0000\n";
constexpr std::string_view kOriginal =
    "Received: from a (b [198.18.10.1])\n\tby relay.gw.example (Portcullis) with ESMTPSA id Q1;\n"
    "\tMon, 1 Jan 2026 00:00:00 +0000\nX-Portcullis-Tenant: t1\nMessage-ID: <Q1@relay.gw.example>\n"
    "To: victim@isp.example\nSubject: hi\n\nbody\n";

TEST(ArfReportTest, UnquotedBoundaryAndBase64Parts) {
  const std::string feedback_b64 =
      "RmVlZGJhY2stVHlwZTogYWJ1c2UNClVzZXItQWdlbnQ6IFQvMQ0KVmVyc2lvbjogMQ0KU291cmNl\n"
      "LUlQOiAxOTguMTguMC4xMA0KT3JpZ2luYWwtUmNwdC1UbzogPGNAaXNwLmV4YW1wbGU+DQo=\n";
  const auto r = parse_feedback_report(
      report("plain.b", "plain.b",
             "Content-Type: message/feedback-report\nContent-Transfer-Encoding: base64\n",
             feedback_b64, "Content-Type: message/rfc822\n", kOriginal));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->complainant, "c@isp.example");
  ASSERT_TRUE(r->source_ip);
  EXPECT_EQ(r->source_ip->to_string(), "198.18.0.10");
  EXPECT_EQ(r->original.tenant, "t1");
  EXPECT_EQ(r->original.queue_id, "Q1");
}

TEST(ArfReportTest, QuotedPrintableOriginalAndIpv6Source) {
  std::string qp_original(kOriginal);
  qp_original.replace(qp_original.find("X-Portcullis-Tenant: t1"), 23,
                      "X-Portcullis-Ten=\nant: t=31");
  const auto r = parse_feedback_report(report(
      "\"q =b\"", "q =b", "Content-Type: Message/Feedback-Report\n", kFeedback,
      "Content-Type: message/rfc822\nContent-Transfer-Encoding: quoted-printable\n", qp_original));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->original.tenant, "t1");
  ASSERT_TRUE(r->source_ip);
  EXPECT_EQ(r->source_ip->to_string(), "2001:db8::25");
  EXPECT_EQ(r->complainant, "victim@isp.example");
}

TEST(ArfReportTest, ReportWrappedInMultipartMixed) {
  const std::string inner = report("inner", "inner", "Content-Type: message/feedback-report\n",
                                   kFeedback, "Content-Type: text/rfc822-headers\n", kOriginal);
  const auto body = inner.substr(inner.find("Content-Type: multipart/report"));
  const std::string outer =
      "From: a@b.example\nContent-Type: multipart/mixed; boundary=outer\n\n--outer\n"
      "Content-Type: text/plain\n\nForwarded.\n--outer\n" +
      body + "--outer--\n";
  const auto r = parse_feedback_report(outer);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->complainant, "victim@isp.example");
  EXPECT_TRUE(r->original.headers_only);
  EXPECT_EQ(r->original.tenant, "t1");
}

TEST(ArfReportTest, ComplainantFallsBackToTheOriginalsTo) {
  const std::string feedback = "Feedback-Type: abuse\nUser-Agent: T/1\nVersion: 1\n";
  const auto r =
      parse_feedback_report(report("b", "b", "Content-Type: message/feedback-report\n", feedback,
                                   "Content-Type: message/rfc822\n", kOriginal));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->complainant, "victim@isp.example");
  EXPECT_EQ(r->complainant_source, ComplainantSource::original_to);
}

TEST(ArfReportTest, MissingOriginalIsAWarningNotAnError) {
  std::string m =
      "Content-Type: multipart/report; report-type=feedback-report; boundary=b\n\n--b\n"
      "Content-Type: message/feedback-report\n\n" +
      std::string(kFeedback) + "--b--\n";
  const auto r = parse_feedback_report(m);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->original.present);
  EXPECT_EQ(r->complainant, "victim@isp.example");
  ASSERT_FALSE(r->warnings.empty());
  EXPECT_NE(r->warnings[0].find("does not include the original"), std::string::npos);
}

TEST(ArfReportTest, ForgedLowerReceivedDoesNotWin) {
  // A client can write its own "(Portcullis)" Received; ours is always above it.
  std::string original =
      "Received: from r by relay.gw.example (Portcullis) with ESMTP id REAL1;\n x\n"
      "Received: from c by relay.gw.example (Portcullis) with ESMTP id FORGED;\n x\n"
      "X-Portcullis-Tenant: t1\n\nbody\n";
  const auto r =
      parse_feedback_report(report("b", "b", "Content-Type: message/feedback-report\n", kFeedback,
                                   "Content-Type: message/rfc822\n", original));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->original.queue_id, "REAL1");
}

struct BadCase {
  std::string name;
  std::string input;
  std::string error;  // a substring of the expected message
};

TEST(ArfReportTest, MalformedInputIsAClearError) {
  const std::vector<BadCase> cases = {
      {"empty", "", "empty message"},
      {"plain text", "Subject: hi\n\nspam spam\n",
       "not a multipart/report (Content-Type is text/plain)"},
      {"no boundary", "Content-Type: multipart/report; report-type=feedback-report\n\nx\n",
       "has no boundary parameter"},
      {"no delimiter",
       "Content-Type: multipart/report; report-type=feedback-report; boundary=q\n\nx\n",
       "no delimiter line"},
      {"no feedback type",
       "Content-Type: multipart/report; report-type=feedback-report; boundary=q\n\n--q\n"
       "Content-Type: message/feedback-report\n\nVersion: 1\n--q--\n",
       "no Feedback-Type field"},
      {"other report type",
       "Content-Type: multipart/report; report-type=disposition-notification; boundary=q\n\n"
       "--q\n\nx\n--q--\n",
       "report-type=disposition-notification, not feedback-report"},
      {"too big", std::string(10 * 1024 * 1024 + 1, 'x'), "larger than"},
  };
  for (const auto& c : cases) {
    const auto r = parse_feedback_report(c.input);
    ASSERT_FALSE(r) << c.name;
    EXPECT_NE(r.error().message.find(c.error), std::string::npos)
        << c.name << ": " << r.error().message;
  }
}

TEST(ArfReportTest, BadFieldValuesBecomeWarnings) {
  const std::string feedback =
      "Feedback-Type: abuse\nUser-Agent: T/1\nVersion: 1\nSource-IP: 198.18.0.999\n"
      "Original-Rcpt-To: <<<@@@>>>\nSource-IP: fe80::1%eth0\n";
  const auto r = parse_feedback_report(report("b", "b", "Content-Type: message/feedback-report\n",
                                              feedback, "Content-Type: message/rfc822\n",
                                              "Subject: x\nX-Portcullis-Tenant: a\x01z\n\nb\n"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_FALSE(r->source_ip);
  EXPECT_TRUE(r->complainant.empty());
  EXPECT_TRUE(r->original.tenant.empty());
  std::string all;
  for (const auto& w : r->warnings) {
    all += w + "\n";
  }
  EXPECT_NE(all.find("unusable Source-IP \"198.18.0.999\""), std::string::npos) << all;
  EXPECT_NE(all.find("unusable Original-Rcpt-To"), std::string::npos) << all;
  EXPECT_NE(all.find("unusable X-Portcullis-Tenant"), std::string::npos) << all;
}

TEST(XarfTest, YamlReportWithMessageEvidence) {
  const std::string m =
      "From: abuse@reporter.example\nX-ARF: YES\n"
      "Content-Type: multipart/mixed; boundary=\"xarf\"\n\n"
      "--xarf\nContent-Type: text/plain; charset=utf-8\n\nWe received spam from your network.\n"
      "--xarf\nContent-Type: text/plain; charset=utf-8; name=\"report.txt\"\n\n"
      "---\nReported-From: abuse@reporter.example\nCategory: abuse\nReport-Type: spam\n"
      "Source: 198.18.0.10\nSource-Type: ipv4\nAttachment: message/rfc822\n"
      "Date: 'Thu, 19 Nov 2026 09:12:40 +0000'\n"
      "--xarf\nContent-Type: message/rfc822\n\n" +
      std::string(kOriginal) + "--xarf--\n";
  const auto r = parse_feedback_report(m);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->format, ReportFormat::xarf);
  EXPECT_EQ(r->feedback_type, FeedbackType::abuse);
  EXPECT_EQ(r->feedback_type_text, "spam");
  EXPECT_EQ(r->category, "abuse");
  ASSERT_TRUE(r->source_ip);
  EXPECT_EQ(r->source_ip->to_string(), "198.18.0.10");
  EXPECT_EQ(r->arrival_date, "Thu, 19 Nov 2026 09:12:40 +0000");
  EXPECT_EQ(r->original.tenant, "t1");
  EXPECT_EQ(r->complainant, "victim@isp.example");
  EXPECT_NE(r->human_text.find("spam from your network"), std::string::npos);
}

TEST(XarfTest, JsonReportWithLogEvidence) {
  const std::string m =
      "X-ARF: yes\nContent-Type: multipart/mixed; boundary=j\n\n"
      "--j\nContent-Type: text/plain\n\nLogin attacks.\n"
      "--j\nContent-Type: application/json\n\n"
      "{\"Version\":\"3\",\"ReporterInfo\":{\"ReporterOrg\":\"R\"},"
      "\"Report\":{\"ReportClass\":\"Activity\",\"ReportType\":\"Login-Attack\","
      "\"SourceIp\":\"198.18.11.7\",\"Samples\":[1,2,3]}}\n"
      "--j\nContent-Type: text/plain\n\nJan 1 sshd[1]: Failed password\x07 for root\n--j--\n";
  const auto r = parse_feedback_report(m);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->format, ReportFormat::xarf);
  EXPECT_EQ(r->feedback_type, FeedbackType::other);
  EXPECT_EQ(r->feedback_type_text, "login-attack");
  EXPECT_EQ(r->category, "activity");
  ASSERT_TRUE(r->source_ip);
  EXPECT_EQ(r->source_ip->to_string(), "198.18.11.7");
  EXPECT_EQ(r->evidence, "Jan 1 sshd[1]: Failed password? for root");
  EXPECT_FALSE(r->original.present);
}

TEST(XarfTest, DeclaredXarfWithoutReportPartIsAnError) {
  const auto r = parse_feedback_report(
      "X-ARF: yes\nContent-Type: multipart/mixed; boundary=j\n\n--j\n\nhello\n--j--\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("without a part naming a Report-Type"), std::string::npos);
}

TEST(XarfTest, PlainMultipartMixedIsNotAReport) {
  const auto r =
      parse_feedback_report("Content-Type: multipart/mixed; boundary=j\n\n--j\n\nhello\n--j--\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a multipart/report"), std::string::npos);
}

TEST(XarfTest, FieldsFromYamlAndJson) {
  const auto yaml = read_xarf_fields("Report-Type: \"spam\"\nSource: 192.0.2.1\n  Nested: x\n");
  ASSERT_TRUE(yaml);
  EXPECT_EQ(yaml->report_type, "spam");
  EXPECT_EQ(yaml->source, "192.0.2.1");
  const auto v4 = read_xarf_fields(
      R"({"xarf_version":"4.0.0","category":"messaging","type":"spam","source_identifier":"192.0.2.9"})");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->report_type, "spam");
  EXPECT_EQ(v4->category, "messaging");
  EXPECT_EQ(v4->source, "192.0.2.9");
  EXPECT_FALSE(read_xarf_fields("just a note\n"));
}

TEST(XarfTest, DeeplyNestedJsonIsRefused) {
  const std::string json =
      "{\"Report-Type\":\"spam\",\"x\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  EXPECT_FALSE(read_xarf_fields(json));
}

}  // namespace
}  // namespace portcullis::abuse::arf
