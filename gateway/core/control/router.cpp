#include "gateway/core/control/router.hpp"

#include <boost/json/parse.hpp>
#include <exception>
#include <utility>

#include "gateway/core/log/log.hpp"

namespace portcullis::control {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < path.size()) {
    if (path[pos] == '/') {
      ++pos;
      continue;
    }
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    out.push_back(path.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

bool is_param(std::string_view segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

}  // namespace

Response error_response(int status, std::string_view message) {
  return Response{status, boost::json::object{{"error", message}}};
}

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) {
        return std::nullopt;
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

void Router::add(std::string_view method, std::string_view pattern, Handler handler) {
  Route route{std::string(method), {}, std::move(handler)};
  for (auto segment : split_path(pattern)) {
    route.segments.emplace_back(segment);
  }
  routes_.push_back(std::move(route));
}

Response Router::route(std::string_view method,
                       std::string_view target,
                       std::string_view body) const {
  if (target.empty() || target.front() != '/') {
    return error_response(400, "the request target must be an absolute path");
  }
  Request request;
  request.method = std::string(method);
  std::string_view raw_path = target;
  std::string_view raw_query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    raw_path = target.substr(0, q);
    raw_query = target.substr(q + 1);
  }
  if (auto f = raw_query.find('#'); f != std::string_view::npos) {
    raw_query = raw_query.substr(0, f);
  }

  // Segments are decoded one by one so an encoded '/' stays inside its segment.
  std::vector<std::string> segments;
  for (auto raw : split_path(raw_path)) {
    auto decoded = percent_decode(raw, false);
    if (!decoded) {
      return error_response(400, "the request path has a malformed %-escape");
    }
    segments.push_back(std::move(*decoded));
  }
  for (const auto& s : segments) {
    request.path += '/';
    request.path += s;
  }
  if (request.path.empty()) {
    request.path = "/";
  }

  while (!raw_query.empty()) {
    auto amp = raw_query.find('&');
    auto pair = raw_query.substr(0, amp);
    raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
    if (pair.empty()) {
      continue;
    }
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!key || !value) {
      return error_response(400, "the query string has a malformed %-escape");
    }
    request.query[*key] = *value;
  }

  const Route* match = nullptr;
  bool path_matched = false;
  for (const auto& route : routes_) {
    if (route.segments.size() != segments.size()) {
      continue;
    }
    std::map<std::string, std::string> params;
    bool ok = true;
    for (std::size_t i = 0; ok && i < segments.size(); ++i) {
      const auto& pattern = route.segments[i];
      if (is_param(pattern)) {
        ok = !segments[i].empty();
        params[pattern.substr(1, pattern.size() - 2)] = segments[i];
      } else {
        ok = pattern == segments[i];
      }
    }
    if (!ok) {
      continue;
    }
    path_matched = true;
    if (route.method == method) {
      match = &route;
      request.params = std::move(params);
      break;
    }
  }
  if (match == nullptr) {
    if (path_matched) {
      return error_response(405,
                            "method " + std::string(method) + " is not allowed on " + request.path);
    }
    return error_response(404, "no such resource: " + request.path);
  }

  if (!body.empty()) {
    boost::system::error_code ec;
    request.body = boost::json::parse(body, ec);
    if (ec) {
      return error_response(400, "the request body is not valid JSON: " + ec.message());
    }
  }

  try {
    return match->handler(request);
  } catch (const std::exception& e) {
    log::error("control_handler_failed",
               {{"method", method}, {"path", request.path}, {"error", e.what()}});
    return error_response(500, "internal error");
  } catch (...) {
    log::error("control_handler_failed", {{"method", method}, {"path", request.path}});
    return error_response(500, "internal error");
  }
}

}  // namespace portcullis::control
