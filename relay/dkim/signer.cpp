#include "relay/dkim/signer.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <array>

#include "gateway/core/log/log.hpp"
#include "relay/dkim/canonicalization.hpp"

namespace portcullis::relay::dkim {
namespace {

using portcullis::dkim::Algorithm;

constexpr std::size_t kMaxLine = 78;  // RFC 5322 2.1.1 SHOULD, CRLF not counted
constexpr std::string_view kFieldName = "DKIM-Signature:";

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxDeleter>;

using Digest = std::array<unsigned char, 32>;

bool is_wsp_or_line_end(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Index just past a comment starting at `i` ("(" ... ")", nested, with
// quoted-pairs), or the end of the text when it is unterminated.
std::size_t skip_comment(std::string_view text, std::size_t i) {
  int depth = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\\') {
      ++i;
    } else if (c == '(') {
      ++depth;
    } else if (c == ')' && --depth == 0) {
      return i + 1;
    }
  }
  return text.size();
}

// Index just past a quoted string starting at `i`, or the end of the text.
std::size_t skip_quoted(std::string_view text, std::size_t i) {
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return text.size();
}

// Index just past an RFC 2047 encoded word "=?charset?B|Q?text?=" starting at
// `i`, or npos when the text there is not one (then "=?" is plain text).
std::size_t skip_encoded_word(std::string_view text, std::size_t i) {
  constexpr std::string_view kEspecials = "()<>@,;:\"/[]?.= \t\r\n";
  if (!text.substr(i).starts_with("=?")) {
    return std::string_view::npos;
  }
  std::size_t j = i + 2;
  while (j < text.size() && kEspecials.find(text[j]) == std::string_view::npos) {
    ++j;
  }
  if (j == i + 2 || j + 2 >= text.size() || text[j] != '?' ||
      std::string_view("BbQq").find(text[j + 1]) == std::string_view::npos || text[j + 2] != '?') {
    return std::string_view::npos;
  }
  for (std::size_t k = j + 3; k + 1 < text.size(); ++k) {
    if (text[k] == '?') {
      return text[k + 1] == '=' ? k + 2 : std::string_view::npos;
    }
    if (is_wsp_or_line_end(text[k])) {
      return std::string_view::npos;
    }
  }
  return std::string_view::npos;
}

// The domain of an addr-spec (possibly with an obs-route, comments, folding
// whitespace and a quoted local part).
std::optional<std::string> addr_spec_domain(std::string_view text) {
  std::string bare;  // without comments and whitespace; quoted strings collapsed
  for (std::size_t i = 0; i < text.size();) {
    const char c = text[i];
    if (c == '(') {
      i = skip_comment(text, i);
    } else if (c == '"') {
      i = skip_quoted(text, i);
      bare += 'q';
    } else if (is_wsp_or_line_end(c)) {
      ++i;
    } else {
      bare += c;
      ++i;
    }
  }
  const auto at = bare.rfind('@');
  if (at == std::string::npos || at == 0) {
    return std::nullopt;
  }
  return store::normalize_domain(std::string_view(bare).substr(at + 1));
}

Result<Digest> sha256(std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    return make_error("SHA-256 failed");
  }
  return digest;
}

Result<Digest> body_hash(std::string_view body) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return make_error("SHA-256 failed");
  }
  bool ok = true;
  relaxed_body(body, [&](std::string_view piece) {
    ok = ok && EVP_DigestUpdate(ctx.get(), piece.data(), piece.size()) == 1;
  });
  Digest digest{};
  unsigned int length = 0;
  if (!ok || EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
    return make_error("SHA-256 failed");
  }
  return digest;
}

std::string as_text(const Digest& digest) {
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

// RSA: PKCS#1 v1.5 over SHA-256 of the data (RFC 6376 3.3.1). Ed25519:
// PureEdDSA over the SHA-256 hash of the data (RFC 8463 3).
Result<std::string> sign_data(EVP_PKEY* key, Algorithm algorithm, std::string_view data) {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx) {
    return make_error("out of memory");
  }
  std::string input(data);
  const EVP_MD* md = EVP_sha256();
  if (algorithm == Algorithm::ed25519_sha256) {
    auto digest = sha256(data);
    if (!digest) {
      return digest.error();
    }
    input = as_text(*digest);
    md = nullptr;  // Ed25519 takes no separate digest
  }
  std::size_t size = 0;
  const auto* in = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size, in, input.size()) != 1) {
    ERR_clear_error();
    return make_error("cannot start signing");
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, in,
                     input.size()) != 1) {
    ERR_clear_error();
    return make_error("signing failed");
  }
  signature.resize(size);
  return Result<std::string>(boost::system::in_place_value, std::move(signature));
}

// Builds a header field folded at token boundaries into lines of at most
// kMaxLine characters (a token longer than a line gets a line of its own).
class Folder {
 public:
  explicit Folder(std::string_view start) : out_(start), column_(start.size()) {}

  // A token after a space (FWS between tags) or glued to the previous one
  // (FWS is also allowed after the colons of h=).
  void add(std::string_view token, bool space) {
    const std::size_t width = token.size() + (space ? 1 : 0);
    if (column_ + width > kMaxLine && column_ > 1) {
      out_ += "\r\n\t";
      column_ = 1;
    } else if (space) {
      out_ += ' ';
      ++column_;
    }
    out_ += token;
    column_ += token.size();
  }

  // Base64 split wherever the line is full (FWS is allowed anywhere in it).
  void add_base64(std::string_view text) {
    while (!text.empty()) {
      if (column_ >= kMaxLine) {
        out_ += "\r\n\t";
        column_ = 1;
      }
      const auto piece = text.substr(0, kMaxLine - column_);
      out_ += piece;
      column_ += piece.size();
      text.remove_prefix(piece.size());
    }
  }

  const std::string& text() const { return out_; }

 private:
  std::string out_;
  std::size_t column_;
};

}  // namespace

std::optional<std::string> author_domain(std::string_view from_value) {
  std::string current;  // the current mailbox, outside comments and quoted strings
  for (std::size_t i = 0; i < from_value.size();) {
    const char c = from_value[i];
    if (c == '(') {
      i = skip_comment(from_value, i);
    } else if (c == '"') {
      const auto end = skip_quoted(from_value, i);
      current.append(from_value.substr(i, end - i));
      i = end;
    } else if (const auto end = skip_encoded_word(from_value, i); end != std::string_view::npos) {
      i = end;  // display name text, whatever it decodes to
    } else if (c == '<') {
      // name-addr: the angle-addr is the mailbox's address.
      std::size_t close = i + 1;
      while (close < from_value.size() && from_value[close] != '>') {
        close = from_value[close] == '"'   ? skip_quoted(from_value, close)
                : from_value[close] == '(' ? skip_comment(from_value, close)
                                           : close + 1;
      }
      auto inner = from_value.substr(i + 1, close - i - 1);
      // obs-route "@a,@b:" before the address.
      if (const auto colon = inner.rfind(':'); colon != std::string_view::npos) {
        inner.remove_prefix(colon + 1);
      }
      return addr_spec_domain(inner);
    } else if (c == '[') {
      const auto close = from_value.find(']', i);
      const auto end = close == std::string_view::npos ? from_value.size() : close + 1;
      current.append(from_value.substr(i, end - i));
      i = end;
    } else if (c == ':') {
      current.clear();  // "group:" — the group's name is not an address
      ++i;
    } else if (c == ',' || c == ';') {
      if (current.find('@') != std::string::npos) {
        break;  // the end of the first mailbox
      }
      current.clear();  // an empty list element or an empty group
      ++i;
    } else {
      current += c;
      ++i;
    }
  }
  return addr_spec_domain(current);
}

DkimSigner::DkimSigner(std::vector<store::DkimKey> keys) {
  for (auto& k : keys) {
    const auto algorithm = portcullis::dkim::parse_algorithm(k.algorithm);
    if (!algorithm) {
      log::error("dkim_key_unusable", {{"tenant", k.tenant_id},
                                       {"domain", k.domain},
                                       {"selector", k.selector},
                                       {"error", "unknown algorithm " + k.algorithm}});
      continue;
    }
    auto pkey = portcullis::dkim::load_private_key(k.private_key_pem, *algorithm);
    if (!pkey) {
      log::error("dkim_key_unusable", {{"tenant", k.tenant_id},
                                       {"domain", k.domain},
                                       {"selector", k.selector},
                                       {"error", pkey.error().message}});
      continue;
    }
    auto& slot = keys_[k.tenant_id + '\0' + k.domain];
    slot = Key{k.domain, k.selector, *algorithm,
               std::shared_ptr<EVP_PKEY>(pkey->release(), EVP_PKEY_free)};
    ++key_count_;
  }
}

const DkimSigner::Key* DkimSigner::find_key(std::string_view tenant_id,
                                            std::string_view domain) const {
  std::string lookup = std::string(tenant_id) + '\0';
  const auto prefix = lookup.size();
  // The domain, then each parent that is still a registrable-looking name.
  while (domain.find('.') != std::string_view::npos) {
    lookup.resize(prefix);
    lookup += domain;
    if (auto it = keys_.find(lookup); it != keys_.end()) {
      return &it->second;
    }
    domain.remove_prefix(domain.find('.') + 1);
  }
  return nullptr;
}

std::optional<std::string> DkimSigner::sign(std::string_view message,
                                            std::string_view tenant_id,
                                            std::int64_t now) const {
  if (keys_.empty()) {
    return std::nullopt;
  }
  const auto parts = split_message(message);
  const HeaderField* from = nullptr;
  for (const auto& field : parts.fields) {
    if (iequals(field.name, "from")) {
      if (from != nullptr) {
        return std::nullopt;  // RFC 5322 allows one From; several is a forgery pattern
      }
      from = &field;
    }
  }
  if (from == nullptr) {
    return std::nullopt;
  }
  const auto domain = author_domain(from->raw.substr(from->raw.find(':') + 1));
  if (!domain) {
    return std::nullopt;
  }
  const Key* key = find_key(tenant_id, *domain);
  if (key == nullptr) {
    return std::nullopt;
  }

  auto fail = [&](const Error& error) -> std::optional<std::string> {
    log::error("dkim_sign_failed",
               {{"tenant", tenant_id}, {"domain", key->domain}, {"error", error.message}});
    return std::nullopt;
  };
  const auto bh = body_hash(parts.body);
  if (!bh) {
    return fail(bh.error());
  }

  // Verifiers take same-named fields from the bottom up (RFC 6376 5.4.2):
  // list each once per occurrence and hash the last occurrence first.
  std::vector<std::string> names;
  std::string data;
  for (const auto name : kSignedHeaders) {
    for (auto it = parts.fields.rbegin(); it != parts.fields.rend(); ++it) {
      if (iequals(it->name, name)) {
        names.emplace_back(name);
        data += relaxed_header(it->raw);
      }
    }
    if (name == "from") {
      names.emplace_back(name);  // oversigned: an added From breaks the signature
    }
  }

  Folder folder(kFieldName);
  folder.add("v=1;", true);
  folder.add("a=" + std::string(portcullis::dkim::to_string(key->algorithm)) + ";", true);
  folder.add("c=relaxed/relaxed;", true);
  folder.add("d=" + key->domain + ";", true);
  folder.add("s=" + key->selector + ";", true);
  folder.add("t=" + std::to_string(now) + ";", true);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const bool last = i + 1 == names.size();
    folder.add((i == 0 ? "h=" : "") + names[i] + (last ? ";" : ":"), i == 0);
  }
  folder.add("bh=" + portcullis::dkim::base64_encode(as_text(*bh)) + ";", true);
  folder.add("b=", true);

  // The signature covers this field with an empty b= and without its CRLF.
  auto own = relaxed_header(folder.text());
  own.resize(own.size() - 2);
  data += own;
  const auto signature = sign_data(key->pkey.get(), key->algorithm, data);
  if (!signature) {
    return fail(signature.error());
  }
  folder.add_base64(portcullis::dkim::base64_encode(*signature));
  return folder.text() + "\r\n";
}

SignerRegistry::SignerRegistry(std::shared_ptr<const DkimSigner> initial)
    : current_(initial ? std::move(initial) : std::make_shared<const DkimSigner>()) {}

std::shared_ptr<const DkimSigner> SignerRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

void SignerRegistry::publish(std::shared_ptr<const DkimSigner> signer) {
  auto next = signer ? std::move(signer) : std::make_shared<const DkimSigner>();
  std::lock_guard lock(mutex_);
  current_ = std::move(next);
}

}  // namespace portcullis::relay::dkim
