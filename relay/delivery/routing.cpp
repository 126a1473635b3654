#include "relay/delivery/routing.hpp"

#include <algorithm>
#include <optional>
#include <random>

#include "gateway/core/config/values.hpp"

namespace portcullis::relay::delivery {
namespace {

using namespace asio::experimental::awaitable_operators;
using Addresses = std::vector<asio::ip::address>;

std::string normalise(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  if (name.ends_with('.') && name.size() > 1) {
    name.pop_back();
  }
  return name;
}

// A domain as written in an error reply: printable and short.
std::string shown(std::string_view name) {
  std::string out;
  for (char c : name.substr(0, 100)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u >= 0x7f) ? '?' : c;
  }
  return name.size() > 100 ? out + "..." : out;
}

Route permanent(std::string reason) {
  return Route{Route::Kind::permanent, {}, std::move(reason)};
}

Route temporary(std::string reason) {
  return Route{Route::Kind::temporary, {}, std::move(reason)};
}

// RFC 5321 4.1.3: "[198.18.2.10]" or "[IPv6:fd00::1]".
std::optional<asio::ip::address> parse_literal(std::string_view text) {
  if (text.size() < 3 || text.front() != '[' || text.back() != ']') {
    return std::nullopt;
  }
  std::string inner(text.substr(1, text.size() - 2));
  boost::system::error_code ec;
  if (inner.size() > 5 && normalise(inner.substr(0, 5)) == "ipv6:") {
    auto v6 = asio::ip::make_address_v6(inner.substr(5), ec);
    return ec ? std::nullopt : std::optional<asio::ip::address>(v6);
  }
  auto v4 = asio::ip::make_address_v4(inner, ec);
  return ec ? std::nullopt : std::optional<asio::ip::address>(v4);
}

// Addresses nobody can deliver to, whatever DNS says.
bool usable(const asio::ip::address& a) {
  return !a.is_unspecified() && !a.is_multicast();
}

struct HostAddresses {
  Addresses addresses;     // IPv6 first, then IPv4, each family capped
  bool temporary = false;  // at least one family failed temporarily
  std::string error;       // the last failure, for the reason text
};

asio::awaitable<HostAddresses> addresses_of(dns::Lookup& dns, const std::string& host) {
  auto [v6, v4] = co_await (dns.aaaa(host) && dns.a(host));
  HostAddresses out;
  for (auto* family : {&v6, &v4}) {
    if (!family->has_value()) {
      const auto& error = family->error();
      out.temporary = out.temporary || error.kind == dns::DnsErrorKind::temporary;
      if (error.kind == dns::DnsErrorKind::temporary || out.error.empty()) {
        out.error = error.message;
      }
      continue;
    }
    std::size_t taken = 0;
    for (const auto& address : **family) {
      if (taken == Router::kMaxAddressesPerHost) {
        break;
      }
      if (usable(address)) {
        out.addresses.push_back(address);
        ++taken;
      }
    }
  }
  co_return out;
}

// Appends host's addresses as targets, leaving out addresses already listed.
void add_targets(std::vector<Target>& targets,
                 const std::string& host,
                 const Addresses& addresses,
                 std::uint16_t port,
                 int preference) {
  for (const auto& address : addresses) {
    if (targets.size() == Router::kMaxTargets) {
      return;
    }
    const bool seen = std::any_of(targets.begin(), targets.end(), [&](const Target& t) {
      return t.address == address && t.port == port;
    });
    if (!seen) {
      targets.push_back(Target{host, address, port, preference});
    }
  }
}

}  // namespace

Router::Router(dns::Lookup& dns, const config::DeliveryConfig& config, Random random)
    : dns_(dns), routes_(config.routes), random_(std::move(random)) {
  if (!random_) {
    random_ = [engine = std::make_shared<std::mt19937>(std::random_device{}())]() {
      return static_cast<std::uint32_t>((*engine)());
    };
  }
  for (auto& route : routes_) {
    route.domain = normalise(route.domain);
  }
}

asio::awaitable<Route> Router::route(std::string domain) {
  domain = normalise(std::move(domain));
  const auto wildcard =
      std::find_if(routes_.begin(), routes_.end(), [](const auto& r) { return r.domain == "*"; });

  if (domain.starts_with('[')) {
    auto literal = parse_literal(domain);
    if (!literal || !usable(*literal)) {
      co_return permanent("5.1.2 " + shown(domain) + " is not a usable address literal");
    }
    if (wildcard != routes_.end()) {
      co_return co_await static_route(*wildcard);
    }
    co_return Route{Route::Kind::ok, {Target{literal->to_string(), *literal, 25, 0}}, ""};
  }
  if (!config::is_host_name(domain)) {
    co_return permanent("5.1.2 " + shown(domain) + " is not a valid domain");
  }
  const auto exact = std::find_if(routes_.begin(), routes_.end(),
                                  [&](const auto& r) { return r.domain == domain; });
  if (exact != routes_.end()) {
    co_return co_await static_route(*exact);
  }
  if (wildcard != routes_.end()) {
    co_return co_await static_route(*wildcard);
  }
  co_return co_await mx_route(domain);
}

asio::awaitable<Route> Router::static_route(const config::Route& route) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(route.host, ec);
  if (!ec) {
    co_return Route{Route::Kind::ok, {Target{route.host, address, route.port, 0}}, ""};
  }
  // The operator's own route: a failure is a configuration or DNS problem
  // worth waiting out, never a reason to bounce.
  const std::string host = normalise(route.host);
  auto found = co_await addresses_of(dns_, host);
  Route out{Route::Kind::ok, {}, ""};
  add_targets(out.targets, host, found.addresses, route.port, 0);
  if (out.targets.empty()) {
    co_return temporary("4.4.3 static route host " + host +
                        " has no usable address: " + found.error);
  }
  co_return out;
}

asio::awaitable<Route> Router::mx_route(const std::string& domain) {
  auto mx = co_await dns_.mx(domain);
  if (!mx) {
    switch (mx.error().kind) {
      case dns::DnsErrorKind::nxdomain:
        co_return permanent("5.1.2 domain " + domain + " does not exist");
      case dns::DnsErrorKind::nodata:
        co_return co_await implicit_mx_route(domain);
      case dns::DnsErrorKind::temporary:
        co_return temporary("4.4.3 DNS lookup failed: " + mx.error().message);
    }
  }
  std::vector<dns::MxRecord> records;
  for (auto& record : *mx) {
    // RFC 7505 forbids a null MX beside others; should it happen, the
    // real hosts still say where mail goes.
    if (!record.host.empty()) {
      records.push_back({record.preference, normalise(record.host)});
    }
  }
  if (records.empty()) {
    co_return permanent("5.1.10 domain " + domain + " does not accept mail (null MX, RFC 7505)");
  }
  std::stable_sort(records.begin(), records.end(),
                   [](const auto& a, const auto& b) { return a.preference < b.preference; });
  shuffle_equal_preferences(records);
  if (records.size() > kMaxMxHosts) {
    records.resize(kMaxMxHosts);
  }

  Route out{Route::Kind::ok, {}, ""};
  bool any_temporary = false;
  std::string last_error;
  for (const auto& record : records) {
    if (out.targets.size() == kMaxTargets) {
      break;
    }
    if (!config::is_host_name(record.host)) {
      last_error = "MX host '" + shown(record.host) + "' is not a valid host name";
      continue;
    }
    auto found = co_await addresses_of(dns_, record.host);
    any_temporary = any_temporary || (found.temporary && found.addresses.empty());
    if (found.addresses.empty()) {
      last_error = found.error;
    }
    add_targets(out.targets, record.host, found.addresses, 25, record.preference);
  }
  if (!out.targets.empty()) {
    co_return out;
  }
  if (any_temporary) {
    co_return temporary("4.4.3 no MX host of " + domain + " could be resolved: " + last_error);
  }
  co_return permanent("5.4.4 no MX host of " + domain + " has an address: " + last_error);
}

// RFC 5321 5.1: without MX records the domain itself is the mail host.
asio::awaitable<Route> Router::implicit_mx_route(const std::string& domain) {
  auto found = co_await addresses_of(dns_, domain);
  Route out{Route::Kind::ok, {}, ""};
  add_targets(out.targets, domain, found.addresses, 25, 0);
  if (!out.targets.empty()) {
    co_return out;
  }
  if (found.temporary) {
    co_return temporary("4.4.3 DNS lookup failed: " + found.error);
  }
  co_return permanent("5.4.4 domain " + domain + " has no MX or address records");
}

// RFC 5321 5.1: hosts of equal preference are tried in random order, which
// spreads the load over them.
void Router::shuffle_equal_preferences(std::vector<dns::MxRecord>& records) {
  auto begin = records.begin();
  while (begin != records.end()) {
    auto end = std::find_if(begin, records.end(),
                            [&](const auto& r) { return r.preference != begin->preference; });
    for (auto n = end - begin; n > 1; --n) {
      auto j = static_cast<std::ptrdiff_t>(random_() % static_cast<std::uint32_t>(n));
      std::iter_swap(begin + (n - 1), begin + j);
    }
    begin = end;
  }
}

}  // namespace portcullis::relay::delivery
