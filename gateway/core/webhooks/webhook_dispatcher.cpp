#include "gateway/core/webhooks/webhook_dispatcher.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>
#include <utility>

#include "gateway/core/log/log.hpp"
#include "gateway/core/result.hpp"
#include "gateway/core/webhooks/https_post.hpp"
#include "gateway/core/webhooks/payload.hpp"
#include "gateway/core/webhooks/signature.hpp"
#include "gateway/core/webhooks/webhook_url.hpp"

namespace portcullis::webhooks {
namespace detail {

using Strand = asio::strand<asio::any_io_executor>;

// One registered endpoint. Touched on the strand only.
struct Worker {
  explicit Worker(const Strand& strand) : timer(strand) {}

  Endpoint endpoint;
  WebhookUrl url;
  asio::steady_timer timer;  // every wait of the worker; cancelled to wake it
  bool notified = false;     // notify() since the last read of the log
  bool interrupted = false;  // reconfigured: cut the current wait short
  bool removed = false;      // unregistered: end the coroutine
  PostAbort* in_flight = nullptr;
};

struct DispatcherState {
  DispatcherState(asio::any_io_executor executor,
                  EventLog& l,
                  CursorStore& c,
                  const Clock& k,
                  DispatcherSettings s)
      : strand(asio::make_strand(std::move(executor))),
        log(l),
        cursors(c),
        clock(k),
        settings(std::move(s)) {
    settings.batch_size = std::max<std::size_t>(settings.batch_size, 1);
    if (settings.retry_backoff.empty()) {
      settings.retry_backoff.emplace_back(std::chrono::seconds(1));
    }
    auto context = make_webhook_tls_context(settings.ca_file);
    if (!context) {
      throw std::runtime_error(context.error().message);
    }
    tls = std::move(*context);
  }

  Strand strand;
  EventLog& log;
  CursorStore& cursors;
  const Clock& clock;
  DispatcherSettings settings;
  std::unique_ptr<asio::ssl::context> tls;
  std::atomic<bool> stopping{false};

  // On the strand only.
  bool started = false;
  std::map<std::string, std::shared_ptr<Worker>, std::less<>> workers;
  std::map<std::string, std::string, std::less<>> bad_urls;  // tenant → URL already reported

  mutable std::mutex status_mutex;
  std::map<std::string, EndpointStatus, std::less<>> status;  // under status_mutex
};

}  // namespace detail

namespace {

using detail::DispatcherState;
using detail::Worker;

bool live(const DispatcherState& s, const Worker& w) {
  return !s.stopping.load() && !w.removed;
}

template <class F>
void update_status(DispatcherState& s, std::string_view tenant, F&& change) {
  std::lock_guard lock(s.status_mutex);
  if (auto it = s.status.find(tenant); it != s.status.end()) {
    change(it->second);
  }
}

// Ends a worker's coroutine at its next step: the wait or request it is in ends now.
void retire(Worker& w) {
  w.removed = true;
  w.timer.cancel();
  if (w.in_flight != nullptr) {
    w.in_flight->abort();
  }
}

// Waits d, or less: stop, removal and reconfiguration always cut it short,
// notify() only when wake_on_notify (an idle wait, not a backoff).
awaitable<void> pause(DispatcherState& s,
                      Worker& w,
                      std::chrono::steady_clock::duration d,
                      bool wake_on_notify) {
  w.timer.expires_after(d);
  for (;;) {
    if (!live(s, w)) {
      co_return;
    }
    if (w.interrupted) {
      w.interrupted = false;
      co_return;
    }
    if (wake_on_notify && w.notified) {
      co_return;
    }
    // A cancel that was not for us (a notify during a backoff) waits again
    // for the same expiry.
    auto [ec] = co_await w.timer.async_wait(asio_nothrow);
    if (!ec) {
      co_return;
    }
  }
}

struct Read {
  std::int64_t cursor = 0;                  // where it read from
  std::vector<events::DeliveryEvent> sent;  // the events of the configured types
  std::int64_t end = 0;                     // the last id read, 0 if nothing; the next cursor
};

// The next batch after the tenant's cursor. A tenant without a cursor is a new
// registration: it starts after everything already in the log.
Result<Read> read_next(DispatcherState& s, const std::string& tenant) {
  try {
    Read out;
    auto cursor = s.cursors.cursor(tenant);
    if (!cursor) {
      cursor = s.log.last_event_id();
      s.cursors.set_cursor(tenant, *cursor);
      log::info("webhook_cursor_started", {{"tenant", tenant}, {"after", *cursor}});
    }
    out.cursor = *cursor;
    auto events = s.log.events_after(tenant, *cursor, s.settings.batch_size);
    // The cursor only moves forward, whatever the log returns.
    std::erase_if(events, [&](const auto& e) { return e.id <= *cursor; });
    std::sort(events.begin(), events.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    if (events.size() > s.settings.batch_size) {
      events.resize(s.settings.batch_size);
    }
    if (!events.empty()) {
      out.end = events.back().id;
    }
    for (auto& e : events) {
      if (s.settings.types.contains(std::string(events::to_string(e.type)))) {
        out.sent.push_back(std::move(e));
      }
    }
    return out;
  } catch (const std::exception& e) {
    // The adapters' way to report a database error: retried like a failed POST.
    return make_error(std::string("reading events: ") + e.what());
  }
}

Result<void> save_cursor(DispatcherState& s, const std::string& tenant, std::int64_t id) {
  try {
    s.cursors.set_cursor(tenant, id);
  } catch (const std::exception& e) {
    return make_error(std::string("saving the cursor: ") + e.what());
  }
  update_status(s, tenant, [&](EndpointStatus& st) { st.cursor = id; });
  return {};
}

std::string batch_range(const std::vector<events::DeliveryEvent>& batch) {
  return std::to_string(batch.front().id) + "-" + std::to_string(batch.back().id);
}

PostRequest make_request(const DispatcherState& s,
                         const Worker& w,
                         const std::vector<events::DeliveryEvent>& batch) {
  PostRequest request;
  request.url = w.url;
  request.timeout = s.settings.request_timeout;
  request.body = batch_body(w.endpoint.tenant_id, batch);
  // Signed at each attempt: a retry carries a fresh timestamp.
  const std::int64_t timestamp = s.clock.unix_now();
  request.headers = {
      {"X-Portcullis-Timestamp", std::to_string(timestamp)},
      {"X-Portcullis-Signature", sign_payload(w.endpoint.secret, timestamp, request.body)},
      {"X-Portcullis-Batch", batch_range(batch)},
  };
  return request;
}

awaitable<void> run_worker(std::shared_ptr<DispatcherState> state, std::shared_ptr<Worker> worker) {
  auto& s = *state;
  auto& w = *worker;
  const std::string tenant = w.endpoint.tenant_id;  // a worker never changes tenant
  std::vector<events::DeliveryEvent> batch;         // kept as it is across retries
  std::int64_t batch_end = 0;                       // the cursor once it is acknowledged
  std::size_t failures = 0;

  // Logs a failed attempt and says how long to wait before the next one. Not
  // a coroutine itself: the caller awaits pause() with what it returns.
  const auto failed = [&](std::string_view event, const std::string& error,
                          const std::string& range) {
    const auto& backoff = s.settings.retry_backoff;
    const auto wait = backoff[std::min(failures, backoff.size() - 1)];
    ++failures;
    log::warning(event, {{"tenant", tenant},
                         {"host", w.url.authority()},
                         {"batch", range},
                         {"attempt", failures},
                         {"error", error},
                         {"retry_ms", wait.count()}});
    update_status(s, tenant, [&](EndpointStatus& st) {
      st.failures = failures;
      st.last_error = error;
    });
    return wait;
  };

  while (live(s, w)) {
    if (batch.empty()) {
      w.notified = false;
      auto read = read_next(s, tenant);
      if (!read) {
        const auto wait = failed("webhook_read_failed", read.error().message, "-");
        co_await pause(s, w, wait, false);
        continue;
      }
      if (failures > 0) {
        // The store is back: a POST that fails next starts the backoff afresh.
        failures = 0;
        update_status(s, tenant, [&](EndpointStatus& st) {
          st.failures = 0;
          st.last_error.clear();
        });
      }
      update_status(s, tenant, [&](EndpointStatus& st) { st.cursor = read->cursor; });
      if (read->end == 0) {
        co_await pause(s, w, s.settings.idle_poll, true);
        if (live(s, w) && w.notified) {
          // Let the burst that woke us pile up into one POST.
          co_await pause(s, w, s.settings.flush_delay, false);
        }
        continue;
      }
      if (read->sent.empty()) {
        // Only types the receiver does not want: skip them for good.
        if (auto saved = save_cursor(s, tenant, read->end); !saved) {
          const auto wait = failed("webhook_cursor_failed", saved.error().message, "-");
          co_await pause(s, w, wait, false);
        }
        continue;
      }
      batch = std::move(read->sent);
      batch_end = read->end;
    }

    const auto request = make_request(s, w, batch);
    const std::string range = batch_range(batch);
    PostAbort abort;
    w.in_flight = &abort;
    const auto outcome = co_await https_post(s.strand, *s.tls, request, &abort);
    w.in_flight = nullptr;
    if (!live(s, w)) {
      // Stopping: the batch goes again after a restart, the cursor is untouched.
      co_return;
    }
    if (!outcome.accepted()) {
      const std::string error =
          outcome.status != 0 ? "HTTP status " + std::to_string(outcome.status) : outcome.error;
      const auto wait = failed("webhook_post_failed", error, range);
      co_await pause(s, w, wait, false);
      continue;
    }
    if (auto saved = save_cursor(s, tenant, batch_end); !saved) {
      // Sent but not recorded: it goes again, which at-least-once allows.
      const auto wait = failed("webhook_cursor_failed", saved.error().message, range);
      co_await pause(s, w, wait, false);
      continue;
    }
    log::info("webhook_delivered", {{"tenant", tenant},
                                    {"host", w.url.authority()},
                                    {"batch", range},
                                    {"events", batch.size()},
                                    {"status", outcome.status},
                                    {"attempts", failures + 1}});
    const auto count = static_cast<std::int64_t>(batch.size());
    update_status(s, tenant, [&](EndpointStatus& st) {
      st.failures = 0;
      st.last_error.clear();
      st.delivered += count;
    });
    failures = 0;
    batch.clear();
  }
}

void reload_now(const std::shared_ptr<DispatcherState>& state) {
  auto& s = *state;
  std::vector<Endpoint> endpoints;
  try {
    endpoints = s.cursors.endpoints();
  } catch (const std::exception& e) {
    // Keep what runs; the next reload() tries again.
    log::error("webhook_reload_failed", {{"error", e.what()}});
    return;
  }

  std::map<std::string, std::pair<Endpoint, WebhookUrl>, std::less<>> wanted;
  std::map<std::string, std::string, std::less<>> bad;
  for (auto& endpoint : endpoints) {
    const std::string tenant = endpoint.tenant_id;  // a copy: endpoint is moved below
    if (wanted.contains(tenant) || bad.contains(tenant)) {
      log::warning("webhook_duplicate_endpoint", {{"tenant", tenant}});
      continue;
    }
    auto url = parse_webhook_url(endpoint.url);
    if (!url) {
      // Once per URL, not at every reload: it stays skipped until it is changed.
      if (auto it = s.bad_urls.find(tenant); it == s.bad_urls.end() || it->second != endpoint.url) {
        log::warning("webhook_url_invalid", {{"tenant", tenant}, {"error", url.error().message}});
      }
      bad.emplace(tenant, endpoint.url);
      continue;
    }
    wanted.emplace(tenant, std::pair{std::move(endpoint), std::move(*url)});
  }
  s.bad_urls = std::move(bad);

  for (auto it = s.workers.begin(); it != s.workers.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    retire(*it->second);
    log::info("webhook_stopped", {{"tenant", it->first}});
    {
      std::lock_guard lock(s.status_mutex);
      s.status.erase(it->first);
    }
    it = s.workers.erase(it);
  }

  for (auto& [tenant, want] : wanted) {
    auto& [endpoint, url] = want;
    if (auto it = s.workers.find(tenant); it != s.workers.end()) {
      auto& w = *it->second;
      if (w.endpoint != endpoint) {
        // New URL or secret: the batch in hand goes to the new one, now.
        w.endpoint = std::move(endpoint);
        w.url = std::move(url);
        w.interrupted = true;
        w.timer.cancel();
        log::info("webhook_updated", {{"tenant", tenant}, {"host", w.url.authority()}});
        update_status(s, tenant, [&](EndpointStatus& st) { st.host = w.url.authority(); });
      }
      continue;
    }
    auto w = std::make_shared<Worker>(s.strand);
    w->endpoint = std::move(endpoint);
    w->url = std::move(url);
    {
      std::lock_guard lock(s.status_mutex);
      s.status[tenant] = EndpointStatus{.tenant_id = tenant, .host = w->url.authority()};
    }
    s.workers.emplace(tenant, w);
    log::info("webhook_started", {{"tenant", tenant}, {"host", w->url.authority()}});
    asio::co_spawn(s.strand, run_worker(state, w), [tenant](const std::exception_ptr& e) {
      if (!e) {
        return;
      }
      // A bug: this endpoint stalls (its cursor keeps its place) until a restart.
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error("webhook_worker_failed", {{"tenant", tenant}, {"error", ex.what()}});
      } catch (...) {
        log::error("webhook_worker_failed", {{"tenant", tenant}});
      }
    });
  }
}

}  // namespace

WebhookDispatcher::WebhookDispatcher(asio::any_io_executor executor,
                                     EventLog& log,
                                     CursorStore& cursors,
                                     const Clock& clock,
                                     DispatcherSettings settings)
    : state_(std::make_shared<DispatcherState>(
          std::move(executor), log, cursors, clock, std::move(settings))) {}

WebhookDispatcher::~WebhookDispatcher() {
  stop();
}

void WebhookDispatcher::start() {
  asio::post(state_->strand, [s = state_] {
    if (s->stopping.load() || s->started) {
      return;
    }
    s->started = true;
    reload_now(s);
  });
}

void WebhookDispatcher::stop() {
  // At once, so no coroutine touches the log or store once it resumes.
  if (state_->stopping.exchange(true)) {
    return;
  }
  asio::dispatch(state_->strand, [s = state_] {
    for (auto& [tenant, worker] : s->workers) {
      retire(*worker);
    }
    s->workers.clear();
  });
}

void WebhookDispatcher::notify(const events::DeliveryEvent& event) {
  if (state_->stopping.load() ||
      !state_->settings.types.contains(std::string(events::to_string(event.type)))) {
    // Skipped types move the cursor along with the next batch that is sent.
    return;
  }
  asio::post(state_->strand, [s = state_, tenant = event.tenant_id] {
    auto it = s->workers.find(tenant);
    if (it == s->workers.end()) {
      return;
    }
    it->second->notified = true;
    it->second->timer.cancel();
  });
}

void WebhookDispatcher::reload() {
  asio::post(state_->strand, [s = state_] {
    if (s->stopping.load() || !s->started) {
      return;
    }
    reload_now(s);
  });
}

std::vector<EndpointStatus> WebhookDispatcher::status() const {
  std::lock_guard lock(state_->status_mutex);
  std::vector<EndpointStatus> out;
  out.reserve(state_->status.size());
  for (const auto& [tenant, st] : state_->status) {
    out.push_back(st);
  }
  return out;
}

}  // namespace portcullis::webhooks
