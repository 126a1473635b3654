"""The delivery engine with a deep queue: fairness, no starvation, shaping.

portcullisd in gw, tenants acme (198.18.1.10) and beta (198.18.1.11) submit on
the intercept listener; inet has dnsmasq and scriptable sinks:

    up.test    -> 198.18.2.10  accepts everything
    down.test  -> 198.18.2.12  address up, nothing listens (refused)
    busy.test  -> 198.18.2.20  greets with 421 (a destination pushing back)
    slow.test  -> 198.18.2.21  answers 4xx to every RCPT (smtp-sink -r RCPT)

Bulk mail comes from Postfix's smtp-source in the tenant namespace; the queue
is read from the daemon's queue.db (read-only) to check attempts and times.

    python3 -u test_queue_depth.py --bin BUILD/bin --source REPO [unittest args]
"""
import os
import sqlite3
import subprocess
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
UP, DOWN, BUSY, SLOW = "198.18.2.10", "198.18.2.12", "198.18.2.20", "198.18.2.21"
INTERCEPT = 2525
RETRY = 20           # seconds: the one retry interval (no jitter)
BACKOFF = 2          # seconds: a failing destination's first backoff
BACKOFF_MAX = 4

DNS = dns_records(
    mx=[("up.test", "mx.up.test", 10), ("down.test", "mx.down.test", 10),
        ("busy.test", "mx.busy.test", 10), ("slow.test", "mx.slow.test", 10),
        ("acme.test", "mx.up.test", 10), ("beta.test", "mx.up.test", 10)],
    hosts=[("mx.up.test", UP), ("mx.down.test", DOWN), ("mx.busy.test", BUSY),
           ("mx.slow.test", SLOW)])

EXTRA = f"""  bulk:
    monthly_quota: 100000000
    messages_per_minute: 1000000
    messages_per_hour: 100000000
    recipients_per_message: 100
    recipients_per_hour: 100000000
    max_connections: 1000
delivery:
  resolver: "{UP}:53"
  retry_schedule: [{RETRY}s]
  retry_jitter: 0
  connect_timeout: 5s
  max_concurrency: 100
  max_per_destination: 10
  backoff_initial: {BACKOFF}s
  backoff_max: {BACKOFF_MAX}s
  destinations:
    - {{match: "busy.test", max_connections: 2}}
"""


def config(state, sock):
    text = render_config(state, sock, intercept=[f"{GW_LAN4}:{INTERCEPT}"], extra=EXTRA,
                         extra_relay_limits="    max_connections: 2000\n"
                                            "    max_connections_per_client: 1000")
    # Debug logs every SMTP line: too much for tens of thousands of recipients.
    return text.replace("log_level: debug", "log_level: info")


class QueueDepthTest(unittest.TestCase):
    lab = None
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(tenants=2).start()
        try:
            lab = cls.lab
            add_inet_addresses(lab, f"{DOWN}/24", f"{BUSY}/24", f"{SLOW}/24")
            cls.up = Sink.start(lab, UP, 25, "up", {}, hostname="mx.up.test")
            cls.busy = Sink.start(lab, BUSY, 25, "busy",
                                  {"greeting": "421 4.7.0 mx.busy.test busy, try later"},
                                  hostname="mx.busy.test")
            # Postfix's smtp-sink (C) answers 4xx to every RCPT: the test measures
            # the engine's schedule, not a Python sink's speed.
            cls.slow = lab.popen(lab.inet, ["smtp-sink", "-u", "postfix", "-r", "RCPT", f"{SLOW}:25", "1000"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            lab.wait_port(lab.inet, SLOW, 25)
            cls.sinks = [cls.up, cls.busy]
            lab.start_dnsmasq(extra=DNS)
            cls.daemon = Daemon(BIN, config, netns=lab.gw)
            cls.daemon.start()
            lab.wait_port(lab.tenant, GW_LAN4, INTERCEPT)
            cls.daemon.ctl("tenant", "add", "acme", "--plan", "bulk", "--subnet",
                           "198.18.1.10/32", "--mode", "redirect")
            cls.daemon.ctl("tenant", "add", "beta", "--plan", "bulk", "--subnet",
                           "198.18.1.11/32", "--mode", "redirect")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop()
            cls.daemon_log = "\n".join(cls.daemon.log().splitlines()[-60:])
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    # ---- helpers ----

    def db(self):
        path = os.path.join(self.daemon.state_dir, "queue.db")
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)

    def scalar(self, sql, *args):
        with self.db() as db:
            return db.execute(sql, args).fetchone()[0]

    def smtp_source(self, ns, count, to, sessions=20, recipients=1, sender="bulk@acme.test"):
        """Postfix's smtp-source: count messages of 1 KB, each to `recipients` addresses."""
        cmd = ["smtp-source", "-c", "-s", str(sessions), "-m", str(count), "-l", "1024",
               "-r", str(recipients), "-f", sender, "-t", to, f"{GW_LAN4}:{INTERCEPT}"]
        res = self.lab.run(ns, cmd, check=False, timeout=600)
        self.assertEqual(res.returncode, 0, f"smtp-source failed: {res.stdout}\n{res.stderr}")

    def queued(self, domain):
        return self.scalar(
            "SELECT COUNT(*) FROM recipients WHERE status IN ('queued', 'deferred') "
            "AND address LIKE ?", f"%@{domain}")

    def sink_connections(self, sink):
        """Times (seconds of the day) at which the sink greeted a client."""
        times = []
        with open(sink.log_path) as f:
            for line in f:
                parts = line.split()
                if len(parts) > 3 and parts[2] == "<-" and parts[3] in ("220", "421") \
                        and ("ESMTP" in line or "busy" in line):
                    h, m, s = (int(x) for x in parts[0].split(":"))
                    times.append(h * 3600 + m * 60 + s)
        return times

    # ---- tests ----

    def test_a_backlog_to_a_down_destination_does_not_delay_another_tenant(self):
        """acme has 5,000 messages deferred to a refused destination; beta's new
        message to a healthy one is delivered within 2 s."""
        self.smtp_source(self.lab.tenants[0], 5000, "user@down.test")
        self.assertTrue(wait_until(lambda: self.queued("down.test") == 5000, timeout=60),
                        f"{self.queued('down.test')} of 5000 queued")
        # Every one has been tried or is waiting behind the destination's backoff.
        wait_until(lambda: self.scalar("SELECT COUNT(*) FROM recipients WHERE attempts > 0") > 0,
                   timeout=30)
        token = uuid.uuid4().hex[:8]
        rcpt = f"fair-{token}@up.test"
        sender = f"app-{token}@beta.test"
        subject = f"fairness {token}"
        start = time.monotonic()
        ids = submit(self.lab, self.lab.tenants[1], GW_LAN4, INTERCEPT,
                     [(sender, [rcpt], render_message(sender, [rcpt], subject))])
        self.assertTrue(ids and ids[0], "beta's message was not accepted")
        got = self.up.wait_for(lambda m: m.subject == subject, timeout=30)
        elapsed = time.monotonic() - start
        print(f"\nfairness: beta's message delivered {elapsed:.2f} s after its 250, "
              f"with {self.queued('down.test')} of acme's recipients queued to down.test")
        self.assertTrue(got, "beta's message never arrived")
        self.assertLessEqual(elapsed, 2.0)

    def test_b_a_destination_answering_421_backs_off_while_others_flow(self):
        """busy.test greets with 421: it is probed at most once per backoff
        interval (2 connections at most, its rule), its other mail waits
        untried, and up.test's mail flows meanwhile."""
        tag = uuid.uuid4().hex[:8]
        first = len(self.sink_connections(self.busy))
        self.smtp_source(self.lab.tenants[0], 20, f"b{tag}@busy.test", sessions=4)
        self.smtp_source(self.lab.tenants[0], 20, f"u{tag}@up.test", sessions=4,
                         sender=f"flow-{tag}@acme.test")
        got = self.up.wait_for(lambda m: m.mail_from == f"flow-{tag}@acme.test", count=20,
                               timeout=30)
        self.assertEqual(len(got), 20, "up.test's mail did not flow while busy.test backed off")
        time.sleep(12)
        times = self.sink_connections(self.busy)[first:]
        attempted = self.scalar(
            "SELECT COUNT(*) FROM recipients WHERE address LIKE ? AND attempts > 0",
            f"%@busy.test")
        print(f"\nshaping: busy.test saw {len(times)} connections in "
              f"{(times[-1] - times[0]) if times else 0} s: {times}; "
              f"{attempted} of 20 recipients attempted")
        self.assertGreater(len(times), 0, "busy.test was never tried")
        # The first burst (2, the rule's limit), then one probe per backoff
        # interval (2 s, then 4 s): at most 2 + 12/2 + 1 connections in 12+ s.
        self.assertLessEqual(len(times), 2 + 12 // BACKOFF + 1)
        burst_end = times[0] + 1
        probes = [t for t in times if t > burst_end]
        gaps = [b - a for a, b in zip(probes, probes[1:])]
        self.assertTrue(all(g >= BACKOFF - 1 for g in gaps), f"probes too close: {gaps}")
        # Mail waiting behind the backoff was not failed one message at a time.
        self.assertLess(attempted, 20)
        self.assertEqual(self.queued("busy.test"), 20)

    def test_c_every_deferred_recipient_is_retried_on_time(self):
        """20,000 recipients (2,000 messages x 10) deferred by 451: each is
        attempted again within a second of its due time."""
        tag = uuid.uuid4().hex[:8]
        self.smtp_source(self.lab.tenants[0], 2000, f"s{tag}@slow.test", recipients=10,
                         sender=f"slow-{tag}@acme.test")
        like = f"%s{tag}@slow.test"
        total = self.scalar("SELECT COUNT(*) FROM recipients WHERE address LIKE ?", like)
        self.assertEqual(total, 20000)
        # Two deferrals each: the first attempt, then the retry RETRY s later.
        done = wait_until(lambda: self.scalar(
            "SELECT COUNT(*) FROM (SELECT message_id, recipient FROM events "
            "WHERE type = 'deferred' AND recipient LIKE ? GROUP BY message_id, recipient "
            "HAVING COUNT(*) >= 2)", like) == total, timeout=240, interval=2)
        with self.db() as db:
            rows = db.execute(
                "SELECT message_id, recipient, time FROM events WHERE type = 'deferred' "
                "AND recipient LIKE ? ORDER BY id", (like,)).fetchall()
        times = {}
        for mid, rcpt, t in rows:
            times.setdefault((mid, rcpt), []).append(t)
        late = sorted(v[1] - (v[0] + RETRY) for v in times.values() if len(v) >= 2)
        never = total - len(late)
        firsts = sorted(v[0] for v in times.values())
        seconds = sorted(v[1] for v in times.values() if len(v) >= 2)
        if firsts and seconds:
            print(f"\nfirst attempts over {firsts[-1] - firsts[0]} s, "
                  f"retries over {seconds[-1] - seconds[0]} s")
        print(f"\nstarvation: {total} recipients, {never} without a second attempt; "
              f"lateness of the retry (s): min {late[0] if late else '-'} "
              f"median {late[len(late) // 2] if late else '-'} max {late[-1] if late else '-'}")
        self.assertTrue(done, f"{never} recipients were not retried within 240 s")
        # Event times are whole seconds: 1 means less than two seconds late.
        self.assertGreaterEqual(late[0], 0, "a retry came before its due time")
        self.assertLessEqual(late[-1], 1)


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    print(getattr(QueueDepthTest, "daemon_log", ""), file=sys.stderr)
    for sink in getattr(QueueDepthTest, "sinks", []):
        print(f"---- sink {sink.name} ----\n{sink.log(20)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(runner.run("test_queue_depth", configure, print_diagnostics))
