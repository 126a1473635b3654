// Deterministic fuzzing of the report parsers: thousands of mutations (truncations, byte flips,
// inserted MIME syntax, CRLF conversion) of the shared samples. Each input must give a report
// or an error with a message; never a crash, a hang or an unbounded result.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "abuse/arf/arf_report.hpp"
#include "abuse/dsn/dsn_report.hpp"
#include "abuse/mime/address.hpp"
#include "tests/abuse/report_samples.hpp"

namespace portcullis::abuse {
namespace {

// PORTCULLIS_FUZZ_ITERATIONS and PORTCULLIS_FUZZ_SEED run a longer or different loop by hand
// (for instance under -fsanitize=address,undefined); the defaults keep the unit run short.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && std::atoi(v) > 0 ? std::atoi(v) : fallback;
}

std::vector<std::string> all_samples() {
  std::vector<std::string> out;
  for (const char* name : {"arf/full-message.eml", "arf/headers-only.eml",
                           "arf/redacted-recipient.eml", "arf/broken-no-feedback-part.eml",
                           "arf/broken-truncated.eml", "dsn/hard-bounce.eml", "dsn/delayed.eml"}) {
    if (auto s = test::read_sample(name)) {
      out.push_back(std::move(*s));
    }
  }
  return out;
}

void check(const Result<arf::FeedbackReport>& r, const mime::Limits& limits) {
  if (!r) {
    ASSERT_FALSE(r.error().message.empty());
    return;
  }
  EXPECT_LE(r->warnings.size(), limits.max_warnings + 1);
  EXPECT_LE(r->original.headers.size(), limits.max_original_headers_bytes);
  EXPECT_LE(r->human_text.size(), limits.max_text_bytes);
  if (!r->complainant.empty()) {
    EXPECT_TRUE(mime::is_plausible_mailbox(r->complainant)) << r->complainant;
  }
}

void check(const Result<dsn::DeliveryReport>& r, const mime::Limits& limits) {
  if (!r) {
    ASSERT_FALSE(r.error().message.empty());
    return;
  }
  EXPECT_FALSE(r->recipients.empty());
  EXPECT_LE(r->recipients.size(), dsn::kMaxRecipients);
  EXPECT_LE(r->warnings.size(), limits.max_warnings + 1);
  for (const auto& rcpt : r->recipients) {
    EXPECT_TRUE(mime::is_plausible_mailbox(rcpt.final_recipient)) << rcpt.final_recipient;
    EXPECT_TRUE(rcpt.status.empty() || dsn::is_status_code(rcpt.status)) << rcpt.status;
  }
}

TEST(ReportFuzzTest, MutatedSamplesNeverCrash) {
  const auto samples = all_samples();
  if (samples.empty()) {
    FAIL() << "no samples in " << test::samples_dir();
  }
  const mime::Limits limits;
  const int iterations = env_int("PORTCULLIS_FUZZ_ITERATIONS", 3000);
  // Fixed by default: a failure reproduces.
  std::mt19937 rng(static_cast<unsigned>(env_int("PORTCULLIS_FUZZ_SEED", 20261119)));
  int parsed = 0;
  for (int i = 0; i < iterations; ++i) {
    std::string input = samples[static_cast<std::size_t>(i) % samples.size()];
    const int rounds = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < rounds; ++k) {
      input = test::mutate(std::move(input), rng);
    }
    const auto feedback = arf::parse_feedback_report(input, limits);
    check(feedback, limits);
    const auto bounce = dsn::parse_delivery_report(input, limits);
    check(bounce, limits);
    parsed += (feedback ? 1 : 0) + (bounce ? 1 : 0);
    if (HasFatalFailure()) {
      FAIL() << "iteration " << i;
    }
  }
  // The mutations must leave a good share readable, or the loop only tests the error paths.
  EXPECT_GT(parsed, iterations / 10);
}

TEST(ReportFuzzTest, RandomBytesNeverCrash) {
  std::mt19937 rng(7);
  const mime::Limits limits;
  for (int i = 0; i < 500; ++i) {
    std::string input(rng() % 2000, '\0');
    for (auto& c : input) {
      c = static_cast<char>(rng() & 0xff);
    }
    check(arf::parse_feedback_report(input, limits), limits);
    check(dsn::parse_delivery_report(input, limits), limits);
  }
}

}  // namespace
}  // namespace portcullis::abuse
