#include "gateway/core/store/dkim_key.hpp"

#include <algorithm>
#include <iterator>

#include "gateway/core/store/tenant.hpp"

namespace portcullis::store {
namespace {

constexpr std::size_t kMaxDomain = 253;
constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxSelector = 63;
constexpr std::size_t kMaxPrivateKey = 16 * 1024;  // RSA-4096 PEM is about 3.3K
constexpr std::size_t kMaxPublicKey = 2048;        // RSA-4096 SPKI base64 is about 740

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_ldh_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabel || label.front() == '-' || label.back() == '-') {
    return false;
  }
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Lowercase copy split at dots; false when any label is not LDH.
bool ldh_labels(std::string_view name, std::string& lowered, std::size_t& labels) {
  lowered.clear();
  std::transform(name.begin(), name.end(), std::back_inserter(lowered), lower);
  labels = 0;
  std::string_view rest = lowered;
  while (true) {
    const auto dot = rest.find('.');
    if (!is_ldh_label(rest.substr(0, dot))) {
      return false;
    }
    ++labels;
    if (dot == std::string_view::npos) {
      return true;
    }
    rest.remove_prefix(dot + 1);
  }
}

bool is_base64(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/' || c == '=';
  });
}

}  // namespace

std::optional<std::string> normalize_domain(std::string_view domain) {
  if (domain.ends_with('.')) {
    domain.remove_suffix(1);
  }
  if (domain.empty() || domain.size() > kMaxDomain) {
    return std::nullopt;
  }
  std::string lowered;
  std::size_t labels = 0;
  if (!ldh_labels(domain, lowered, labels) || labels < 2) {
    return std::nullopt;
  }
  const std::string_view top = std::string_view(lowered).substr(lowered.rfind('.') + 1);
  if (std::all_of(top.begin(), top.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  return lowered;
}

std::optional<std::string> normalize_selector(std::string_view selector) {
  if (selector.empty() || selector.size() > kMaxSelector) {
    return std::nullopt;
  }
  std::string lowered;
  std::size_t labels = 0;
  if (!ldh_labels(selector, lowered, labels)) {
    return std::nullopt;
  }
  return lowered;
}

Result<void> normalize_dkim_key(DkimKey& key) {
  if (!is_valid_tenant_id(key.tenant_id)) {
    return make_error("no tenant '" + key.tenant_id + "'");
  }
  auto domain = normalize_domain(key.domain);
  if (!domain) {
    return make_error("'" + key.domain +
                      "' is not a valid domain name (letters, digits and hyphens in two or more "
                      "dot-separated labels; IDNs in their xn-- form)");
  }
  auto selector = normalize_selector(key.selector);
  if (!selector) {
    return make_error("'" + key.selector +
                      "' is not a valid selector (letters, digits and hyphens, dot-separated "
                      "labels, at most 63 characters)");
  }
  if (key.algorithm != "rsa-sha256" && key.algorithm != "ed25519-sha256") {
    return make_error("algorithm '" + key.algorithm + "' is not one of rsa-sha256, ed25519-sha256");
  }
  if (key.private_key_pem.empty() || key.private_key_pem.size() > kMaxPrivateKey ||
      !key.private_key_pem.starts_with("-----BEGIN ")) {
    return make_error("the private key is not a PEM key");
  }
  if (key.public_key.size() > kMaxPublicKey || !is_base64(key.public_key)) {
    return make_error("the public key is not base64");
  }
  key.domain = std::move(*domain);
  key.selector = std::move(*selector);
  return {};
}

}  // namespace portcullis::store
