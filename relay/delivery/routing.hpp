#pragma once
// Routing: which hosts and addresses, in which order, receive mail for a
// domain. Static routes from the config (exact domain, then "*") come first;
// otherwise the domain's MX records (RFC 5321 5.1) sorted by preference with
// equal preferences shuffled, each host's IPv6 then IPv4 addresses; no MX →
// the domain's own addresses; a null MX (RFC 7505) or a domain that does not
// exist → a permanent failure. Domain literals ("[198.18.2.10]",
// "[IPv6:fd00::1]") go to that address.
//
// Untrusted input: the domain (from a recipient address given by an SMTP
// client) and DNS answers. Domains are validated before any query; MX hosts
// and addresses are capped (kMaxMxHosts, kMaxAddressesPerHost, kMaxTargets).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gateway/core/asio.hpp"
#include "gateway/core/config/config.hpp"
#include "gateway/core/dns/lookup.hpp"
#include "relay/delivery/target.hpp"

namespace portcullis::relay::delivery {

struct Route {
  enum class Kind { ok, temporary, permanent };
  Kind kind = Kind::temporary;
  std::vector<Target> targets;  // ok: in the order to try them; else empty
  // temporary/permanent: why, starting with an RFC 3463 status code,
  // e.g. "5.1.10 example.com does not accept mail (null MX, RFC 7505)".
  std::string reason;
};

// The interface the delivery engine routes through (fakes in tests).
class RouteFinder {
 public:
  virtual ~RouteFinder() = default;
  virtual asio::awaitable<Route> route(std::string domain) = 0;
};

class Router : public RouteFinder {
 public:
  static constexpr std::size_t kMaxMxHosts = 10;
  static constexpr std::size_t kMaxAddressesPerHost = 4;  // per address family
  static constexpr std::size_t kMaxTargets = 20;

  // Returns a uniformly distributed number; used to shuffle MX hosts of
  // equal preference. Tests inject a fixed sequence.
  using Random = std::function<std::uint32_t()>;

  // Copies what it needs from config (the routes). dns must outlive the Router.
  Router(dns::Lookup& dns, const config::DeliveryConfig& config, Random random = {});

  asio::awaitable<Route> route(std::string domain) override;

 private:
  asio::awaitable<Route> static_route(const config::Route& route);
  asio::awaitable<Route> mx_route(const std::string& domain);
  asio::awaitable<Route> implicit_mx_route(const std::string& domain);
  void shuffle_equal_preferences(std::vector<dns::MxRecord>& records);

  dns::Lookup& dns_;
  std::vector<config::Route> routes_;
  Random random_;
};

}  // namespace portcullis::relay::delivery
