#include "gateway/daemon/daemon.hpp"

#include <sys/stat.h>

#include <cstdio>
#include <exception>
#include <functional>
#include <memory>

#include "gateway/core/asio.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/loader.hpp"
#include "gateway/core/control/api.hpp"
#include "gateway/core/control/control_server.hpp"
#include "gateway/core/dns/resolver.hpp"
#include "gateway/core/events/delivery_event.hpp"
#include "gateway/core/firewall/egress_events.hpp"
#include "gateway/core/log/log.hpp"
#include "gateway/core/store/abuse_store.hpp"
#include "gateway/core/store/store.hpp"
#include "gateway/core/tenants/tenant_directory.hpp"
#include "gateway/core/tls/self_signed.hpp"
#include "gateway/daemon/abuse_wiring.hpp"
#include "gateway/daemon/firewall_wiring.hpp"
#include "gateway/daemon/monitor_wiring.hpp"
#include "gateway/daemon/policy_wiring.hpp"
#include "gateway/daemon/privileges.hpp"
#include "gateway/daemon/spool_event_view.hpp"
#include "gateway/daemon/spool_mail_submitter.hpp"
#include "gateway/daemon/spool_queue_view.hpp"
#include "gateway/daemon/webhook_wiring.hpp"
#include "relay/auth/auth_limiter.hpp"
#include "relay/auth/credential_verifier.hpp"
#include "relay/delivery/routing.hpp"
#include "relay/delivery/scheduler.hpp"
#include "relay/dkim/signer.hpp"
#include "relay/policy/policy_engine.hpp"
#include "relay/queue/disk_guard.hpp"
#include "relay/queue/retention.hpp"
#include "relay/queue/spool.hpp"
#include "relay/smtp/server.hpp"
#include "relay/tls/server_context.hpp"

namespace portcullis::daemon {
namespace {

std::optional<config::Config> load(const Options& options) {
  auto result = config::load_config(options.config_path);
  for (const auto& e : result.errors) {
    std::fprintf(stderr, "%s\n", e.to_string().c_str());
  }
  if (!result.errors.empty() || !result.config) {
    std::fprintf(stderr, "%s: %zu error(s)\n", options.config_path.c_str(), result.errors.size());
    return std::nullopt;
  }
  return std::move(result.config);
}

void publish_tenants(const store::Store& store, tenants::TenantRegistry& registry) {
  registry.publish(std::make_shared<const tenants::TenantDirectory>(store.list_tenants()));
}

// The lab needs no operator-supplied certificate: generate one in the state dir.
std::pair<std::filesystem::path, std::filesystem::path> tls_files(const config::Config& config) {
  if (!config.relay.tls.cert.empty()) {
    return {config.relay.tls.cert, config.relay.tls.key};
  }
  const auto dir = config.node.state_dir / "tls";
  auto cert = dir / "cert.pem";
  auto key = dir / "key.pem";
  auto made = tls::ensure_self_signed(cert, key, config.relay.hostname);
  if (!made) {
    throw std::runtime_error("cannot create a TLS certificate in " + dir.string() + ": " +
                             made.error().message);
  }
  return {cert, key};
}

// SIGHUP: plans (limits) take effect at the next SMTP command; every other
// section is read at start only, so a change there is reported, not applied.
void reload_plans(const Options& options, config::Config& config) {
  auto loaded = config::load_config(options.config_path);
  if (!loaded.errors.empty() || !loaded.config) {
    for (const auto& e : loaded.errors) {
      log::error("reload_refused", {{"error", e.to_string()}});
    }
    log::error("reload_failed", {{"config", options.config_path.string()},
                                 {"errors", loaded.errors.size()},
                                 {"kept", "the running configuration"}});
    return;
  }
  config.plans = std::move(loaded.config->plans);
  log::info("reloaded", {{"config", options.config_path.string()},
                         {"plans", config.plans.size()},
                         {"note", "plans applied; other sections need a restart"}});
}

int serve(const Options& options, config::Config& config) {
  log::set_level(config.node.log_level);
  std::filesystem::create_directories(config.node.state_dir);
  ::chmod(config.node.state_dir.c_str(), 0700);

  asio::io_context io(1);
  SystemClock clock;
  const auto [cert, key] = tls_files(config);
  auto tls_context = relay::tls::make_server_context(cert, key);

  auto store = store::Store::open(config.node.state_dir);
  auto abuse_store = store::AbuseStore::open(config.node.state_dir);  // after Store: migrated
  auto spool = relay::queue::Spool::open(config.node.state_dir);
  // Both on threads of their own: pruning the queue's history, and watching
  // the state directory's free space for the SMTP sessions.
  relay::queue::RetentionSettings retention_settings;
  retention_settings.events_age = config.node.retention.events;
  retention_settings.stats_age = config.node.retention.stats;
  retention_settings.interval = config.node.retention.interval;
  auto retention =
      relay::queue::Retention::open(config.node.state_dir, retention_settings, clock).value();
  relay::queue::DiskGuard disk_guard(config.node.state_dir, config.node.min_free_space);
  tenants::TenantRegistry registry;
  publish_tenants(*store, registry);
  // Before any listener accepts: reconcile the kernel's port-25 policy with the store.
  auto firewall = start_firewall(config, *registry.snapshot());
  firewall::EgressBus egress_bus;  // the abuse desk's egress collector subscribes here
  // Capture needs CAP_NET_ADMIN: started before privileges are dropped.
  auto monitor = start_egress_monitor(config, clock, registry, &egress_bus);

  relay::dkim::SignerRegistry dkim_signers(
      std::make_shared<const relay::dkim::DkimSigner>(store->list_dkim_keys()));
  const auto rebuild_dkim = [&] {
    dkim_signers.publish(std::make_shared<const relay::dkim::DkimSigner>(store->list_dkim_keys()));
  };

  events::EventBus event_bus;
  spool->set_event_bus(&event_bus);
  dns::Resolver resolver(io.get_executor(), config.delivery.resolver);
  relay::delivery::Router routes(resolver, config.delivery);
  relay::delivery::DeliveryEngine delivery(io,
                                           {config, *spool, routes, registry, event_bus, clock});
  // The spool calls these from whichever thread wrote: hop to the I/O thread.
  relay::queue::SpoolHooks spool_hooks;
  spool_hooks.queued = [&](std::vector<relay::queue::DueMessage> messages) {
    asio::post(io, [&delivery, messages = std::move(messages)]() mutable {
      delivery.queued(std::move(messages));
    });
  };
  spool_hooks.retry_now = [&](std::string id) {
    asio::post(io, [&delivery, id = std::move(id)] { delivery.retry_now(id); });
  };
  spool_hooks.removed = [&](std::string id) {
    asio::post(io, [&delivery, id = std::move(id)] { delivery.removed(id); });
  };
  spool->set_hooks(std::move(spool_hooks));

  relay::auth::CredentialVerifier verifier(*store);
  relay::auth::AuthLimiter auth_limiter(config.relay.auth, clock);
  SpoolEventLog webhook_log(*spool);
  StoreCursors webhook_cursors(*store);
  webhooks::DispatcherSettings webhook_settings;
  webhook_settings.ca_file = config.webhooks.ca_file.string();
  webhook_settings.batch_size = config.webhooks.batch_size;
  webhooks::WebhookDispatcher webhook_dispatcher(io.get_executor(), webhook_log, webhook_cursors,
                                                 clock, webhook_settings);
  event_bus.subscribe(
      [&webhook_dispatcher](const events::DeliveryEvent& e) { webhook_dispatcher.notify(e); });

  // The desk changes host overrides and limits; the API (declared below) publishes them.
  std::function<void()> publish_tenant_changes;
  SpoolMailSubmitter abuse_mailer(io.get_executor(), *spool, clock, config.relay.hostname);
  AbuseWiring abuse({io, config, *store, *abuse_store, *spool, resolver, clock, abuse_mailer,
                     [&] { publish_tenant_changes(); }});
  abuse.subscribe(event_bus, egress_bus);

  auto policy = make_policy_engine(clock, config, registry, *store, *spool);
  BounceSuppressor bounce_suppressor(config, *store);
  bounce_suppressor.subscribe(event_bus);
  relay::smtp::SessionServices services{config.relay, tls_context,  registry, *spool,
                                        verifier,     auth_limiter, clock};
  // DKIM signing off the I/O thread: the second core signs while the first serves sessions.
  asio::thread_pool session_workers(2);
  services.workers = &session_workers;
  services.dkim = &dkim_signers;
  services.mailbox = &abuse.mailbox();
  services.disk_guard = &disk_guard;
  services.policy = config.relay.enforce_policy ? policy.get() : nullptr;
  if (!config.relay.enforce_policy) {
    log::warning("policy_disabled", {{"note", "relay.enforce_policy is false: no limits"}});
  }
  relay::smtp::SmtpServer smtp(io, services);
  smtp.bind();

  // A bulk retry-now tells the engine as Spool::retry_now does, without a transaction each;
  // bounces by the operator name relay.hostname in their DSNs.
  SpoolQueueView queue_view(*spool, config.relay.hostname, [&](std::string id) {
    asio::post(io, [&delivery, id = std::move(id)] { delivery.retry_now(id); });
  });
  SpoolEventView event_view(*spool);
  control::ApiContext api{*store, config, &registry, queue_view, {}};
  api.firewall = firewall.get();
  api.monitor = monitor ? &monitor->view() : nullptr;
  api.on_tenants_changed = [&] {
    sync_firewall(*firewall, config, registry);
    rebuild_dkim();               // removing a tenant removes its keys
    webhook_dispatcher.reload();  // ... and its webhook
  };
  api.on_dkim_keys_changed = rebuild_dkim;
  api.on_webhooks_changed = [&webhook_dispatcher] { webhook_dispatcher.reload(); };
  api.events = &event_view;
  SpoolStatsView stats_view(*spool);
  api.stats = &stats_view;
  api.abuse = &abuse.desk();
  publish_tenant_changes = [&api] { control::tenants_changed(api); };
  control::Router router;
  control::register_api(router, api);
  control::ControlServer control_server(io.get_executor(), config.node.control_socket,
                                        std::move(router));
  control_server.start();

  // The firewall follows tenant changes for the daemon's whole life: it keeps
  // CAP_NET_ADMIN (and nothing else) after the switch of user.
  if (auto dropped =
          drop_privileges(config.node.user, {config.node.state_dir, config.node.control_socket},
                          config.firewall.enabled);
      !dropped) {
    throw std::runtime_error(dropped.error().message);
  }

  asio::signal_set reload(io, SIGHUP);
  std::function<void()> wait_for_reload = [&] {
    reload.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) {
        return;
      }
      reload_plans(options, config);
      wait_for_reload();
    });
  };
  wait_for_reload();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) {
      return;
    }
    log::info("stopping", {{"signal", signal}});
    reload.cancel();
    smtp.stop();
    delivery.stop();
    webhook_dispatcher.stop();
    abuse.stop();
    control_server.stop();
    io.stop();
  });

  disk_guard.start();  // before the first session: it probes at once
  retention->start();
  smtp.start();
  delivery.start();
  webhook_dispatcher.start();
  abuse.start();
  log::info("ready", {{"node", config.node.name},
                      {"control", config.node.control_socket.string()},
                      {"queued", spool->size()},
                      {"tenants", store->list_tenants().size()}});
  io.run();
  retention->stop();
  disk_guard.stop();
  spool->stop();
  log::info("stopped");
  return 0;
}

}  // namespace

int run(const Options& options) {
  auto config = load(options);
  if (!config) {
    return 1;
  }
  if (options.check_only) {
    std::printf("%s: ok\n", options.config_path.c_str());
    return 0;
  }
  try {
    return serve(options, *config);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "portcullisd: %s\n", e.what());
    return 1;
  }
}

}  // namespace portcullis::daemon
