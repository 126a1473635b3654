#include "gateway/core/control/queue_view.hpp"

namespace portcullis::control {

std::string header_section(std::string_view data) {
  if (data.starts_with("\r\n")) {
    return {};
  }
  if (auto end = data.find("\r\n\r\n"); end != std::string_view::npos) {
    return std::string(data.substr(0, end + 2));
  }
  // Bare LF ends a header section too, should one ever reach the spool.
  if (auto end = data.find("\n\n"); end != std::string_view::npos) {
    return std::string(data.substr(0, end + 1));
  }
  return std::string(data);
}

std::string_view to_string(QueueAction action) {
  switch (action) {
    case QueueAction::hold:
      return "hold";
    case QueueAction::release:
      return "release";
    case QueueAction::retry:
      return "retry";
    case QueueAction::remove:
      return "delete";
    case QueueAction::bounce:
      return "bounce";
  }
  return "?";
}

}  // namespace portcullis::control
