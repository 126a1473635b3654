#include "abuse/desk/notification.hpp"

#include <string_view>

#include "abuse/mime/text.hpp"
#include "gateway/core/mail/rfc5322_date.hpp"

namespace portcullis::abuse {
namespace {

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) {
      out.append(separator);
    }
    out.append(item);
  }
  return out;
}

std::string angle_list(const std::vector<std::string>& addresses) {
  std::vector<std::string> bracketed;
  for (const auto& a : addresses) {
    bracketed.push_back("<" + a + ">");
  }
  return join(bracketed, ", ");
}

std::string_view what_it_means(store::TicketCategory category) {
  switch (category) {
    case store::TicketCategory::compromised_host:
      return "A host of yours is trying to deliver mail directly to other networks' mail "
             "servers on port 25, the way spam-sending malware does. Portcullis blocked these "
             "attempts.";
    case store::TicketCategory::blacklisting:
      return "An address that sends your mail is listed on a DNS blocklist, so receivers "
             "may refuse mail from it.";
    case store::TicketCategory::complaint:
      return "Recipients of your mail reported it as spam through their mailbox provider's "
             "feedback loop. Each complainant was added to your spam-reports suppression list.";
    case store::TicketCategory::spam:
      break;
  }
  return "Mail relayed for you shows the signs of spam: many bounces, unknown recipients, "
         "refusals citing blocklists or a sudden jump in volume.";
}

std::string describe(const store::TicketAction& a) {
  std::string out(store::to_string(a.kind));
  if (!a.target.empty()) {
    out += " " + a.target;
  }
  out += a.reverted_at ? " (since reverted)" : "";
  return out;
}

// Each evidence line prefixed and bounded; the whole block bounded too.
void append_evidence(std::string& body, std::string_view evidence, std::size_t& budget) {
  std::size_t pos = 0;
  while (pos < evidence.size() && budget > 0) {
    const auto text =
        mime::sanitize(mime::next_line(evidence, pos), std::min(kMaxEvidenceLine, budget));
    budget -= std::min(budget, text.size());
    body += "      " + text + "\r\n";
  }
}

}  // namespace

std::string notification_subject(const store::Ticket& ticket, int reminder) {
  std::string subject = reminder > 0 ? "Reminder: " : "";
  subject += "[Portcullis abuse #" + std::to_string(ticket.id) + "] ";
  subject += std::string(store::to_string(ticket.category));
  if (!ticket.hosts.empty()) {
    subject += ": " + join(ticket.hosts, ", ");
  }
  subject += ticket.tenant_id.empty() ? " (this gateway)" : " (tenant " + ticket.tenant_id + ")";
  // Hosts and tenant ids are validated, but a subject is a header field: keep it one line.
  return mime::sanitize(subject, 200);
}

mail::OutboundMessage compose_notification(const Notification& n) {
  const auto& t = n.ticket;
  std::string body;
  body += n.reminder > 0 ? "This is reminder " + std::to_string(n.reminder) +
                               ": we have not heard from you about this ticket.\r\n\r\n"
                         : "";
  body +=
      "Abuse ticket #" + std::to_string(t.id) + " (" + std::string(store::to_string(t.category)) +
      ") was opened on " + mail::rfc5322_date(t.opened_at) + " for " +
      (t.tenant_id.empty() ? std::string("this gateway") : "tenant " + t.tenant_id) + ".\r\n\r\n";
  body += std::string(what_it_means(t.category)) + "\r\n\r\n";
  if (!t.hosts.empty()) {
    body += "Hosts: " + mime::sanitize(join(t.hosts, ", "), 900) + "\r\n\r\n";
  }
  body += "Evidence:\r\n";
  std::size_t budget = kMaxEvidenceBytes;
  const auto first =
      n.signals.size() > kMaxSignalsInMail ? n.signals.size() - kMaxSignalsInMail : 0;
  if (first > 0) {
    body += "  (" + std::to_string(first) + " older signals not shown)\r\n";
  }
  for (std::size_t i = first; i < n.signals.size(); ++i) {
    const auto& s = n.signals[i];
    body += "  - " + mail::rfc5322_date(s.time) + " " + std::string(store::to_string(s.kind)) +
            (s.host.empty() ? "" : " " + mime::sanitize(s.host, 64)) + ":\r\n";
    append_evidence(body, s.evidence, budget);
  }
  if (n.signals.empty()) {
    body += "  " + mime::sanitize(t.summary, 900) + "\r\n";
  }
  if (!n.actions.empty()) {
    body += "\r\nWhat Portcullis did:\r\n";
    for (const auto& a : n.actions) {
      body += "  - " + mime::sanitize(describe(a), 900) + "\r\n";
    }
  }
  body +=
      "\r\nWhat we expect from you: reply to this message within a few days and tell us\r\n"
      "  1. how it happened (which host, which account or script, since when), and\r\n"
      "  2. what you did to prevent it from happening again.\r\n"
      "We will resolve the ticket, and lift any restriction above, once the cause is gone.\r\n"
      "Please keep \"#" +
      std::to_string(t.id) + "\" in the subject of your reply.\r\n";

  std::string data;
  data += "From: <" + n.from + ">\r\n";
  data += "To: " + angle_list(n.to) + "\r\n";
  if (!n.cc.empty()) {
    data += "Cc: " + angle_list(n.cc) + "\r\n";
  }
  data += "Subject: " + notification_subject(t, n.reminder) + "\r\n";
  data += "Date: " + mail::rfc5322_date(n.now) + "\r\n";
  data += "Message-ID: <abuse-" + std::to_string(t.id) + "-" + std::to_string(n.reminder) + "-" +
          std::to_string(n.now) + "@" + n.hostname + ">\r\n";
  data += "Auto-Submitted: auto-generated\r\n";  // RFC 3834: no auto-replies to it
  data += "X-Portcullis-Ticket: " + std::to_string(t.id) + "\r\n";
  data += "MIME-Version: 1.0\r\n";
  data += "Content-Type: text/plain; charset=us-ascii\r\n";
  data += "Content-Transfer-Encoding: 7bit\r\n";
  data += "\r\n";
  data += body;

  mail::OutboundMessage out;
  out.mail_from = n.from;
  out.recipients = n.to;
  out.recipients.insert(out.recipients.end(), n.cc.begin(), n.cc.end());
  out.data = std::move(data);
  return out;
}

}  // namespace portcullis::abuse
