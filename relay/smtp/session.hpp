#pragma once
// One SMTP connection as a straight-line coroutine: it reads lines and
// content with bounded buffers and deadlines, drives the Protocol state
// machine, and does the I/O an action asks for (TLS, credential checks,
// durable queueing). With a policy engine it takes the tenant's connection
// slot after attribution (intercept) or AUTH, and asks the engine at MAIL and
// RCPT; every MAIL it passes ends in exactly one message_done. The feedback
// listener instead accepts only the LocalMailbox's recipients and hands the
// message to it, with no tenant, policy or DKIM.
//
// Untrusted input: everything the client sends. Runs unprivileged on the
// relay's I/O thread; slow work (argon2id, fsync) happens on other threads.

#include <cstdint>
#include <memory>
#include <string>

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"
#include "relay/smtp/protocol.hpp"

namespace portcullis::relay::queue {
class DiskGuard;
class Spool;
}  // namespace portcullis::relay::queue
namespace portcullis::relay::dkim {
class SignerRegistry;
}
namespace portcullis::relay::auth {
class AuthLimiter;
class CredentialVerifier;
}  // namespace portcullis::relay::auth
namespace portcullis::relay::policy {
class PolicyEngine;
}
namespace portcullis::mail {
class LocalMailbox;
}

namespace portcullis::relay::smtp {

// What every session of the relay shares; owned by the Relay.
struct SessionServices {
  const config::RelayConfig& config;
  asio::ssl::context& tls;
  tenants::TenantRegistry& tenants;
  queue::Spool& spool;
  auth::CredentialVerifier& verifier;
  auth::AuthLimiter& auth_limiter;
  const Clock& clock;
  // Signs accepted mail with the tenant's DKIM key for its From domain; may be null.
  const dkim::SignerRegistry* dkim = nullptr;
  // Per-tenant connection, rate, quota, size and suppression checks; null =
  // no per-tenant limits (tests, benchmarks).
  policy::PolicyEngine* policy = nullptr;
  // The feedback listener's recipients and where its messages go; null =
  // every RCPT on that listener is refused.
  mail::LocalMailbox* mailbox = nullptr;
  // While it says the state directory is short of space, MAIL and the end of
  // DATA get 452 4.3.1; null = never.
  const queue::DiskGuard* disk_guard = nullptr;
  // Runs CPU-heavy steps (DKIM signing) off the I/O thread; null = inline.
  asio::thread_pool* workers = nullptr;
};

struct SessionOrigin {
  ListenerKind kind;
  std::uint64_t id;
  asio::ip::tcp::endpoint client;
  // Where an intercepted client meant to connect (SO_ORIGINAL_DST), if known.
  std::string original_destination;
};

asio::awaitable<void> run_session(asio::ip::tcp::socket socket,
                                  SessionOrigin origin,
                                  SessionServices& services);

}  // namespace portcullis::relay::smtp
