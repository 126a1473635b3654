#!/usr/bin/env python3
"""Firewall benchmark (not a test): prints figures, asserts nothing about time.

    sudo python3 tests/bench/firewall_bench.py build/bin

1. Rule updates at scale: `firewall_bench apply` in a private namespace
   (full apply of PREFIXES prefixes, then single changes).
2. Forwarding cost of the ruleset: the lab (tenant -> gw -> inet namespaces),
   iperf3 from an exempt tenant host to port 25 on the inet side, so every
   packet goes through the port-25 chain's counter maps and verdict map; run
   with 10 and with PREFIXES prefixes loaded, ratio printed.
3. Egress monitor throughput: a pcap of SYN_PACKETS SYNs to port 25 (written
   by `firewall_bench synflood`) read by the monitor's decoder and counters
   (`firewall_bench monitor`) and by `tcpdump -n -r` on the same file; both
   timed, ratio printed.

Traffic stays inside namespaces this script creates (198.18.0.0/15); they are
removed on exit.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness.netns import INET4, LAN4, Lab  # noqa: E402

PREFIXES = int(os.environ.get("PREFIXES", "100000"))
SYN_PACKETS = int(os.environ.get("SYN_PACKETS", "1000000"))
SECONDS = int(os.environ.get("SECONDS_PER_RUN", "5"))


def need(program, package):
    if shutil.which(program) is None:
        subprocess.run(["apt-get", "install", "-y", "-q", package], check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))


def forwarding(lab, bench, prefixes):
    lab.run(lab.gw, [bench, "load", "--prefixes", str(prefixes), "--exempt", LAN4], timeout=600)
    rates = []
    for _ in range(3):
        res = lab.run(lab.tenant, ["iperf3", "-J", "-c", INET4, "-p", "25", "-t", str(SECONDS)],
                      timeout=SECONDS + 30)
        rates.append(json.loads(res.stdout)["end"]["sum_received"]["bits_per_second"])
    return sorted(rates)[1]  # the median of three


def main():
    if len(sys.argv) != 2 or os.geteuid() != 0:
        sys.exit("usage: sudo firewall_bench.py BUILD_BIN_DIR")
    bench = os.path.abspath(os.path.join(sys.argv[1], "firewall_bench"))
    need("iperf3", "iperf3")
    need("tcpdump", "tcpdump")

    print(f"== rule updates with {PREFIXES} prefixes (private namespace)")
    subprocess.run([bench, "apply", "--prefixes", str(PREFIXES)], check=True)

    print(f"\n== forwarding to port 25 through the verdict map (iperf3, {SECONDS} s, median of 3)")
    with Lab(tenants=1) as lab:
        lab.popen(lab.inet, ["iperf3", "-s", "-p", "25", "-B", INET4],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        lab.wait_port(lab.inet, INET4, 25)
        small = forwarding(lab, bench, 10)
        large = forwarding(lab, bench, PREFIXES)
    print(f"10 prefixes:      {small / 1e9:8.2f} Gbit/s")
    print(f"{PREFIXES} prefixes: {large / 1e9:8.2f} Gbit/s")
    print(f"ratio {PREFIXES}/10: {large / small:.3f}")

    print(f"\n== egress monitor on a pcap of {SYN_PACKETS} SYNs")
    with tempfile.TemporaryDirectory(prefix="portcullis-bench-") as tmp:
        capture = os.path.join(tmp, "synflood.pcap")
        subprocess.run([bench, "synflood", capture, "--packets", str(SYN_PACKETS)], check=True)
        started = time.monotonic()
        subprocess.run([bench, "monitor", capture], check=True)
        ours = time.monotonic() - started
        peers = {
            # Decodes and prints every packet (what an operator would run).
            "tcpdump -n -r (decode, print)": ["tcpdump", "-n", "-r", capture],
            # Only the kernel-style BPF filter for SYNs to 25, no printing.
            "tcpdump -r -w /dev/null (BPF SYN filter)":
                ["tcpdump", "-r", capture, "-w", "/dev/null", "tcp[13] & 2 != 0 and dst port 25"],
        }
        times = {}
        for name, cmd in peers.items():
            started = time.monotonic()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[name] = time.monotonic() - started
    print(f"{'monitor (whole process)':42s} {SYN_PACKETS / ours:12.0f} packets/s ({ours:.2f} s)")
    for name, took in times.items():
        print(f"{name:42s} {SYN_PACKETS / took:12.0f} packets/s ({took:.2f} s), "
              f"monitor is {took / ours:.2f}x as fast")


if __name__ == "__main__":
    main()
