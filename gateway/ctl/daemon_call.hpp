#pragma once
// One request to the daemon's control API, its answer parsed: the JSON body,
// or the daemon's own error sentence for a 4xx/5xx.

#include <boost/json/value.hpp>
#include <string>
#include <string_view>

#include "gateway/core/result.hpp"
#include "gateway/ctl/cli.hpp"

namespace portcullis::ctl {

Result<boost::json::value> call(CommandContext& ctx,
                                std::string_view method,
                                const std::string& target,
                                const boost::json::value& body = nullptr);

}  // namespace portcullis::ctl
