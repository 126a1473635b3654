#include "gateway/core/store/abuse_types.hpp"

#include <array>
#include <utility>

namespace portcullis::store {
namespace {

// Each enum's names, in declaration order: the text stored in state.db and
// spoken by the control API. The migration's CHECK constraints list the same
// words, so a name here is never changed, only added (with a migration).
template <class E, std::size_t N>
using Names = std::array<std::pair<E, std::string_view>, N>;

constexpr Names<SignalKind, 7> kSignalKinds = {{
    {SignalKind::dnsbl, "dnsbl"},
    {SignalKind::complaint, "complaint"},
    {SignalKind::bounce_rate, "bounce_rate"},
    {SignalKind::unknown_recipients, "unknown_recipients"},
    {SignalKind::rbl_rejection, "rbl_rejection"},
    {SignalKind::egress, "egress"},
    {SignalKind::volume, "volume"},
}};

constexpr Names<TicketCategory, 4> kTicketCategories = {{
    {TicketCategory::spam, "spam"},
    {TicketCategory::compromised_host, "compromised_host"},
    {TicketCategory::blacklisting, "blacklisting"},
    {TicketCategory::complaint, "complaint"},
}};

constexpr Names<TicketStatus, 4> kTicketStatuses = {{
    {TicketStatus::open, "open"},
    {TicketStatus::waiting, "waiting"},
    {TicketStatus::resolved, "resolved"},
    {TicketStatus::closed, "closed"},
}};

constexpr Names<ActionKind, 4> kActionKinds = {{
    {ActionKind::throttle, "throttle"},
    {ActionKind::suspend, "suspend"},
    {ActionKind::block_host, "block_host"},
    {ActionKind::revoke_exception, "revoke_exception"},
}};

constexpr Names<ExceptionStatus, 5> kExceptionStatuses = {{
    {ExceptionStatus::pending, "pending"},
    {ExceptionStatus::approved, "approved"},
    {ExceptionStatus::denied, "denied"},
    {ExceptionStatus::revoked, "revoked"},
    {ExceptionStatus::expired, "expired"},
}};

constexpr Names<ReportKind, 4> kReportKinds = {{
    {ReportKind::arf, "arf"},
    {ReportKind::xarf, "xarf"},
    {ReportKind::dsn, "dsn"},
    {ReportKind::unknown, "unknown"},
}};

constexpr Names<ReportStatus, 4> kReportStatuses = {{
    {ReportStatus::received, "received"},
    {ReportStatus::attributed, "attributed"},
    {ReportStatus::unattributed, "unattributed"},
    {ReportStatus::rejected, "rejected"},
}};

template <class E, std::size_t N>
std::string_view name_of(const Names<E, N>& names, E value) {
  for (const auto& [e, name] : names) {
    if (e == value) {
      return name;
    }
  }
  return names.front().second;  // only for a value outside the enum
}

template <class E, std::size_t N>
std::optional<E> parse_name(const Names<E, N>& names, std::string_view text) {
  for (const auto& [e, name] : names) {
    if (name == text) {
      return e;
    }
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(SignalKind kind) {
  return name_of(kSignalKinds, kind);
}
std::optional<SignalKind> parse_signal_kind(std::string_view text) {
  return parse_name(kSignalKinds, text);
}
const std::vector<SignalKind>& all_signal_kinds() {
  static const std::vector<SignalKind> kinds = [] {
    std::vector<SignalKind> out;
    for (const auto& entry : kSignalKinds) {
      out.push_back(entry.first);
    }
    return out;
  }();
  return kinds;
}

std::string_view to_string(TicketCategory category) {
  return name_of(kTicketCategories, category);
}
std::optional<TicketCategory> parse_ticket_category(std::string_view text) {
  return parse_name(kTicketCategories, text);
}

TicketCategory category_of(SignalKind kind) {
  switch (kind) {
    case SignalKind::dnsbl:
      return TicketCategory::blacklisting;
    case SignalKind::complaint:
      return TicketCategory::complaint;
    case SignalKind::egress:
      return TicketCategory::compromised_host;
    case SignalKind::bounce_rate:
    case SignalKind::unknown_recipients:
    case SignalKind::rbl_rejection:
    case SignalKind::volume:
      return TicketCategory::spam;
  }
  return TicketCategory::spam;
}

std::string_view to_string(TicketStatus status) {
  return name_of(kTicketStatuses, status);
}
std::optional<TicketStatus> parse_ticket_status(std::string_view text) {
  return parse_name(kTicketStatuses, text);
}

std::string_view to_string(ActionKind kind) {
  return name_of(kActionKinds, kind);
}
std::optional<ActionKind> parse_action_kind(std::string_view text) {
  return parse_name(kActionKinds, text);
}

std::string_view to_string(ExceptionStatus status) {
  return name_of(kExceptionStatuses, status);
}
std::optional<ExceptionStatus> parse_exception_status(std::string_view text) {
  return parse_name(kExceptionStatuses, text);
}

std::string_view to_string(ReportKind kind) {
  return name_of(kReportKinds, kind);
}
std::optional<ReportKind> parse_report_kind(std::string_view text) {
  return parse_name(kReportKinds, text);
}

std::string_view to_string(ReportStatus status) {
  return name_of(kReportStatuses, status);
}
std::optional<ReportStatus> parse_report_status(std::string_view text) {
  return parse_name(kReportStatuses, text);
}

}  // namespace portcullis::store
