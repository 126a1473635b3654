#pragma once
// A received message as a tree of MIME entities (RFC 2045/2046): each with its header fields,
// its content type and its body with the transfer encoding undone; multiparts with their parts.
// message/rfc822 parts are not descended into: the original message inside a report is evidence,
// read on its own by the report parsers, and a complaint about a bounce must not be mistaken for
// the bounce.
//
// Untrusted input, up to Limits::max_input_bytes. Multipart nesting deeper than
// Limits::max_depth, more than Limits::max_parts parts in all, or a header section with more
// than Limits::max_header_fields fields is an error; everything else that is malformed (no
// boundary, an unclosed multipart, bad base64) is kept as well as it can be read and described
// in warnings or in Entity::problem.

#include <string>
#include <string_view>
#include <vector>

#include "abuse/mime/content_type.hpp"
#include "abuse/mime/header_fields.hpp"
#include "abuse/mime/limits.hpp"
#include "abuse/mime/warnings.hpp"
#include "gateway/core/result.hpp"

namespace portcullis::abuse::mime {

struct Entity {
  Headers headers;
  ContentType content_type;
  // The body with the transfer encoding undone. Empty for a multipart that was split into parts
  // (its preamble and epilogue are dropped).
  std::string body;
  std::vector<Entity> parts;
  // A multipart's close delimiter was missing: the last part runs to the end (truncated?).
  bool unclosed = false;
  // Why a multipart could not be split (no boundary parameter, no delimiter line); it is then
  // kept as a leaf with its body.
  std::string problem;
};

Result<Entity> parse_message(std::string_view raw, const Limits& limits, Warnings& warnings);

}  // namespace portcullis::abuse::mime
