#include "abuse/dsn/dsn_report.hpp"

#include <gtest/gtest.h>

#include <string>

#include "tests/abuse/report_samples.hpp"

namespace portcullis::abuse::dsn {
namespace {

using test::read_sample;

TEST(DsnSampleTest, HardBounce) {
  LOAD_SAMPLE(raw, "dsn/hard-bounce.eml");
  const auto r = parse_delivery_report(*raw);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->reporting_mta, "mx1.remote.example");
  EXPECT_EQ(r->arrival_date, "Thu, 19 Nov 2026 10:00:58 +0000");
  ASSERT_EQ(r->recipients.size(), 1U);
  const auto& rcpt = r->recipients[0];
  EXPECT_EQ(rcpt.final_recipient, "nobody@remote.example");
  EXPECT_EQ(rcpt.original_recipient, "nobody@remote.example");
  EXPECT_EQ(rcpt.action, Action::failed);
  EXPECT_EQ(rcpt.status, "5.1.1");
  EXPECT_TRUE(rcpt.permanent());
  EXPECT_EQ(rcpt.remote_mta, "mx1.remote.example");
  EXPECT_EQ(rcpt.diagnostic_type, "smtp");
  // Folded across two lines in the sample; unfolded and whitespace collapsed here.
  EXPECT_EQ(rcpt.diagnostic,
            "550 5.1.1 <nobody@remote.example>: Recipient address rejected: User unknown");
  ASSERT_TRUE(r->original.present);
  EXPECT_TRUE(r->original.headers_only);
  EXPECT_EQ(r->original.message_id, "01JD3M0000@relay.gw.example");
  EXPECT_EQ(r->original.tenant, "acme");
  EXPECT_NE(r->human_text.find("could not be delivered"), std::string::npos);
  EXPECT_TRUE(r->warnings.empty()) << r->warnings.front();
}

TEST(DsnSampleTest, Delayed) {
  LOAD_SAMPLE(raw, "dsn/delayed.eml");
  const auto r = parse_delivery_report(test::to_crlf(*raw));
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->recipients.size(), 1U);
  const auto& rcpt = r->recipients[0];
  EXPECT_EQ(rcpt.final_recipient, "ops@slowhost.example");
  EXPECT_EQ(rcpt.action, Action::delayed);
  EXPECT_EQ(rcpt.status, "4.4.1");
  EXPECT_FALSE(rcpt.permanent());
  EXPECT_EQ(rcpt.diagnostic_type, "X-Postfix");
  EXPECT_EQ(rcpt.will_retry_until, "Tue, 24 Nov 2026 14:00:00 +0000");
  EXPECT_FALSE(r->original.present);
}

TEST(DsnSampleTest, FeedbackReportIsNotABounce) {
  LOAD_SAMPLE(raw, "arf/full-message.eml");
  const auto r = parse_delivery_report(*raw);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message,
            "multipart/report with report-type=feedback-report, not delivery-status");
}

std::string bounce(std::string_view status_body, std::string_view original = {}) {
  std::string m =
      "From: MAILER-DAEMON@mx.example\nContent-Type: multipart/report; "
      "report-type=delivery-status; boundary=\"=_b\"\n\n--=_b\n\nSorry.\n"
      "--=_b\nContent-Type: message/delivery-status\n\n" +
      std::string(status_body) + "\n";
  if (!original.empty()) {
    m += "--=_b\nContent-Type: message/rfc822\n\n" + std::string(original) + "\n";
  }
  m += "--=_b--\n";
  return m;
}

TEST(DsnReportTest, SeveralRecipientsAndMissingSeparator) {
  // No empty line after the per-message fields: the first block is also a recipient.
  const auto r = parse_delivery_report(bounce(
      "Reporting-MTA: dns; mx.example\nFinal-Recipient: rfc822; a@x.example\nAction: failed\n"
      "Status: 5.7.1 (blocked)\nDiagnostic-Code: smtp; 554 5.7.1 listed at zen.example\n\n"
      "Final-Recipient: rfc822;<b@x.example>\nAction: Delivered\nStatus: 2.0.0\n\n"
      "Original-Recipient: rfc822; c@x.example\nAction: failed (bad mailbox)\nStatus: 5.1.10\n\n"
      "Final-Recipient: x400; C=US\nAction: failed\nStatus: 9.9\n"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->reporting_mta, "mx.example");
  ASSERT_EQ(r->recipients.size(), 3U);
  EXPECT_EQ(r->recipients[0].final_recipient, "a@x.example");
  EXPECT_EQ(r->recipients[0].status, "5.7.1");
  EXPECT_EQ(r->recipients[0].diagnostic, "554 5.7.1 listed at zen.example");
  EXPECT_EQ(r->recipients[1].final_recipient, "b@x.example");
  EXPECT_EQ(r->recipients[1].action, Action::delivered);
  EXPECT_EQ(r->recipients[2].final_recipient, "c@x.example");
  EXPECT_EQ(r->recipients[2].action, Action::failed);
  EXPECT_EQ(r->recipients[2].status, "5.1.10");
  EXPECT_FALSE(r->warnings.empty());  // the x400 recipient and its bad Status
}

TEST(DsnReportTest, GatewaysOwnDsnCarriesTheQueueId) {
  const auto r = parse_delivery_report(
      bounce("Reporting-MTA: dns; relay.gw.example\nX-Portcullis-Queue-ID: 01JDQ\n\n"
             "Final-Recipient: rfc822; z@y.example\nAction: failed\nStatus: 5.0.0\n"
             "Diagnostic-Code: X-Portcullis; no MX\n",
             "Received: from a by relay.gw.example (Portcullis) with ESMTPA id 01JDQ;\n x\n"
             "X-Portcullis-Tenant: globex\nMessage-ID: <m1@globex.test>\n\nbody"));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->portcullis_queue_id, "01JDQ");
  EXPECT_EQ(r->original.queue_id, "01JDQ");
  EXPECT_EQ(r->original.tenant, "globex");
  EXPECT_EQ(r->original.message_id, "m1@globex.test");
  EXPECT_FALSE(r->original.headers_only);
}

TEST(DsnReportTest, RecipientCountIsBounded) {
  std::string body = "Reporting-MTA: dns; mx.example\n";
  for (std::size_t i = 0; i < kMaxRecipients + 10; ++i) {
    body += "\nFinal-Recipient: rfc822; u" + std::to_string(i) + "@x.example\nAction: failed\n" +
            "Status: 5.1.1\n";
  }
  mime::Limits limits;
  const auto r = parse_delivery_report(bounce(body), limits);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->recipients.size(), kMaxRecipients);
  EXPECT_NE(r->warnings.back().find("more than 1000 recipients"), std::string::npos);
}

TEST(DsnReportTest, StatusCodes) {
  EXPECT_TRUE(is_status_code("5.1.1"));
  EXPECT_TRUE(is_status_code("4.123.999"));
  EXPECT_FALSE(is_status_code("3.1.1"));
  EXPECT_FALSE(is_status_code("5.1"));
  EXPECT_FALSE(is_status_code("5.1.1234"));
  EXPECT_FALSE(is_status_code("5..1"));
  EXPECT_FALSE(is_status_code("5.1.1."));
  EXPECT_FALSE(is_status_code(""));
}

TEST(DsnReportTest, MalformedInputIsAClearError) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Subject: x\n\nbody\n", "not a multipart/report"},
      {"Content-Type: multipart/report; report-type=delivery-status; "
       "boundary=b\n\n--b\n\nx\n--b--\n",
       "no message/delivery-status part"},
      {bounce("Reporting-MTA: dns; mx.example\n"), "names no recipient"},
      {bounce("Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822; <<>>\nAction: failed\n"),
       "names no recipient"},
      {"Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\n"
       "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.example\n",
       "truncated report"},
  };
  for (const auto& [input, error] : cases) {
    const auto r = parse_delivery_report(input);
    ASSERT_FALSE(r) << input;
    EXPECT_NE(r.error().message.find(error), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace portcullis::abuse::dsn
