#pragma once
// Asks the configured DNSBL zones about the gateway's outbound addresses and the tenants' exempt
// hosts, every abuse.dnsbl.interval, and turns a listing into a dnsbl signal. The lists see the
// reputation of our addresses before tenants' recipients do; a listing of the shared address
// concerns the gateway itself (tenant "").
//
// Untrusted input: DNS answers (the zone's operator, or anyone who can spoof or rewrite them).
// abuse/dnsbl classifies them: refusals (127.255.255.x), rewritten NXDOMAINs and unknown codes
// are errors that are logged and never become signals, and the TXT reason is sanitised to
// printable ASCII and bounded before it is quoted in the evidence. TXT is asked only for a
// listing, since many lists rate-limit TXT queries. Queries are paced to
// abuse.dnsbl.queries_per_second (A and TXT together) so that a round never floods a list
// that counts queries per source.
//
// Needs no privilege. Runs on one executor (the daemon's I/O thread): construct, start() and
// stop() there. stop() ends a round in flight: the coroutine holds the shared state and checks
// it after every wait, so it never touches the sink or the targets callback again.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "abuse/dnsbl/zone_config.hpp"
#include "abuse/signal_sink.hpp"
#include "gateway/core/asio.hpp"
#include "gateway/core/result.hpp"

namespace portcullis {
class Clock;
}
namespace portcullis::config {
struct Config;
struct DnsblConfig;
}  // namespace portcullis::config
namespace portcullis::dns {
class Lookup;
}

namespace portcullis::abuse {
namespace detail {
struct DnsblState;  // dnsbl_collector.cpp
}

struct DnsblTarget {
  asio::ip::address address;
  std::string tenant_id;  // "" = the gateway's own address
};

class DnsblCollector {
 public:
  // Each zone through abuse::dnsbl::validate (codes through parse_code_range, empty lists = the
  // defaults); the error names the zone.
  static Result<std::vector<dnsbl::ZoneConfig>> zones_from(const config::DnsblConfig& config);

  // Throws std::runtime_error if zones_from fails (start-up only). `targets` is called at the
  // start of every round, on the executor.
  DnsblCollector(asio::any_io_executor executor,
                 dns::Lookup& dns,
                 const config::Config& config,
                 std::function<std::vector<DnsblTarget>()> targets,
                 SignalSink& sink,
                 const Clock& clock);
  ~DnsblCollector();
  DnsblCollector(const DnsblCollector&) = delete;
  DnsblCollector& operator=(const DnsblCollector&) = delete;

  // The first round at once, then one every abuse.dnsbl.interval (start to start; a round that
  // takes longer is followed by the next at once, and logged). No zones: does nothing.
  void start();
  // Cancels the timers and any round in flight; idempotent, and called by the destructor.
  void stop();

 private:
  std::shared_ptr<detail::DnsblState> state_;
};

}  // namespace portcullis::abuse
