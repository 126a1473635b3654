#include "abuse/collectors/feedback_intake.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <utility>

#include "abuse/arf/arf_report.hpp"
#include "abuse/arf/xarf_report.hpp"
#include "abuse/dsn/dsn_report.hpp"
#include "abuse/mime/entity.hpp"
#include "abuse/mime/text.hpp"
#include "gateway/core/log/log.hpp"

namespace portcullis::abuse {
namespace {

constexpr std::size_t kMaxSummary = 1000;
constexpr std::size_t kMaxEvidence = 2000;
constexpr std::size_t kMaxEvidenceLine = 200;
constexpr std::size_t kEvidenceHeaderBytes = 800;
constexpr std::size_t kMaxReason = 300;
constexpr std::size_t kMaxValue = 200;  // one value quoted in a summary
constexpr std::size_t kRecipientsInSummary = 5;

std::string clean(std::string_view text, std::size_t max = kMaxValue) {
  return mime::sanitize(text, max);
}

// What the message says it is, for a report that neither parser could read.
enum class Looks { unknown, arf, xarf, dsn };

void classify(const mime::Entity& entity, Looks& looks) {
  const auto& type = entity.content_type;
  if (type.is("message/delivery-status") || type.is("message/global-delivery-status")) {
    looks = Looks::dsn;
    return;
  }
  if (type.is("multipart/report")) {
    const auto report_type = mime::to_lower(mime::trim(type.parameter("report-type").value_or("")));
    if (report_type == "delivery-status") {
      looks = Looks::dsn;
      return;
    }
    if (report_type == "feedback-report" && looks == Looks::unknown) {
      looks = Looks::arf;
    }
  }
  if (type.is("message/feedback-report") && looks == Looks::unknown) {
    looks = Looks::arf;
  }
  for (const auto& part : entity.parts) {
    classify(part, looks);
    if (looks == Looks::dsn) {
      return;
    }
  }
}

Looks looks_like(std::string_view raw) {
  mime::Warnings warnings;
  const auto root = mime::parse_message(raw, mime::Limits{}, warnings);
  if (!root) {
    return Looks::unknown;
  }
  Looks looks = Looks::unknown;
  classify(*root, looks);
  if (looks == Looks::unknown && arf::declares_xarf(*root)) {
    looks = Looks::xarf;
  }
  return looks;
}

store::ReportKind kind_of(Looks looks) {
  switch (looks) {
    case Looks::arf:
      return store::ReportKind::arf;
    case Looks::xarf:
      return store::ReportKind::xarf;
    case Looks::dsn:
      return store::ReportKind::dsn;
    case Looks::unknown:
      break;
  }
  return store::ReportKind::unknown;
}

// "<id>" or "a message without Message-ID".
std::string about(const OriginalMessage& original) {
  if (!original.present) {
    return "a message it did not include";
  }
  if (original.message_id.empty()) {
    return "a message without Message-ID";
  }
  return "<" + clean(original.message_id) + ">";
}

std::string feedback_type_of(const arf::FeedbackReport& report) {
  return clean(report.feedback_type_text.empty() ? std::string(to_string(report.feedback_type))
                                                 : report.feedback_type_text,
               64);
}

// Who sent the report: its Reporting-MTA, else the envelope sender or the client.
std::string reporter_of(const arf::FeedbackReport& report, const store::InboundReport& stored) {
  if (!report.reporting_mta.empty()) {
    return clean(report.reporting_mta);
  }
  if (!stored.mail_from.empty()) {
    return clean(stored.mail_from);
  }
  return "client " + clean(stored.client_address);
}

// Lines of printable ASCII, each bounded, the whole within kMaxEvidence.
class EvidenceWriter {
 public:
  // `indent` goes before the sanitised text (which has no leading blanks).
  void line(std::string_view text, std::string_view indent = "") {
    std::string clean_line = mime::sanitize(text, kMaxEvidenceLine);
    if (clean_line.empty() || full_) {
      return;
    }
    clean_line.insert(0, indent);
    const std::size_t need = clean_line.size() + (text_.empty() ? 0 : 1);
    if (text_.size() + need > kMaxEvidence) {
      full_ = true;
      return;
    }
    if (!text_.empty()) {
      text_ += '\n';
    }
    text_ += clean_line;
  }
  void field(std::string_view name, std::string_view value) {
    if (!value.empty()) {
      line(std::string(name) + ": " + std::string(value));
    }
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
  bool full_ = false;
};

std::string complaint_evidence(const arf::FeedbackReport& report,
                               const store::InboundReport& stored) {
  EvidenceWriter out;
  const std::string format = report.format == arf::ReportFormat::xarf ? "X-ARF" : "ARF";
  out.line(feedback_type_of(report) + " complaint (" + format + " report " +
           std::to_string(stored.id) + ") from " + reporter_of(report, stored) + " about " +
           about(report.original));
  out.field("Feedback-Type", feedback_type_of(report));
  out.field("Reporting-MTA", report.reporting_mta);
  out.field("User-Agent", report.user_agent);
  out.field("Arrival-Date", report.arrival_date);
  if (report.source_ip) {
    out.field("Source-IP", report.source_ip->to_string());
  }
  out.field("Category", report.category);
  if (!report.complainant.empty()) {
    out.field("Complainant", report.complainant);
  } else {
    out.field("Complainant", report.complainant_source == arf::ComplainantSource::redacted
                                 ? "(redacted by the reporter)"
                                 : "(none given)");
  }
  const OriginalMessage& original = report.original;
  if (original.present) {
    if (!original.message_id.empty()) {
      out.field("Message-ID", "<" + original.message_id + ">");
    }
    out.field("From", original.from);
    out.field("Subject", original.subject);
    if (!original.headers.empty()) {
      out.line(original.headers_only ? "Original header section (as reported):"
                                     : "Original header section:");
      const std::string_view headers = original.headers;
      const std::string_view head = headers.substr(0, kEvidenceHeaderBytes);
      std::size_t pos = 0;
      while (pos < head.size()) {
        const std::string_view text = mime::next_line(head, pos);
        const bool continuation = !text.empty() && (text.front() == ' ' || text.front() == '\t');
        out.line(text, continuation ? "    " : "  ");
      }
      if (headers.size() > head.size()) {
        out.line("...", "  ");
      }
    }
  } else {
    out.line("The report did not include the original message.");
  }
  if (!report.evidence.empty()) {
    out.field("Evidence", report.evidence);
  }
  return out.take();
}

std::string recipients_summary(const dsn::DeliveryReport& report) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& r : report.recipients) {
    if (shown == kRecipientsInSummary) {
      out += ", and " + std::to_string(report.recipients.size() - shown) + " more";
      break;
    }
    if (shown > 0) {
      out += ", ";
    }
    out += clean(r.final_recipient) + " " + std::string(dsn::to_string(r.action));
    if (!r.status.empty()) {
      out += " " + r.status;
    }
    ++shown;
  }
  return out;
}

std::string with_warnings(std::string summary, const std::vector<std::string>& warnings) {
  if (!warnings.empty()) {
    summary += " (" + std::to_string(warnings.size()) +
               (warnings.size() == 1 ? " warning: " : " warnings, first: ") + warnings.front() +
               ")";
  }
  return mime::sanitize(summary, kMaxSummary);
}

Result<std::string> ok(std::string text) {
  return Result<std::string>(boost::system::in_place_value, std::move(text));
}

}  // namespace

struct FeedbackIntake::Attribution {
  std::string tenant;  // "" = none found
  std::string how;     // what it was found by, or everything that was tried
};

namespace {

// Attributed or unattributed, and the summary says by what or what was tried.
bool file_under(const FeedbackIntake::Attribution& by,
                store::InboundReport& report,
                std::string& summary) {
  if (by.tenant.empty()) {
    report.status = store::ReportStatus::unattributed;
    summary += "; no tenant found: " + by.how;
    return false;
  }
  report.status = store::ReportStatus::attributed;
  report.tenant_id = by.tenant;
  summary += "; attributed by " + by.how;
  return true;
}

}  // namespace

FeedbackIntake::FeedbackIntake(
    asio::any_io_executor executor,
    const config::Config& config,
    store::AbuseStore& reports,
    store::Store& tenants,
    SignalSink& sink,
    const Clock& clock,
    std::function<std::string(std::string_view queue_id)> tenant_of_queue_id,
    std::function<void(const std::string& tenant_id)> on_complaint)
    : executor_(std::move(executor)),
      addresses_(config.abuse.feedback_addresses),
      hostname_(config.relay.hostname),
      reports_(reports),
      tenants_(tenants),
      clock_(clock),
      tenant_of_queue_id_(std::move(tenant_of_queue_id)),
      shared_(std::make_shared<Shared>()) {
  shared_->sink = &sink;
  shared_->on_complaint = std::move(on_complaint);
  worker_ = std::thread([this] { run(); });
}

FeedbackIntake::~FeedbackIntake() {
  stop();
  std::lock_guard lock(shared_->mutex);
  shared_->alive = false;
}

bool FeedbackIntake::accepts(std::string_view address) const {
  return std::any_of(addresses_.begin(), addresses_.end(),
                     [address](const std::string& a) { return mime::iequals(a, address); });
}

void FeedbackIntake::deliver(mail::InboundMessage message, Done done) {
  std::unique_lock lock(mutex_);
  if (stopping_) {
    lock.unlock();
    done(make_error("the feedback intake is stopped"));
    return;
  }
  if (queue_.size() >= kMaxQueued) {
    lock.unlock();
    log::warning(
        "abuse_report_refused",
        {{"client", message.client_address}, {"reason", "queue full"}, {"queued", kMaxQueued}});
    done(make_error("too many reports waiting to be stored; try again later"));
    return;
  }
  queue_.push_back(Job{std::move(message), std::move(done)});
  lock.unlock();
  wake_.notify_one();
}

void FeedbackIntake::stop() {
  std::deque<Job> left;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    left.swap(queue_);
  }
  wake_.notify_all();
  {
    std::lock_guard lock(join_mutex_);
    if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) {
      worker_.join();
    }
  }
  for (auto& job : left) {
    job.done(make_error("the feedback intake is stopping"));
  }
}

void FeedbackIntake::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) {
        return;  // stop() answers what is left
      }
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    // Nothing here is expected to throw; if something does (memory), the
    // worker goes on with the next report instead of taking the daemon down.
    try {
      handle(std::move(job));
    } catch (const std::exception& e) {
      log::error("abuse_report_failed", {{"error", e.what()}});
    }
  }
}

void FeedbackIntake::handle(Job job) {
  mail::InboundMessage& m = job.message;
  store::InboundReport report;
  report.received_at = m.received_at != 0 ? m.received_at : clock_.unix_now();
  report.client_address = m.client_address;
  report.mail_from = std::move(m.mail_from);
  report.recipient = m.recipients.empty() ? std::string() : std::move(m.recipients.front());
  report.kind = store::ReportKind::unknown;
  report.status = store::ReportStatus::received;
  report.raw = std::move(m.data);
  auto stored = reports_.add_report(std::move(report));
  if (!stored) {
    log::error("abuse_report_not_stored",
               {{"client", job.message.client_address}, {"error", stored.error().message}});
    job.done(make_error("the report could not be stored"));
    return;
  }
  // The sender's 250 follows: the report is on disk whatever happens next.
  Done done = std::move(job.done);
  done(ok(std::to_string(stored->id)));
  process(std::move(*stored));
}

void FeedbackIntake::process(store::InboundReport report) {
  const std::string_view raw = report.raw;
  bool complaint = false;
  store::Signal signal;
  std::string suppress;  // the complainant, when the report asks for one

  auto feedback = arf::parse_feedback_report(raw);
  if (feedback) {
    const arf::FeedbackReport& r = *feedback;
    report.kind =
        r.format == arf::ReportFormat::xarf ? store::ReportKind::xarf : store::ReportKind::arf;
    const auto by = attribute(r.original.tenant, {r.original.queue_id}, r.original.message_id);
    // not-spam undoes a complaint; auth-failure (RFC 6591) reports a failed
    // SPF/DKIM/DMARC check, often of forged mail, not a recipient's complaint.
    const bool counts = r.feedback_type != arf::FeedbackType::not_spam &&
                        r.feedback_type != arf::FeedbackType::auth_failure;
    std::string summary =
        feedback_type_of(r) + (counts ? " complaint" : " report") + " about " + about(r.original) +
        " from " +
        (r.complainant.empty() ? std::string("an unnamed recipient") : clean(r.complainant)) +
        ", reported by " + reporter_of(r, report);
    if (file_under(by, report, summary)) {
      if (!counts) {
        summary += "; not counted as a complaint";
      } else {
        complaint = true;
        suppress = r.complainant;
        signal.tenant_id = by.tenant;
        // Source-IP is who sent the mail to the provider: for relayed mail the
        // relay itself. Only a host of the tenant's own is named on the signal.
        signal.host = tenant_host(by.tenant, r.source_ip);
        signal.kind = store::SignalKind::complaint;
        signal.time = 0;
        signal.strength = 1.0;
        signal.evidence = complaint_evidence(r, report);
        if (!suppress.empty()) {
          store::Suppression s;
          s.tenant_id = by.tenant;
          s.list = store::SuppressionList::spam_reports;
          s.address = suppress;
          s.reason =
              mime::sanitize("complaint: " + feedback_type_of(r) + " report " +
                                 std::to_string(report.id) + " from " + reporter_of(r, report),
                             kMaxReason);
          if (auto added = tenants_.add_suppression(std::move(s)); !added) {
            log::warning(
                "abuse_report_suppression_failed",
                {{"report", report.id}, {"tenant", by.tenant}, {"error", added.error().message}});
          } else {
            summary += "; " + added->address + " added to spam-reports";
          }
        }
      }
    }
    report.summary = with_warnings(std::move(summary), r.warnings);
  } else {
    const Looks looks = looks_like(raw);
    std::optional<Result<dsn::DeliveryReport>> bounce;
    if (looks == Looks::dsn) {
      bounce = dsn::parse_delivery_report(raw);
    }
    if (bounce && *bounce) {
      const dsn::DeliveryReport& d = **bounce;
      report.kind = store::ReportKind::dsn;
      const auto by = attribute(d.original.tenant, {d.portcullis_queue_id, d.original.queue_id},
                                d.original.message_id);
      std::string summary = "bounce from " +
                            (d.reporting_mta.empty() ? "client " + clean(report.client_address)
                                                     : clean(d.reporting_mta)) +
                            " about " + about(d.original) + ": " + recipients_summary(d);
      file_under(by, report, summary);
      report.summary = with_warnings(std::move(summary), d.warnings);
    } else {
      report.kind = kind_of(looks);
      report.status = store::ReportStatus::rejected;
      report.summary =
          mime::sanitize(bounce ? bounce->error().message : feedback.error().message, kMaxSummary);
    }
  }

  if (complaint) {
    post_complaint(std::move(signal));
  }
  if (auto updated = reports_.update_report(report); !updated) {
    log::error("abuse_report_not_updated",
               {{"report", report.id}, {"error", updated.error().message}});
  }
  log::info("abuse_report", {{"report", report.id},
                             {"kind", store::to_string(report.kind)},
                             {"status", store::to_string(report.status)},
                             {"tenant", report.tenant_id}});
}

FeedbackIntake::Attribution FeedbackIntake::attribute(
    std::string_view header_tenant,
    std::initializer_list<std::string_view> queue_ids,
    std::string_view message_id) const {
  std::vector<std::string> tried;
  auto by_queue_id = [this](std::string_view id) {
    return tenant_of_queue_id_ && !id.empty() ? tenant_of_queue_id_(id) : std::string();
  };
  if (!header_tenant.empty()) {
    if (tenants_.get_tenant(header_tenant)) {
      return {std::string(header_tenant), std::string(kTenantHeader)};
    }
    tried.push_back(std::string(kTenantHeader) + " '" + clean(header_tenant) + "' is no tenant");
  }
  for (const std::string_view id : queue_ids) {
    if (id.empty()) {
      continue;
    }
    if (auto tenant = by_queue_id(id); !tenant.empty()) {
      return {std::move(tenant), "queue id " + clean(id)};
    }
    tried.push_back("queue id " + clean(id) + " is unknown");
  }
  if (!message_id.empty()) {
    const std::size_t at = message_id.rfind('@');
    if (at != std::string_view::npos && at > 0 &&
        mime::iequals(message_id.substr(at + 1), hostname_)) {
      if (auto tenant = by_queue_id(message_id.substr(0, at)); !tenant.empty()) {
        return {std::move(tenant), "Message-ID <" + clean(message_id) + ">"};
      }
    }
    if (auto tenant = by_queue_id(message_id); !tenant.empty()) {
      return {std::move(tenant), "Message-ID <" + clean(message_id) + ">"};
    }
    tried.push_back("Message-ID <" + clean(message_id) + "> names no queued message");
  }
  if (tried.empty()) {
    return {"", "the report names no tenant, queue id or Message-ID"};
  }
  std::string how;
  for (const auto& t : tried) {
    how += (how.empty() ? "" : ", ") + t;
  }
  return {"", how};
}

std::string FeedbackIntake::tenant_host(
    const std::string& tenant_id, const std::optional<boost::asio::ip::address>& address) const {
  if (!address) {
    return {};
  }
  const auto tenant = tenants_.get_tenant(tenant_id);
  if (!tenant) {
    return {};
  }
  for (const auto& subnet : tenant->subnets) {
    if (subnet.contains(*address)) {
      return net::normalize(*address).to_string();
    }
  }
  return {};
}

void FeedbackIntake::post_complaint(store::Signal signal) {
  asio::post(executor_, [shared = shared_, signal = std::move(signal)]() mutable {
    std::lock_guard lock(shared->mutex);
    if (!shared->alive) {
      return;
    }
    if (shared->on_complaint) {
      shared->on_complaint(signal.tenant_id);
    }
    shared->sink->record_signal(std::move(signal));
  });
}

}  // namespace portcullis::abuse
