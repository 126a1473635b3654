#pragma once
// DKIM signing at acceptance (RFC 6376, RSA-SHA256 and Ed25519-SHA256 per
// RFC 8463), relaxed/relaxed. The signature is computed once, before the
// message is queued, so it is durable with the message and every retry
// delivers identical bytes. Untrusted input: the message a tenant submitted,
// above all its From: field (display names, comments, quoted strings,
// groups, encoded words), which decides the signing domain. A tenant only
// gets a signature for a domain (or a subdomain of one) the operator gave it
// a key for. Keys are parsed once, when the signer is built; a signer is
// immutable and shared by every session (EVP_PKEY is safe for concurrent
// signing once loaded).

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/core/dkim/key_generator.hpp"
#include "gateway/core/store/dkim_key.hpp"

namespace portcullis::relay::dkim {

// Header fields signed when present; From is signed once more than it occurs
// (oversigned) so that no From can be added in transit.
inline constexpr std::string_view kSignedHeaders[] = {
    "from",        "to",        "cc",           "subject",      "date",
    "message-id",  "reply-to",  "mime-version", "content-type", "content-transfer-encoding",
    "in-reply-to", "references"};

// The domain of the first address in a From: field value (unfolded or not),
// lowercased; nullopt when there is none or it is not a plain DNS name
// (domain literals, UTF-8 domains, garbage).
std::optional<std::string> author_domain(std::string_view from_value);

class DkimSigner {
 public:
  DkimSigner() = default;
  // Keys that do not parse are logged and skipped. When a tenant has several
  // keys for a domain (rotation), the newest (the last of the list, which
  // Store::list_dkim_keys orders by age) signs.
  explicit DkimSigner(std::vector<store::DkimKey> keys);

  // The DKIM-Signature field (with its CRLF) to prepend to `message` (CRLF
  // lines, the header section ending with an empty line), or nullopt when the
  // tenant has no key for the From: domain or a parent of it, the message has
  // no single From: field, or signing failed (logged).
  std::optional<std::string> sign(std::string_view message,
                                  std::string_view tenant_id,
                                  std::int64_t now) const;

  std::size_t key_count() const { return key_count_; }

 private:
  struct Key {
    std::string domain;
    std::string selector;
    portcullis::dkim::Algorithm algorithm = portcullis::dkim::Algorithm::rsa_sha256;
    std::shared_ptr<EVP_PKEY> pkey;
  };
  const Key* find_key(std::string_view tenant_id, std::string_view domain) const;

  // "tenant\0domain" → key
  std::map<std::string, Key, std::less<>> keys_;
  std::size_t key_count_ = 0;
};

// The current signer for sessions; the control plane publishes a new one
// after every key change (the TenantRegistry pattern): sessions keep the
// snapshot they took.
class SignerRegistry {
 public:
  SignerRegistry() : current_(std::make_shared<const DkimSigner>()) {}
  explicit SignerRegistry(std::shared_ptr<const DkimSigner> initial);

  std::shared_ptr<const DkimSigner> snapshot() const;      // never null
  void publish(std::shared_ptr<const DkimSigner> signer);  // null = no keys

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const DkimSigner> current_;
};

}  // namespace portcullis::relay::dkim
