#include "firewall/nft/nft_context.hpp"

#include <nftables/libnftables.h>

#include <stdexcept>
#include <utility>

namespace portcullis::firewall {
namespace {

std::string trimmed(const char* text) {
  std::string s = text == nullptr ? "" : text;
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) {
    s.pop_back();
  }
  // The message quotes the offending line, which can be a chunk of thousands of elements.
  constexpr std::size_t kMaxError = 4096;
  if (s.size() > kMaxError) {
    s.resize(kMaxError);
    s += "...";
  }
  return s;
}

}  // namespace

NftContext::NftContext() : ctx_(nft_ctx_new(NFT_CTX_DEFAULT)) {
  if (ctx_ == nullptr) {
    throw std::runtime_error("cannot create a libnftables context");
  }
  // Capture both streams instead of letting libnftables print to stdout/stderr.
  if (nft_ctx_buffer_output(ctx_) != 0 || nft_ctx_buffer_error(ctx_) != 0) {
    nft_ctx_free(ctx_);
    throw std::runtime_error("cannot set up libnftables output buffers");
  }
}

NftContext::~NftContext() {
  nft_ctx_free(ctx_);
}

Result<std::string> NftContext::run(std::string_view commands, bool json) {
  const unsigned base =
      nft_ctx_output_get_flags(ctx_) & ~static_cast<unsigned>(NFT_CTX_OUTPUT_JSON);
  nft_ctx_output_set_flags(ctx_, json ? (base | NFT_CTX_OUTPUT_JSON) : base);
  const std::string buffer(commands);  // NUL-terminated copy
  const int rc = nft_run_cmd_from_buffer(ctx_, buffer.c_str());
  // Copy at once: the next command overwrites both buffers.
  // Each get_*_buffer call hands out the text and resets the buffer: call once.
  const char* out = nft_ctx_get_output_buffer(ctx_);
  std::string output = out == nullptr ? "" : out;
  std::string error = trimmed(nft_ctx_get_error_buffer(ctx_));
  if (rc != 0) {
    if (error.empty()) {
      error = "libnftables failed (" + std::to_string(rc) + ") without a message";
    }
    return make_error(std::move(error));
  }
  return Result<std::string>(boost::system::in_place_value, std::move(output));
}

}  // namespace portcullis::firewall
