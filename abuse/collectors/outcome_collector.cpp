#include "abuse/collectors/outcome_collector.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>

#include "abuse/collectors/evidence_text.hpp"
#include "abuse/mime/text.hpp"
#include "gateway/core/clock.hpp"
#include "gateway/core/config/config.hpp"

namespace portcullis::abuse {
namespace {

using events::DeliveryEventType;

constexpr double kAlpha = 0.3;
constexpr std::int64_t kHour = 3600;
// Replies are searched in their first this many bytes: the reason is at the start.
constexpr std::size_t kMaxSearched = 2000;
constexpr std::size_t kMaxSample = 400;
constexpr std::size_t kMaxEvidence = 1000;

bool digit(char c) {
  return c >= '0' && c <= '9';
}

// What the start of a reply says: its basic code (550) and its first enhanced code (RFC 3463,
// "5.7.1"; class 2, 4 or 5, subject and detail of 1-3 digits).
struct ReplyCodes {
  int basic = 0;  // 0 = none
  char klass = 0;
  int subject = -1;
  std::string_view enhanced;
};

ReplyCodes read_codes(std::string_view text) {
  ReplyCodes r;
  if (text.size() >= 3 && digit(text[0]) && digit(text[1]) && digit(text[2]) &&
      (text.size() == 3 || text[3] == ' ' || text[3] == '-')) {
    r.basic = (text[0] - '0') * 100 + (text[1] - '0') * 10 + (text[2] - '0');
  }
  for (std::size_t i = 0; i + 4 < text.size(); ++i) {
    const char c = text[i];
    if ((c != '2' && c != '4' && c != '5') || text[i + 1] != '.') {
      continue;
    }
    if (i > 0 && text[i - 1] != ' ' && text[i - 1] != '-' && text[i - 1] != '(' &&
        text[i - 1] != '#') {
      continue;
    }
    std::size_t j = i + 2;
    while (j < text.size() && j < i + 5 && digit(text[j])) {
      ++j;
    }
    if (j == i + 2 || j >= text.size() || text[j] != '.') {
      continue;
    }
    std::size_t k = j + 1;
    while (k < text.size() && k < j + 4 && digit(text[k])) {
      ++k;
    }
    // Not an address such as 5.1.2.3, nor more digits than a code has.
    if (k == j + 1 || (k < text.size() && (text[k] == '.' || digit(text[k])))) {
      continue;
    }
    r.klass = c;
    r.subject = 0;
    for (std::size_t d = i + 2; d < j; ++d) {
      r.subject = r.subject * 10 + (text[d] - '0');
    }
    r.enhanced = text.substr(i, k - i);
    break;
  }
  return r;
}

bool contains_any(std::string_view text, std::initializer_list<std::string_view> needles) {
  return std::any_of(needles.begin(), needles.end(), [&](std::string_view n) {
    return mime::ifind(text, n) != std::string_view::npos;
  });
}

// "listed" as in a blocklist: not "not listed" (Domino's unknown user) or "whitelisted".
bool says_listed(std::string_view text) {
  for (std::size_t at = mime::ifind(text, "listed"); at != std::string_view::npos;
       at = mime::ifind(text, "listed", at + 1)) {
    const std::string_view before = text.substr(0, at);
    if (!mime::iequals(before.substr(before.size() - std::min<std::size_t>(4, before.size())),
                       "not ") &&
        !mime::iequals(before.substr(before.size() - std::min<std::size_t>(5, before.size())),
                       "white") &&
        !mime::iequals(before.substr(before.size() - std::min<std::size_t>(5, before.size())),
                       "allow")) {
      return true;
    }
  }
  return false;
}

std::string sample_of(const events::DeliveryEvent& e) {
  return mime::sanitize(e.recipient, 120) + ": " + mime::sanitize(e.detail, kMaxSample);
}

}  // namespace

bool names_an_unknown_recipient(std::string_view reply) {
  const std::string_view text = reply.substr(0, kMaxSearched);
  const auto codes = read_codes(text);
  // A specific enhanced code decides; x.0.0 says nothing, so the words do.
  if (!codes.enhanced.empty() && codes.enhanced.substr(1) != ".0.0") {
    return codes.klass == '5' &&
           (codes.enhanced == "5.1.1" || codes.enhanced == "5.1.0" || codes.enhanced == "5.1.10");
  }
  if (codes.basic != 0 && codes.basic < 500) {
    return false;
  }
  return contains_any(
      text, {"no such user", "user unknown", "unknown user", "does not exist",
             "mailbox unavailable", "no such mailbox", "mailbox not found", "unknown recipient",
             "recipient unknown", "recipient not found", "user not found", "no such recipient",
             "invalid recipient", "unknown mailbox"});
}

bool names_a_blocklist(std::string_view reply) {
  const std::string_view text = mime::trim(reply.substr(0, kMaxSearched));
  const auto codes = read_codes(text);
  bool policy = false;
  if (!codes.enhanced.empty() && codes.subject != 0) {
    policy = codes.subject == 7 && (codes.klass == '5' || codes.klass == '4');
  } else {
    policy = codes.basic == 550 || codes.basic == 554;
  }
  if (!policy) {
    return false;
  }
  return says_listed(text) ||
         contains_any(text, {"blocklist", "blacklist", "block list", "black list", "rbl", "dnsbl",
                             "spamhaus", "spamcop", "barracuda", "blocked using", "spam",
                             "reputation", "sorbs", "uceprotect"});
}

OutcomeCollector::OutcomeCollector(const config::Config& config,
                                   const Clock& clock,
                                   SignalSink& sink)
    : window_(std::max<std::int64_t>(config.abuse.bounces.window.count(), 1)),
      min_messages_(std::max<std::size_t>(config.abuse.bounces.min_messages, 1)),
      bounce_rate_(config.abuse.bounces.bounce_rate),
      unknown_rate_(config.abuse.bounces.unknown_recipient_rate),
      volume_factor_(config.abuse.volume.factor),
      volume_min_(std::max<std::uint64_t>(config.abuse.volume.min_messages, 1)),
      clock_(clock),
      sink_(sink) {}

void OutcomeCollector::on_event(const events::DeliveryEvent& event) {
  if (event.tenant_id.empty()) {
    return;
  }
  const std::int64_t now = event.time != 0 ? event.time : clock_.unix_now();
  switch (event.type) {
    case DeliveryEventType::accepted:
      count_accepted(event.tenant_id, tenants_[event.tenant_id], event, now);
      return;
    case DeliveryEventType::delivered:
      add_outcome(event.tenant_id, tenants_[event.tenant_id], event, now);
      return;
    case DeliveryEventType::bounced:
      add_outcome(event.tenant_id, tenants_[event.tenant_id], event, now);
      check_blocklist(event, now);
      return;
    case DeliveryEventType::deferred:
      check_blocklist(event, now);
      return;
    case DeliveryEventType::expired:
    case DeliveryEventType::deleted:
      return;
  }
}

void OutcomeCollector::add_outcome(const std::string& tenant_id,
                                   Tenant& t,
                                   const events::DeliveryEvent& event,
                                   std::int64_t now) {
  t.latest = std::max(t.latest, now);
  const std::int64_t cutoff = t.latest - window_;
  const auto drop_front = [&t] {
    const auto& o = t.outcomes.front();
    t.bounced -= o.bounced ? 1 : 0;
    t.unknown -= o.unknown ? 1 : 0;
    t.outcomes.pop_front();
  };
  while (!t.outcomes.empty() && t.outcomes.front().time <= cutoff) {
    drop_front();
  }
  if (now <= cutoff) {
    return;  // reported late, already outside the window
  }
  if (t.outcomes.size() >= kMaxOutcomes) {
    drop_front();
  }
  Outcome o;
  o.time = now;
  o.bounced = event.type == DeliveryEventType::bounced;
  o.unknown = o.bounced && names_an_unknown_recipient(event.detail);
  t.outcomes.push_back(o);
  if (o.bounced) {
    ++t.bounced;
    t.bounce_sample = sample_of(event);
  }
  if (o.unknown) {
    ++t.unknown;
    t.unknown_sample = t.bounce_sample;
  }
  check_rates(tenant_id, t);
}

void OutcomeCollector::check_rates(const std::string& tenant_id, Tenant& t) {
  const std::size_t n = t.outcomes.size();
  const auto check = [&](std::size_t count, double threshold, bool& fired, store::SignalKind kind,
                         const char* what, const std::string& sample) {
    if (threshold <= 0) {
      return;
    }
    if (n < min_messages_) {
      if (n * 2 < min_messages_) {
        fired = false;
      }
      return;
    }
    const double rate = static_cast<double>(count) / static_cast<double>(n);
    if (rate < threshold) {
      fired = false;
      return;
    }
    if (fired) {
      return;
    }
    fired = true;
    store::Signal signal;
    signal.tenant_id = tenant_id;
    signal.kind = kind;
    signal.time = t.latest;
    signal.strength = rate / threshold;
    std::string evidence = std::to_string(count) + " of " + std::to_string(n) + " recipients " +
                           what + " within " + duration_text(window_) + " (" +
                           std::to_string(static_cast<int>(std::lround(rate * 100))) + "%)";
    if (!sample.empty()) {
      evidence += "; e.g. " + sample;
    }
    signal.evidence = mime::sanitize(evidence, kMaxEvidence);
    sink_.record_signal(std::move(signal));
  };
  check(t.bounced, bounce_rate_, t.bounce_fired, store::SignalKind::bounce_rate, "bounced",
        t.bounce_sample);
  check(t.unknown, unknown_rate_, t.unknown_fired, store::SignalKind::unknown_recipients,
        "bounced as unknown addresses", t.unknown_sample);
}

void OutcomeCollector::check_blocklist(const events::DeliveryEvent& event, std::int64_t now) {
  if (!names_a_blocklist(event.detail)) {
    return;
  }
  const std::string remote =
      event.remote.empty() ? std::string("a remote server") : mime::sanitize(event.remote, 160);
  store::Signal signal;
  signal.tenant_id = event.tenant_id;
  signal.kind = store::SignalKind::rbl_rejection;
  signal.time = now;
  signal.evidence = mime::sanitize(
      remote + (event.type == DeliveryEventType::deferred ? " deferred" : " refused") +
          " mail to " + mime::sanitize(event.recipient, 120) +
          " citing a blocklist or spam: " + mime::sanitize(event.detail, 600),
      kMaxEvidence);
  sink_.record_signal(std::move(signal));
}

void OutcomeCollector::count_accepted(const std::string& tenant_id,
                                      Tenant& t,
                                      const events::DeliveryEvent& event,
                                      std::int64_t now) {
  const std::int64_t hour = now / kHour;
  if (t.hour < 0) {
    t.first_hour = t.hour = hour;
  } else if (hour > t.hour) {
    if (t.hour > t.first_hour) {
      const auto count = static_cast<double>(t.hour_messages);
      t.baseline = t.baseline ? kAlpha * count + (1 - kAlpha) * *t.baseline : count;
    }
    // Hours without accepted mail (all complete: they follow the first) count as 0.
    if (const std::int64_t idle = hour - t.hour - 1; idle > 0) {
      const double decay =
          std::pow(1 - kAlpha, static_cast<double>(std::min<std::int64_t>(idle, 1000)));
      t.baseline = t.baseline ? *t.baseline * decay : 0.0;
    }
    t.hour = hour;
    t.hour_messages = 0;
    t.volume_fired = false;
    t.last_message.clear();
  }
  // An event per recipient: the recipients of one message arrive together.
  if (!event.message_id.empty() && event.message_id == t.last_message) {
    return;
  }
  t.last_message = event.message_id;
  ++t.hour_messages;
  if (t.volume_fired || !t.baseline || t.hour_messages < volume_min_) {
    return;
  }
  const double baseline = *t.baseline;
  const double threshold = std::max(volume_factor_ * baseline, static_cast<double>(volume_min_));
  const auto count = static_cast<double>(t.hour_messages);
  if (count < threshold) {
    return;
  }
  t.volume_fired = true;
  store::Signal signal;
  signal.tenant_id = tenant_id;
  signal.kind = store::SignalKind::volume;
  signal.time = now;
  signal.strength = count / threshold;
  signal.evidence = std::to_string(t.hour_messages) + " messages accepted this hour, baseline " +
                    one_decimal(baseline) + " per hour (" +
                    (baseline > 0 ? one_decimal(count / baseline) + " times"
                                  : std::string("no mail in the hours before")) +
                    ")";
  sink_.record_signal(std::move(signal));
}

}  // namespace portcullis::abuse
