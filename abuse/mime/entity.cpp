#include "abuse/mime/entity.hpp"

#include "abuse/mime/text.hpp"
#include "abuse/mime/transfer_decoding.hpp"

namespace portcullis::abuse::mime {
namespace {

// RFC 2046 says 1..70 characters; real generators exceed that a little, never by this much.
constexpr std::size_t kMaxBoundary = 200;

struct Delimiter {
  bool found = false;
  bool close = false;
  std::size_t line_start = 0;  // where the delimiter line begins
  std::size_t next = 0;        // just past its line break
};

// The next "--boundary" (or "--boundary--") line at or after `pos`. Only whitespace may follow
// the boundary (RFC 2046 5.1.1): that keeps "--b" from matching "--b2" of an inner multipart.
Delimiter find_delimiter(std::string_view body, std::string_view boundary, std::size_t pos) {
  while (pos < body.size()) {
    const std::size_t start = pos;
    const std::string_view line = next_line(body, pos);
    if (line.size() < boundary.size() + 2 || !line.starts_with("--") ||
        line.substr(2, boundary.size()) != boundary) {
      continue;
    }
    std::string_view rest = line.substr(2 + boundary.size());
    bool close = false;
    if (rest.starts_with("--")) {
      close = true;
      rest.remove_prefix(2);
    }
    if (trim(rest).empty()) {
      return {true, close, start, pos};
    }
  }
  return {};
}

// The line break before a delimiter belongs to the delimiter (RFC 2046 5.1.1).
std::string_view part_text(std::string_view body, std::size_t begin, std::size_t end) {
  if (end > begin && body[end - 1] == '\n') {
    --end;
    if (end > begin && body[end - 1] == '\r') {
      --end;
    }
  }
  return body.substr(begin, end - begin);
}

class Parser {
 public:
  Parser(const Limits& limits, Warnings& warnings) : limits_(limits), warnings_(warnings) {}

  Result<Entity> parse(std::string_view text, std::size_t depth, bool digest_child) {
    if (++entities_ > limits_.max_parts) {
      return make_error("more than " + std::to_string(limits_.max_parts) + " MIME parts");
    }
    const EntityText split = split_entity(text);
    auto headers = parse_header_fields(split.header_section, limits_, warnings_);
    if (!headers) {
      return headers.error();
    }
    Entity entity;
    entity.headers = std::move(*headers);
    if (const auto ct = entity.headers.first("Content-Type")) {
      entity.content_type = parse_content_type(*ct);
      if (!entity.content_type.valid) {
        warnings_.add("unreadable Content-Type \"" + sanitize(*ct, 80) + "\", read as text/plain");
      }
    } else if (digest_child) {
      entity.content_type = parse_content_type("message/rfc822");  // RFC 2046 5.1.5
    }
    entity.body = decode(entity, split.body);
    if (!entity.content_type.is_multipart()) {
      return entity;
    }
    if (depth >= limits_.max_depth) {
      return make_error("MIME multiparts nested deeper than " + std::to_string(limits_.max_depth) +
                        " levels");
    }
    auto status = split_parts(entity, depth);
    if (!status) {
      return status.error();
    }
    return entity;
  }

 private:
  std::string decode(const Entity& entity, std::string_view body) {
    const auto cte = entity.headers.first("Content-Transfer-Encoding");
    const TransferEncoding encoding =
        cte ? parse_transfer_encoding(*cte) : TransferEncoding::identity;
    const std::string type = entity.content_type.mime_type();
    switch (encoding) {
      case TransferEncoding::identity:
        return std::string(body);
      case TransferEncoding::base64: {
        auto decoded = decode_base64(body);
        if (!decoded.clean) {
          warnings_.add("invalid base64 in a " + type + " part (skipped what could not be read)");
        }
        return std::move(decoded.data);
      }
      case TransferEncoding::quoted_printable: {
        auto decoded = decode_quoted_printable(body);
        if (!decoded.clean) {
          warnings_.add("invalid quoted-printable in a " + type + " part (kept as-is)");
        }
        return std::move(decoded.data);
      }
      case TransferEncoding::unknown:
        break;
    }
    warnings_.add("unknown Content-Transfer-Encoding \"" + sanitize(*cte, 40) + "\" in a " + type +
                  " part, read as-is");
    return std::string(body);
  }

  Result<void> split_parts(Entity& entity, std::size_t depth) {
    const std::string type = entity.content_type.mime_type();
    const auto boundary_param = entity.content_type.parameter("boundary");
    if (!boundary_param || boundary_param->empty() || boundary_param->size() > kMaxBoundary) {
      entity.problem = type + (boundary_param ? " has an unusable boundary parameter"
                                              : " has no boundary parameter");
      warnings_.add(entity.problem);
      return {};
    }
    const std::string boundary(*boundary_param);
    // Parts refer into this copy; the entity's body is cleared once they are parsed.
    const std::string body = std::move(entity.body);
    entity.body.clear();
    Delimiter d = find_delimiter(body, boundary, 0);
    if (!d.found) {
      entity.problem =
          type + " has no delimiter line for its boundary \"" + sanitize(boundary, 80) + "\"";
      warnings_.add(entity.problem);
      entity.body = body;
      return {};
    }
    const bool digest = entity.content_type.subtype == "digest";
    while (!d.close) {
      const Delimiter next = find_delimiter(body, boundary, d.next);
      const std::size_t end = next.found ? next.line_start : body.size();
      auto part = parse(part_text(body, d.next, end), depth + 1, digest);
      if (!part) {
        return part.error();
      }
      entity.parts.push_back(std::move(*part));
      if (!next.found) {
        entity.unclosed = true;
        warnings_.add(type + " with boundary \"" + sanitize(boundary, 80) +
                      "\" is not closed (truncated?)");
        break;
      }
      d = next;
    }
    return {};
  }

  const Limits& limits_;
  Warnings& warnings_;
  std::size_t entities_ = 0;
};

}  // namespace

Result<Entity> parse_message(std::string_view raw, const Limits& limits, Warnings& warnings) {
  if (raw.size() > limits.max_input_bytes) {
    return make_error("message of " + std::to_string(raw.size()) + " bytes is larger than " +
                      std::to_string(limits.max_input_bytes) + " bytes");
  }
  if (raw.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return make_error("empty message");
  }
  Parser parser(limits, warnings);
  return parser.parse(raw, 0, false);
}

}  // namespace portcullis::abuse::mime
