#include "gateway/core/config/config.hpp"

namespace portcullis::config {

std::string Endpoint::to_string() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

bool destination_matches(std::string_view pattern, std::string_view domain) {
  if (pattern.starts_with("*.")) {
    const std::string_view suffix = pattern.substr(1);  // ".example.com"
    return domain.size() > suffix.size() && domain.ends_with(suffix);
  }
  return pattern == domain;
}

std::string_view to_string(TlsPolicyKind kind) {
  switch (kind) {
    case TlsPolicyKind::opportunistic:
      return "opportunistic";
    case TlsPolicyKind::require:
      return "require";
    case TlsPolicyKind::verify:
      return "verify";
  }
  return "?";
}

std::optional<TlsPolicyKind> parse_tls_policy_kind(std::string_view text) {
  for (auto kind : {TlsPolicyKind::opportunistic, TlsPolicyKind::require, TlsPolicyKind::verify}) {
    if (text == to_string(kind)) {
      return kind;
    }
  }
  return std::nullopt;
}

std::string_view to_string(AbuseAction action) {
  switch (action) {
    case AbuseAction::none:
      return "none";
    case AbuseAction::throttle:
      return "throttle";
    case AbuseAction::suspend:
      return "suspend";
    case AbuseAction::block_host:
      return "block_host";
  }
  return "?";
}

std::optional<AbuseAction> parse_abuse_action(std::string_view text) {
  for (auto action :
       {AbuseAction::none, AbuseAction::throttle, AbuseAction::suspend, AbuseAction::block_host}) {
    if (text == to_string(action)) {
      return action;
    }
  }
  return std::nullopt;
}

std::string_view to_string(log::Level level) {
  switch (level) {
    case log::Level::debug:
      return "debug";
    case log::Level::info:
      return "info";
    case log::Level::warning:
      return "warning";
    case log::Level::error:
      return "error";
  }
  return "?";
}

std::optional<log::Level> parse_log_level(std::string_view text) {
  for (auto level : {log::Level::debug, log::Level::info, log::Level::warning, log::Level::error}) {
    if (text == to_string(level)) {
      return level;
    }
  }
  return std::nullopt;
}

}  // namespace portcullis::config
