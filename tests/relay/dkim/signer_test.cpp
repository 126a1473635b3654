#include "relay/dkim/signer.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/core/dkim/key_generator.hpp"

namespace portcullis::relay::dkim {
namespace {

namespace fs = std::filesystem;
using portcullis::dkim::Algorithm;

constexpr std::int64_t kNow = 1700000000;

// Debian's interpreter: python3-dkim (and python3-nacl for Ed25519) live in
// its dist-packages, which a pyenv or venv python3 on PATH does not see.
constexpr const char* kPython = "/usr/bin/python3";

// The independent verifier: dkimpy, with the key record served by a stub
// instead of DNS. One interpreter run checks several messages (python start-up
// dominates); it prints per message 0 = verified, 1 = failed, 2 = verified but
// the key was looked up under the wrong name.
constexpr const char* kVerifyScript = R"py(
import sys, dkim
record = open(sys.argv[1], 'rb').read()
expected = sys.argv[2].encode()
for path in sys.argv[3:]:
    asked = []
    def dnsfunc(name, timeout=5):
        asked.append(name)
        return record
    ok = dkim.verify(open(path, 'rb').read(), dnsfunc=dnsfunc)
    if ok and not all(n.rstrip(b'.') == expected for n in asked):
        print(2)
    else:
        print(0 if ok else 1)
)py";

struct TempDir {
  TempDir() {
    std::string pattern = (fs::path(testing::TempDir()) / "portcullis-dkim-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp failed");
    }
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Runs dkimpy on each message; one status per message (-1 if it did not run).
std::vector<int> dkimpy_verify(const std::vector<std::string>& messages,
                               const std::string& txt_record,
                               const std::string& dns_name) {
  TempDir dir;
  write_file(dir.path / "verify.py", kVerifyScript);
  write_file(dir.path / "record.txt", txt_record);
  std::string command = std::string(kPython) + " " + (dir.path / "verify.py").string() + " " +
                        (dir.path / "record.txt").string() + " " + dns_name;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const auto path = dir.path / ("message" + std::to_string(i) + ".eml");
    write_file(path, messages[i]);
    command += " " + path.string();
  }
  std::vector<int> results;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    return std::vector<int>(messages.size(), -1);
  }
  int status = 0;
  while (std::fscanf(pipe, "%d", &status) == 1) {
    results.push_back(status);
  }
  ::pclose(pipe);
  results.resize(messages.size(), -1);
  return results;
}

int dkimpy_verify(const std::string& message,
                  const std::string& txt_record,
                  const std::string& dns_name) {
  return dkimpy_verify(std::vector<std::string>{message}, txt_record, dns_name).front();
}

bool dkimpy_available() {
  static const bool available = [] {
    const std::string command = std::string(kPython) + " -c 'import dkim, nacl' 2>/dev/null";
    return std::system(command.c_str()) == 0;
  }();
  return available;
}

struct TestKey {
  store::DkimKey key;
  std::string txt;
};

TestKey make_key(Algorithm algorithm,
                 std::string tenant,
                 std::string domain,
                 std::string selector = "sel1") {
  auto pair = portcullis::dkim::generate_key(algorithm).value();
  TestKey out;
  out.key.tenant_id = std::move(tenant);
  out.key.domain = std::move(domain);
  out.key.selector = std::move(selector);
  out.key.algorithm = std::string(portcullis::dkim::to_string(algorithm));
  out.key.private_key_pem = pair.private_key_pem;
  out.key.public_key = pair.public_key;
  out.txt = portcullis::dkim::txt_record(algorithm, pair.public_key);
  return out;
}

// Headers folded in odd places, WSP runs, a body with trailing whitespace,
// whitespace-only lines and trailing empty lines.
const std::string kFoldedMessage =
    "Received: from client.example (client.example [198.18.1.10])\r\n"
    "\tby relay.gw.example (Portcullis) with ESMTPSA id 0001; Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "From: \"Doe, John\" (the boss) <john@acme.example>\r\n"
    "To: alice@example.org,\r\n"
    "   bob@example.org\r\n"
    "Subject:   A   folded\r\n"
    "\t subject  with \t spaces   \r\n"
    "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
    "Message-ID: <0001@relay.gw.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain;\r\n"
    "  charset=utf-8\r\n"
    "X-Not-Signed: anything\r\n"
    "\r\n"
    "Hello   world  \r\n"
    "\tindented line\t \r\n"
    "   \r\n"
    "last line with trailing tab\t\r\n"
    "\r\n"
    "\r\n";

const std::string kEmptyBodyMessage =
    "From: john@acme.example\r\n"
    "To: alice@example.org\r\n"
    "Subject: nothing to say\r\n"
    "\r\n";

class DkimSignerVerify : public testing::TestWithParam<Algorithm> {
 protected:
  void SetUp() override {
    if (!dkimpy_available()) {
      FAIL() << kPython << " cannot import dkim and nacl: install python3-dkim (scripts/deps)";
    }
    key_ = make_key(GetParam(), "acme", "acme.example");
    signer_ = std::make_unique<DkimSigner>(std::vector<store::DkimKey>{key_.key});
  }

  std::string sign(const std::string& message, const std::string& tenant = "acme") {
    auto header = signer_->sign(message, tenant, kNow);
    EXPECT_TRUE(header.has_value());
    return header.value_or("") + message;
  }

  int verify(const std::string& signed_message) {
    return dkimpy_verify(signed_message, key_.txt, "sel1._domainkey.acme.example");
  }

  TestKey key_;
  std::unique_ptr<DkimSigner> signer_;
};

TEST_P(DkimSignerVerify, FoldedHeadersAndTrailingWhitespaceVerify) {
  EXPECT_EQ(verify(sign(kFoldedMessage)), 0);
}

TEST_P(DkimSignerVerify, EmptyBodyVerifies) {
  const auto results = dkimpy_verify(
      {sign(kEmptyBodyMessage), sign("From: john@acme.example\r\nSubject: no separator\r\n")},
      key_.txt, "sel1._domainkey.acme.example");
  EXPECT_EQ(results, (std::vector<int>{0, 0}));
}

TEST_P(DkimSignerVerify, TamperedMessagesFail) {
  const auto signed_message = sign(kFoldedMessage);

  auto body_changed = signed_message;
  body_changed.replace(body_changed.find("Hello"), 5, "Hallo");

  auto subject_changed = signed_message;
  subject_changed.replace(subject_changed.find("folded"), 6, "FOLDED");

  // Oversigned From: a second From added in transit breaks the signature.
  auto from_added = signed_message;
  from_added.insert(from_added.find("\r\n\r\n") + 2, "From: ceo@acme.example\r\n");

  // Whitespace changes that relaxed canonicalisation absorbs still verify.
  auto rewhitespaced = signed_message;
  rewhitespaced.replace(rewhitespaced.find("Hello   world"), 13, "Hello world");

  const auto results =
      dkimpy_verify({signed_message, body_changed, subject_changed, from_added, rewhitespaced},
                    key_.txt, "sel1._domainkey.acme.example");
  EXPECT_EQ(results, (std::vector<int>{0, 1, 1, 1, 0}));
}

TEST_P(DkimSignerVerify, SubdomainUsesTheParentDomainsKey) {
  auto message = kEmptyBodyMessage;
  message.replace(message.find("acme.example"), 12, "news.mail.acme.example");
  const auto signed_message = sign(message);
  EXPECT_NE(signed_message.find("d=acme.example;"), std::string::npos);
  EXPECT_EQ(verify(signed_message), 0);
}

TEST_P(DkimSignerVerify, HeaderShapeAndFolding) {
  const auto header = signer_->sign(kFoldedMessage, "acme", kNow).value();
  ASSERT_TRUE(header.starts_with("DKIM-Signature: v=1; a=")) << header;
  ASSERT_TRUE(header.ends_with("\r\n"));
  const std::string algorithm =
      GetParam() == Algorithm::rsa_sha256 ? "a=rsa-sha256;" : "a=ed25519-sha256;";
  EXPECT_NE(header.find(algorithm), std::string::npos) << header;
  EXPECT_NE(header.find("c=relaxed/relaxed;"), std::string::npos);
  EXPECT_NE(header.find("s=sel1;"), std::string::npos);
  EXPECT_NE(header.find("t=1700000000;"), std::string::npos);

  std::istringstream lines(header);
  std::string line;
  std::string unfolded;
  while (std::getline(lines, line)) {
    ASSERT_TRUE(line.ends_with('\r'));
    line.pop_back();
    EXPECT_LE(line.size(), 78u) << line;
    unfolded += line.starts_with('\t') ? " " + line.substr(1) : line;
  }
  // Present signed fields once each, From twice; unsigned ones absent.
  std::string compact;  // FWS may fold h= after any colon
  for (char c : unfolded) {
    if (c != ' ') {
      compact += c;
    }
  }
  EXPECT_NE(compact.find("h=from:from:to:subject:date:message-id:mime-version:content-type;"),
            std::string::npos)
      << unfolded;
  EXPECT_EQ(unfolded.find("received"), std::string::npos);
  EXPECT_EQ(unfolded.find("x-not-signed"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Algorithms,
                         DkimSignerVerify,
                         testing::Values(Algorithm::rsa_sha256, Algorithm::ed25519_sha256),
                         [](const testing::TestParamInfo<Algorithm>& info) {
                           return info.param == Algorithm::rsa_sha256 ? "Rsa" : "Ed25519";
                         });

TEST(DkimSigner, SameNamedFieldsAreSignedBottomUp) {
  if (!dkimpy_available()) {
    GTEST_FAIL() << kPython << " cannot import dkim: install python3-dkim (scripts/deps)";
  }
  const auto key = make_key(Algorithm::ed25519_sha256, "acme", "acme.example");
  DkimSigner signer({key.key});
  const std::string message =
      "From: john@acme.example\r\nTo: a@example.org\r\nTo: b@example.org\r\n"
      "Subject: two To fields\r\n\r\nbody\r\n";
  const auto header = signer.sign(message, "acme", kNow).value();
  EXPECT_NE(header.find("h=from:from:to:to:subject;"), std::string::npos) << header;
  EXPECT_EQ(dkimpy_verify(header + message, key.txt, "sel1._domainkey.acme.example"), 0);
}

TEST(DkimSigner, SignsOnlyForTheTenantsOwnDomains) {
  const auto acme = make_key(Algorithm::ed25519_sha256, "acme", "acme.example");
  const auto other = make_key(Algorithm::ed25519_sha256, "other", "other.example");
  DkimSigner signer({acme.key, other.key});
  EXPECT_EQ(signer.key_count(), 2u);
  EXPECT_TRUE(signer.sign(kEmptyBodyMessage, "acme", kNow).has_value());
  // Another tenant cannot get acme's signature, and acme cannot get other's.
  EXPECT_FALSE(signer.sign(kEmptyBodyMessage, "other", kNow).has_value());
  EXPECT_FALSE(signer.sign("From: x@other.example\r\n\r\n", "acme", kNow).has_value());
  // Look-alike and parent domains do not match.
  EXPECT_FALSE(signer.sign("From: x@notacme.example\r\n\r\n", "acme", kNow).has_value());
  EXPECT_FALSE(signer.sign("From: x@example\r\n\r\n", "acme", kNow).has_value());
  // No From, several From fields, an address without a domain.
  EXPECT_FALSE(signer.sign("Subject: x\r\n\r\n", "acme", kNow).has_value());
  EXPECT_FALSE(signer.sign("From: a@acme.example\r\nFrom: b@acme.example\r\n\r\n", "acme", kNow)
                   .has_value());
  EXPECT_FALSE(signer.sign("From: undisclosed\r\n\r\n", "acme", kNow).has_value());
  // An empty signer signs nothing.
  EXPECT_FALSE(DkimSigner().sign(kEmptyBodyMessage, "acme", kNow).has_value());
}

TEST(DkimSigner, NewestKeyOfADomainSigns) {
  const auto old_key = make_key(Algorithm::rsa_sha256, "acme", "acme.example", "old");
  const auto new_key = make_key(Algorithm::ed25519_sha256, "acme", "acme.example", "new");
  DkimSigner signer({old_key.key, new_key.key});
  const auto header = signer.sign(kEmptyBodyMessage, "acme", kNow).value();
  EXPECT_NE(header.find("s=new;"), std::string::npos) << header;
}

TEST(DkimSigner, UnusableKeysAreSkipped) {
  auto broken = make_key(Algorithm::rsa_sha256, "acme", "acme.example").key;
  broken.private_key_pem = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n";
  auto mismatched = make_key(Algorithm::ed25519_sha256, "acme", "b.example").key;
  mismatched.algorithm = "rsa-sha256";
  DkimSigner signer({broken, mismatched});
  EXPECT_EQ(signer.key_count(), 0u);
  EXPECT_FALSE(signer.sign(kEmptyBodyMessage, "acme", kNow).has_value());
}

TEST(DkimSigner, RegistrySwapsSnapshots) {
  SignerRegistry registry;
  const auto before = registry.snapshot();
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->key_count(), 0u);
  registry.publish(std::make_shared<const DkimSigner>(std::vector<store::DkimKey>{
      make_key(Algorithm::ed25519_sha256, "acme", "acme.example").key}));
  EXPECT_EQ(registry.snapshot()->key_count(), 1u);
  EXPECT_EQ(before->key_count(), 0u);  // a session's snapshot stays as it was
  registry.publish(nullptr);
  EXPECT_EQ(registry.snapshot()->key_count(), 0u);
}

struct FromCase {
  std::string value;
  std::optional<std::string> domain;
};

TEST(DkimAuthorDomain, ParsesFromFieldsDefensively) {
  const std::vector<FromCase> cases = {
      {" john@acme.example", "acme.example"},
      {" John Doe <john@Acme.Example>", "acme.example"},
      {" \"Doe, John\" <john@acme.example>", "acme.example"},
      {" \"a@evil.example\" <john@acme.example>", "acme.example"},
      {" john@acme.example (John <x@evil.example>)", "acme.example"},
      {" (comment, with @ and <x@evil.example>) john@acme.example", "acme.example"},
      {" =?utf-8?Q?J=C3=B6rg,_x@evil.example?= <jorg@acme.example>", "acme.example"},
      {" =?UTF-8?B?SsO2cmc=?= <jorg@acme.example>", "acme.example"},
      {" a@first.example, b@second.example", "first.example"},
      {" A <a@first.example>, B <b@second.example>", "first.example"},
      {" Team: a@first.example, b@second.example;", "first.example"},
      {" undisclosed-recipients:;, c@third.example", "third.example"},
      {" \"quoted local\"@acme.example", "acme.example"},
      {" <@route.example:john@acme.example>", "acme.example"},
      {" john@acme.example.", "acme.example"},
      {" john\r\n @ acme.example", "acme.example"},
      {" john@[198.18.0.1]", std::nullopt},
      {" john", std::nullopt},
      {" <>", std::nullopt},
      {"", std::nullopt},
      {" john@b\xc3\xbc"
       "cher.example",
       std::nullopt},
      {" \"unterminated <john@acme.example>", std::nullopt},
      {" (unterminated john@acme.example", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(author_domain(c.value), c.domain) << c.value;
  }
}

}  // namespace
}  // namespace portcullis::relay::dkim
