"""The operator's queue tools at depth, against a real daemon and real sinks.

portcullisd in gw; tenants acme (198.18.1.10) and beta (198.18.1.11) submit on
the intercept listener. inet has dnsmasq and sinks:

    down.test  -> 198.18.2.12  address up, nothing listens at first (refused);
                               a sink starts there later: the destination comes back
    acme.test  -> 198.18.2.10  the senders' domain: the DSNs of `queue bounce` arrive here

The retry schedule is long (600 s), so mail to down.test moves only when an
operator says so. One ordered scenario: an old batch, then new ones; summary;
hold one sender's mail; delete beta's; bounce what is older than the old batch;
down.test comes back; retry-now --all delivers what is not held (held mail
stays); release and retry-now deliver the held mail.

    python3 -u test_queue_tools.py --bin BUILD/bin --source REPO [unittest args]
"""
import os
import sqlite3
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import (Sink, add_inet_addresses, dns_records,  # noqa: E402
                                  render_message, submit, wait_until)
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, Lab  # noqa: E402

BIN = None
SOURCE = None
UP, DOWN = "198.18.2.10", "198.18.2.12"
INTERCEPT = 2525
OLD_GAP = 6  # seconds between the old batch and the others

DNS = dns_records(
    mx=[("down.test", "mx.down.test", 10), ("acme.test", "mx.up.test", 10),
        ("beta.test", "mx.up.test", 10)],
    hosts=[("mx.up.test", UP), ("mx.down.test", DOWN)])

EXTRA = """delivery:
  resolver: "198.18.2.10:53"
  retry_schedule: [600s]
  retry_jitter: 0
  connect_timeout: 5s
  backoff_initial: 1s
  backoff_max: 2s
"""


def config(state, sock):
    return render_config(state, sock, intercept=[f"{GW_LAN4}:{INTERCEPT}"], extra=EXTRA)


class QueueToolsTest(unittest.TestCase):
    lab = None
    daemon = None
    up = None
    down = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(tenants=2).start()
        try:
            lab = cls.lab
            add_inet_addresses(lab, f"{DOWN}/24")
            cls.up = Sink.start(lab, UP, 25, "up", {}, hostname="mx.up.test")
            lab.start_dnsmasq(extra=DNS)
            cls.daemon = Daemon(BIN, config, netns=lab.gw)
            cls.daemon.start()
            lab.wait_port(lab.tenant, GW_LAN4, INTERCEPT)
            for tenant, subnet in (("acme", "198.18.1.10/32"), ("beta", "198.18.1.11/32")):
                cls.daemon.ctl("tenant", "add", tenant, "--plan", "standard", "--subnet", subnet,
                               "--mode", "redirect")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop()
            cls.daemon_log = "\n".join(cls.daemon.log().splitlines()[-80:])
            cls.daemon.cleanup()
        for sink in (getattr(cls, "up", None), getattr(cls, "down", None)):
            if sink:
                sink.stop()
        if cls.lab:
            cls.lab.close()

    # ---- helpers ----

    def db(self):
        path = os.path.join(self.daemon.state_dir, "queue.db")
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def scalar(self, sql, *args):
        with self.db() as db:
            return db.execute(sql, args).fetchone()[0]

    def send(self, ns, sender, count, tag):
        rcpts = [f"{tag}-{i}@down.test" for i in range(count)]
        msgs = [(sender, [r], render_message(sender, [r], f"{tag} {i}"))
                for i, r in enumerate(rcpts)]
        ids = submit(self.lab, ns, GW_LAN4, INTERCEPT, msgs)
        self.assertEqual(len([i for i in ids if i]), count, f"{tag}: not all accepted: {ids}")
        return ids

    def queued_from(self, sender):
        return self.scalar("SELECT COUNT(*) FROM messages WHERE mail_from = ?", sender)

    def arrived(self, tag):
        return self.down.find(lambda m: m.subject.startswith(tag + " ")) if self.down else []

    # ---- the scenario ----

    def test_queue_tools_end_to_end(self):
        t = uuid.uuid4().hex[:6]
        acme, beta = self.lab.tenants[0], self.lab.tenants[1]
        old_sender = f"old-{t}@acme.test"
        hold_sender = f"hold-{t}@acme.test"
        flow_sender = f"flow-{t}@acme.test"
        beta_sender = f"app-{t}@beta.test"

        self.send(acme, old_sender, 3, f"old{t}")
        old_at = time.monotonic()
        time.sleep(OLD_GAP)
        self.send(acme, hold_sender, 4, f"hold{t}")
        self.send(acme, flow_sender, 5, f"flow{t}")
        self.send(beta, beta_sender, 2, f"beta{t}")
        new_at = time.monotonic()
        # Every one has met the refusing destination once (or waits behind its backoff).
        self.assertTrue(wait_until(lambda: self.scalar(
            "SELECT COUNT(*) FROM recipients WHERE attempts > 0") > 0, timeout=30))

        # summary: 14 messages to down.test, by tenant and state.
        shape = self.daemon.ctl("queue", "summary")
        self.assertEqual(shape["total"]["messages"], 14, shape)
        self.assertEqual(shape["total"]["recipients"], 14)
        self.assertEqual(shape["total"]["held"], 0)
        dests = {d["name"]: d for d in shape["destinations"]}
        self.assertEqual(dests["down.test"]["recipients"], 14)
        self.assertEqual(dests["down.test"]["queued"] + dests["down.test"]["deferred"], 14)
        tenants = {d["name"]: d for d in shape["tenants"]}
        self.assertEqual(tenants["acme"]["messages"], 12)
        self.assertEqual(tenants["beta"]["messages"], 2)
        self.assertEqual(sum(shape["total"]["ages"]), 14)
        self.assertEqual(len(shape["buckets"]), 7)
        text = self.daemon.ctl("queue", "summary", json_output=False)
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("down.test", text.stdout)
        print("\n" + text.stdout)

        # No filter and no --all: refused before anything happens.
        refused = self.daemon.ctl("queue", "delete", check=False, json_output=False)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("--all", refused.stderr)
        status, body = self.daemon.api("POST", "/v1/queue/delete", {})
        self.assertEqual(status, 400, body)
        self.assertEqual(self.scalar("SELECT COUNT(*) FROM messages"), 14)

        # hold one sender's mail.
        held = self.daemon.ctl("queue", "hold", "--sender", hold_sender)
        self.assertEqual((held["messages"], held["recipients"]), (4, 4), held)
        self.assertEqual(self.scalar("SELECT COUNT(*) FROM messages WHERE held = 1"), 4)
        shape = self.daemon.ctl("queue", "summary")
        self.assertEqual(shape["total"]["held"], 4)
        self.assertEqual(shape["held_messages"], 4)

        # delete --tenant beta: gone without a bounce, recorded as 'deleted' events.
        deleted = self.daemon.ctl("queue", "delete", "--tenant", "beta")
        self.assertEqual(deleted["messages"], 2, deleted)
        self.assertEqual(self.queued_from(beta_sender), 0)
        self.assertEqual(self.scalar(
            "SELECT COUNT(*) FROM events WHERE type = 'deleted' AND tenant_id = 'beta'"), 2)

        # bounce --older-than: between the old batch's age and the others'.
        now = time.monotonic()
        cut = int(((now - old_at) + (now - new_at)) / 2)
        self.assertGreater(now - old_at, cut)
        self.assertLess(now - new_at, cut, "the steps took too long for the age cut")
        bounced = self.daemon.ctl("queue", "bounce", "--older-than", f"{cut}s")
        self.assertEqual((bounced["messages"], bounced["recipients"]), (3, 3), bounced)
        self.assertEqual(self.queued_from(old_sender), 0)
        dsns = self.up.wait_for(lambda m: m.mail_from == "" and old_sender in m.rcpts, count=3,
                                timeout=30)
        self.assertEqual(len(dsns), 3, f"DSNs at acme.test's sink: {self.up.messages()}")
        self.assertIn("5.0.0", dsns[0].data.decode(errors="replace"))
        self.assertIn("bounced by the operator", dsns[0].data.decode(errors="replace"))

        # down.test comes back; retry-now --all delivers what is not held.
        QueueToolsTest.down = Sink.start(self.lab, DOWN, 25, "down", {}, hostname="mx.down.test")
        retried = self.daemon.ctl("queue", "retry-now", "--all")
        self.assertEqual(retried["messages"], 5, retried)
        got = self.down.wait_for(lambda m: m.subject.startswith(f"flow{t} "), count=5, timeout=30)
        self.assertEqual(len(got), 5, f"after retry-now: {self.down.messages()}")
        time.sleep(4)  # more than a backoff: held mail would have gone by now
        self.assertEqual(self.arrived(f"hold{t}"), [], "held mail was delivered")
        self.assertEqual(self.queued_from(hold_sender), 4)
        self.assertEqual(self.arrived(f"old{t}") + self.arrived(f"beta{t}"), [],
                         "bounced or deleted mail was delivered")

        # release delivers the held mail: at once what was never tried (due
        # already), after a retry-now what had met the refusal (600 s away).
        released = self.daemon.ctl("queue", "release", "--sender", hold_sender)
        self.assertEqual(released["messages"], 4, released)
        retried = self.daemon.ctl("queue", "retry-now", "--sender", hold_sender)
        self.assertLessEqual(retried["messages"], 4, retried)
        got = self.down.wait_for(lambda m: m.subject.startswith(f"hold{t} "), count=4, timeout=30)
        self.assertEqual(len(got), 4, f"after release: {self.down.messages()}")
        self.assertTrue(wait_until(lambda: self.scalar("SELECT COUNT(*) FROM messages") == 0,
                                   timeout=30), "the queue did not empty")
        empty = self.daemon.ctl("queue", "summary")
        self.assertEqual(empty["total"]["messages"], 0)
        self.assertEqual(empty["destinations"], [])

        # The audit lines: one per action, beside the control request with its uid.
        log = self.daemon.log()
        for action in ("queue_hold", "queue_release", "queue_retry", "queue_delete",
                       "queue_bounce"):
            self.assertIn(action, log)


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    print(getattr(QueueToolsTest, "daemon_log", ""), file=sys.stderr)
    for sink in (QueueToolsTest.up, QueueToolsTest.down):
        if sink:
            print(f"---- sink {sink.name} ----\n{sink.log(20)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(runner.run("test_queue_tools", configure, print_diagnostics))
