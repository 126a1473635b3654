"""kill -9 during delivery with 20,000 messages queued: nothing acknowledged is lost.

The next hop of deep.test (198.18.2.10:25) is down while Postfix's
smtp-source queues N messages from the tenant host. Every message in the
queue then was acknowledged with 250 (the daemon answers only once the
message is durable). Postfix's smtp-sink comes up, appending every message it
receives to one dump file; once it holds a few thousand, portcullisd gets
SIGKILL and is restarted on the same state dir. When the queue is empty,
every acknowledged queue id (from our Received field, "id QUEUEID") must be in
the dump at least once; duplicates (at-least-once delivery) are counted and
printed.

    python3 -u test_deep_crash.py --bin BUILD/bin --source REPO
"""
import collections
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import dns_records, wait_until  # noqa: E402
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, INET4, Lab  # noqa: E402

BIN = None
N = int(os.environ.get("DEEP_CRASH_MESSAGES", "20000"))
KILL_AFTER = N // 5
INTERCEPT = 2525
QUEUE_ID = re.compile(rb"\bid ([0-9A-Za-z]{18})\b")

EXTRA = f"""  bulk:
    monthly_quota: 100000000
    messages_per_minute: 1000000
    messages_per_hour: 100000000
    recipients_per_hour: 100000000
    max_connections: 1000
delivery:
  resolver: "{INET4}:53"
  retry_schedule: [5s]
  retry_jitter: 0
  connect_timeout: 5s
  backoff_initial: 1s
  backoff_max: 2s
"""


def config(state, sock):
    text = render_config(state, sock, intercept=[f"{GW_LAN4}:{INTERCEPT}"], extra=EXTRA,
                         extra_relay_limits="    max_connections: 1000\n"
                                            "    max_connections_per_client: 1000")
    return text.replace("log_level: debug", "log_level: warning")


class DeepCrashTest(unittest.TestCase):
    lab = None
    daemon = None
    daemon_log = ""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(tenants=1).start()
        try:
            cls.lab.start_dnsmasq(extra=dns_records(mx=[("deep.test", "mx.deep.test", 10)],
                                                    hosts=[("mx.deep.test", INET4)]))
            cls.daemon = Daemon(BIN, config, netns=cls.lab.gw)
            cls.daemon.start()
            cls.lab.wait_port(cls.lab.tenant, GW_LAN4, INTERCEPT)
            cls.daemon.ctl("tenant", "add", "acme", "--plan", "bulk", "--subnet",
                           "198.18.1.0/24", "--mode", "redirect")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop()
            cls.daemon_log = "\n".join(cls.daemon.log().splitlines()[-40:])
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    def queued_ids(self):
        path = os.path.join(self.daemon.state_dir, "queue.db")
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
            return {row[0] for row in db.execute("SELECT id FROM messages")}

    def test_kill9_with_a_deep_queue_loses_nothing(self):
        lab = self.lab
        res = lab.run(lab.tenant, ["smtp-source", "-c", "-s", "20", "-m", str(N), "-l", "1024",
                                   "-f", "bulk@acme.test", "-t", "user@deep.test",
                                   f"{GW_LAN4}:{INTERCEPT}"], check=False, timeout=600)
        self.assertEqual(res.returncode, 0, res.stderr)
        acknowledged = self.queued_ids()
        self.assertEqual(len(acknowledged), N)

        # smtp-sink writes as user postfix: a directory of its own it can reach.
        dump_dir = tempfile.mkdtemp(prefix="portcullis-deep-sink-")
        self.addCleanup(shutil.rmtree, dump_dir, ignore_errors=True)
        os.chmod(dump_dir, 0o777)
        dump = os.path.join(dump_dir, "dump")
        sink = lab.popen(lab.inet, ["smtp-sink", "-u", "postfix", "-D", dump,
                                    f"{INET4}:25", "1000"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            def received():
                try:
                    with open(dump, "rb") as f:
                        return f.read()
                except OSError:
                    return b""
            self.assertTrue(wait_until(lambda: len(QUEUE_ID.findall(received())) >= KILL_AFTER,
                                       timeout=120, interval=0.1),
                            f"the sink never reached {KILL_AFTER} messages: "
                            f"{len(QUEUE_ID.findall(received()))} ids in "
                            f"{len(received())} bytes, {len(self.queued_ids())} still queued; "
                            f"dump starts {received()[:600]!r}")
            self.daemon.kill9()
            at_kill = len(QUEUE_ID.findall(received()))
            self.daemon.start()
            drained = wait_until(lambda: not self.queued_ids(), timeout=300, interval=1)
            left = len(self.queued_ids())
            counts = collections.Counter(m.decode() for m in QUEUE_ID.findall(received()))
        finally:
            lab.stop(sink)
        missing = acknowledged - set(counts)
        duplicates = sum(n - 1 for n in counts.values() if n > 1)
        print(f"\ndeep crash: {N} acknowledged, killed at {at_kill} received; "
              f"{len(acknowledged & set(counts))} reached the sink, {len(missing)} missing, "
              f"{duplicates} duplicates, {left} left in the queue")
        self.assertTrue(drained, f"{left} messages still queued after restart")
        self.assertEqual(missing, set(), f"{len(missing)} acknowledged messages never arrived")


def configure(bin_dir, source_dir):
    global BIN
    BIN = bin_dir


def print_diagnostics():
    print(DeepCrashTest.daemon_log, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(runner.run("test_deep_crash", configure, print_diagnostics))
