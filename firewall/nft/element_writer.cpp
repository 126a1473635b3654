#include "firewall/nft/element_writer.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/object.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <vector>

namespace portcullis::firewall {
namespace {

// Elements per netlink message: each message stays far below the 64 KiB
// attribute limit whatever the names; the messages still form one transaction.
constexpr std::size_t kElementsPerMessage = 256;
// An upper bound for one encoded element without its names (list, key, flags,
// data and user data attributes with their headers and padding).
constexpr std::size_t kElementBytes = 160;
constexpr std::size_t kMessageBytes = 512;
constexpr std::string_view kRefusedCounter = "test.refused.counter";

struct SetDeleter {
  void operator()(nftnl_set* s) const { nftnl_set_free(s); }
};
struct ObjDeleter {
  void operator()(nftnl_obj* o) const { nftnl_obj_free(o); }
};
struct UdataDeleter {
  void operator()(nftnl_udata_buf* b) const { nftnl_udata_buf_free(b); }
};

Uint128 max_address(bool v6) {
  return v6 ? ~Uint128{0} : Uint128{0xffffffffU};
}

Uint128 last_address(const AddressBlock& block) {
  const int host_bits = (block.v6 ? 128 : 32) - block.length;
  if (host_bits >= 128) {
    return ~Uint128{0};
  }
  return block.start | ((Uint128{1} << host_bits) - 1);
}

// Keys are in network byte order: 4 bytes for v4, 16 for v6.
void set_key(nftnl_set_elem* element, bool v6, Uint128 value) {
  if (!v6) {
    const std::uint32_t be = htonl(static_cast<std::uint32_t>(value));
    nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, &be, sizeof be);
    return;
  }
  std::array<unsigned char, 16> bytes{};
  for (int i = 15; i >= 0; --i) {
    bytes[static_cast<std::size_t>(i)] = static_cast<unsigned char>(value & 0xff);
    value >>= 8;
  }
  nftnl_set_elem_set(element, NFTNL_SET_ELEM_KEY, bytes.data(), bytes.size());
}

void set_value(nftnl_set_elem* element, const ElementValue& value) {
  switch (value.kind) {
    case ElementValue::Kind::none:
      break;
    case ElementValue::Kind::accept:
      nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, NF_ACCEPT);
      break;
    case ElementValue::Kind::go_to:
      nftnl_set_elem_set_u32(element, NFTNL_SET_ELEM_VERDICT, static_cast<std::uint32_t>(NFT_GOTO));
      nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_CHAIN, value.name.c_str());
      break;
    case ElementValue::Kind::counter:
      nftnl_set_elem_set_str(element, NFTNL_SET_ELEM_OBJREF, value.name.c_str());
      break;
  }
}

// An interval is a start element (with the value) and an end element one past
// its last address. A block reaching the top of the family has no end element;
// nft marks its start as half-open in the user data, so listings read it back.
void add_interval(nftnl_set* set, const ElementChange& change, bool with_value) {
  const auto last = last_address(change.block);
  auto* start = nftnl_set_elem_alloc();
  set_key(start, change.block.v6, change.block.start);
  if (with_value) {
    set_value(start, change.value);
  }
  if (last == max_address(change.block.v6)) {
    std::unique_ptr<nftnl_udata_buf, UdataDeleter> udata(nftnl_udata_buf_alloc(64));
    nftnl_udata_put_u32(udata.get(), NFTNL_UDATA_SET_ELEM_FLAGS, NFTNL_SET_ELEM_F_INTERVAL_OPEN);
    nftnl_set_elem_set(start, NFTNL_SET_ELEM_USERDATA, nftnl_udata_buf_data(udata.get()),
                       nftnl_udata_buf_len(udata.get()));
    nftnl_set_elem_add(set, start);
    return;
  }
  nftnl_set_elem_add(set, start);
  auto* end = nftnl_set_elem_alloc();
  set_key(end, change.block.v6, last + 1);
  nftnl_set_elem_set_u32(end, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
  nftnl_set_elem_add(set, end);
}

// The transaction under construction: messages appended to one buffer, each
// with its own sequence number and a description for error messages.
class Transaction {
 public:
  explicit Transaction(std::uint32_t first_seq) : seq_(first_seq) {
    reserve(kMessageBytes);
    nftnl_batch_begin(buffer_.data() + size_, seq_++);
    advance();
    first_seq_ = seq_;
  }

  void elements(std::string_view table,
                std::uint16_t type,
                const ElementChange* begin,
                const ElementChange* end) {
    std::size_t bytes = kMessageBytes + table.size() + begin->set.size();
    for (const auto* c = begin; c != end; ++c) {
      bytes += 2 * kElementBytes + c->value.name.size();
    }
    reserve(bytes);
    std::unique_ptr<nftnl_set, SetDeleter> set(nftnl_set_alloc());
    nftnl_set_set_str(set.get(), NFTNL_SET_TABLE, std::string(table).c_str());
    nftnl_set_set_str(set.get(), NFTNL_SET_NAME, begin->set.c_str());
    for (const auto* c = begin; c != end; ++c) {
      add_interval(set.get(), *c, type == NFT_MSG_NEWSETELEM);
    }
    const std::uint16_t flags = type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK;
    auto* header = nftnl_nlmsg_build_hdr(buffer_.data() + size_, type, NFPROTO_INET, flags, seq_);
    nftnl_set_elems_nlmsg_build_payload(header, set.get());
    describe(std::string(type == NFT_MSG_NEWSETELEM ? "adding " : "deleting ") +
             std::to_string(end - begin) + " element(s) of " + begin->set + " (first " +
             begin->block.to_string() + ")");
  }

  void counter(std::string_view table, std::uint16_t type, const std::string& name) {
    reserve(kMessageBytes + table.size() + name.size());
    std::unique_ptr<nftnl_obj, ObjDeleter> obj(nftnl_obj_alloc());
    nftnl_obj_set_str(obj.get(), NFTNL_OBJ_TABLE, std::string(table).c_str());
    nftnl_obj_set_str(obj.get(), NFTNL_OBJ_NAME, name.c_str());
    nftnl_obj_set_u32(obj.get(), NFTNL_OBJ_TYPE, NFT_OBJECT_COUNTER);
    if (type == NFT_MSG_NEWOBJ) {
      // The kernel wants the counter's data even when it starts at zero.
      nftnl_obj_set_u64(obj.get(), NFTNL_OBJ_CTR_PKTS, 0);
      nftnl_obj_set_u64(obj.get(), NFTNL_OBJ_CTR_BYTES, 0);
    }
    const std::uint16_t flags = type == NFT_MSG_NEWOBJ ? NLM_F_CREATE | NLM_F_ACK : NLM_F_ACK;
    auto* header = nftnl_nlmsg_build_hdr(buffer_.data() + size_, type, NFPROTO_INET, flags, seq_);
    nftnl_obj_nlmsg_build_payload(header, obj.get());
    describe(std::string(type == NFT_MSG_NEWOBJ ? "adding" : "deleting") + " counter " + name);
  }

  // Closes the batch; the buffer is then ready to send.
  void finish() {
    reserve(kMessageBytes);
    nftnl_batch_end(buffer_.data() + size_, seq_);
    advance();
  }

  const char* data() const { return buffer_.data(); }
  std::size_t size() const { return size_; }
  std::uint32_t first_seq() const { return first_seq_; }
  std::size_t acknowledgements() const { return descriptions_.size(); }
  const std::string& description(std::uint32_t seq) const {
    static const std::string unknown = "an unknown step";
    const auto index = seq - first_seq_;
    return index < descriptions_.size() ? descriptions_[index] : unknown;
  }

 private:
  void reserve(std::size_t bytes) {
    if (buffer_.size() < size_ + bytes) {
      buffer_.resize(std::max(buffer_.size() * 2, size_ + bytes), 0);
    }
  }
  void describe(std::string description) {
    descriptions_.push_back(std::move(description));
    ++seq_;
    advance();
  }
  void advance() {
    const auto* header = reinterpret_cast<const nlmsghdr*>(buffer_.data() + size_);
    size_ += NLMSG_ALIGN(header->nlmsg_len);
  }

  std::vector<char> buffer_;
  std::size_t size_ = 0;
  std::uint32_t seq_ = 0;
  std::uint32_t first_seq_ = 0;
  std::vector<std::string> descriptions_;
};

void add_changes(Transaction& t,
                 std::string_view table,
                 std::uint16_t type,
                 const std::vector<ElementChange>& changes) {
  std::size_t i = 0;
  while (i < changes.size()) {
    std::size_t j = i + 1;
    while (j < changes.size() && j - i < kElementsPerMessage && changes[j].set == changes[i].set) {
      ++j;
    }
    t.elements(table, type, changes.data() + i, changes.data() + j);
    i = j;
  }
}

std::uint32_t next_sequence() {
  static std::uint32_t seq = static_cast<std::uint32_t>(std::time(nullptr));
  seq += 1u << 20;  // leaves room for any transaction's messages
  return seq;
}

}  // namespace

ElementWriter::ElementWriter() : socket_(mnl_socket_open(NETLINK_NETFILTER)) {
  if (socket_ == nullptr) {
    throw std::runtime_error(std::string("cannot open a netfilter netlink socket: ") +
                             std::strerror(errno));
  }
  if (mnl_socket_bind(socket_, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int saved = errno;
    mnl_socket_close(socket_);
    throw std::runtime_error(std::string("cannot bind a netfilter netlink socket: ") +
                             std::strerror(saved));
  }
  // Acknowledgements without a copy of the request: a refused 60 KiB message
  // would otherwise come back whole.
  int on = 1;
  mnl_socket_setsockopt(socket_, NETLINK_CAP_ACK, &on, sizeof on);
  // The kernel always answers a batch; a bound keeps a lost answer from
  // hanging the control thread forever.
  const timeval timeout{10, 0};
  ::setsockopt(mnl_socket_get_fd(socket_), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

ElementWriter::~ElementWriter() {
  mnl_socket_close(socket_);
}

Result<void> ElementWriter::apply(std::string_view table,
                                  const RulesetDiff& diff,
                                  bool refuse_for_test) {
  if (diff.empty() && !refuse_for_test) {
    return {};
  }
  Transaction t(next_sequence());
  add_changes(t, table, NFT_MSG_DELSETELEM, diff.removals);
  for (const auto& name : diff.counters_added) {
    t.counter(table, NFT_MSG_NEWOBJ, name);
  }
  add_changes(t, table, NFT_MSG_NEWSETELEM, diff.additions);
  for (const auto& name : diff.counters_removed) {
    t.counter(table, NFT_MSG_DELOBJ, name);
  }
  if (refuse_for_test) {
    const std::vector<ElementChange> refused{
        {"traffic4",
         {false, 0xc613ffffU, 32},
         {ElementValue::Kind::counter, std::string(kRefusedCounter)}}};
    add_changes(t, table, NFT_MSG_NEWSETELEM, refused);
  }
  t.finish();

  // One send: the kernel applies the whole batch or none of it.
  const int fd = mnl_socket_get_fd(socket_);
  const int wanted = static_cast<int>(std::min<std::size_t>(t.size() + 65536, 1u << 30));
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &wanted, sizeof wanted) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &wanted, sizeof wanted);
  }
  if (mnl_socket_sendto(socket_, t.data(), t.size()) < 0) {
    return make_error(std::string("cannot send the firewall update to the kernel: ") +
                      std::strerror(errno));
  }

  // Every message asked for an answer; a refused batch answers each message
  // too (the refused ones with their error), so count them all.
  std::string refusal;
  std::size_t answered = 0;
  std::vector<char> reply(1 << 16);
  const auto portid = mnl_socket_get_portid(socket_);
  while (answered < t.acknowledgements()) {
    const auto n = mnl_socket_recvfrom(socket_, reply.data(), reply.size());
    if (n < 0) {
      return make_error(std::string("no answer from the kernel to the firewall update: ") +
                        std::strerror(errno));
    }
    int len = static_cast<int>(n);
    for (auto* header = reinterpret_cast<const nlmsghdr*>(reply.data()); mnl_nlmsg_ok(header, len);
         header = mnl_nlmsg_next(header, &len)) {
      if (header->nlmsg_pid != portid || header->nlmsg_type != NLMSG_ERROR ||
          header->nlmsg_seq < t.first_seq() ||
          header->nlmsg_seq - t.first_seq() >= t.acknowledgements()) {
        continue;  // not an answer to this transaction (e.g. a late one)
      }
      ++answered;
      const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
      if (error->error != 0 && refusal.empty()) {
        refusal = t.description(header->nlmsg_seq) + ": " + std::strerror(-error->error);
      }
    }
  }
  if (!refusal.empty()) {
    return make_error("the kernel refused the firewall update (nothing changed): " + refusal);
  }
  return {};
}

}  // namespace portcullis::firewall
