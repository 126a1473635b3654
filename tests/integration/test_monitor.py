"""Egress monitor with real packets in network namespaces.

In the gw namespace a test-owned nftables table (inet pcmontest, deleted
afterwards) logs tenant SYNs to port 25 to an NFLOG group and drops them; the
monitor captures that group (through the MonitorProbe hook in firewall_tests,
which serves GET /v1/monitor/top on a control socket too, until the daemon
wires the monitor) and must count:
  * 20 connection attempts from 198.18.1.10 to 20 distinct addresses in
    198.18.2.0/24 (added to inet's interface; nothing leaves the namespaces),
    and 5 from fd00:1::10 over IPv6, attributed to the tenant;
  * a bounded SYN flood (raw socket, spoofed 198.18.0.0/16 sources) without
    losing count of the flood, with the host table at its bound and the
    monitor's memory flat.

    python3 -u tests/integration/test_monitor.py --bin BUILD/bin --source REPO
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import runner  # noqa: E402
from harness.netns import Lab  # noqa: E402

BIN = SOURCE = None
NFLOG_GROUP = 7
MAX_HOSTS = 2048
TABLE = "pcmontest"
V4_TARGETS = [f"198.18.2.{100 + i}" for i in range(20)]
V6_TARGETS = [f"fd00:2::{100 + i}" for i in range(5)]
FLOOD_PACKETS = 30000
FLOOD_SECONDS = 15

RULESET = f"""
table inet {TABLE} {{
  chain forward {{
    type filter hook forward priority -10; policy accept;
    iifname "br0" tcp dport 25 tcp flags & (syn | ack) == syn log group {NFLOG_GROUP}
    iifname "br0" tcp dport 25 counter drop
  }}
}}
"""

# Non-blocking connects: one SYN each (the retransmission would come after 1 s).
CONNECT = r"""
import socket, sys, time
socks = []
for addr in sys.argv[1:]:
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((addr, 25))
    socks.append(s)
time.sleep(0.6)
for s in socks:
    s.close()
"""

# SYNs with spoofed sources from a raw socket, bounded in count and time.
FLOOD = r"""
import random, socket, struct, sys, time
count, limit = int(sys.argv[1]), float(sys.argv[2])
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
rng = random.Random(25)
sent, start = 0, time.monotonic()
while sent < count and time.monotonic() - start < limit:
    src = bytes([198, 18, rng.randrange(256), rng.randrange(1, 255)])
    dst = bytes([198, 18, 2, rng.randrange(100, 200)])
    tcp = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65535), 25, rng.getrandbits(32), 0,
                      5 << 4, 0x02, 64240, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", csum(src + dst + struct.pack("!BBH", 0, 6, len(tcp)) + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, src, dst)
    raw.sendto(ip + tcp, (socket.inet_ntoa(dst), 0))
    sent += 1
print(sent, time.monotonic() - start)
"""


class MonitorTest(unittest.TestCase):
    lab = None
    probe = None

    @classmethod
    def setUpClass(cls):
        cls.lab = lab = Lab(tenants=1).start()
        for a in V4_TARGETS:
            lab.run(lab.inet, ["ip", "addr", "add", f"{a}/24", "dev", "eth0"])
        for a in V6_TARGETS:
            lab.run(lab.inet, ["ip", "addr", "add", f"{a}/64", "dev", "eth0", "nodad"])
        # Spoofed flood sources must not be dropped by reverse-path filtering.
        lab.run(lab.gw, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                         "net.ipv4.conf.br0.rp_filter=0"])
        lab.run(lab.gw, ["nft", "-f", "-"], input=RULESET)
        cls.out = os.path.join(lab.workdir, "monitor.json")
        cls.socket = os.path.join(lab.workdir, "monitor.sock")
        env = dict(os.environ,
                   PORTCULLIS_MONITOR_PROBE=cls.out,
                   PORTCULLIS_MONITOR_NFLOG=str(NFLOG_GROUP),
                   PORTCULLIS_MONITOR_MAX_HOSTS=str(MAX_HOSTS),
                   PORTCULLIS_MONITOR_SOCKET=cls.socket,
                   PORTCULLIS_MONITOR_TENANT="acme=198.18.1.0/24,fd00:1::/64",
                   PORTCULLIS_MONITOR_SECONDS="300")
        cls.log = open(os.path.join(lab.workdir, "probe.log"), "w")
        cls.probe = lab.popen(lab.gw, [os.path.join(BIN, "firewall_tests"),
                                       "--gtest_filter=MonitorProbe.Run"],
                              env=env, stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while True:
            snap = cls.snapshot()
            if snap and snap["sources"] == [f"nflog:{NFLOG_GROUP}"]:
                break
            if cls.probe.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"monitor probe did not start: {cls.probe_log()}")
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.probe is not None:
                open(cls.out + ".stop", "w").close()
                try:
                    cls.probe.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            if cls.lab is not None:
                cls.lab.run(cls.lab.gw, ["nft", "delete", "table", "inet", TABLE], check=False)
        finally:
            if cls.lab is not None:
                cls.lab.close()

    @classmethod
    def snapshot(cls):
        try:
            with open(cls.out) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    @classmethod
    def probe_log(cls):
        cls.log.flush()
        with open(cls.log.name) as f:
            return f.read()[-3000:]

    def wait_for(self, predicate, timeout=10, what="condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.snapshot()
            if snap and predicate(snap):
                return snap
            time.sleep(0.2)
        self.fail(f"timed out waiting for {what}; last snapshot: {json.dumps(self.snapshot())[:2000]}")

    @staticmethod
    def host(snap, address):
        return next((h for h in snap["hosts"] if h["host"] == address), None)

    def ctl(self, *args):
        return subprocess.run([os.path.join(BIN, "portcullisctl"), "--socket", self.socket, *args],
                              capture_output=True, text=True, timeout=30)

    def test_1_attempts_and_distinct_destinations(self):
        lab = self.lab
        lab.run(lab.tenant, [sys.executable, "-c", CONNECT, *V4_TARGETS, *V6_TARGETS])

        def done(snap):
            h4, h6 = self.host(snap, "198.18.1.10"), self.host(snap, "fd00:1::10")
            return h4 and h6 and h4["attempts"] >= 20 and h6["attempts"] >= 5

        snap = self.wait_for(done, what="20 IPv4 and 5 IPv6 attempts")
        time.sleep(0.5)  # let late SYNs (none expected) arrive
        snap = self.snapshot()
        h4, h6 = self.host(snap, "198.18.1.10"), self.host(snap, "fd00:1::10")
        self.assertLessEqual(h4["attempts"], 22, h4)  # one SYN per connect, a retransmit at most
        self.assertEqual(h4["distinct_destinations"], 20, h4)
        self.assertEqual(h4["tenant_id"], "acme")
        # A sliding-window estimate: attempts that fell in the previous minute
        # count for the part of it still inside the last 60 s (exact values are
        # unit-tested with a fake clock), so a minute boundary may shave a little.
        self.assertGreaterEqual(h4["syn_per_minute"], 15, h4)
        self.assertLessEqual(h4["syn_per_minute"], 22, h4)
        self.assertLessEqual(h6["attempts"], 7, h6)
        self.assertEqual(h6["distinct_destinations"], 5, h6)
        self.assertEqual(h6["tenant_id"], "acme")
        self.assertEqual(snap["malformed"], 0)
        # Dropped in gw: nothing reached inet.
        counters = lab.run(lab.gw, ["nft", "list", "table", "inet", TABLE]).stdout
        self.assertIn("counter packets", counters)

        # The control API and the CLI show the same.
        res = self.ctl("--json", "monitor", "top", "--limit", "5")
        self.assertEqual(res.returncode, 0, res.stderr)
        top = json.loads(res.stdout)
        api_host = next(h for h in top["hosts"] if h["host"] == "198.18.1.10")
        self.assertEqual(api_host["distinct_destinations"], 20)
        self.assertEqual(api_host["tenant_id"], "acme")
        acme = next(t for t in top["tenants"] if t["tenant_id"] == "acme")
        self.assertEqual(acme["hosts"], 2)
        self.assertEqual(acme["distinct_destinations"], 25)
        self.assertEqual(top["stats"]["sources"], [f"nflog:{NFLOG_GROUP}"])
        res = self.ctl("monitor", "top")
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn("198.18.1.10", res.stdout)
        self.assertIn("DESTINATIONS", res.stdout)
        res = self.ctl("monitor", "top", "--limit", "0")
        self.assertEqual(res.returncode, 1)
        self.assertTrue(res.stderr.startswith("portcullisctl: limit must be"), res.stderr)

    def test_2_flood_is_counted_in_bounded_memory(self):
        lab = self.lab
        before = self.snapshot()
        started = time.monotonic()
        res = lab.run(lab.tenant, [sys.executable, "-c", FLOOD, str(FLOOD_PACKETS),
                                   str(FLOOD_SECONDS)], timeout=FLOOD_SECONDS + 30)
        sent = int(res.stdout.split()[0])
        print(f"\nflood: {res.stdout.strip()} (sent, seconds)", file=sys.stderr)
        self.assertGreater(sent, 1000)

        def settled(snap):
            return snap["syns"] + snap["dropped"] - before["syns"] - before["dropped"] >= sent * 0.9

        snap = self.wait_for(settled, timeout=20, what="the flood to be counted")
        counted = snap["syns"] - before["syns"]
        print(f"flood: {counted} counted, {snap['dropped'] - before['dropped']} dropped by the "
              f"kernel, {snap['hosts_tracked']} hosts tracked, {snap['evicted']} evicted, "
              f"rss {before['rss_kib']} -> {snap['rss_kib']} KiB, "
              f"{time.monotonic() - started:.1f}s", file=sys.stderr)
        self.assertGreaterEqual(counted, sent * 0.5)
        self.assertLessEqual(snap["hosts_tracked"], MAX_HOSTS)
        self.assertEqual(snap["hosts_tracked"], MAX_HOSTS)  # ~50k spoofed sources fill it
        self.assertGreater(snap["evicted"], 0)
        self.assertLess(snap["rss_kib"] - before["rss_kib"], 64 * 1024)
        self.assertEqual(snap["malformed"], 0)

        # Still counting after the flood: the tenant host (evicted by the flood
        # or not) shows up again among the noisiest with 5 fresh attempts.
        time.sleep(1.5)  # the kernel flushes NFLOG batches within a second
        settled_syns = self.snapshot()["syns"]
        lab.run(lab.tenant, [sys.executable, "-c", CONNECT, *V4_TARGETS[:5]])
        self.wait_for(lambda s: (self.host(s, "198.18.1.10") or {}).get("attempts", 0) >= 5
                      and s["syns"] >= settled_syns + 5, what="post-flood attempts")


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    if MonitorTest.lab is not None and os.path.exists(MonitorTest.log.name):
        print("---- monitor probe log ----", file=sys.stderr)
        print(MonitorTest.probe_log(), file=sys.stderr)


def main():
    return runner.run("test_monitor", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
