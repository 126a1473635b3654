#include "gateway/ctl/daemon_call.hpp"

#include <boost/json.hpp>

#include "gateway/core/control/client.hpp"

namespace portcullis::ctl {

namespace json = boost::json;

Result<json::value> call(CommandContext& ctx,
                         std::string_view method,
                         const std::string& target,
                         const json::value& body) {
  auto response =
      ctx.client.request(method, target, body.is_null() ? std::string() : json::serialize(body));
  if (!response) {
    return response.error();
  }
  boost::system::error_code ec;
  auto parsed = json::parse(response->body, ec);
  if (response->status >= 400) {
    if (!ec && parsed.is_object()) {
      if (const auto* message = parsed.as_object().if_contains("error");
          message != nullptr && message->is_string()) {
        return make_error(std::string(message->as_string()));
      }
    }
    return make_error("the daemon answered HTTP " + std::to_string(response->status));
  }
  if (ec) {
    return make_error("the daemon's answer is not JSON: " + ec.message());
  }
  return parsed;
}

}  // namespace portcullis::ctl
