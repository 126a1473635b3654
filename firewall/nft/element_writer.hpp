#pragma once
// Sends a RulesetDiff (element and counter changes of our table) to the
// kernel as one nf_tables netlink transaction, through libnftnl.
//
// Why not libnftables: for every element command on an interval set,
// libnftables 1.0.6 first reads back every element of the set and re-derives
// its intervals in user space; at 100,000 prefixes one tenant's change took
// about 30 s. The kernel needs none of that: an interval is a start element
// and an end element, and the kernel checks overlaps itself. This writer
// encodes exactly what nft would send, so `nft list` shows the same table.
//
// Needs CAP_NET_ADMIN in the network namespace the writer was created in. No
// untrusted input (the diff comes from validated tenants).

#include <string>
#include <string_view>

#include "firewall/ruleset/ruleset.hpp"
#include "gateway/core/result.hpp"

struct mnl_socket;

namespace portcullis::firewall {

class ElementWriter {
 public:
  ElementWriter();  // throws std::runtime_error if no netlink socket can be opened
  ~ElementWriter();
  ElementWriter(const ElementWriter&) = delete;
  ElementWriter& operator=(const ElementWriter&) = delete;

  // All of it or nothing: the kernel aborts the whole transaction on any
  // refusal and the error names the refused step. refuse_for_test appends a
  // change the kernel refuses (an element naming a counter that does not
  // exist), for fault-injection tests.
  Result<void> apply(std::string_view table, const RulesetDiff& diff, bool refuse_for_test = false);

 private:
  mnl_socket* socket_ = nullptr;
};

}  // namespace portcullis::firewall
