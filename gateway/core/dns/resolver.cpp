#include "gateway/core/dns/resolver.hpp"

#include <ares.h>

#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>

namespace portcullis::dns {
namespace {

// RFC 1035 3.2.2 / RFC 3596 2.1.
constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;

// Not a c-ares status: the per-resolver bound on outstanding queries was hit.
constexpr int kStatusBusy = -1;
// More records than this in one answer are ignored: nobody needs them and
// each costs memory on the data path.
constexpr int kMaxAddresses = 64;
constexpr std::size_t kMaxRecords = 64;

struct RawAnswer {
  int status = ARES_SUCCESS;
  std::vector<unsigned char> packet;
};

// The waiting coroutine's completion handler, type-erased so a c-ares
// callback (a C function pointer) can complete it.
class Completion {
 public:
  virtual ~Completion() = default;
  // Never resumes the caller inside a c-ares call: posts, so the channel is
  // in a consistent state when the coroutine runs (and may ask again).
  virtual void post(RawAnswer answer) = 0;
};

template <class Handler>
class HandlerCompletion final : public Completion {
 public:
  HandlerCompletion(Handler handler, const asio::any_io_executor& fallback)
      : handler_(std::move(handler)),
        executor_(asio::get_associated_executor(handler_, fallback)) {}

  void post(RawAnswer answer) override {
    asio::post(executor_, [handler = std::move(handler_), answer = std::move(answer)]() mutable {
      std::move(handler)(std::move(answer));
    });
  }

 private:
  Handler handler_;
  asio::associated_executor_t<Handler, asio::any_io_executor> executor_;
};

std::string_view type_name(int type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeMx:
      return "MX";
    case kTypeTxt:
      return "TXT";
    case kTypeAaaa:
      return "AAAA";
    default:
      return "?";
  }
}

DnsError error_for(int status, std::string_view name, int type) {
  const std::string what = std::string(type_name(type)) + " " + std::string(name);
  switch (status) {
    case ARES_ENOTFOUND:
      return {DnsErrorKind::nxdomain, what + ": domain does not exist (NXDOMAIN)"};
    case ARES_ENODATA:
      return {DnsErrorKind::nodata, what + ": no such record"};
    case ARES_EBADNAME:
      return {DnsErrorKind::nxdomain, what + ": not a valid DNS name"};
    case kStatusBusy:
      return {DnsErrorKind::temporary, what + ": too many DNS queries in flight"};
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return {DnsErrorKind::temporary, what + ": resolver shut down"};
    default:
      return {DnsErrorKind::temporary, what + ": " + ares_strerror(status)};
  }
}

void init_library_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS) {
      throw std::runtime_error(std::string("c-ares initialisation failed: ") + ares_strerror(rc));
    }
  });
}

}  // namespace

// Owns the c-ares channel. Kept in a shared_ptr so handlers still queued on
// the executor after the Resolver is gone find a closed channel instead of
// freed memory.
class Resolver::Channel : public std::enable_shared_from_this<Channel> {
 public:
  Channel(asio::any_io_executor executor, std::size_t max_queries)
      : executor_(std::move(executor)), timer_(executor_), max_queries_(max_queries) {}
  ~Channel() { close(); }
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  void open(const std::optional<config::Endpoint>& server,
            std::chrono::milliseconds timeout,
            int tries) {
    init_library_once();
    ares_options options{};
    options.flags = ARES_FLAG_EDNS;
    options.ednspsz = 1232;  // DNS flag day 2020: fits unfragmented in IPv6
    options.timeout = static_cast<int>(timeout.count());
    options.tries = tries;
    options.sock_state_cb = &Channel::on_socket_state;
    options.sock_state_cb_data = this;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES |
                     ARES_OPT_SOCK_STATE_CB;
    if (int rc = ares_init_options(&channel_, &options, mask); rc != ARES_SUCCESS) {
      channel_ = nullptr;
      throw std::runtime_error(std::string("cannot set up the DNS resolver: ") + ares_strerror(rc));
    }
    if (server) {
      const std::string csv = server->to_string();
      if (int rc = ares_set_servers_ports_csv(channel_, csv.c_str()); rc != ARES_SUCCESS) {
        close();
        throw std::runtime_error("cannot use DNS server " + csv + ": " + ares_strerror(rc));
      }
    }
  }

  // Completes every outstanding query with ARES_ECANCELLED, then frees the
  // channel; its sockets are closed by c-ares after on_socket_state released them.
  void close() {
    if (channel_ == nullptr) {
      return;
    }
    ares_cancel(channel_);
    ares_channel channel = channel_;
    ares_destroy(channel);
    channel_ = nullptr;
    for (auto& [fd, watch] : watches_) {
      watch->forget();
    }
    watches_.clear();
    timer_.cancel();
  }

  std::size_t outstanding() const { return outstanding_; }

  // Sends one query; the answer's packet arrives through the completion
  // token, on the executor the caller's handler is associated with.
  static asio::awaitable<RawAnswer> query(std::shared_ptr<Channel> self,
                                          std::string name,
                                          int type) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(RawAnswer)>(
        [self, name = std::move(name), type](auto handler) {
          using Handler = decltype(handler);
          self->start(
              name, type,
              std::make_unique<HandlerCompletion<Handler>>(std::move(handler), self->executor_));
        },
        asio::use_awaitable);
  }

 private:
  // One socket c-ares opened. The descriptor never owns the fd: c-ares closes
  // it, and tells us first through on_socket_state(fd, 0, 0).
  class Watch : public std::enable_shared_from_this<Watch> {
   public:
    Watch(const asio::any_io_executor& executor, int fd) : fd_(fd), descriptor_(executor, fd) {}

    void update(Channel& channel, bool read, bool write) {
      want_read_ = read;
      want_write_ = write;
      arm(channel);
    }

    void forget() {
      closed_ = true;
      boost::system::error_code ignored;
      descriptor_.cancel(ignored);
      (void)descriptor_.release();
    }

   private:
    void arm(Channel& channel) {
      if (closed_) {
        return;
      }
      if (want_read_ && !read_pending_) {
        read_pending_ = true;
        wait(channel, asio::posix::descriptor_base::wait_read, read_pending_);
      }
      if (want_write_ && !write_pending_) {
        write_pending_ = true;
        wait(channel, asio::posix::descriptor_base::wait_write, write_pending_);
      }
    }

    void wait(Channel& channel, asio::posix::descriptor_base::wait_type type, bool& pending) {
      descriptor_.async_wait(type, [self = shared_from_this(), owner = channel.shared_from_this(),
                                    type, &pending](boost::system::error_code ec) {
        pending = false;
        if (ec || self->closed_ || owner->channel_ == nullptr) {
          return;
        }
        const bool read = type == asio::posix::descriptor_base::wait_read;
        ares_process_fd(owner->channel_, read ? self->fd_ : ARES_SOCKET_BAD,
                        read ? ARES_SOCKET_BAD : self->fd_);
        // ares_process_fd may have closed this socket (closed_ now set)
        // or the whole channel; arm() and update_timer() check.
        if (owner->channel_ != nullptr) {
          self->arm(*owner);
          owner->update_timer();
        }
      });
    }

    int fd_;
    asio::posix::stream_descriptor descriptor_;
    bool want_read_ = false;
    bool want_write_ = false;
    bool read_pending_ = false;
    bool write_pending_ = false;
    bool closed_ = false;
  };

  struct PendingQuery {
    std::weak_ptr<Channel> owner;
    std::unique_ptr<Completion> completion;
  };

  void start(const std::string& name, int type, std::unique_ptr<Completion> completion) {
    if (channel_ == nullptr) {
      completion->post(RawAnswer{ARES_EDESTRUCTION, {}});
      return;
    }
    if (outstanding_ >= max_queries_) {
      completion->post(RawAnswer{kStatusBusy, {}});
      return;
    }
    ++outstanding_;
    auto* pending = new PendingQuery{weak_from_this(), std::move(completion)};
    ares_query(channel_, name.c_str(), kClassIn, type, &Channel::on_answer, pending);
    update_timer();
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<PendingQuery> pending(static_cast<PendingQuery*>(arg));
    if (auto owner = pending->owner.lock()) {
      --owner->outstanding_;
    }
    RawAnswer answer{status, {}};
    if (status == ARES_SUCCESS && abuf != nullptr && alen > 0) {
      answer.packet.assign(abuf, abuf + alen);
    }
    pending->completion->post(std::move(answer));
  }

  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Channel*>(data);
    auto it = self->watches_.find(fd);
    if (readable == 0 && writable == 0) {
      if (it != self->watches_.end()) {
        it->second->forget();
        self->watches_.erase(it);
      }
      return;
    }
    if (it == self->watches_.end()) {
      it = self->watches_.emplace(fd, std::make_shared<Watch>(self->executor_, fd)).first;
    }
    it->second->update(*self, readable != 0, writable != 0);
  }

  // c-ares keeps its retransmit deadlines; wake up at the earliest one.
  void update_timer() {
    if (channel_ == nullptr) {
      return;
    }
    timeval storage{};
    timeval* next = ares_timeout(channel_, nullptr, &storage);
    if (next == nullptr) {
      timer_.cancel();
      return;
    }
    timer_.expires_after(std::chrono::seconds(next->tv_sec) +
                         std::chrono::microseconds(next->tv_usec));
    timer_.async_wait([owner = shared_from_this()](boost::system::error_code ec) {
      if (ec || owner->channel_ == nullptr) {
        return;
      }
      ares_process_fd(owner->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      owner->update_timer();
    });
  }

  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  std::size_t max_queries_;
  std::size_t outstanding_ = 0;
  ares_channel channel_ = nullptr;
  std::map<ares_socket_t, std::shared_ptr<Watch>> watches_;
};

namespace {

DnsResult<std::vector<MxRecord>> parse_mx(const RawAnswer& raw, const std::string& name) {
  if (raw.status != ARES_SUCCESS) {
    return error_for(raw.status, name, kTypeMx);
  }
  ares_mx_reply* reply = nullptr;
  int rc = ares_parse_mx_reply(raw.packet.data(), static_cast<int>(raw.packet.size()), &reply);
  if (rc != ARES_SUCCESS) {
    return error_for(rc == ARES_ENODATA ? rc : ARES_EBADRESP, name, kTypeMx);
  }
  std::vector<MxRecord> records;
  for (auto* r = reply; r != nullptr && records.size() < kMaxRecords; r = r->next) {
    std::string host = r->host != nullptr ? r->host : "";
    if (host == ".") {
      host.clear();
    } else if (host.ends_with('.')) {
      host.pop_back();
    }
    records.push_back({r->priority, std::move(host)});
  }
  ares_free_data(reply);
  if (records.empty()) {
    return error_for(ARES_ENODATA, name, kTypeMx);
  }
  return records;
}

DnsResult<std::vector<asio::ip::address>> parse_addresses(const RawAnswer& raw,
                                                          const std::string& name,
                                                          int type) {
  if (raw.status != ARES_SUCCESS) {
    return error_for(raw.status, name, type);
  }
  const auto* packet = raw.packet.data();
  const int length = static_cast<int>(raw.packet.size());
  std::vector<asio::ip::address> out;
  int count = kMaxAddresses;
  int rc = ARES_SUCCESS;
  if (type == kTypeA) {
    ares_addrttl ttls[kMaxAddresses];
    rc = ares_parse_a_reply(packet, length, nullptr, ttls, &count);
    for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
      asio::ip::address_v4::bytes_type bytes;
      std::memcpy(bytes.data(), &ttls[i].ipaddr, bytes.size());
      out.emplace_back(asio::ip::address_v4(bytes));
    }
  } else {
    ares_addr6ttl ttls[kMaxAddresses];
    rc = ares_parse_aaaa_reply(packet, length, nullptr, ttls, &count);
    for (int i = 0; rc == ARES_SUCCESS && i < count; ++i) {
      asio::ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), &ttls[i].ip6addr, bytes.size());
      out.emplace_back(asio::ip::address_v6(bytes));
    }
  }
  if (rc != ARES_SUCCESS) {
    return error_for(rc == ARES_ENODATA ? rc : ARES_EBADRESP, name, type);
  }
  if (out.empty()) {
    return error_for(ARES_ENODATA, name, type);
  }
  return out;
}

DnsResult<std::vector<std::string>> parse_txt(const RawAnswer& raw, const std::string& name) {
  if (raw.status != ARES_SUCCESS) {
    return error_for(raw.status, name, kTypeTxt);
  }
  ares_txt_ext* reply = nullptr;
  int rc = ares_parse_txt_reply_ext(raw.packet.data(), static_cast<int>(raw.packet.size()), &reply);
  if (rc != ARES_SUCCESS) {
    return error_for(rc == ARES_ENODATA ? rc : ARES_EBADRESP, name, kTypeTxt);
  }
  std::vector<std::string> records;
  for (auto* r = reply; r != nullptr; r = r->next) {
    if (r->record_start != 0 || records.empty()) {
      if (records.size() == kMaxRecords) {
        break;
      }
      records.emplace_back();
    }
    records.back().append(reinterpret_cast<const char*>(r->txt), r->length);
  }
  ares_free_data(reply);
  if (records.empty()) {
    return error_for(ARES_ENODATA, name, kTypeTxt);
  }
  return records;
}

std::string without_trailing_dot(std::string name) {
  if (name.ends_with('.')) {
    name.pop_back();
  }
  return name;
}

template <class T, class Parse>
asio::awaitable<DnsResult<T>> ask(std::shared_ptr<Resolver::Channel> channel,
                                  std::string name,
                                  int type,
                                  Parse parse) {
  if (!is_valid_query_name(name)) {
    co_return error_for(ARES_EBADNAME, name, type);
  }
  name = without_trailing_dot(std::move(name));
  // From here on only the shared Channel is used, never the Resolver, which
  // may be destroyed while this coroutine waits.
  RawAnswer raw = co_await Resolver::Channel::query(std::move(channel), name, type);
  co_return parse(raw, name);
}

}  // namespace

Resolver::Resolver(asio::any_io_executor executor,
                   std::optional<config::Endpoint> server,
                   std::chrono::milliseconds timeout,
                   int tries,
                   std::size_t max_queries)
    : channel_(std::make_shared<Channel>(std::move(executor), max_queries)) {
  channel_->open(server, timeout, tries);
}

Resolver::~Resolver() {
  channel_->close();
}

std::size_t Resolver::outstanding() const {
  return channel_->outstanding();
}

asio::awaitable<DnsResult<std::vector<MxRecord>>> Resolver::mx(std::string name) {
  return ask<std::vector<MxRecord>>(channel_, std::move(name), kTypeMx, parse_mx);
}

asio::awaitable<DnsResult<std::vector<asio::ip::address>>> Resolver::a(std::string name) {
  return ask<std::vector<asio::ip::address>>(
      channel_, std::move(name), kTypeA,
      [](const RawAnswer& raw, const std::string& n) { return parse_addresses(raw, n, kTypeA); });
}

asio::awaitable<DnsResult<std::vector<asio::ip::address>>> Resolver::aaaa(std::string name) {
  return ask<std::vector<asio::ip::address>>(channel_, std::move(name), kTypeAaaa,
                                             [](const RawAnswer& raw, const std::string& n) {
                                               return parse_addresses(raw, n, kTypeAaaa);
                                             });
}

asio::awaitable<DnsResult<std::vector<std::string>>> Resolver::txt(std::string name) {
  return ask<std::vector<std::string>>(channel_, std::move(name), kTypeTxt, parse_txt);
}

}  // namespace portcullis::dns
