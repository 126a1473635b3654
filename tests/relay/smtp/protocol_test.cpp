#include "relay/smtp/protocol.hpp"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "relay/smtp/sasl.hpp"

namespace portcullis::relay::smtp {
namespace {

ProtocolSettings settings(ListenerKind kind) {
  ProtocolSettings s;
  s.kind = kind;
  s.hostname = "relay.test";
  s.max_message_size = 1000;
  s.max_recipients = 2;
  s.max_errors = 10;
  return s;
}

// Drives a protocol through a script of client lines and the reply each must
// get ("" when the line gets no reply of its own, e.g. it asks for an action).
struct Line {
  std::string client;
  std::string reply;  // "250 2.1.0" style prefix of the first reply line
  Action action = Action::none;
};

std::string head(const std::optional<Reply>& reply) {
  if (!reply) {
    return "";
  }
  std::string s = std::to_string(reply->code);
  if (!reply->enhanced.empty()) {
    s += " " + reply->enhanced;
  }
  return s;
}

void run_script(Protocol& p, const std::vector<Line>& script) {
  for (const auto& line : script) {
    const Step step = p.on_line(line.client);
    EXPECT_EQ(head(step.reply), line.reply) << "after: " << line.client;
    EXPECT_EQ(step.action, line.action) << "after: " << line.client;
  }
}

std::string plain(std::string_view user, std::string_view password) {
  std::string raw;
  raw += '\0';
  raw += user;
  raw += '\0';
  raw += password;
  return base64_encode(raw);
}

Protocol authenticated_submission() {
  Protocol p(settings(ListenerKind::submission));
  p.on_line("EHLO client.test");
  EXPECT_EQ(p.on_line("STARTTLS").action, Action::start_tls);
  p.on_tls_started();
  p.on_line("EHLO client.test");
  EXPECT_EQ(p.on_line("AUTH PLAIN " + plain("acme.1", "secret")).action, Action::verify_auth);
  EXPECT_EQ(p.pending_auth().username, "acme.1");
  EXPECT_EQ(p.pending_auth().password, "secret");
  const Step s = p.on_auth_result({AuthStatus::ok, "acme", "acme.1", ""});
  EXPECT_EQ(head(s.reply), "235 2.7.0");
  return p;
}

TEST(ProtocolTest, GreetingNamesTheHost) {
  Protocol p(settings(ListenerKind::submission));
  EXPECT_EQ(p.greeting().render(), "220 relay.test ESMTP Portcullis\r\n");
}

TEST(ProtocolTest, EhloBeforeTlsOffersStartTlsButNotAuth) {
  Protocol p(settings(ListenerKind::submission));
  const Step s = p.on_line("EHLO client.test");
  const std::string text = s.reply->render();
  EXPECT_NE(text.find("250-STARTTLS\r\n"), std::string::npos);
  EXPECT_EQ(text.find("AUTH"), std::string::npos);
  for (const char* keyword :
       {"PIPELINING", "SIZE 1000", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8"}) {
    EXPECT_NE(text.find(keyword), std::string::npos) << keyword;
  }
}

TEST(ProtocolTest, AfterTlsAuthIsOfferedAndStartTlsIsNot) {
  Protocol p(settings(ListenerKind::submission));
  p.on_line("EHLO client.test");
  p.on_line("STARTTLS");
  p.on_tls_started();
  // RFC 3207: the client must say EHLO again; MAIL before that is out of sequence.
  run_script(p, {{"MAIL FROM:<a@b.test>", "503 5.5.1"}});
  const std::string text = p.on_line("EHLO client.test").reply->render();
  EXPECT_NE(text.find("AUTH PLAIN LOGIN"), std::string::npos);
  EXPECT_EQ(text.find("STARTTLS"), std::string::npos);
}

TEST(ProtocolTest, SubmissionRefusesAuthAndMailWithoutTls) {
  Protocol p(settings(ListenerKind::submission));
  run_script(p, {
                    {"EHLO client.test", "250"},
                    {"AUTH PLAIN " + plain("u", "p"), "538 5.7.11"},
                    {"MAIL FROM:<a@b.test>", "530 5.7.0"},
                    {"RCPT TO:<c@d.test>", "503 5.5.1"},
                });
}

TEST(ProtocolTest, SmtpsAllowsAuthAtOnce) {
  Protocol p(settings(ListenerKind::smtps));
  run_script(p, {
                    {"EHLO client.test", "250"},
                    {"STARTTLS", "503 5.5.1"},
                    {"AUTH LOGIN", "334"},
                    {base64_encode("acme.1"), "334"},
                    {base64_encode("secret"), "", Action::verify_auth},
                });
  EXPECT_EQ(p.pending_auth().username, "acme.1");
  EXPECT_EQ(head(p.on_auth_result({AuthStatus::bad_credentials, "", "", ""}).reply), "535 5.7.8");
  EXPECT_FALSE(p.authenticated());
  run_script(p, {{"MAIL FROM:<a@b.test>", "530 5.7.0"}});
}

TEST(ProtocolTest, AuthFailuresMapToTheirCodes) {
  struct Case {
    AuthStatus status;
    std::string reply;
  };
  for (const auto& c : std::vector<Case>{{AuthStatus::locked_out, "454 4.7.0"},
                                         {AuthStatus::temporary_failure, "454 4.7.0"},
                                         {AuthStatus::tenant_suspended, "554 5.7.1"},
                                         {AuthStatus::bad_credentials, "535 5.7.8"}}) {
    Protocol p(settings(ListenerKind::smtps));
    p.on_line("EHLO client.test");
    p.on_line("AUTH PLAIN " + plain("u", "p"));
    EXPECT_EQ(head(p.on_auth_result({c.status, "acme", "u", "unpaid"}).reply), c.reply);
    EXPECT_FALSE(p.authenticated());
  }
}

TEST(ProtocolTest, MalformedAuthIsRefusedWithoutVerifying) {
  Protocol p(settings(ListenerKind::smtps));
  run_script(p, {
                    {"EHLO client.test", "250"},
                    {"AUTH PLAIN !!!notbase64", "501 5.5.2"},
                    {"AUTH PLAIN " + base64_encode("no-nuls-here"), "501 5.5.2"},
                    {"AUTH CRAM-MD5", "504 5.5.4"},
                    {"AUTH PLAIN", "334"},
                    {"*", "501 5.0.0"},
                });
}

TEST(ProtocolTest, AuthenticatedTransaction) {
  Protocol p = authenticated_submission();
  run_script(p, {
                    {"AUTH PLAIN " + plain("u", "p"), "503 5.5.1"},
                    {"RCPT TO:<c@d.test>", "503 5.5.1"},
                    {"DATA", "503 5.5.1"},
                    {"MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME", "250 2.1.0"},
                    {"MAIL FROM:<a@b.test>", "503 5.5.1"},
                    {"DATA", "554 5.5.1"},
                    {"RCPT TO:<c@d.test>", "250 2.1.5"},
                    {"RCPT TO:<e@f.test>", "250 2.1.5"},
                    {"RCPT TO:<g@h.test>", "452 4.5.3"},
                    {"DATA", "354", Action::read_data},
                });
  EXPECT_EQ(p.transaction().mail_from, "a@b.test");
  EXPECT_EQ(p.transaction().recipients, (std::vector<std::string>{"c@d.test", "e@f.test"}));
  EXPECT_EQ(p.transaction().body_type, "8BITMIME");
  EXPECT_EQ(p.on_data_received(DataError::none).action, Action::commit);
  const Step done = p.on_commit_result("ID123");
  EXPECT_EQ(done.reply->render(), "250 2.0.0 Ok: queued as ID123\r\n");
  EXPECT_TRUE(p.transaction().recipients.empty());
}

TEST(ProtocolTest, ContentErrorsAreReportedAfterTheData) {
  struct Case {
    DataError error;
    std::string reply;
  };
  for (const auto& c : std::vector<Case>{{DataError::too_big, "552 5.3.4"},
                                         {DataError::line_too_long, "550 5.6.0"},
                                         {DataError::bare_lf, "550 5.6.0"},
                                         {DataError::bare_cr, "550 5.6.0"}}) {
    Protocol p = authenticated_submission();
    run_script(p, {{"MAIL FROM:<a@b.test>", "250 2.1.0"},
                   {"RCPT TO:<c@d.test>", "250 2.1.5"},
                   {"DATA", "354", Action::read_data}});
    const Step s = p.on_data_received(c.error);
    EXPECT_EQ(head(s.reply), c.reply);
    EXPECT_EQ(s.action, Action::none);
    // The transaction is gone; nothing can be committed from it.
    run_script(p, {{"DATA", "503 5.5.1"}});
  }
}

TEST(ProtocolTest, DeclaredSizeOverTheLimitIsRefusedAtMail) {
  Protocol p = authenticated_submission();
  run_script(p, {{"MAIL FROM:<a@b.test> SIZE=1001", "552 5.3.4"},
                 {"MAIL FROM:<a@b.test> SIZE=1000", "250 2.1.0"}});
}

TEST(ProtocolTest, CommitFailureIsTemporary) {
  Protocol p = authenticated_submission();
  run_script(p, {{"MAIL FROM:<> ", "250 2.1.0"},
                 {"RCPT TO:<c@d.test>", "250 2.1.5"},
                 {"DATA", "354", Action::read_data}});
  p.on_data_received(DataError::none);
  EXPECT_EQ(head(p.on_commit_result(std::nullopt).reply), "451 4.3.0");
}

TEST(ProtocolTest, InterceptNeedsNoAuthButOffersNone) {
  Protocol p(settings(ListenerKind::intercept));
  p.attribute_to_tenant("acme");
  const std::string ehlo = p.on_line("EHLO mta.test").reply->render();
  EXPECT_EQ(ehlo.find("AUTH"), std::string::npos);
  run_script(p, {
                    {"AUTH PLAIN " + plain("u", "p"), "503 5.5.1"},
                    {"MAIL FROM:<a@b.test>", "250 2.1.0"},
                    {"RCPT TO:<c@d.test>", "250 2.1.5"},
                });
  EXPECT_EQ(p.tenant_id(), "acme");
}

TEST(ProtocolTest, MailGateCanRefuse) {
  Protocol p(settings(ListenerKind::intercept));
  p.attribute_to_tenant("acme");
  p.set_mail_gate([](std::string_view tenant, std::uint64_t) -> std::optional<Reply> {
    return Reply(554, "5.7.1", "Tenant " + std::string(tenant) + " is suspended: test");
  });
  run_script(p, {{"EHLO mta.test", "250"}, {"MAIL FROM:<a@b.test>", "554 5.7.1"}});
}

TEST(ProtocolTest, MailGateSeesTheDeclaredSize) {
  Protocol p = authenticated_submission();
  std::vector<std::uint64_t> sizes;
  p.set_mail_gate([&](std::string_view tenant, std::uint64_t size) -> std::optional<Reply> {
    EXPECT_EQ(tenant, "acme");
    sizes.push_back(size);
    if (size > 500) {
      return Reply(552, "5.3.4", "Message size exceeds the tenant's limit of 500 bytes");
    }
    return std::nullopt;
  });
  run_script(p, {{"MAIL FROM:<a@b.test> SIZE=501", "552 5.3.4"},
                 {"MAIL FROM:<a@b.test> SIZE=1001", "552 5.3.4"},  // the listener's limit first
                 {"MAIL FROM:<a@b.test>", "250 2.1.0"}});
  EXPECT_EQ(sizes, (std::vector<std::uint64_t>{501, 0}));
}

TEST(ProtocolTest, RcptGateRefusesOneRecipientAndKeepsTheOthers) {
  ProtocolSettings s = settings(ListenerKind::submission);
  s.max_recipients = 3;
  Protocol p(s);
  p.attribute_to_tenant("acme");  // as if authenticated; the gate only needs the tenant
  struct Call {
    std::string tenant, address;
    std::size_t so_far;
  };
  std::vector<Call> calls;
  p.set_rcpt_gate([&](std::string_view tenant, std::string_view address,
                      std::size_t so_far) -> std::optional<Reply> {
    calls.push_back({std::string(tenant), std::string(address), so_far});
    if (address == "gone@d.test") {
      return Reply(550, "5.1.1", "<gone@d.test> is on tenant acme's bounces suppression list");
    }
    if (so_far >= 2) {
      return Reply(452, "4.5.3", "Too many recipients (limit 2)");
    }
    return std::nullopt;
  });
  run_script(p, {{"EHLO client.test", "250"},
                 {"MAIL FROM:<a@b.test>", "250 2.1.0"},
                 {"RCPT TO:<c@d.test>", "250 2.1.5"},
                 {"RCPT TO:<gone@d.test>", "550 5.1.1"},
                 {"RCPT TO:<Postmaster>", "250 2.1.5"},
                 {"RCPT TO:<e@d.test>", "452 4.5.3"},
                 {"RCPT TO:<bad", "553 5.1.3"}});  // syntax is checked before the gate
  EXPECT_EQ(p.transaction().recipients, (std::vector<std::string>{"c@d.test", "postmaster"}));
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_EQ(calls[1].address, "gone@d.test");
  EXPECT_EQ(calls[1].so_far, 1u);
  EXPECT_EQ(calls[2].address, "postmaster");
  EXPECT_EQ(calls[3].so_far, 2u);
  EXPECT_EQ(calls[3].tenant, "acme");
}

// Every transaction the MAIL gate let start ends exactly once, accepted only
// when it was queued.
TEST(ProtocolTest, TransactionEndsExactlyOnce) {
  struct Case {
    std::string name;
    std::function<void(Protocol&)> finish;
    std::vector<bool> ends;
  };
  const auto start = [](Protocol& p) {
    run_script(p, {{"MAIL FROM:<a@b.test>", "250 2.1.0"}, {"RCPT TO:<c@d.test>", "250 2.1.5"}});
  };
  const auto data = [](Protocol& p) { run_script(p, {{"DATA", "354", Action::read_data}}); };
  const std::vector<Case> cases{
      {"queued",
       [&](Protocol& p) {
         data(p);
         p.on_data_received(DataError::none);
         p.on_commit_result("ID1");
         p.on_close();
       },
       {true}},
      {"commit failed",
       [&](Protocol& p) {
         data(p);
         p.on_data_received(DataError::none);
         p.on_commit_result(std::nullopt);
       },
       {false}},
      {"content refused",
       [&](Protocol& p) {
         data(p);
         p.on_data_received(DataError::too_big);
         p.on_close();
       },
       {false}},
      {"rset twice",
       [](Protocol& p) {
         run_script(p, {{"RSET", "250 2.0.0"}, {"RSET", "250 2.0.0"}});
       },
       {false}},
      {"ehlo",
       [](Protocol& p) {
         run_script(p, {{"EHLO again.test", "250"}});
       },
       {false}},
      {"disconnect",
       [](Protocol& p) {
         p.on_close();
         p.on_close();
       },
       {false}},
      {"bdat refused",
       [](Protocol& p) {
         run_script(p, {{"BDAT 10 LAST", "", Action::read_bdat}});
         p.on_bdat_chunk(DataError::bare_lf);
         p.on_close();
       },
       {false}},
      {"bdat queued",
       [](Protocol& p) {
         run_script(p, {{"BDAT 10 LAST", "", Action::read_bdat}});
         EXPECT_EQ(p.on_bdat_chunk(DataError::none).action, Action::commit);
         p.on_commit_result("ID2");
       },
       {true}},
      {"two transactions",
       [&](Protocol& p) {
         run_script(p, {{"RSET", "250 2.0.0"}});
         start(p);
         data(p);
         p.on_data_received(DataError::none);
         p.on_commit_result("ID3");
         p.on_close();
       },
       {false, true}},
  };
  for (const auto& c : cases) {
    Protocol p = authenticated_submission();
    std::vector<bool> ends;
    p.set_transaction_end([&](bool accepted) { ends.push_back(accepted); });
    start(p);
    c.finish(p);
    EXPECT_EQ(ends, c.ends) << c.name;
  }
}

TEST(ProtocolTest, RefusedMailStartsNoTransaction) {
  Protocol p = authenticated_submission();
  int ends = 0;
  p.set_mail_gate([](std::string_view, std::uint64_t) -> std::optional<Reply> {
    return Reply(451, "4.7.1", "Rate limit");
  });
  p.set_transaction_end([&](bool) { ++ends; });
  run_script(p, {{"MAIL FROM:<a@b.test>", "451 4.7.1"},
                 {"RCPT TO:<c@d.test>", "503 5.5.1"},
                 {"RSET", "250 2.0.0"}});
  p.on_close();
  EXPECT_EQ(ends, 0);
}

TEST(ProtocolTest, AuthRefusedForConnectionsCloses) {
  Protocol p(settings(ListenerKind::smtps));
  p.on_line("EHLO client.test");
  EXPECT_EQ(p.on_line("AUTH PLAIN " + plain("acme.1", "secret")).action, Action::verify_auth);
  AuthResult r{AuthStatus::connection_refused, "acme", "acme.1", "", std::nullopt};
  r.refusal =
      Reply(421, "4.7.0", "Too many connections for tenant acme (limit 2), try again later");
  const Step s = p.on_auth_result(r);
  EXPECT_EQ(s.reply->render(),
            "421 4.7.0 Too many connections for tenant acme (limit 2), try again later\r\n");
  EXPECT_EQ(s.action, Action::close);
  EXPECT_FALSE(p.authenticated());
}

TEST(ProtocolTest, BdatChunksThenLastCommits) {
  Protocol p = authenticated_submission();
  run_script(p, {{"MAIL FROM:<a@b.test>", "250 2.1.0"},
                 {"RCPT TO:<c@d.test>", "250 2.1.5"},
                 {"BDAT 10", "", Action::read_bdat}});
  EXPECT_EQ(p.bdat_size(), 10u);
  EXPECT_EQ(head(p.on_bdat_chunk(DataError::none).reply), "250 2.0.0");
  run_script(p, {{"DATA", "503 5.5.1"}, {"BDAT 5 LAST", "", Action::read_bdat}});
  EXPECT_TRUE(p.bdat_last());
  EXPECT_EQ(p.on_bdat_chunk(DataError::none).action, Action::commit);
}

TEST(ProtocolTest, BdatWithoutTransactionIsReadThenRefused) {
  Protocol p = authenticated_submission();
  run_script(p, {{"BDAT 3 LAST", "", Action::read_bdat}});
  EXPECT_EQ(head(p.on_bdat_chunk(DataError::none).reply), "503 5.5.1");
  // A size that cannot be framed ends the session.
  run_script(p, {{"BDAT lots", "501 5.5.4", Action::close}});
}

TEST(ProtocolTest, TooManyErrorsCloses) {
  ProtocolSettings s = settings(ListenerKind::submission);
  s.max_errors = 4;
  Protocol p(s);
  run_script(p, {
                    {"FOO", "500 5.5.2"},
                    {"BAR", "500 5.5.2"},
                    {"EHLO", "501 5.5.4"},
                    {"BAZ", "421 4.7.0", Action::close},
                });
}

TEST(ProtocolTest, LongLinesAreErrors) {
  Protocol p(settings(ListenerKind::submission));
  EXPECT_EQ(head(p.on_line_too_long().reply), "500 5.5.2");
  EXPECT_EQ(p.max_line_length(), 512u);
  p.on_line("EHLO x");
}

TEST(ProtocolTest, MiscCommands) {
  Protocol p(settings(ListenerKind::submission));
  run_script(p, {
                    {"NOOP", "250 2.0.0"},
                    {"RSET", "250 2.0.0"},
                    {"VRFY someone", "252 2.5.0"},
                    {"HELO client.test", "250"},
                    {"QUIT", "221 2.0.0", Action::close},
                });
}

// The gateway's own mailboxes, compared case-insensitively as LocalMailbox promises.
bool local_mailbox(std::string_view address) {
  const auto lower = [](std::string_view v) {
    std::string out(v);
    for (char& c : out) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
  };
  const std::string a = lower(address);
  return a == "fbl@relay.test" || a == "abuse@relay.test";
}

Protocol feedback_protocol() {
  Protocol p(settings(ListenerKind::feedback));
  p.set_local_recipients(local_mailbox);
  return p;
}

TEST(ProtocolTest, FeedbackOffersStartTlsButNeverAuth) {
  Protocol p = feedback_protocol();
  EXPECT_EQ(to_string(ListenerKind::feedback), "feedback");
  std::string ehlo = p.on_line("EHLO mx.provider.test").reply->render();
  EXPECT_NE(ehlo.find("250-STARTTLS\r\n"), std::string::npos);
  EXPECT_EQ(ehlo.find("AUTH"), std::string::npos);
  EXPECT_EQ(p.on_line("STARTTLS").action, Action::start_tls);
  p.on_tls_started();
  ehlo = p.on_line("EHLO mx.provider.test").reply->render();
  EXPECT_EQ(ehlo.find("AUTH"), std::string::npos);
  EXPECT_EQ(ehlo.find("STARTTLS"), std::string::npos);
  run_script(p, {{"AUTH PLAIN " + plain("u", "p"), "503 5.5.1"}});
}

TEST(ProtocolTest, FeedbackTakesMailWithoutAuthForLocalRecipientsOnly) {
  Protocol p = feedback_protocol();
  run_script(p, {
                    {"EHLO mx.provider.test", "250"},
                    {"MAIL FROM:<>", "250 2.1.0"},
                    {"RCPT TO:<someone@example.net>", "550 5.7.1"},
                    {"RCPT TO:<fbl@relay.test.example.net>", "550 5.7.1"},
                    {"RCPT TO:<FBL@Relay.Test>", "250 2.1.5"},
                    {"RCPT TO:<abuse@relay.test>", "250 2.1.5"},
                    {"DATA", "354", Action::read_data},
                });
  EXPECT_FALSE(p.authenticated());
  EXPECT_EQ(p.tenant_id(), "");
  EXPECT_EQ(p.transaction().mail_from, "");
  // Kept as the client wrote it: the mailbox compares case-insensitively.
  EXPECT_EQ(p.transaction().recipients,
            (std::vector<std::string>{"FBL@Relay.Test", "abuse@relay.test"}));
  EXPECT_EQ(p.on_data_received(DataError::none).action, Action::commit);
  EXPECT_EQ(p.on_commit_result("R42").reply->render(), "250 2.0.0 Ok: report R42 stored\r\n");
  EXPECT_TRUE(p.transaction().recipients.empty());
}

TEST(ProtocolTest, FeedbackRefusalNamesTheAddress) {
  Protocol p = feedback_protocol();
  run_script(p, {{"EHLO mx.provider.test", "250"}, {"MAIL FROM:<fbl@provider.test>", "250 2.1.0"}});
  EXPECT_EQ(p.on_line("RCPT TO:<victim@example.net>").reply->render(),
            "550 5.7.1 Relaying denied: <victim@example.net> is not a mailbox of this gateway\r\n");
  EXPECT_TRUE(p.transaction().recipients.empty());
  run_script(p, {{"DATA", "554 5.5.1"}, {"BDAT 3 LAST", "", Action::read_bdat}});
  EXPECT_EQ(head(p.on_bdat_chunk(DataError::none).reply), "554 5.5.1");
}

TEST(ProtocolTest, FeedbackWithoutMailboxRefusesEveryRecipient) {
  Protocol p(settings(ListenerKind::feedback));
  run_script(p, {{"EHLO mx.provider.test", "250"},
                 {"MAIL FROM:<>", "250 2.1.0"},
                 {"RCPT TO:<fbl@relay.test>", "550 5.7.1"},
                 {"RCPT TO:<Postmaster>", "550 5.7.1"},
                 {"DATA", "554 5.5.1"}});
}

TEST(ProtocolTest, FeedbackRelayProbesCountAsErrors) {
  ProtocolSettings s = settings(ListenerKind::feedback);
  s.max_errors = 3;
  Protocol p(s);
  p.set_local_recipients(local_mailbox);
  run_script(p, {{"EHLO mx.provider.test", "250"},
                 {"MAIL FROM:<>", "250 2.1.0"},
                 {"RCPT TO:<a@example.net>", "550 5.7.1"},
                 {"RCPT TO:<b@example.net>", "550 5.7.1"},
                 {"RCPT TO:<c@example.net>", "421 4.7.0", Action::close}});
}

TEST(ProtocolTest, FeedbackBdatCommitsAndFailureIsTemporary) {
  Protocol p = feedback_protocol();
  run_script(p, {{"EHLO mx.provider.test", "250"},
                 {"MAIL FROM:<>", "250 2.1.0"},
                 {"RCPT TO:<abuse@relay.test>", "250 2.1.5"},
                 {"BDAT 10 LAST", "", Action::read_bdat}});
  EXPECT_EQ(p.on_bdat_chunk(DataError::none).action, Action::commit);
  EXPECT_EQ(p.on_commit_result(std::nullopt).reply->render(),
            "451 4.3.0 Could not store message, try again later\r\n");
  // Nothing is left of the transaction: a new one starts cleanly.
  run_script(p, {{"DATA", "503 5.5.1"}, {"MAIL FROM:<>", "250 2.1.0"}});
}

TEST(ProtocolTest, FeedbackContentErrorsAreReportedAsElsewhere) {
  Protocol p = feedback_protocol();
  run_script(p, {{"EHLO mx.provider.test", "250"},
                 {"MAIL FROM:<>", "250 2.1.0"},
                 {"RCPT TO:<fbl@relay.test>", "250 2.1.5"},
                 {"DATA", "354", Action::read_data}});
  EXPECT_EQ(head(p.on_data_received(DataError::bare_lf).reply), "550 5.6.0");
  run_script(p, {{"DATA", "503 5.5.1"}});
}

TEST(ProtocolTest, FeedbackReportIdCannotEndTheReplyLine) {
  Protocol p = feedback_protocol();
  run_script(p, {{"EHLO mx.provider.test", "250"},
                 {"MAIL FROM:<>", "250 2.1.0"},
                 {"RCPT TO:<fbl@relay.test>", "250 2.1.5"},
                 {"DATA", "354", Action::read_data}});
  p.on_data_received(DataError::none);
  EXPECT_EQ(p.on_commit_result("a\r\n250 b").reply->render(),
            "250 2.0.0 Ok: report a??250 b stored\r\n");
}

}  // namespace
}  // namespace portcullis::relay::smtp
