#include "relay/smtp/message_headers.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace portcullis::relay::smtp {
namespace {

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = text.find("\r\n", pos);
    out.emplace_back(text.substr(pos, end - pos));
    pos = end == std::string_view::npos ? text.size() : end + 2;
  }
  return out;
}

ReceivedInfo sample_received() {
  ReceivedInfo r;
  r.helo = "client.example";
  r.client_rdns = "mail.client.example";
  r.client_address = "198.18.0.5";
  r.hostname = "relay.gw.example";
  r.queue_id = "01HXYZABCDEF";
  r.recipient = "bob@example.org";
  r.esmtp = true;
  r.tls = true;
  r.authenticated = true;
  r.unix_time = 1700000000;  // Tue, 14 Nov 2023 22:13:20 +0000
  return r;
}

TEST(MessageHeadersTest, HasHeader) {
  const std::string message =
      "Subject: hi\r\nfrom : a@b.example\r\nX-Long: a\r\n\tDate: folded\r\n\r\n"
      "Date: in body\r\n";
  struct Case {
    std::string name;
    bool present;
  };
  const std::vector<Case> cases = {
      {"Subject", true}, {"subject", true}, {"SUBJECT", true}, {"From", true},
      {"X-Long", true},  {"Date", false},   {"Subj", false},   {"Subject:", false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(has_header(message, c.name), c.present) << c.name;
  }
  EXPECT_FALSE(has_header("", "Subject"));
  EXPECT_TRUE(has_header("Subject: no separator", "Subject"));
  EXPECT_FALSE(has_header("hello\r\nSubject: after a non-header line\r\n", "Subject"));
  EXPECT_FALSE(has_header("\r\nSubject: body\r\n", "Subject"));
}

TEST(MessageHeadersTest, HeaderSection) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"A: 1\r\nB: 2\r\n\r\nbody\r\n", "A: 1\r\nB: 2\r\n"},
      {"A: 1\r\n folded\r\n\r\n", "A: 1\r\n folded\r\n"},
      {"A: 1\r\n", "A: 1\r\n"},
      {"\r\nbody\r\n", ""},
      {"hello world\r\n", ""},
      {" leading space\r\nA: 1\r\n", ""},
      {"A: 1\r\nnot a header\r\nB: 2\r\n\r\n", "A: 1\r\n"},
      {"", ""},
  };
  for (const auto& [message, headers] : cases) {
    EXPECT_EQ(header_section(message), headers) << testing::PrintToString(message);
  }
}

TEST(MessageHeadersTest, RemoveHeaders) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"X-Portcullis-Tenant: evil\r\nSubject: hi\r\n\r\nbody\r\n", "Subject: hi\r\n\r\nbody\r\n"},
      {"Subject: hi\r\nx-portcullis-tenant: evil\r\n\tcontinued\r\n  more\r\nFrom: a\r\n\r\nb\r\n",
       "Subject: hi\r\nFrom: a\r\n\r\nb\r\n"},
      {"X-Portcullis-Tenant: 1\r\nX-PORTCULLIS-TENANT: 2\r\nA: x\r\nX-Portcullis-Tenant: 3\r\n",
       "A: x\r\n"},
      {"X-Portcullis-Tenant : obsolete space\r\nA: x\r\n", "A: x\r\n"},
      {"X-Portcullis-Tenant-Extra: kept\r\nA: x\r\n",
       "X-Portcullis-Tenant-Extra: kept\r\nA: x\r\n"},
      {"A: x\r\n\r\nX-Portcullis-Tenant: in body stays\r\n",
       "A: x\r\n\r\nX-Portcullis-Tenant: in body stays\r\n"},
      {"A: x\r\nX-Portcullis-Tenant: last without separator", "A: x\r\n"},
      {"", ""},
  };
  for (const auto& [message, expected] : cases) {
    EXPECT_EQ(remove_headers(message, kTenantHeader), expected) << testing::PrintToString(message);
  }
}

TEST(MessageHeadersTest, Rfc5322Date) {
  const std::vector<std::pair<std::int64_t, std::string>> cases = {
      {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
      {-1, "Wed, 31 Dec 1969 23:59:59 +0000"},
      {951782400, "Tue, 29 Feb 2000 00:00:00 +0000"},
      {1700000000, "Tue, 14 Nov 2023 22:13:20 +0000"},
      {4102444799, "Thu, 31 Dec 2099 23:59:59 +0000"},
  };
  for (const auto& [t, expected] : cases) {
    EXPECT_EQ(rfc5322_date(t), expected) << t;
  }
}

TEST(MessageHeadersTest, ReceivedProtocol) {
  struct Case {
    bool esmtp, tls, auth, utf8;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {true, false, false, false, "ESMTP"},   {true, true, false, false, "ESMTPS"},
      {true, false, true, false, "ESMTPA"},   {true, true, true, false, "ESMTPSA"},
      {false, false, false, false, "SMTP"},   {false, true, true, false, "SMTP"},
      {true, true, true, true, "UTF8SMTPSA"}, {true, false, false, true, "UTF8SMTP"},
  };
  for (const Case& c : cases) {
    ReceivedInfo r;
    r.esmtp = c.esmtp;
    r.tls = c.tls;
    r.authenticated = c.auth;
    r.smtputf8 = c.utf8;
    EXPECT_EQ(received_protocol(r), c.expected);
  }
}

TEST(MessageHeadersTest, ReceivedGolden) {
  EXPECT_EQ(received_header(sample_received()),
            "Received: from client.example (mail.client.example [198.18.0.5])\r\n"
            "\tby relay.gw.example (Portcullis) with ESMTPSA id 01HXYZABCDEF\r\n"
            "\tfor <bob@example.org>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");

  ReceivedInfo several = sample_received();
  several.recipient.clear();
  several.client_rdns.clear();
  several.client_address = "fd00::5";
  several.tls = false;
  EXPECT_EQ(received_header(several),
            "Received: from client.example (unknown [IPv6:fd00::5])\r\n"
            "\tby relay.gw.example (Portcullis) with ESMTPA id 01HXYZABCDEF;\r\n"
            "\tTue, 14 Nov 2023 22:13:20 +0000\r\n");
}

TEST(MessageHeadersTest, ReceivedFoldsAndSanitises) {
  ReceivedInfo r = sample_received();
  r.helo = "evil\r\nX-Portcullis-Tenant: victim (forged) ; x";
  const std::string h = received_header(r);
  EXPECT_EQ(h.find("\r\nX-"), std::string::npos);
  EXPECT_NE(h.find("evil??X-Portcullis-Tenant:?victim??forged????x\r\n"), std::string::npos) << h;
  EXPECT_EQ(lines_of(h).size(), 4u) << h;

  r.helo.clear();
  EXPECT_NE(received_header(r).find("from unknown ("), std::string::npos);

  r.helo = std::string(60, 'h') + ".example";
  r.client_rdns = std::string(50, 'r') + ".example";
  r.recipient = std::string(30, 'x') + "@" + std::string(30, 'y') + ".example";
  const std::string folded = received_header(r);
  ASSERT_EQ(folded.substr(folded.size() - 2), "\r\n");
  const std::vector<std::string> lines = lines_of(folded);
  ASSERT_GT(lines.size(), 3u);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    EXPECT_LE(lines[i].size(), 78u) << lines[i];
    if (i > 0) {
      EXPECT_EQ(lines[i].front(), '\t') << "continuation lines start with whitespace";
    }
  }
}

FinalizeInfo sample_finalize() {
  FinalizeInfo f;
  f.received = sample_received();
  f.tenant_id = "acme";
  f.hostname = "relay.gw.example";
  f.message_id = "01HXYZABCDEF";
  return f;
}

TEST(MessageHeadersTest, FinalizeGolden) {
  const std::string received = received_header(sample_received());
  const std::string added =
      "X-Portcullis-Tenant: acme\r\n"
      "Message-ID: <01HXYZABCDEF@relay.gw.example>\r\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n";
  struct Case {
    std::string name;
    std::string message;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"forged tenant removed",
       "Subject: hi\r\nX-Portcullis-Tenant: victim\r\n\tcontinued\r\nFrom: a@b.example\r\n\r\n"
       "body\r\nX-Portcullis-Tenant: in body\r\n",
       received + "Subject: hi\r\nFrom: a@b.example\r\n" + added +
           "\r\nbody\r\nX-Portcullis-Tenant: in body\r\n"},
      {"existing Message-ID and Date kept",
       "message-id: <x@y.example>\r\nDATE: Mon, 13 Nov 2023 10:00:00 +0100\r\n\r\nbody\r\n",
       received + "message-id: <x@y.example>\r\nDATE: Mon, 13 Nov 2023 10:00:00 +0100\r\n" +
           "X-Portcullis-Tenant: acme\r\n\r\nbody\r\n"},
      {"header-less body", "hello world\r\n", received + added + "\r\nhello world\r\n"},
      {"non-header line starts the body", "Subject: hi\r\nhello\r\nX-Portcullis-Tenant: victim\r\n",
       received + "Subject: hi\r\n" + added + "\r\nhello\r\nX-Portcullis-Tenant: victim\r\n"},
      {"empty body after separator", "\r\nbody\r\n", received + added + "\r\nbody\r\n"},
      {"empty message", "", received + added + "\r\n"},
      {"headers only", "Subject: hi\r\n", received + "Subject: hi\r\n" + added + "\r\n"},
      {"last header without CRLF", "Subject: hi", received + "Subject: hi\r\n" + added + "\r\n"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string out = finalize_message(c.message, sample_finalize());
    EXPECT_EQ(out, c.expected);
    // Exactly one attribution field, ours, in the header section downstream parsers see.
    const std::string_view headers = header_section(out);
    EXPECT_TRUE(has_header(out, "Received"));
    std::size_t count = 0;
    for (const std::string& line : lines_of(headers)) {
      count += line.rfind("X-Portcullis-Tenant:", 0) == 0 ? 1 : 0;
    }
    EXPECT_EQ(count, 1u);
    EXPECT_NE(std::string(headers).find("X-Portcullis-Tenant: acme\r\n"), std::string::npos);
  }
}

TEST(MessageHeadersTest, FinalizeFallsBackToReceivedIds) {
  FinalizeInfo f;
  f.received = sample_received();
  f.tenant_id = "acme";
  const std::string out = finalize_message("", f);
  EXPECT_NE(out.find("Message-ID: <01HXYZABCDEF@relay.gw.example>\r\n"), std::string::npos);
}

TEST(MessageHeadersTest, TraceMessageAddsOnlyReceivedAndStripsTenantFields) {
  ReceivedInfo r = sample_received();
  r.authenticated = false;
  // No Message-ID, no Date, no separator: a report is kept as written, only our trace added.
  const std::string message =
      "From: fbl@provider.example\r\nX-Portcullis-Tenant: forged\r\n\tcontinued\r\n"
      "x-portcullis-tenant: again\r\nSubject: report\r\nbody without separator\r\n";
  EXPECT_EQ(trace_message(message, r),
            received_header(r) +
                "From: fbl@provider.example\r\nSubject: report\r\nbody without separator\r\n");
  EXPECT_NE(trace_message(message, r).find("(Portcullis) with ESMTPS id 01HXYZABCDEF"),
            std::string::npos);
  // The body is never a header section: a tenant field there stays.
  const std::string body_field = "Subject: x\r\n\r\nX-Portcullis-Tenant: in body\r\n";
  EXPECT_EQ(trace_message(body_field, r), received_header(r) + body_field);
}

}  // namespace
}  // namespace portcullis::relay::smtp
