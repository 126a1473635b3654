"""The nftables port-25 policy with real packets (issue 4).

    tenant  198.18.1.10 fd00:1::10  (acme: 198.18.1.0/24, fd00:1::/64)
    tenant2 198.18.1.11 fd00:1::11  (acme's host override: exempt)
    stranger 198.18.3.10 fd00:3::10 (no tenant: firewall.default_mode block)
      → gw (portcullisd, its table inet portcullis, forwarding)
      → inet 198.18.2.10 fd00:2::10: TCP listeners on 25, 587 and 443 that
        greet with "220 inet-<port>".

A probe from a host's namespace tells "inet" (reached the internet listener),
"relay" (landed on the daemon's intercept listener) or "closed" (dropped,
refused or reset). Needs root and the daemon wiring of firewall_wiring.hpp.

    python3 -u tests/integration/test_firewall.py --bin BUILD/bin --source REPO
"""
import os
import pwd
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, GW_LAN6, INET4, INET6, TENANT_HOSTS, Lab  # noqa: E402

BIN = None
HOSTNAME = "relay.gw.example"
HOST4, HOST6 = "198.18.1.10", "fd00:1::10"      # follows acme's mode
OVR4, OVR6 = "198.18.1.11", "fd00:1::11"        # acme's override: exempt

LISTENER = r"""
import socket, sys, threading
def serve(family, addr, port):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port)); s.listen(64)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(b"220 inet-%d\r\n" % port)
        finally:
            c.close()
threads = []
for port in (25, 587, 443):
    for fam, addr in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):
        t = threading.Thread(target=serve, args=(fam, addr, port), daemon=True); t.start()
print("ready", flush=True)
threading.Event().wait()
"""

PROBE = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((host, port), timeout=float(sys.argv[3]))
    s.settimeout(3)
    banner = s.recv(200).decode(errors="replace")
    print("inet" if banner.startswith("220 inet") else ("relay" if "%s" in banner else "other:" + banner))
except (socket.timeout, TimeoutError, ConnectionRefusedError, ConnectionResetError, OSError):
    print("closed")
""" % HOSTNAME

SEND = r"""
import smtplib, sys
host = sys.argv[1]
with smtplib.SMTP(host, 25, timeout=10) as s:
    s.ehlo("host.acme.test")
    s.sendmail("app@acme.test", ["someone@example.net"],
               "From: app@acme.test\r\nTo: someone@example.net\r\nSubject: fw\r\n\r\nhi\r\n")
print("sent")
"""


class FirewallTest(unittest.TestCase):
    lab = None
    daemon = None
    daemon_log = ""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(tenants=2).start()
        try:
            cls.lab.popen(cls.lab.inet, [sys.executable, "-c", LISTENER, INET4, INET6])
            for port in (25, 587, 443):
                cls.lab.wait_port(cls.lab.inet, INET4, port)
            cls.daemon = cls.make_daemon()
            cls.daemon.start()
            cls.lab.wait_port(cls.lab.tenant, GW_LAN4, 2525)
            cls.daemon.ctl("tenant", "add", "acme", "--plan", "standard", "--subnet", "198.18.1.0/24",
                           "--subnet", "fd00:1::/64", "--mode", "block")
            for host in (OVR4, OVR6):
                cls.daemon.ctl("firewall", "override", "set", "acme", host, "exempt",
                               "--reason", "approved exception")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def make_daemon(cls, workdir=None, user=None):
        firewall = ("firewall:\n  enabled: true\n  table: portcullis\n  default_mode: block\n"
                    "  nflog_group: 25\n"
                    "delivery:\n  resolver: \"198.18.2.10:53\"\n  retry_schedule: [1h]\n")
        def text(state, sock):
            config = render_config(state, sock, intercept=[f"{GW_LAN4}:2525", f"[{GW_LAN6}]:2525"],
                                   hostname=HOSTNAME, extra=firewall)
            return config.replace("node:\n", f"node:\n  user: {user}\n", 1) if user else config
        return Daemon(BIN, text, netns=cls.lab.gw, workdir=workdir)

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon_log = cls.daemon.log()
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    # -- helpers ---------------------------------------------------------
    def probe(self, ns, host, port=25, timeout=1.5):
        res = self.lab.run(ns, [sys.executable, "-c", PROBE, host, str(port), str(timeout)],
                           timeout=30)
        return res.stdout.strip()

    def set_mode(self, mode):
        self.daemon.ctl("tenant", "set", "acme", "--mode", mode)

    def table_handle(self):
        out = self.lab.run(self.lab.gw, ["nft", "-a", "list", "table", "inet", "portcullis"]).stdout
        return out.splitlines()[0]

    def counters(self, tenant="acme"):
        rows = self.daemon.ctl("firewall", "counters", "--tenant", tenant)["counters"]
        return {r["mode"]: r for r in rows}

    def wait_for(self, ns, host, want, within=1.0):
        """The probe's result must become `want` within `within` seconds of the change."""
        deadline = time.monotonic() + within
        got = None
        while True:
            got = self.probe(ns, host, timeout=0.5)
            if got == want or time.monotonic() > deadline:
                break
        self.assertEqual(got, want, f"{host} from {ns}")

    # -- tests -----------------------------------------------------------
    def test_01_block_tenant_cannot_reach_port_25_and_is_counted(self):
        self.set_mode("block")
        before = self.counters()["block"]["connections"]
        for dst in (INET4, INET6):
            self.assertEqual(self.probe(self.lab.tenant, dst), "closed", dst)
        after = self.counters()["block"]
        self.assertGreaterEqual(after["connections"], before + 2)
        self.assertGreater(after["packets"], 0)
        # The egress monitor saw the blocked attempts (nflog may batch for ~1 s).
        host = TENANT_HOSTS[0][1]
        deadline = time.monotonic() + 10
        seen = []
        while time.monotonic() < deadline:
            seen = [h for h in self.daemon.ctl("monitor", "top", "--limit", "50")["hosts"]
                    if h["host"] == host]
            if seen and seen[0]["attempts"] >= 1:
                break
            time.sleep(0.2)
        self.assertTrue(seen and seen[0]["attempts"] >= 1, f"{host} not in monitor top: {seen}")
        self.assertEqual(seen[0]["tenant_id"], "acme", seen)

    def test_02_other_ports_are_untouched(self):
        self.set_mode("block")
        for dst in (INET4, INET6):
            for port in (587, 443):
                self.assertEqual(self.probe(self.lab.tenant, dst, port), "inet", f"{dst}:{port}")

    def test_03_host_override_exempt_reaches_inet_directly(self):
        self.set_mode("block")
        for dst in (INET4, INET6):
            self.assertEqual(self.probe(self.lab.tenants[1], dst), "inet", dst)
        self.assertGreater(self.counters()["exempt"]["connections"], 0)

    def test_04_address_in_no_tenant_follows_default_block(self):
        for dst in (INET4, INET6):
            self.assertEqual(self.probe(self.lab.stranger, dst), "closed", dst)
        rows = self.daemon.ctl("firewall", "counters")["counters"]
        default = [r for r in rows if r["tenant_id"] == "" and r["mode"] == "block"]
        self.assertTrue(default and default[0]["connections"] > 0, rows)

    def test_05_mode_switch_takes_effect_within_a_second_without_a_new_table(self):
        self.set_mode("block")
        handle = self.table_handle()
        block_before = self.counters()["block"]["connections"]
        for mode, want in (("exempt", "inet"), ("redirect", "relay"), ("block", "closed")):
            self.set_mode(mode)
            for dst in (INET4, INET6):
                self.wait_for(self.lab.tenant, dst, want)
            self.assertEqual(self.table_handle(), handle, "the table was replaced")
        # Counters survived the switches (never reset to zero).
        self.assertGreaterEqual(self.counters()["block"]["connections"], block_before)

    def test_06_redirected_message_records_tenant_and_original_destination(self):
        self.set_mode("redirect")
        try:
            for dst in (INET4, INET6):
                res = self.lab.run(self.lab.tenant, [sys.executable, "-c", SEND, dst], timeout=30)
                self.assertIn("sent", res.stdout, res.stderr)
            messages = self.daemon.ctl("queue", "list")["messages"]
            shown = [self.daemon.ctl("queue", "show", m["id"]) for m in messages]
            dests = {s.get("original_destination") for s in shown if s.get("tenant_id") == "acme"}
            self.assertIn(f"{INET4}:25", dests)
            self.assertIn(f"[{INET6}]:25", dests)
            self.assertGreater(self.counters()["redirect"]["connections"], 0)
        finally:
            self.set_mode("block")

    def test_07_show_and_plan(self):
        live = self.daemon.ctl("firewall", "show", json_output=False).stdout
        plan = self.daemon.ctl("firewall", "plan", json_output=False).stdout
        self.assertIn("table inet portcullis", live)
        self.assertIn("map verdict4", live)
        self.assertIn("198.18.1.11 : accept", live)
        self.assertIn("table inet portcullis", plan)
        self.assertNotIn("flags owner", plan)

    def test_08_refused_ruleset_leaves_the_old_one_and_traffic_unchanged(self):
        self.set_mode("block")
        before = self.lab.run(self.lab.gw, ["nft", "list", "table", "inet", "portcullis"]).stdout
        marker = os.path.join(self.daemon.state_dir, "firewall-test-reject")
        open(marker, "w").close()
        try:
            self.set_mode("exempt")  # stored, but the kernel refuses the table change
            time.sleep(0.5)
            self.assertEqual(self.probe(self.lab.tenant, INET4), "closed")
            res = self.daemon.ctl("firewall", "reconcile", check=False, json_output=False)
            self.assertNotEqual(res.returncode, 0)
            self.assertIn("No such file or directory", res.stderr)
            after = self.lab.run(self.lab.gw, ["nft", "list", "table", "inet", "portcullis"]).stdout
            strip = lambda t: "\n".join(l for l in t.splitlines()  # noqa: E731
                                        if "packets" not in l)
            self.assertEqual(strip(after), strip(before))
            self.assertIn("firewall_sync_failed", self.daemon.log())
        finally:
            os.unlink(marker)
        self.daemon.ctl("firewall", "reconcile")
        self.wait_for(self.lab.tenant, INET4, "inet")
        self.set_mode("block")

    def test_09_kill_9_leaves_port_25_blocked(self):
        self.set_mode("redirect")
        self.wait_for(self.lab.tenant, INET4, "relay")
        self.daemon.kill9()
        try:
            for dst in (INET4, INET6):
                self.assertEqual(self.probe(self.lab.tenant, dst), "closed", dst)  # refused, not let through
            table = self.lab.run(self.lab.gw, ["nft", "list", "table", "inet", "portcullis"]).stdout
            self.assertIn("goto port25_block", table)
        finally:
            # Start again on the same state: it reconciles the table with the store.
            self.daemon.start()
            self.set_mode("block")
            self.wait_for(self.lab.tenant, INET4, "closed")


    def test_10_as_an_unprivileged_user_the_firewall_still_follows_tenants(self):
        """node.user drops root but keeps CAP_NET_ADMIN (and only that and
        CAP_NET_RAW): tenant changes still reach the kernel."""
        self.daemon.stop()
        workdir = tempfile.mkdtemp(prefix="portcullis-it-user-")
        os.chmod(workdir, 0o711)  # the daemon's user must reach its state dir
        unprivileged = self.make_daemon(workdir=workdir, user="nobody")
        try:
            unprivileged.start()
            with open(f"/proc/{unprivileged.proc.pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
            self.assertEqual(status["Uid"].split()[0], str(pwd.getpwnam("nobody").pw_uid))
            self.assertEqual(int(status["CapEff"], 16), (1 << 12) | (1 << 13))  # NET_ADMIN, NET_RAW
            unprivileged.ctl("tenant", "add", "acme", "--plan", "standard", "--subnet",
                             "198.18.1.0/24", "--subnet", "fd00:1::/64", "--mode", "block")
            self.wait_for(self.lab.tenant, INET4, "closed")
            for mode, want in (("exempt", "inet"), ("block", "closed")):
                unprivileged.ctl("tenant", "set", "acme", "--mode", mode)
                for dst in (INET4, INET6):
                    self.wait_for(self.lab.tenant, dst, want)
            self.assertNotIn("firewall_sync_failed", unprivileged.log())
        finally:
            FirewallTest.daemon_log += unprivileged.log()
            unprivileged.cleanup()


def configure(bin_dir, _source_dir):
    global BIN
    BIN = bin_dir


def print_diagnostics():
    if FirewallTest.daemon_log:
        print("---- portcullisd log (last 80 lines) ----", file=sys.stderr)
        print("\n".join(FirewallTest.daemon_log.splitlines()[-80:]), file=sys.stderr)


def main():
    return runner.run("test_firewall", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
