"""At-least-once delivery under kill -9: no queued message is ever lost.

N messages (unique Subject and Message-ID) are queued for crash.test, whose MX
is a slow sink (it stores each message, then waits before its 250 to DATA, so
a kill can land between "stored remotely" and "recorded as delivered"). Once
deliveries are under way portcullisd gets SIGKILL, is restarted on the same
state dir, and the test waits until the queue is empty: every message must
have reached the sink at least once. Duplicates are allowed and reported.

    python3 -u test_delivery_crash.py --bin BUILD/bin --source REPO
"""
import collections
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import Sink, dns_records, render_message, submit, wait_until  # noqa: E402
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, INET4, Lab  # noqa: E402

BIN = None
N = 60
DATA_DELAY = 0.3          # seconds between the sink storing a message and its 250
KILL_AFTER = 8            # kill once the sink holds this many of them
DRAIN_TIMEOUT = 90

PLAN = """  bulk:
    monthly_quota: 100000000
    messages_per_minute: 1000000
    messages_per_hour: 10000000
    recipients_per_message: 1000
    recipients_per_hour: 100000000
    max_connections: 200
    max_message_size: 25M
"""

DELIVERY = f"""delivery:
  resolver: "{INET4}:53"
  retry_schedule: [1s, 2s]
  retry_jitter: 0
  queue_scan_interval: 1s
  connect_timeout: 5s
  max_concurrency: 20
  max_per_destination: 4
"""


class DeliveryCrashTest(unittest.TestCase):
    report = ""
    daemon_log = ""

    def test_kill9_during_delivery_loses_nothing(self):
        with Lab(tenants=1) as lab:
            sink = Sink.start(lab, INET4, 25, "crash-mx", {"data_delay": DATA_DELAY},
                              hostname="mx.crash.test")
            lab.start_dnsmasq(extra=dns_records(mx=[("crash.test", "mx.crash.test", 10)],
                                                hosts=[("mx.crash.test", INET4)]))
            daemon = Daemon(BIN, lambda state, sock: render_config(
                state, sock, intercept=[f"{GW_LAN4}:2525"], extra=PLAN + DELIVERY), netns=lab.gw)
            try:
                self._run(lab, sink, daemon)
            finally:
                daemon.stop()
                DeliveryCrashTest.daemon_log = "\n".join(daemon.log().splitlines()[-80:])
                daemon.cleanup()

    def _run(self, lab, sink, daemon):
        daemon.start()
        lab.wait_port(lab.tenant, GW_LAN4, 2525)
        daemon.ctl("tenant", "add", "acme", "--plan", "bulk", "--subnet", "198.18.1.0/24",
                   "--mode", "redirect")
        run = uuid.uuid4().hex[:8]
        tags = [f"crash-{run}-{i:03d}" for i in range(N)]
        messages = [("app@acme.test", [f"rcpt{i % 7}@crash.test"],
                     render_message("app@acme.test", [f"rcpt{i % 7}@crash.test"], tag,
                                    message_id=f"<{tag}@acme.test>"))
                    for i, tag in enumerate(tags)]
        ids = submit(lab, lab.tenant, GW_LAN4, 2525, messages)
        self.assertEqual(len(set(ids)), N)

        def ours():
            return [m for m in sink.messages() if m.subject.startswith(f"crash-{run}-")]
        started = wait_until(lambda: len(ours()) >= KILL_AFTER, timeout=30, interval=0.05)
        self.assertTrue(started, f"no deliveries started:\n{daemon.log()[-3000:]}\n{sink.log()}")
        before_kill = len(ours())
        daemon.kill9()
        daemon.start()
        queued_after_kill = daemon.ctl("queue", "list").get("total")
        drained = wait_until(lambda: daemon.ctl("queue", "list").get("total") == 0,
                             timeout=DRAIN_TIMEOUT)
        got = collections.Counter(m.subject for m in ours())
        missing = [t for t in tags if got[t] == 0]
        dups = {t: c for t, c in got.items() if c > 1}
        ids_seen = collections.Counter(m.message_id for m in ours())
        DeliveryCrashTest.report = (
            f"crash test: {N} queued, {before_kill} at the sink when killed, {queued_after_kill} "
            f"still queued after restart; at the end: {len(got)} distinct delivered, "
            f"{len(missing)} missing, {sum(c - 1 for c in dups.values())} duplicate deliveries "
            f"({len(dups)} messages), queue drained: {bool(drained)}")
        print(DeliveryCrashTest.report)
        self.assertEqual(missing, [], "messages lost after kill -9")
        self.assertTrue(drained, daemon.ctl("queue", "list"))
        self.assertEqual(set(ids_seen), {f"<{t}@acme.test>" for t in tags})
        # Every queue id ends with a delivered event, none with a bounce.
        for qid in ids[:5] + ids[-5:]:
            types = [e["type"] for e in daemon.ctl("events", "--message", qid)["events"]]
            self.assertIn("delivered", types, (qid, types))
            self.assertNotIn("bounced", types, (qid, types))
        # Each received copy is the whole message (no truncated DATA from the kill).
        for m in ours():
            self.assertIn(b"Hello from the delivery tests.", m.data, m.meta)


def configure(bin_dir, _source_dir):
    global BIN
    BIN = bin_dir


def print_diagnostics():
    print("---- portcullisd log (last 80 lines) ----", file=sys.stderr)
    print(DeliveryCrashTest.daemon_log, file=sys.stderr)


def main():
    return runner.run("test_delivery_crash", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
