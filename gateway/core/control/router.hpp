#pragma once
// Maps an HTTP request (method, target, body text) of the control API to a
// handler, without any I/O so it can be tested on its own. Untrusted input:
// the request target and body come from whoever can open the control socket
// (root or the daemon's user, the socket is 0600); a bad target or body gets a
// 4xx response and never reaches a handler, and nothing here throws.

#include <boost/json/value.hpp>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::control {

struct Request {
  std::string method;                         // "GET", "POST", ...
  std::string path;                           // percent-decoded, without the query
  std::map<std::string, std::string> params;  // {name} segments of the matched pattern
  std::map<std::string, std::string> query;   // ?a=b&c=d, percent-decoded
  boost::json::value body;                    // null when the body was empty
};

struct Response {
  int status = 200;
  boost::json::value body;
};

// {"error": message} with the given status: the one shape of every API error.
Response error_response(int status, std::string_view message);

class Router {
 public:
  using Handler = std::function<Response(const Request&)>;

  // pattern: "/v1/tenants/{id}"; a {name} segment matches one non-empty segment.
  void add(std::string_view method, std::string_view pattern, Handler handler);

  // 404 when no pattern matches the path, 405 when one matches but not for this
  // method, 400 for a body that is not JSON or a malformed target, 500 when a
  // handler throws (a bug: logged, the connection carries on).
  Response route(std::string_view method, std::string_view target, std::string_view body) const;

 private:
  struct Route {
    std::string method;
    std::vector<std::string> segments;  // "{id}" marks a parameter
    Handler handler;
  };
  std::vector<Route> routes_;
};

// Helpers shared with tests and the client.
// nullopt for a truncated or non-hex %-escape.
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
// Escapes everything but unreserved characters (RFC 3986 2.3).
std::string percent_encode(std::string_view text);

}  // namespace portcullis::control
