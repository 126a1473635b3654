#include "gateway/core/tls/self_signed.hpp"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "gateway/core/log/log.hpp"

namespace portcullis::tls {
namespace {

template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, GENERAL_NAMES_free>>;

Error openssl_error(std::string_view what) {
  std::string message = "self-signed certificate: " + std::string(what);
  if (unsigned long code = ERR_get_error(); code != 0) {
    char buffer[256];
    ERR_error_string_n(code, buffer, sizeof(buffer));
    message += ": ";
    message += buffer;
  }
  ERR_clear_error();
  return make_error(std::move(message));
}

Error system_error(std::string_view what, const std::filesystem::path& path) {
  return make_error(std::string(what) + " " + path.string() + ": " + std::strerror(errno));
}

// Only what a DNS name may hold, so the name cannot smuggle anything into the
// certificate's fields.
bool is_plain_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) {
      return false;
    }
  }
  return true;
}

Result<PkeyPtr> generate_key() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return openssl_error("generating an EC P-256 key");
  }
  return key;
}

Result<void> set_serial(X509* cert) {
  BnPtr serial(BN_new());
  // 127 random bits: positive, unique enough that clients never see two
  // different certificates with the same issuer and serial.
  if (!serial || BN_rand(serial.get(), 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert)) == nullptr) {
    return openssl_error("choosing a serial number");
  }
  return {};
}

Result<void> add_subject_alt_name(X509* cert, std::string_view hostname) {
  NamesPtr names(GENERAL_NAMES_new());
  GENERAL_NAME* name = GENERAL_NAME_new();
  ASN1_IA5STRING* text = ASN1_IA5STRING_new();
  if (!names || name == nullptr || text == nullptr ||
      ASN1_STRING_set(text, hostname.data(), static_cast<int>(hostname.size())) != 1) {
    GENERAL_NAME_free(name);
    ASN1_IA5STRING_free(text);
    return openssl_error("building the subjectAltName");
  }
  GENERAL_NAME_set0_value(name, GEN_DNS, text);
  if (sk_GENERAL_NAME_push(names.get(), name) == 0) {
    GENERAL_NAME_free(name);
    return openssl_error("building the subjectAltName");
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return openssl_error("adding the subjectAltName");
  }
  return {};
}

Result<void> add_extension(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return openssl_error(std::string("adding extension ") + OBJ_nid2sn(nid));
  }
  return {};
}

Result<X509Ptr> make_certificate(EVP_PKEY* key, std::string_view hostname) {
  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) {
    return openssl_error("creating the certificate");
  }
  if (auto r = set_serial(cert.get()); !r) {
    return r.error();
  }
  // Starts an hour back so a peer whose clock is a little behind accepts it.
  X509_NAME* subject = X509_get_subject_name(cert.get());
  const std::string cn(hostname);
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), kSelfSignedValidityDays, 0, nullptr) ==
          nullptr ||
      X509_set_pubkey(cert.get(), key) != 1 ||
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                 0) != 1 ||
      X509_set_issuer_name(cert.get(), subject) != 1) {
    return openssl_error("filling in the certificate");
  }
  for (auto [nid, value] :
       {std::pair{NID_basic_constraints, "critical,CA:FALSE"},
        std::pair{NID_key_usage, "critical,digitalSignature"},
        std::pair{NID_ext_key_usage, "serverAuth"}, std::pair{NID_subject_key_identifier, "hash"},
        std::pair{NID_authority_key_identifier, "keyid:always"}}) {
    if (auto r = add_extension(cert.get(), nid, value); !r) {
      return r.error();
    }
  }
  if (auto r = add_subject_alt_name(cert.get(), hostname); !r) {
    return r.error();
  }
  if (X509_sign(cert.get(), key, EVP_sha256()) == 0) {
    return openssl_error("signing the certificate");
  }
  return cert;
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// Creates the missing directories on the way to dir, each 0700.
Result<void> make_private_dirs(const std::filesystem::path& dir) {
  std::filesystem::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return system_error("cannot create directory", partial);
    }
  }
  return {};
}

// Writes to a temporary name created with `mode` (never wider, whatever the
// umask), syncs, then renames over path.
Result<void> write_file(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  std::filesystem::path temp = path;
  temp += ".tmp";
  ::unlink(temp.c_str());  // a leftover from a crash between create and rename
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) {
    return system_error("cannot create", temp);
  }
  bool ok = ::fchmod(fd, mode) == 0;
  while (ok && !data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    ok = n > 0;
    if (ok) {
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  ok = ok && ::fsync(fd) == 0;
  int saved_errno = errno;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    saved_errno = ok ? errno : saved_errno;
    ::unlink(temp.c_str());
    errno = saved_errno;
    return system_error("cannot write", path);
  }
  return {};
}

Result<void> write_pair(const std::filesystem::path& cert_path,
                        const std::filesystem::path& key_path,
                        EVP_PKEY* key,
                        X509* cert) {
  BioPtr key_bio(BIO_new(BIO_s_mem()));
  BioPtr cert_bio(BIO_new(BIO_s_mem()));
  if (!key_bio || !cert_bio ||
      PEM_write_bio_PrivateKey(key_bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509(cert_bio.get(), cert) != 1) {
    return openssl_error("encoding PEM");
  }
  std::string key_pem = bio_contents(key_bio.get());
  auto written = write_file(key_path, key_pem, 0600);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!written) {
    return written;
  }
  return write_file(cert_path, bio_contents(cert_bio.get()), 0644);
}

}  // namespace

Result<void> ensure_self_signed(const std::filesystem::path& cert,
                                const std::filesystem::path& key,
                                std::string_view hostname) {
  std::error_code ec;
  if (std::filesystem::exists(cert, ec) && std::filesystem::exists(key, ec)) {
    return {};
  }
  if (!is_plain_host_name(hostname)) {
    return make_error("self-signed certificate: '" + std::string(hostname) +
                      "' is not a host name");
  }
  for (const auto& dir : {cert.parent_path(), key.parent_path()}) {
    if (dir.empty()) {
      continue;
    }
    if (auto r = make_private_dirs(dir); !r) {
      return r;
    }
  }
  auto private_key = generate_key();
  if (!private_key) {
    return private_key.error();
  }
  auto certificate = make_certificate(private_key->get(), hostname);
  if (!certificate) {
    return certificate.error();
  }
  if (auto r = write_pair(cert, key, private_key->get(), certificate->get()); !r) {
    return r;
  }
  log::info("tls_self_signed_generated", {{"cert", cert.string()},
                                          {"key", key.string()},
                                          {"hostname", hostname},
                                          {"days", kSelfSignedValidityDays}});
  return {};
}

}  // namespace portcullis::tls
