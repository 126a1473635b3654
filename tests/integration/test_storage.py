"""The queue database's storage: retention and the disk guard, end to end.

A real portcullisd in gw relays tenant acme's mail (intercept listener,
198.18.1.1) to a test_sink.py in inet (198.18.2.10:25, a static route for
every domain, so no DNS is involved).

RetentionTest: node.retention.events 5s, interval 1s. A message's events
(`portcullisctl events`) disappear once older than 5 s while new mail keeps
flowing and its events show; `portcullisctl stats` (hourly rows, kept 395 d)
still counts every message.

DiskGuardTest: the state directory is a 64 MiB tmpfs the test mounts, and
node.min_free_space is 32M. The test fills the tmpfs: MAIL gets 452 4.3.1 and
so does a message whose DATA ends after the disk filled; the daemon logs the
change once. The test frees the space: mail flows again. Every message
accepted before, while the next hop was refusing, reaches the sink exactly once.

    python3 -u test_storage.py --bin BUILD/bin --source REPO [unittest args]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import Sink, render_message, submit, wait_until  # noqa: E402
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, INET4, Lab  # noqa: E402

BIN = None
SOURCE = None
HOSTNAME = "relay.gw.example"
INTERCEPT = 2525
MiB = 1024 * 1024
TMPFS_SIZE = 64 * MiB
MIN_FREE = 32 * MiB
DEFER_ALL = {"rcpt": {"@": "451 4.3.0 Try again later"}}


def delivery_config():
    return f"""delivery:
  max_age: 1h
  retry_schedule: [1s, 2s]
  retry_jitter: 0
  queue_scan_interval: 1s
  connect_timeout: 5s
  routes:
    - {{domain: "*", host: "{INET4}", port: 25}}
"""


def node_config(extra_node):
    """render_config's YAML with extra keys under node: (after log_level)."""
    def render(state, sock):
        text = render_config(state, sock, intercept=[f"{GW_LAN4}:{INTERCEPT}"],
                             hostname=HOSTNAME, extra=delivery_config())
        return text.replace("  log_level: debug\n", "  log_level: debug\n" + extra_node, 1)
    return render


def token(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


class StorageTestBase(unittest.TestCase):
    """A lab, a sink in inet and one daemon (started by the subclass)."""
    lab = None
    daemon = None
    sink = None
    logs = []

    @classmethod
    def start_lab(cls):
        cls.lab = Lab(tenants=1).start()
        cls.sink = Sink.start(cls.lab, INET4, 25, "mx", {}, hostname="mx.example.test")

    @classmethod
    def start_daemon(cls, daemon):
        cls.daemon = daemon
        daemon.start()
        cls.lab.wait_port(cls.lab.tenant, GW_LAN4, INTERCEPT)
        daemon.ctl("tenant", "add", "acme", "--plan", "standard", "--subnet", "198.18.1.0/24",
                   "--mode", "redirect")

    @classmethod
    def stop_all(cls):
        if cls.daemon:
            cls.daemon.stop()
            StorageTestBase.logs.append(f"---- portcullisd ({cls.__name__}) last 80 lines ----\n" +
                                        "\n".join(cls.daemon.log().splitlines()[-80:]))
        if cls.sink:
            StorageTestBase.logs.append(f"---- sink ({cls.__name__}) ----\n{cls.sink.log(25)}")

    def send(self, subject, rcpts=("a@example.test",)):
        """Queues one message; returns its queue id."""
        data = render_message("app@acme.test", list(rcpts), subject)
        return submit(self.lab, self.lab.tenant, GW_LAN4, INTERCEPT,
                      [("app@acme.test", list(rcpts), data)])[0]

    def events(self, **filters):
        args = ["events", "--limit", "1000"]
        for key, value in filters.items():
            args += [f"--{key}", str(value)]
        return self.daemon.ctl(*args)["events"]

    def delivered_subjects(self):
        return [m.subject for m in self.sink.messages()]


class RetentionTest(StorageTestBase):
    EVENTS_AGE = 5  # seconds

    @classmethod
    def setUpClass(cls):
        try:
            cls.start_lab()
            cls.start_daemon(Daemon(BIN, node_config(
                f"  retention:\n    events: {cls.EVENTS_AGE}s\n    stats: 395d\n"
                "    interval: 1s\n"), netns=cls.lab.gw))
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop_all()
        if cls.daemon:
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    def wait_delivered(self, subject):
        got = self.sink.wait_for(lambda m: m.subject == subject, timeout=30)
        self.assertEqual(len(got), 1, f"{subject} not delivered: {self.delivered_subjects()}")

    def test_old_events_go_while_new_mail_flows_and_stats_stay(self):
        stats_before = self.daemon.ctl("stats", "--tenant", "acme")["total"]

        old_subject = token("old")
        old_id = self.send(old_subject, ["a@example.test", "b@example.test"])
        self.wait_delivered(old_subject)
        # Right after delivery the message's outcomes are there: accepted and
        # delivered, for both recipients.
        old_events = wait_until(lambda: (lambda ev: ev if sum(
            e["type"] == "delivered" for e in ev) == 2 else None)(self.events(message=old_id)),
            timeout=10)
        self.assertTrue(old_events, self.events(message=old_id))
        self.assertEqual(sorted(e["type"] for e in old_events),
                         ["accepted", "accepted", "delivered", "delivered"])
        stats_after_old = self.daemon.ctl("stats", "--tenant", "acme")["total"]

        # New mail keeps flowing while the old events age out: one message a second.
        sent = [(old_id, old_subject)]
        gone = False
        deadline = time.monotonic() + self.EVENTS_AGE + 20
        while time.monotonic() < deadline:
            subject = token("new")
            sent.append((self.send(subject), subject))
            if not self.events(message=old_id):
                gone = True
                break
            time.sleep(1)
        self.assertTrue(gone, f"events of {old_id} still there: {self.events(message=old_id)}")

        # The newest message is delivered and its events are visible (younger than 5 s).
        new_id, new_subject = sent[-1]
        self.wait_delivered(new_subject)
        fresh = self.events(message=new_id)
        self.assertIn("accepted", [e["type"] for e in fresh], fresh)
        all_ids = {e["message_id"] for e in self.events(tenant="acme")}
        self.assertNotIn(old_id, all_ids)
        self.assertIn(new_id, all_ids)

        # Every message reached the sink once.
        for _, subject in sent:
            self.wait_delivered(subject)

        # stats: pruning events took nothing from the hourly counters.
        def stats_complete():
            s = self.daemon.ctl("stats", "--tenant", "acme")["total"]
            return s if s["delivered"] - stats_before["delivered"] == len(sent) + 1 else None
        stats = wait_until(stats_complete, timeout=20) or \
            self.daemon.ctl("stats", "--tenant", "acme")["total"]
        recipients = len(sent) + 1  # the old message had two
        self.assertEqual(stats["requested"] - stats_before["requested"], recipients, stats)
        self.assertEqual(stats["delivered"] - stats_before["delivered"], recipients, stats)
        # What the old message had counted is still counted after its events went.
        for key in ("requested", "delivered"):
            self.assertGreaterEqual(stats[key], stats_after_old[key], (key, stats, stats_after_old))

        log = self.daemon.log()
        pruned = [line for line in log.splitlines() if "event=retention_pruned" in line]
        self.assertTrue(any(" events=0 " not in line for line in pruned), pruned[-5:])


class DiskGuardTest(StorageTestBase):
    mount = None
    fill = None

    @classmethod
    def setUpClass(cls):
        try:
            cls.start_lab()
            # The next hop refuses at first: accepted mail stays queued across
            # the disk-full period.
            cls.sink.set_behaviour(DEFER_ALL)
            daemon = Daemon(BIN, node_config(f"  min_free_space: {MIN_FREE // MiB}M\n"),
                            netns=cls.lab.gw)
            os.makedirs(daemon.state_dir, mode=0o700)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE},mode=0700",
                            "portcullis-test", daemon.state_dir], check=True)
            cls.mount = daemon.state_dir
            cls.fill = os.path.join(daemon.state_dir, "fill")
            cls.start_daemon(daemon)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.stop_all()
        if cls.mount:
            if subprocess.run(["umount", cls.mount]).returncode != 0:
                subprocess.run(["umount", "-l", cls.mount])
        if cls.daemon:
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    def free(self):
        st = os.statvfs(self.mount)
        return st.f_bavail * st.f_frsize

    def fill_disk(self, leave):
        """Allocates a file so that about `leave` bytes stay free."""
        size = self.free() - leave
        with open(self.fill, "ab") as f:
            os.posix_fallocate(f.fileno(), os.fstat(f.fileno()).st_size, size)

    def dialog_with_pause(self, subject, go_file):
        """MAIL, RCPT, DATA and the content, then waits for go_file before the
        final dot. Returns the replies."""
        script = r"""
import json, os, socket, sys, time
spec = json.loads(sys.argv[1])
sock = socket.create_connection((spec["host"], spec["port"]), timeout=30)
f = sock.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline(4096).decode(errors="replace").rstrip("\r\n")
        if not l: raise SystemExit("closed: " + repr(lines))
        lines.append(l)
        if len(l) < 4 or l[3] != "-": return lines[-1]
def cmd(line):
    sock.sendall(line.encode() + b"\r\n"); return reply()
out = [reply(), cmd("EHLO app.acme.test"), cmd("MAIL FROM:<app@acme.test>"),
       cmd("RCPT TO:<a@example.test>"), cmd("DATA")]
sock.sendall(spec["data"].encode())
deadline = time.monotonic() + 30
while not os.path.exists(spec["go"]) and time.monotonic() < deadline:
    time.sleep(0.05)
out.append(cmd("."))
out.append(cmd("QUIT"))
print(json.dumps(out))
"""
        data = render_message("app@acme.test", ["a@example.test"], subject)
        spec = {"host": GW_LAN4, "port": INTERCEPT, "data": data, "go": go_file}
        return self.lab.popen(self.lab.tenant, [sys.executable, "-c", script, json.dumps(spec)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def mail_reply(self):
        """The reply to MAIL FROM in a fresh session (the session is then ended)."""
        script = r"""
import socket, sys
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
f = sock.makefile("rb")
def reply():
    while True:
        l = f.readline(4096).decode(errors="replace").rstrip("\r\n")
        if len(l) < 4 or l[3] != "-": return l
reply()
for line in ("EHLO app.acme.test", "MAIL FROM:<app@acme.test>"):
    sock.sendall(line.encode() + b"\r\n"); r = reply()
print(r)
sock.sendall(b"QUIT\r\n"); reply()
"""
        res = self.lab.run(self.lab.tenant, [sys.executable, "-c", script, GW_LAN4,
                                             str(INTERCEPT)], check=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        return res.stdout.strip()

    def test_full_disk_refuses_new_mail_with_452_and_loses_nothing(self):
        # Accepted while there is room; the next hop refuses, so they wait in the queue.
        before = [token("before") for _ in range(3)]
        accepted = {self.send(s): s for s in before}
        self.assertEqual(len(accepted), 3)

        # A session already in DATA when the disk fills.
        go = os.path.join(self.lab.workdir, "go-" + uuid.uuid4().hex[:6])
        in_data = self.dialog_with_pause(token("in-data"), go)
        time.sleep(1)  # it is past DATA now, waiting for the go file

        self.fill_disk(leave=MIN_FREE // 2)
        self.assertLess(self.free(), MIN_FREE)
        low = wait_until(lambda: "452" in (r := self.mail_reply()) and r, timeout=10)
        self.assertEqual(low, "452 4.3.1 Insufficient system storage")
        with open(go, "w"):
            pass
        out, err = in_data.communicate(timeout=60)
        replies = json.loads(out)
        self.assertTrue(replies[4].startswith("354"), replies)
        self.assertEqual(replies[5], "452 4.3.1 Insufficient system storage", replies)
        # Still refused a while later; logged once, not per message.
        self.assertEqual(self.mail_reply(), "452 4.3.1 Insufficient system storage")
        log = self.daemon.log()
        self.assertEqual(log.count("event=disk_space_low"), 1, log[-3000:])
        self.assertIn("new mail refused with 452 4.3.1", log)

        # Space back: mail flows again.
        os.unlink(self.fill)
        flowing = wait_until(lambda: (r := self.mail_reply()).startswith("250") and r, timeout=10)
        self.assertTrue(flowing, self.mail_reply())
        self.assertEqual(self.daemon.log().count("event=disk_space_ok"), 1)
        after = token("after")
        accepted[self.send(after)] = after

        # The next hop comes back: everything accepted arrives, exactly once.
        self.sink.set_behaviour({})
        want = sorted(accepted.values())
        got = wait_until(lambda: (lambda s: s if sorted(s) == want else None)(
            [m.subject for m in self.sink.messages()]), timeout=60)
        delivered = sorted(m.subject for m in self.sink.messages())
        self.assertEqual(got and sorted(got), want, f"delivered {delivered}, accepted {want}")
        self.assertTrue(wait_until(
            lambda: not self.daemon.ctl("queue", "list")["messages"], timeout=20))


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    print("\n".join(StorageTestBase.logs), file=sys.stderr)


def main():
    return runner.run("test_storage", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
