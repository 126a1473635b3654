#include "abuse/collectors/dnsbl_collector.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "abuse/dnsbl/dnsbl.hpp"
#include "abuse/dnsbl/query_name.hpp"
#include "abuse/mime/text.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/dns/lookup.hpp"
#include "gateway/core/log/log.hpp"

namespace portcullis::abuse {
namespace detail {

struct DnsblState {
  DnsblState(asio::any_io_executor ex,
             dns::Lookup& dns,
             std::vector<dnsbl::ZoneConfig> zones,
             std::function<std::vector<DnsblTarget>()> targets,
             SignalSink& sink,
             const Clock& clock,
             std::chrono::seconds interval,
             std::size_t queries_per_second)
      : executor(std::move(ex)),
        dns(dns),
        zones(std::move(zones)),
        targets(std::move(targets)),
        sink(sink),
        clock(clock),
        interval(interval),
        spacing(std::chrono::nanoseconds(
            1'000'000'000 /
            static_cast<std::int64_t>(std::max<std::size_t>(queries_per_second, 1)))),
        round_timer(this->executor),
        pace_timer(this->executor) {}

  asio::any_io_executor executor;
  dns::Lookup& dns;
  std::vector<dnsbl::ZoneConfig> zones;
  std::function<std::vector<DnsblTarget>()> targets;
  SignalSink& sink;
  const Clock& clock;
  std::chrono::seconds interval;
  std::chrono::steady_clock::duration spacing;
  asio::steady_timer round_timer;
  asio::steady_timer pace_timer;
  std::chrono::steady_clock::time_point next_query{};
  bool started = false;
  bool stopped = false;
};

}  // namespace detail

namespace {

using detail::DnsblState;
using Steady = std::chrono::steady_clock;

constexpr std::size_t kMaxEvidence = 1000;

struct RoundStats {
  std::size_t queries = 0;
  std::size_t listed = 0;
  std::size_t errors = 0;
};

// Waits for the next query slot; false once stopped.
asio::awaitable<bool> pace(DnsblState& s) {
  if (Steady::now() < s.next_query) {
    s.pace_timer.expires_at(s.next_query);
    co_await s.pace_timer.async_wait(asio_nothrow);
  }
  if (s.stopped) {
    co_return false;
  }
  s.next_query = Steady::now() + s.spacing;
  co_return true;
}

// nullopt once stopped.
asio::awaitable<std::optional<dnsbl::Verdict>> ask(DnsblState& s,
                                                   const dnsbl::ZoneConfig& zone,
                                                   const std::string& name,
                                                   RoundStats& stats) {
  if (!co_await pace(s)) {
    co_return std::nullopt;
  }
  ++stats.queries;
  const auto answer = co_await s.dns.a(name);
  if (s.stopped) {
    co_return std::nullopt;
  }
  auto verdict = dnsbl::classify(zone, answer);
  if (verdict.status != dnsbl::Status::listed) {
    co_return verdict;
  }
  if (!co_await pace(s)) {
    co_return std::nullopt;
  }
  ++stats.queries;
  const auto txt = co_await s.dns.txt(name);
  if (s.stopped) {
    co_return std::nullopt;
  }
  co_return dnsbl::classify(zone, answer, txt ? *txt : std::vector<std::string>{});
}

std::string listing_evidence(const std::string& address,
                             const dnsbl::ZoneConfig& zone,
                             const dnsbl::Verdict& verdict) {
  std::string codes;
  for (const auto& c : verdict.codes) {
    if (!codes.empty()) {
      codes += ", ";
    }
    codes += c.code.to_string();
    // "listed" is the meaning of the default range: it adds nothing.
    if (!c.meaning.empty() && c.meaning != "listed") {
      codes += " " + c.meaning;
    }
  }
  std::string text = address + " is listed in " + zone.zone + " (" + codes + ")";
  if (!verdict.evidence.empty()) {
    text += ": " + verdict.evidence;
  }
  return mime::sanitize(text, kMaxEvidence);
}

void report(DnsblState& s,
            const DnsblTarget& target,
            const dnsbl::ZoneConfig& zone,
            const dnsbl::Verdict& verdict,
            bool fresh,
            RoundStats& stats) {
  const std::string address = target.address.to_string();
  switch (verdict.status) {
    case dnsbl::Status::listed: {
      ++stats.listed;
      log::info("dnsbl_listed",
                {{"zone", zone.zone}, {"address", address}, {"tenant", target.tenant_id}});
      store::Signal signal;
      signal.tenant_id = target.tenant_id;
      signal.host = address;
      signal.kind = store::SignalKind::dnsbl;
      signal.time = s.clock.unix_now();
      signal.strength = verdict.weight;
      signal.evidence = listing_evidence(address, zone, verdict);
      s.sink.record_signal(std::move(signal));
      return;
    }
    case dnsbl::Status::error:
      if (fresh) {
        ++stats.errors;
        log::warning("dnsbl_lookup_error",
                     {{"zone", zone.zone}, {"address", address}, {"reason", verdict.reason}});
      }
      return;
    case dnsbl::Status::not_listed:
      if (fresh) {
        log::debug("dnsbl_not_listed", {{"zone", zone.zone}, {"address", address}});
      }
      return;
  }
}

// false once stopped.
asio::awaitable<bool> round(DnsblState& s) {
  std::vector<DnsblTarget> targets;
  try {
    targets = s.targets();
  } catch (const std::exception& e) {
    // The store could not be read: this round is skipped, the next one tries again.
    log::error("dnsbl_targets_failed", {{"error", e.what()}});
    co_return true;
  }
  RoundStats stats;
  // A dedicated address shared by several tenants (a plan's) is asked once per zone.
  std::map<std::string, dnsbl::Verdict> answered;
  for (const auto& target : targets) {
    for (const auto& zone : s.zones) {
      auto name = dnsbl::query_name(target.address, zone.zone);
      if (!name) {
        log::warning("dnsbl_bad_query", {{"zone", zone.zone}, {"error", name.error().message}});
        continue;
      }
      auto it = answered.find(*name);
      const bool fresh = it == answered.end();
      if (fresh) {
        auto verdict = co_await ask(s, zone, *name, stats);
        if (!verdict) {
          co_return false;
        }
        it = answered.emplace(*name, std::move(*verdict)).first;
      }
      report(s, target, zone, it->second, fresh, stats);
    }
  }
  log::info("dnsbl_round", {{"targets", targets.size()},
                            {"zones", s.zones.size()},
                            {"queries", stats.queries},
                            {"listed", stats.listed},
                            {"errors", stats.errors}});
  co_return true;
}

asio::awaitable<void> run(std::shared_ptr<DnsblState> s) {
  while (!s->stopped) {
    const auto started = Steady::now();
    if (!co_await round(*s)) {
      co_return;
    }
    const auto next = started + s->interval;
    if (Steady::now() > next) {
      log::warning("dnsbl_round_overran",
                   {{"interval_s", s->interval.count()},
                    {"note", "more targets than queries_per_second allows per interval"}});
    }
    s->round_timer.expires_at(next);
    co_await s->round_timer.async_wait(asio_nothrow);
  }
}

}  // namespace

Result<std::vector<dnsbl::ZoneConfig>> DnsblCollector::zones_from(
    const config::DnsblConfig& config) {
  std::vector<dnsbl::ZoneConfig> zones;
  std::set<std::string> seen;
  for (const auto& z : config.zones) {
    auto name = dnsbl::normalize_zone(z.zone);
    if (!name) {
      return name.error();
    }
    const std::string where = "DNSBL zone " + *name + ": ";
    dnsbl::ZoneConfig zone;
    zone.zone = *name;
    zone.weight = z.weight;
    const auto parse = [&](const std::vector<std::string>& texts,
                           std::vector<dnsbl::CodeRange>& out, const char* what) -> Result<void> {
      if (texts.empty()) {
        return {};
      }
      out.clear();
      for (const auto& t : texts) {
        auto range = dnsbl::parse_code_range(t);
        if (!range) {
          return make_error(where + what + ": " + range.error().message);
        }
        out.push_back(std::move(*range));
      }
      return {};
    };
    if (auto r = parse(z.listing_codes, zone.listing_codes, "listing code"); !r) {
      return r.error();
    }
    if (auto r = parse(z.error_codes, zone.error_codes, "error code"); !r) {
      return r.error();
    }
    auto valid = dnsbl::validate(std::move(zone));
    if (!valid) {
      return valid.error();
    }
    if (!seen.insert(valid->zone).second) {
      return make_error(where + "listed twice");
    }
    zones.push_back(std::move(*valid));
  }
  return zones;
}

DnsblCollector::DnsblCollector(asio::any_io_executor executor,
                               dns::Lookup& dns,
                               const config::Config& config,
                               std::function<std::vector<DnsblTarget>()> targets,
                               SignalSink& sink,
                               const Clock& clock) {
  auto zones = zones_from(config.abuse.dnsbl);
  if (!zones) {
    throw std::runtime_error("abuse.dnsbl.zones: " + zones.error().message);
  }
  state_ = std::make_shared<DnsblState>(
      std::move(executor), dns, std::move(*zones), std::move(targets), sink, clock,
      config.abuse.dnsbl.interval, config.abuse.dnsbl.queries_per_second);
}

DnsblCollector::~DnsblCollector() {
  stop();
}

void DnsblCollector::start() {
  auto& s = *state_;
  if (s.started || s.stopped || s.zones.empty()) {
    return;
  }
  s.started = true;
  asio::co_spawn(s.executor, run(state_), [](const std::exception_ptr& e) {
    if (!e) {
      return;
    }
    // A bug: no more DNSBL rounds until a restart.
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error("dnsbl_collector_failed", {{"error", ex.what()}});
    } catch (...) {
      log::error("dnsbl_collector_failed");
    }
  });
}

void DnsblCollector::stop() {
  auto& s = *state_;
  if (s.stopped) {
    return;
  }
  s.stopped = true;
  s.round_timer.cancel();
  s.pace_timer.cancel();
}

}  // namespace portcullis::abuse
