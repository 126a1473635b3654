#pragma once
// A libnftables context: runs nft command text in one kernel transaction per
// call and returns the output, or the kernel's error text. Needs CAP_NET_ADMIN
// in the network namespace whose ruleset it changes. No untrusted input: the
// commands are rendered by firewall/ruleset from validated data; only literal
// addresses are ever passed (libnftables 1.0.6 has no flag to forbid DNS).

#include <string>
#include <string_view>

#include "gateway/core/result.hpp"

struct nft_ctx;

namespace portcullis::firewall {

class NftContext {
 public:
  NftContext();
  ~NftContext();
  NftContext(const NftContext&) = delete;
  NftContext& operator=(const NftContext&) = delete;

  // Runs `commands` (one batch: all or nothing). json: list output as JSON.
  // Not thread-safe: the output buffer is reused by the next call.
  Result<std::string> run(std::string_view commands, bool json = false);

 private:
  nft_ctx* ctx_ = nullptr;
};

}  // namespace portcullis::firewall
