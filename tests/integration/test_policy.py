"""Tenant policy end to end: rate limits, monthly quota, suppression lists,
suspension, statistics and plan reloads, through the running daemon with real
SMTP sessions.

    tenant ns (198.18.1.10) ── gw: portcullisd 587 (STARTTLS) / 465 / 2525 ── inet:
        dnsmasq (MX example.test -> 198.18.2.10) and a sink that answers
        "bounce-*" recipients with 550 5.1.1.

Tenants: `rate` (plan limited: 6 messages a minute; owns the tenant LAN, so the
intercept listener counts too; two credentials), `quota` (monthly quota
overridden to 3), `supp` (suppression, bounces, suspension, stats) and
`reload` (plan tiny, changed by SIGHUP).

    python3 -u test_policy.py --bin BUILD/bin --source REPO [unittest args]
"""
import base64
import hashlib
import hmac
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import (Sink, dns_records, make_ca_and_cert,  # noqa: E402
                                  render_message, wait_until)
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, Lab  # noqa: E402
from harness.smtp_client import dialog  # noqa: E402

BIN = None
SOURCE = None
HOSTNAME = "relay.gw.example"
MX = "198.18.2.10"
PER_MINUTE = 6  # plan "limited": one token every 10 s
HOOK_PORT = 8443  # the webhook receiver, on the gw namespace's own loopback
WEBHOOK_CA = None

# An HTTPS receiver: answers the first argv[4] POSTs with 500, then 200; every
# request (headers, body, status) becomes one JSON file in argv[3].
RECEIVER = r"""
import http.server, json, os, ssl, sys, threading
cert, key, out, failures = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lock = threading.Lock()
count = [0]
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count[0] += 1
            n = count[0]
        status = 500 if n <= failures else 200
        with open(os.path.join(out, f"{n:05d}.json"), "w") as f:
            json.dump({"status": status, "path": self.path, "headers": dict(self.headers),
                       "body": body.decode()}, f)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 8443), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
"""


def plain(user, password):
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def config_text(tiny_per_minute):
    plans = (f"  limited:\n    monthly_quota: 1000\n    messages_per_minute: {PER_MINUTE}\n"
             f"  tiny:\n    monthly_quota: 1000\n    messages_per_minute: {tiny_per_minute}\n")
    rest = (f"delivery:\n  resolver: \"{MX}:53\"\n  retry_schedule: [1h]\n"
            "  max_age: 2h\n"
            f"webhooks:\n  ca_file: {WEBHOOK_CA}\n  batch_size: 10\n")
    return lambda state, sock: render_config(
        state, sock, submission=[f"{GW_LAN4}:587"], smtps=[f"{GW_LAN4}:465"],
        intercept=[f"{GW_LAN4}:2525"], hostname=HOSTNAME, extra=plans + rest)


class PolicyTest(unittest.TestCase):
    lab = None
    daemon = None
    daemon_log = ""
    sink = None

    @classmethod
    def setUpClass(cls):
        global WEBHOOK_CA
        cls.lab = Lab(tenants=1).start()
        try:
            WEBHOOK_CA, cls.hook_cert, cls.hook_key = make_ca_and_cert(
                os.path.join(cls.lab.workdir, "hook-tls"), cn="hooks.acme.test", ips=("127.0.0.1",))
            cls.sink = Sink.start(cls.lab, MX, 25, "mx", {"rcpt": {"bounce-": "550 5.1.1 No such user"}},
                                  hostname="mx.example.test")
            cls.lab.start_dnsmasq(extra=dns_records(mx=[("example.test", "mx.example.test", 10)],
                                                    hosts=[("mx.example.test", MX)]))
            cls.daemon = Daemon(BIN, config_text(1), netns=cls.lab.gw)
            cls.daemon.start()
            for port in (587, 465, 2525):
                cls.lab.wait_port(cls.lab.tenant, GW_LAN4, port)
            ctl = cls.daemon.ctl
            ctl("tenant", "add", "rate", "--plan", "limited", "--subnet", "198.18.1.0/24",
                "--mode", "redirect")
            cls.rate1 = ctl("credential", "issue", "rate", "--description", "one")
            cls.rate2 = ctl("credential", "issue", "rate", "--description", "two")
            for tenant, plan in (("quota", "standard"), ("supp", "standard"), ("reload", "tiny")):
                ctl("tenant", "add", tenant, "--plan", plan)
            cls.creds = {t: ctl("credential", "issue", t, "--description", "main")
                         for t in ("quota", "supp", "reload")}
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop()
            PolicyTest.daemon_log = cls.daemon.log()
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    # -- helpers ---------------------------------------------------------
    def send(self, port, cred=None, rcpts=("ok@example.test",), subject="policy"):
        """One transaction; returns {"auth", "mail", "rcpts": [...], "data"} replies."""
        steps = ["EHLO app.acme.test"]
        if port == 587:
            steps += ["STARTTLS", "EHLO app.acme.test"]
        if cred:
            steps.append(f"AUTH PLAIN {plain(cred['username'], cred['password'])}")
        steps.append("MAIL FROM:<app@acme.test>")
        steps += [f"RCPT TO:<{r}>" for r in rcpts]
        body = render_message("app@acme.test", list(rcpts), subject)
        steps += ["DATA", {"raw": body + "\r\n.\r\n", "reply": True}, "QUIT"]
        t = dialog(self.lab, self.lab.tenant, GW_LAN4, port, steps,
                   tls="implicit" if port == 465 else None)
        replies = t.replies + [{}] * len(steps)
        i = 3 if port == 587 else 1
        out = {}
        if cred:
            out["auth"] = replies[i]
            i += 1
        out["mail"] = replies[i]
        out["rcpts"] = replies[i + 1:i + 1 + len(rcpts)]
        out["data"] = replies[i + 2 + len(rcpts)]
        return out

    def assertReply(self, reply, code, enh=None, text=None):
        reply = dict(reply)
        self.assertEqual(reply.get("code"), code, reply)
        if enh:
            self.assertEqual(reply.get("enh"), enh, reply)
        if text:
            self.assertIn(text, " ".join(reply.get("lines", [])), reply)

    def assertQueued(self, result):
        self.assertReply(result["mail"], 250)
        self.assertReply(result["data"], 250, "2.0.0")

    def stats(self, tenant):
        return self.daemon.ctl("stats", "--tenant", tenant)["total"]

    # -- tests -----------------------------------------------------------
    def test_01_rate_limit_holds_across_credentials_and_listeners(self):
        sends = [(587, self.rate1), (465, self.rate2), (2525, None)] * 2
        for port, cred in sends:
            self.assertQueued(self.send(port, cred))
        refused = 0
        for port, cred in ((587, self.rate1), (465, self.rate2), (2525, None)):
            r = self.send(port, cred)
            self.assertReply(r["mail"], 451, "4.7.1", f"{PER_MINUTE} messages per minute")
            refused += 1
        # One token comes back 60/PER_MINUTE s later: the client's retry succeeds.
        deadline = time.monotonic() + 60 / PER_MINUTE + 10
        while True:
            r = self.send(587, self.rate1)
            if r["mail"].get("code") == 250 or time.monotonic() > deadline:
                break
            self.assertReply(r["mail"], 451, "4.7.1")
            refused += 1
            time.sleep(1)
        self.assertQueued(r)
        PolicyTest.rate_refused = refused
        PolicyTest.rate_sent = len(sends) + 1

    def test_02_monthly_quota_is_permanent_and_survives_a_restart(self):
        self.daemon.ctl("limits", "set", "--tenant", "quota", "--monthly-quota", "3")
        cred = self.creds["quota"]
        for _ in range(3):
            self.assertQueued(self.send(587, cred))
        self.assertReply(self.send(587, cred)["mail"], 550, "5.7.1", "Monthly quota of 3 messages")
        self.daemon.stop()
        self.daemon.start()
        self.lab.wait_port(self.lab.tenant, GW_LAN4, 587)
        self.assertReply(self.send(465, cred)["mail"], 550, "5.7.1", "Monthly quota")
        total = self.stats("quota")
        self.assertEqual(total["requested"], 3, total)
        self.assertEqual(total["rejected_limits"], 2, total)

    def test_03_a_suppressed_recipient_is_refused_and_the_others_accepted(self):
        self.daemon.ctl("suppression", "add", "--tenant", "supp", "--address", "Blocked@Example.test",
                        "--list", "blocks", "--reason", "asked us to stop")
        r = self.send(587, self.creds["supp"], rcpts=("ok1@example.test", "blocked@example.test"),
                      subject="suppression")
        self.assertReply(r["rcpts"][0], 250)
        self.assertReply(r["rcpts"][1], 550, "5.7.1", "blocks suppression list")
        self.assertQueued(r)
        got = self.sink.wait_for(lambda m: m.subject == "suppression")
        self.assertEqual(len(got), 1)
        self.assertEqual(got[0].rcpts, ["ok1@example.test"])

    def test_04_a_hard_bounce_puts_the_address_on_the_bounces_list(self):
        self.assertQueued(self.send(587, self.creds["supp"], rcpts=("bounce-x@example.test",)))

        def listed():
            rows = self.daemon.ctl("suppression", "list", "--tenant", "supp",
                                   "--list", "bounces")["suppressions"]
            return [s for s in rows if s["address"] == "bounce-x@example.test"]
        rows = wait_until(listed, timeout=30)
        self.assertTrue(rows, self.daemon.log()[-3000:])
        self.assertIn("5.1.1", rows[0]["reason"])
        r = self.send(587, self.creds["supp"], rcpts=("bounce-x@example.test",))
        self.assertReply(r["rcpts"][0], 550, "5.1.1", "bounces suppression list")

    def test_05_a_suspended_tenant_is_refused_until_resumed(self):
        self.daemon.ctl("tenant", "set", "supp", "--status", "suspended", "--reason", "abuse review")
        r = self.send(587, self.creds["supp"])
        self.assertReply(r["auth"], 554, "5.7.1", "abuse review")
        self.daemon.ctl("tenant", "set", "supp", "--status", "active")
        r = self.send(587, self.creds["supp"], rcpts=("ok2@example.test",), subject="resumed")
        self.assertReply(r["auth"], 235)
        self.assertQueued(r)
        self.assertTrue(self.sink.wait_for(lambda m: m.subject == "resumed"))

    def test_06_stats_match_what_was_sent_delivered_bounced_and_suppressed(self):
        want = {"requested": 3, "delivered": 2, "bounced_hard": 1, "suppressed": 2,
                "rejected_limits": 0, "deferred": 0}
        got = wait_until(lambda: (lambda t: t if t["delivered"] == 2 and t["bounced_hard"] == 1
                                  else None)(self.stats("supp")), timeout=30) or self.stats("supp")
        self.assertEqual({k: got[k] for k in want}, want, got)
        if hasattr(PolicyTest, "rate_sent"):
            rate = wait_until(lambda: (lambda t: t if t["delivered"] == PolicyTest.rate_sent
                                       else None)(self.stats("rate")), timeout=30)
            rate = rate or self.stats("rate")
            self.assertEqual(rate["requested"], PolicyTest.rate_sent, rate)
            self.assertEqual(rate["delivered"], PolicyTest.rate_sent, rate)
            self.assertEqual(rate["rejected_limits"], PolicyTest.rate_refused, rate)
        # The table form has a TOTAL line; --by day gives one row for today.
        table = self.daemon.ctl("stats", "--tenant", "supp", json_output=False).stdout
        self.assertIn("TOTAL", table)
        days = self.daemon.ctl("stats", "--tenant", "supp", "--by", "day")["rows"]
        self.assertEqual(len(days), 1, days)

    def test_07_sighup_applies_a_changed_plan_without_a_restart(self):
        cred = self.creds["reload"]
        self.assertQueued(self.send(587, cred))
        self.assertReply(self.send(587, cred)["mail"], 451, "4.7.1")
        with open(self.daemon.config_path, "w") as f:
            f.write(config_text(600)(self.daemon.state_dir, self.daemon.socket))
        os.kill(self.daemon.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "event=reloaded" in self.daemon.log(), timeout=10))
        # 600 a minute: a token every 0.1 s.
        self.assertTrue(wait_until(lambda: self.send(587, cred)["mail"].get("code") == 250,
                                   timeout=15, interval=0.5))
        # A broken file is refused and the running plans stay.
        with open(self.daemon.config_path, "a") as f:
            f.write("bogus_section: 1\n")
        os.kill(self.daemon.proc.pid, signal.SIGHUP)
        self.assertTrue(wait_until(lambda: "event=reload_failed" in self.daemon.log(), timeout=10))
        self.assertQueued(self.send(587, cred))

    def test_08_webhook_events_are_signed_retried_and_none_lost(self):
        out = os.path.join(self.lab.workdir, "hooks")
        os.makedirs(out, exist_ok=True)
        self.lab.popen(self.lab.gw, [sys.executable, "-c", RECEIVER, self.hook_cert,
                                     self.hook_key, out, "2"])
        self.lab.wait_port(self.lab.gw, "127.0.0.1", HOOK_PORT)
        hook = self.daemon.ctl("webhook", "set", "--tenant", "supp", "--url",
                               f"https://127.0.0.1:{HOOK_PORT}/portcullis?token=t0k")
        secret = hook["secret"]
        r = self.send(587, self.creds["supp"], rcpts=("ok3@example.test", "bounce-y@example.test"),
                      subject="webhook")
        self.assertQueued(r)

        def requests():
            found = []
            for name in sorted(os.listdir(out)):
                try:
                    with open(os.path.join(out, name)) as f:
                        found.append(json.load(f))
                except (OSError, ValueError):
                    pass
            return found

        def acknowledged():
            events = [e for q in requests() if q["status"] == 200
                      for e in json.loads(q["body"])["events"]]
            kinds = {(e["type"], e["recipient"]) for e in events}
            want = {("delivered", "ok3@example.test"), ("bounced", "bounce-y@example.test")}
            return events if want <= kinds else None
        events = wait_until(acknowledged, timeout=60, interval=0.5)
        self.assertTrue(events, f"receiver got: {requests()}\n{self.daemon.log()[-3000:]}")
        seen = requests()
        # The first two POSTs failed; the same events came again until acknowledged.
        self.assertEqual([q["status"] for q in seen[:3]], [500, 500, 200], seen)
        first = json.loads(seen[0]["body"])["events"]
        self.assertTrue(first)
        acked_ids = {e["id"] for e in events}
        self.assertTrue({e["id"] for e in first} <= acked_ids, "a refused batch was lost")
        # No event acknowledged twice (at-least-once allows repeats only of refused batches).
        self.assertEqual(len(acked_ids), len(events), events)
        for q in seen:
            headers = {k.lower(): v for k, v in q["headers"].items()}
            self.assertEqual(q["path"], "/portcullis?token=t0k")
            mac = hmac.new(secret.encode(), headers["x-portcullis-timestamp"].encode() + b"." +
                           q["body"].encode(), hashlib.sha256).hexdigest()
            self.assertEqual(headers["x-portcullis-signature"], "sha256=" + mac)
            self.assertEqual(json.loads(q["body"])["tenant"], "supp")
        # Accepted events are not sent; delivered and bounced are, in id order.
        self.assertNotIn("accepted", {e["type"] for e in events})
        self.assertEqual([e["id"] for e in events], sorted(e["id"] for e in events))


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    print("---- daemon log (tail) ----")
    print(PolicyTest.daemon_log[-6000:])


def main():
    return runner.run("test_policy", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
