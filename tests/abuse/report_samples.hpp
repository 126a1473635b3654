#pragma once
// Test inputs for the report parsers: the hand-made samples (tests/data/reports, a copy of
// ../shared/data) and a deterministic mutator for the fuzz loops.

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

namespace portcullis::abuse::test {

inline std::filesystem::path samples_dir() {
  return std::filesystem::path(PORTCULLIS_SOURCE_DIR) / "tests" / "data" / "reports";
}

// The sample's bytes, or nullopt when it is not there (tests fail then: see LOAD_SAMPLE).
inline std::optional<std::string> read_sample(std::string_view relative) {
  std::ifstream in(samples_dir() / relative, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// In a TEST body: the sample's bytes as `var`, or the test fails naming the missing file.
#define LOAD_SAMPLE(var, name)                                                                   \
  const auto var = ::portcullis::abuse::test::read_sample(name);                                 \
  if (!var) {                                                                                    \
    FAIL() << "sample " << name << " not found in " << ::portcullis::abuse::test::samples_dir(); \
  }

inline std::string to_crlf(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 20);
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
      out += '\r';
    }
    out += text[i];
  }
  return out;
}

// One random change of the kinds that break parsers: truncation, byte flips, deleted or
// repeated ranges, and insertions of MIME syntax (delimiters, encodings, folds).
inline std::string mutate(std::string input, std::mt19937& rng) {
  static constexpr std::string_view kSnippets[] = {
      "--",
      "\r\n",
      "\n\n",
      "\n ",
      "=",
      "=\n",
      ";",
      "\"",
      "(",
      ")",
      "<",
      ">",
      "@",
      ":",
      "Content-Type: multipart/mixed; boundary=x\n",
      "Content-Transfer-Encoding: base64\n",
      "Content-Transfer-Encoding: quoted-printable\n",
      "\n--x\n",
      "\n--x--\n",
      "Content-Type: message/feedback-report\n\n",
      "Feedback-Type: abuse\n",
      "Original-Rcpt-To: <",
      "Source-IP: ",
      "Final-Recipient: rfc822; ",
      "Status: 5.",
      "X-Portcullis-Tenant: ",
      "Received: from x by h (Portcullis) with ESMTP id ",
      "=?utf-8?b?",
      std::string_view("\0", 1),
      "\xff\xfe",
      "\t"};
  if (input.empty()) {
    return std::string(kSnippets[rng() % std::size(kSnippets)]);
  }
  auto pos = [&] { return static_cast<std::size_t>(rng() % (input.size() + 1)); };
  switch (rng() % 7) {
    case 0:
      input.resize(pos());
      break;
    case 1: {
      const std::size_t at = pos() % input.size();
      input[at] = static_cast<char>(rng() & 0xff);
      break;
    }
    case 2: {
      const std::size_t at = pos();
      input.erase(at, rng() % 64);
      break;
    }
    case 3: {
      const std::size_t at = pos();
      const std::size_t len =
          std::min<std::size_t>(rng() % 200, input.size() - std::min(at, input.size()));
      input.insert(pos(), input.substr(at, len));
      break;
    }
    case 4:
    case 5: {
      const auto snippet = kSnippets[rng() % std::size(kSnippets)];
      input.insert(pos(), snippet.data(), snippet.size());
      break;
    }
    default:
      input = to_crlf(input);
      break;
  }
  return input;
}

}  // namespace portcullis::abuse::test
