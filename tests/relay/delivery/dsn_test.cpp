#include "relay/delivery/dsn.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

namespace portcullis::relay::delivery {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Parses the notice with Python's email package (an independent MIME parser)
// and answers what it saw as JSON.
constexpr const char* kParser = R"py(
import email, json, sys
from email import policy
raw = open(sys.argv[1], 'rb').read()
msg = email.message_from_bytes(raw, policy=policy.default)
out = {}
defects = list(msg.defects)
out['content_type'] = msg.get_content_type()
out['report_type'] = msg.get_param('report-type')
out['boundary'] = msg.get_boundary()
for h in ['From', 'To', 'Subject', 'Auto-Submitted', 'MIME-Version', 'Message-ID', 'Date']:
    out[h] = str(msg[h]) if msg[h] is not None else None
parts = list(msg.iter_parts())
out['parts'] = [p.get_content_type() for p in parts]
for p in parts:
    defects += list(p.defects)
out['text'] = parts[0].get_content()
blocks = parts[1].get_payload()
out['per_message'] = dict(blocks[0].items())
out['per_recipient'] = [dict(b.items()) for b in blocks[1:]]
out['headers'] = parts[2].get_payload(decode=True).decode('utf-8')
out['defects'] = [type(d).__name__ for d in defects]
out['seven_bit'] = all(b < 128 for b in raw)
out['crlf'] = b'\n' not in raw.replace(b'\r\n', b'')
out['max_line'] = max(len(l) for l in raw.split(b'\r\n'))
print(json.dumps(out))
)py";

class TempFile {
 public:
  explicit TempFile(std::string_view suffix) {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("portcullis-dsn-" + std::to_string(rd()) + std::string(suffix));
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void write(std::string_view data) const {
    std::ofstream(path_, std::ios::binary)
        .write(data.data(), static_cast<std::streamsize>(data.size()));
  }

 private:
  fs::path path_;
};

json::value parse_with_python(const std::string& dsn) {
  TempFile script(".py");
  TempFile message(".eml");
  script.write(kParser);
  message.write(dsn);
  const std::string command = "python3 " + script.path().string() + " " + message.path().string();
  FILE* pipe = ::popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string out;
  char buf[4096];
  while (pipe != nullptr) {
    const auto n = std::fread(buf, 1, sizeof buf, pipe);
    if (n == 0) {
      break;
    }
    out.append(buf, n);
  }
  EXPECT_EQ(pipe != nullptr ? ::pclose(pipe) : -1, 0) << out;
  boost::system::error_code ec;
  auto v = json::parse(out, ec);
  EXPECT_FALSE(ec) << out;
  return v;
}

std::string s(const json::value& v, std::string_view key) {
  const auto* f = v.as_object().if_contains(key);
  return f != nullptr && f->is_string() ? std::string(f->get_string()) : "<missing>";
}

DsnReport bounce_report() {
  DsnReport r;
  r.reporting_host = "relay.gw.example";
  r.original_mail_from = "alice@acme.example";
  r.original_message_id = "0Abc123XYZ";
  r.arrival_time = 1700000000;  // Tue, 14 Nov 2023 22:13:20 +0000
  r.now = 1700003600;
  r.original_headers =
      "Received: from client.acme.example\r\nFrom: Alice <alice@acme.example>\r\n"
      "To: bob@example.org\r\nSubject: quarterly report\r\n";
  DsnRecipient bob;
  bob.final_recipient = "bob@example.org";
  bob.status = dsn_status("550 5.1.1 <bob@example.org>: no such user", '5');
  bob.remote_mta = "mx.example.org [198.18.2.10]";
  bob.diagnostic = "550 5.1.1 <bob@example.org>: no such user";
  bob.last_attempt = 1700003500;
  DsnRecipient carol;
  carol.final_recipient = "carol@nowhere.example";
  carol.status = kStatusNoRoute;
  carol.diagnostic = "domain nowhere.example does not exist";
  carol.last_attempt = 1700003500;
  r.recipients = {bob, carol};
  return r;
}

TEST(Dsn, BounceParsesAsRfc3464Report) {
  const std::string dsn = make_dsn(bounce_report(), "0QueueIdOfDsn");
  const auto v = parse_with_python(dsn);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(v.at("defects").as_array().size(), 0u) << json::serialize(v.at("defects"));
  EXPECT_TRUE(v.at("seven_bit").as_bool());
  EXPECT_TRUE(v.at("crlf").as_bool());
  EXPECT_LE(v.at("max_line").as_int64(), 998);
  EXPECT_EQ(s(v, "content_type"), "multipart/report");
  EXPECT_EQ(s(v, "report_type"), "delivery-status");
  EXPECT_TRUE(s(v, "boundary").starts_with("=_portcullis_"));
  EXPECT_EQ(s(v, "From"), "Mail Delivery System <MAILER-DAEMON@relay.gw.example>");
  EXPECT_EQ(s(v, "To"), "alice@acme.example");
  EXPECT_EQ(s(v, "Subject"), "Undelivered Mail Returned to Sender");
  EXPECT_EQ(s(v, "Auto-Submitted"), "auto-replied");
  EXPECT_EQ(s(v, "MIME-Version"), "1.0");
  EXPECT_EQ(s(v, "Date"), "Tue, 14 Nov 2023 23:13:20 +0000");
  EXPECT_TRUE(s(v, "Message-ID").starts_with("<0QueueIdOfDsn."));
  EXPECT_TRUE(s(v, "Message-ID").ends_with("@relay.gw.example>"));

  const auto& parts = v.at("parts").as_array();
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].as_string(), "text/plain");
  EXPECT_EQ(parts[1].as_string(), "message/delivery-status");
  EXPECT_EQ(parts[2].as_string(), "text/rfc822-headers");

  const auto& per_message = v.at("per_message");
  EXPECT_EQ(s(per_message, "Reporting-MTA"), "dns; relay.gw.example");
  EXPECT_EQ(s(per_message, "Arrival-Date"), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(s(per_message, "X-Portcullis-Queue-ID"), "0Abc123XYZ");

  const auto& rcpts = v.at("per_recipient").as_array();
  ASSERT_EQ(rcpts.size(), 2u);
  EXPECT_EQ(s(rcpts[0], "Final-Recipient"), "rfc822; bob@example.org");
  EXPECT_EQ(s(rcpts[0], "Action"), "failed");
  EXPECT_EQ(s(rcpts[0], "Status"), "5.1.1");
  EXPECT_EQ(s(rcpts[0], "Remote-MTA"), "dns; mx.example.org");
  EXPECT_EQ(s(rcpts[0], "Diagnostic-Code"), "smtp; 550 5.1.1 <bob@example.org>: no such user");
  EXPECT_EQ(s(rcpts[0], "Last-Attempt-Date"), "Tue, 14 Nov 2023 23:11:40 +0000");
  EXPECT_EQ(s(rcpts[1], "Final-Recipient"), "rfc822; carol@nowhere.example");
  EXPECT_EQ(s(rcpts[1], "Status"), "5.4.4");
  EXPECT_EQ(s(rcpts[1], "Remote-MTA"), "<missing>");
  EXPECT_EQ(s(rcpts[1], "Diagnostic-Code"), "X-Portcullis; domain nowhere.example does not exist");

  const std::string text = s(v, "text");
  EXPECT_NE(text.find("could not be delivered"), std::string::npos) << text;
  EXPECT_NE(text.find("<bob@example.org>"), std::string::npos);
  EXPECT_NE(text.find("mx.example.org [198.18.2.10] said"), std::string::npos);
  EXPECT_NE(text.find("misspelled"), std::string::npos);  // 5.1.1 advice
  EXPECT_NE(text.find("What you can do"), std::string::npos);
  EXPECT_NE(text.find("0Abc123XYZ"), std::string::npos);

  EXPECT_EQ(s(v, "headers"), bounce_report().original_headers);
}

TEST(Dsn, DelayNotice) {
  DsnReport r = bounce_report();
  r.delayed = true;
  r.recipients.resize(1);
  r.recipients[0].action = DsnAction::delayed;
  r.recipients[0].status = dsn_status("451 4.7.1 greylisted", '4');
  r.recipients[0].diagnostic = "451 4.7.1 greylisted";
  r.recipients[0].will_retry_until = 1700432000;
  const auto v = parse_with_python(make_dsn(r));
  EXPECT_EQ(v.at("defects").as_array().size(), 0u);
  EXPECT_EQ(s(v, "Subject"), "Delayed Mail (still being retried)");
  const auto& rcpt = v.at("per_recipient").at(0);
  EXPECT_EQ(s(rcpt, "Action"), "delayed");
  EXPECT_EQ(s(rcpt, "Status"), "4.7.1");
  EXPECT_EQ(s(rcpt, "Will-Retry-Until"), "Sun, 19 Nov 2023 22:13:20 +0000");
  EXPECT_NE(s(v, "text").find("keep trying"), std::string::npos);
}

TEST(Dsn, HostileInputStaysContained) {
  DsnReport r = bounce_report();
  // 8-bit headers, a reply with CR/LF injection and a huge diagnostic, a UTF-8 recipient.
  r.original_headers =
      "Subject: caf\xc3\xa9 ol\xc3\xa9\r\nX-Long: " + std::string(900, 'x') + "\r\n";
  r.recipients[0].diagnostic = "550 bad\r\nBcc: victim@example.org\r\n" + std::string(5000, 'y');
  r.recipients[1].final_recipient =
      "j\xc3\xb6rg+tag@b\xc3\xbc"
      "cher.example";
  const std::string dsn = make_dsn(r);
  EXPECT_EQ(dsn.find("\r\nBcc:"), std::string::npos);
  EXPECT_LT(dsn.size(), 20000u);
  const auto v = parse_with_python(dsn);
  EXPECT_EQ(v.at("defects").as_array().size(), 0u) << json::serialize(v.at("defects"));
  EXPECT_TRUE(v.at("seven_bit").as_bool());
  EXPECT_LE(v.at("max_line").as_int64(), 998);
  EXPECT_EQ(s(v, "headers"), r.original_headers);  // quoted-printable round trip
  const auto& rcpts = v.at("per_recipient").as_array();
  EXPECT_EQ(s(rcpts[1], "Final-Recipient"), "utf-8; j\\x{F6}rg\\x{2B}tag@b\\x{FC}cher.example");
  EXPECT_LT(s(rcpts[0], "Diagnostic-Code").size(), 1100u);
  EXPECT_EQ(s(rcpts[0], "Diagnostic-Code").find('\n'), std::string::npos);
}

TEST(Dsn, EveryNoticeHasItsOwnBoundaryAndId) {
  const auto a = parse_with_python(make_dsn(bounce_report()));
  const auto b = parse_with_python(make_dsn(bounce_report()));
  EXPECT_NE(s(a, "boundary"), s(b, "boundary"));
  EXPECT_NE(s(a, "Message-ID"), s(b, "Message-ID"));
}

TEST(Dsn, StatusFromReply) {
  EXPECT_EQ(dsn_status("550 5.1.1 no such user", '5'), "5.1.1");
  EXPECT_EQ(dsn_status("550-5.7.26 unauthenticated", '5'), "5.7.26");
  EXPECT_EQ(dsn_status("452 4.2.2 mailbox full", '5'), "5.2.2");  // expiry after 4xx
  EXPECT_EQ(dsn_status("451 4.4.7 expired", '5'), "5.4.7");
  EXPECT_EQ(dsn_status("550 no enhanced code", '5'), "5.0.0");
  EXPECT_EQ(dsn_status("421 try later", '4'), "4.0.0");
  EXPECT_EQ(dsn_status("garbage", '5'), "5.0.0");
  EXPECT_EQ(dsn_status("", '4'), "4.0.0");
  EXPECT_EQ(dsn_status("550 5.1234.1 bad", '5'), "5.0.0");
}

TEST(Dsn, ShouldBounce) {
  queue::Envelope e;
  e.mail_from = "alice@acme.example";
  e.listener = "submission";
  EXPECT_TRUE(should_bounce(e));
  e.listener = "bounce";
  EXPECT_FALSE(should_bounce(e));  // never bounce a bounce
  e.listener = "intercept";
  e.mail_from = "";
  EXPECT_FALSE(should_bounce(e));  // null sender
}

TEST(Dsn, HeaderSection) {
  EXPECT_EQ(header_section_of("A: 1\r\nB: 2\r\n\r\nbody\r\n"), "A: 1\r\nB: 2\r\n");
  EXPECT_EQ(header_section_of("A: 1\r\n"), "A: 1\r\n");
  EXPECT_EQ(header_section_of("\r\nbody"), "");
}

}  // namespace
}  // namespace portcullis::relay::delivery
