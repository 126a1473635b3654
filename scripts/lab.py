#!/usr/bin/env python3
"""A hands-on Portcullis lab in network namespaces (started by scripts/run).

Builds the integration testbed (tenant hosts → gw → inet), runs portcullisd in
gw, dnsmasq (MX for example.test) and smtp-sink in inet, adds tenant `demo`
with one credential, prints how to try it, and waits. Ctrl-C or SIGTERM stops
every process and removes the namespaces. All traffic stays inside the
namespaces (198.18.0.0/15, fd00::/8).
"""
import argparse
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness.daemon import Daemon  # noqa: E402
from harness.netns import GW_LAN4, GW_LAN6, INET4, Lab  # noqa: E402

HOSTNAME = "relay.lab.test"


def lab_config(state_dir, socket_path):
    return f"""# Written by scripts/lab.py; regenerated on every run.
node:
  name: lab-gw
  state_dir: {state_dir}
  control_socket: {socket_path}
  log_level: info
relay:
  hostname: {HOSTNAME}
  listen:
    submission: ["{GW_LAN4}:587", "[{GW_LAN6}]:587"]
    smtps: ["{GW_LAN4}:465", "[{GW_LAN6}]:465"]
    intercept: ["{GW_LAN4}:2525", "[{GW_LAN6}]:2525"]
delivery:
  resolver: "{INET4}:53"
  retry_schedule: [1m, 5m, 15m]
  queue_scan_interval: 5s
firewall:
  enabled: true
plans:
  standard:
    monthly_quota: 25000
    messages_per_minute: 60
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    parser.add_argument("--dir", default=os.path.join(ROOT, "lab"),
                        help="config, state, control socket and logs (wiped at start)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("lab: run as root (it creates network namespaces)")
    bin_dir, lab_dir = os.path.abspath(args.bin), os.path.abspath(args.dir)
    for prog in ("portcullisd", "portcullisctl"):
        if not os.access(os.path.join(bin_dir, prog), os.X_OK):
            sys.exit(f"lab: {os.path.join(bin_dir, prog)} not found; build first")
    shutil.rmtree(lab_dir, ignore_errors=True)
    os.makedirs(lab_dir)
    ctl = os.path.relpath(os.path.join(bin_dir, "portcullisctl"))
    sock = os.path.relpath(os.path.join(lab_dir, "control.sock"))

    lab = Lab(tenants=1)
    daemon = None
    try:
        lab.start()
        sink = lab.start_smtp_sink()
        lab.start_dnsmasq(mx=[("example.test", "mx.example.test", 10)],
                          address=[("mx.example.test", INET4)])
        daemon = Daemon(bin_dir, lab_config, netns=lab.gw, workdir=lab_dir)
        daemon.start()
        daemon.ctl("tenant", "add", "demo", "--plan", "standard", "--subnet", "198.18.1.0/24",
                   "--subnet", "fd00:1::/64", "--mode", "redirect")
        cred = daemon.ctl("credential", "issue", "demo", "--description", "lab")
        user, password = cred["username"], cred["password"]
        print(f"""
Portcullis lab is running (Ctrl-C stops it and removes the namespaces).

  namespaces   tenant {lab.tenant} (198.18.1.10, fd00:1::10)
               stranger {lab.stranger} (198.18.3.10)   gw {lab.gw}   inet {lab.inet}
  portcullisd  in {lab.gw}: submission {GW_LAN4}:587, smtps :465, intercept :2525
               config {os.path.relpath(daemon.config_path)}, log {os.path.relpath(daemon.log_path)}
  inet         dnsmasq {INET4}:53 (MX example.test -> mx.example.test {INET4}),
               smtp-sink {INET4}:25, messages dumped in {sink.dump_dir}
  tenant demo  198.18.1.0/24, fd00:1::/64, credential {user} / {password}

Submit with STARTTLS + AUTH from the tenant host:
  ip netns exec {lab.tenant} swaks --server {GW_LAN4}:587 --tls --auth PLAIN --auth-user {user} --auth-password {password} --to someone@example.test --from app@demo.test

Direct port 25 from the tenant host: nftables redirects it to the relay's intercept
listener (no AUTH; the tenant is known by its source address), which delivers it:
  ip netns exec {lab.tenant} swaks --server {INET4}:25 --to someone@example.test --from app@demo.test

Switch the tenant to block and try again (the SYN is dropped and counted):
  {ctl} --socket {sock} tenant set demo --mode block
  {ctl} --socket {sock} firewall counters

A host outside every tenant is refused on the intercept port:
  ip netns exec {lab.stranger} swaks --server {GW_LAN4}:2525 --to someone@example.test --from x@stranger.test

Look at the queue, delivery events, the firewall and the tenants:
  {ctl} --socket {sock} queue list
  {ctl} --socket {sock} events
  {ctl} --socket {sock} firewall show
  {ctl} --socket {sock} monitor top
  {ctl} --socket {sock} tenant show demo

The abuse desk: the tenant's score explained, tickets, and a port-25 exception request:
  {ctl} --socket {sock} reputation --tenant demo
  {ctl} --socket {sock} ticket list
  {ctl} --socket {sock} exception request --tenant demo --host 198.18.1.10 --reason "own MTA"
  {ctl} --socket {sock} exception approve 1 --expires 1h   # then: exception show 1
""", flush=True)
        while daemon.proc.poll() is None:
            time.sleep(0.5)
        print(f"lab: portcullisd exited ({daemon.proc.returncode}); last log lines:", file=sys.stderr)
        print("\n".join(daemon.log().splitlines()[-30:]), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("lab: stopping and removing namespaces", file=sys.stderr, flush=True)
        if daemon:
            daemon.stop()
        lab.close()


if __name__ == "__main__":
    sys.exit(main())
