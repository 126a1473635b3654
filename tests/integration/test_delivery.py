"""Delivery end to end: portcullisd in gw drains its queue into a fake internet.

inet hosts dnsmasq (MX/A/AAAA records) and scriptable SMTP sinks
(harness/test_sink.py), one per address:

    198.18.2.10:25   mx1.example.test  (plain; MX of example.test 10, single.test,
                                        plaintls.test, static.test; A of afallback.test)
    198.18.2.11:25   mx2.example.test  (plain; example.test 20, failover.test 20)
    198.18.2.12      mx1.failover.test (address up, nothing listens: refused)
    198.18.2.13:25   mx.acme.test      (the sender's domain: DSNs arrive here)
    198.18.2.14:25   mx.tls.test       (STARTTLS, certificate for mx.tls.test from a
                                        private CA; tls.test, securetls.test (require),
                                        verifytls.test (verify), and as mx.wrongname.test
                                        for wrongname.test (verify: name mismatch))
    198.18.2.16:2526 static route target for static.test
    [fd00:2::11]:25  mx.ipv6.test      (AAAA only)
    nullmx.test      MX 0 "."          (RFC 7505)

The sinks on .10/.11 answer "bounce-*" with 550 5.1.1, "always451-*" with 451 and
the first two RCPTs of each "flaky-*" address with 451. Tenant acme submits on the
intercept listener (198.18.1.1:2525) from the tenant namespace. Every test uses
its own sender (s-<token>@acme.test) so its DSN is recognised by the envelope.

DKIM: the daemon signs with the tenant's key for the From: domain; the tests
verify what mx1 received with the independent python3-dkim (Debian's
/usr/bin/python3), the key's TXT record served by a stub dnsfunc.

A second daemon (max_age 10s, delay notices after 3s) checks the delay notice and the expiry bounce; it
is started in setUpClass so its minute runs while the other tests do.

    python3 -u test_delivery.py --bin BUILD/bin --source REPO [unittest args]
"""
import email
import email.policy
import json
import os
import re
import subprocess
import sys
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import (Sink, add_inet_addresses, dns_records,  # noqa: E402
                                  make_ca_and_cert, render_message, submit, wait_until)
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, Lab  # noqa: E402

BIN = None
SOURCE = None
HOSTNAME = "relay.gw.example"
MX1, MX2, DEAD, DSN_MX, TLS_MX, STATIC = ("198.18.2.10", "198.18.2.11", "198.18.2.12",
                                          "198.18.2.13", "198.18.2.14", "198.18.2.16")
MX6 = "fd00:2::11"
STATIC_PORT = 2526
INTERCEPT = 2525
EXPIRY_INTERCEPT = 2526
EXPIRY_MAX_AGE = 10          # seconds
WAIT = 30                    # seconds for any single delivery outcome
STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
SYSTEM_PYTHON = "/usr/bin/python3"   # has python3-dkim (the PATH python may not)

# dkim.verify on stdin's bytes; argv[1] is {"dns name": "TXT text"}. Prints
# {"ok": bool, "log": "..."} so a failure shows the verifier's reasons.
DKIM_VERIFY = r"""
import io, json, logging, sys
import dkim
records = {k.lower().rstrip("."): v.encode() for k, v in json.loads(sys.argv[1]).items()}
def dnsfunc(name, timeout=5):
    name = (name.decode() if isinstance(name, bytes) else name).lower().rstrip(".")
    return records.get(name)
buf = io.StringIO()
log = logging.getLogger("dkim-verify")
log.addHandler(logging.StreamHandler(buf))
log.setLevel(logging.DEBUG)
try:
    ok = bool(dkim.verify(sys.stdin.buffer.read(), logger=log, dnsfunc=dnsfunc))
except Exception as e:
    ok = False
    buf.write("exception: %r\n" % (e,))
print(json.dumps({"ok": ok, "log": buf.getvalue()}))
"""

BEHAVIOUR = {"rcpt": {"bounce-": "550 5.1.1 No such user here",
                      "always451-": "451 4.3.0 Mailbox busy, try later"},
             "defer_first_n": {"flaky-": 2}}

DNS = dns_records(
    mx=[("example.test", "mx1.example.test", 10), ("example.test", "mx2.example.test", 20),
        ("single.test", "mx1.example.test", 10),
        ("failover.test", "mx1.failover.test", 10), ("failover.test", "mx2.failover.test", 20),
        ("nullmx.test", ".", 0),
        ("acme.test", "mx.acme.test", 10),
        ("tls.test", "mx.tls.test", 10), ("securetls.test", "mx.tls.test", 10),
        ("verifytls.test", "mx.tls.test", 10), ("wrongname.test", "mx.wrongname.test", 10),
        ("plaintls.test", "mx1.example.test", 10),
        ("static.test", "mx1.example.test", 10),
        ("ipv6.test", "mx.ipv6.test", 10)],
    hosts=[("mx1.example.test", MX1), ("mx2.example.test", MX2),
           ("mx1.failover.test", DEAD), ("mx2.failover.test", MX2),
           ("afallback.test", MX1), ("mx.acme.test", DSN_MX), ("mx.tls.test", TLS_MX),
           ("mx.wrongname.test", TLS_MX),
           ("mx.ipv6.test", MX6)])


def delivery_config(max_age="1h", ca_file="/nonexistent"):
    return f"""delivery:
  resolver: "{MX1}:53"
  max_age: {max_age}
  retry_schedule: [1s, 2s]
  retry_jitter: 0
  queue_scan_interval: 1s
  connect_timeout: 5s
  routes:
    - {{domain: "static.test", host: "{STATIC}", port: {STATIC_PORT}}}
  tls_policies:
    - {{domain: "plaintls.test", policy: require}}
    - {{domain: "securetls.test", policy: require}}
    - {{domain: "verifytls.test", policy: verify, ca_file: "{ca_file}"}}
    - {{domain: "wrongname.test", policy: verify, ca_file: "{ca_file}"}}
"""


def token(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def recipient_states(shown):
    """{address: {status, attempts, ...}} from `queue show --json`, whatever the exact shape."""
    out = {}
    for key in ("recipients", "recipient_status", "recipient_states", "status"):
        items = shown.get(key)
        if isinstance(items, list) and items and isinstance(items[0], dict):
            for r in items:
                addr = r.get("address") or r.get("recipient")
                if addr:
                    out[addr] = r
            if out:
                return out
    return out


class DeliveryTest(unittest.TestCase):
    lab = None
    daemon = None
    expiry_daemon = None
    daemon_log = ""
    sink_logs = ""
    left_deferred = set()   # ids a test leaves queued on purpose (the drain test ignores them)

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(tenants=1).start()
        try:
            lab = cls.lab
            add_inet_addresses(lab, f"{MX2}/24", f"{DEAD}/24", f"{DSN_MX}/24", f"{TLS_MX}/24",
                               f"{STATIC}/24", f"{MX6}/64")
            # The TLS MX's certificate names mx.tls.test and chains to a private CA
            # that only the verify policies trust.
            cls.ca, *cert = make_ca_and_cert(os.path.join(lab.workdir, "tls"), "mx.tls.test")
            cls.mx1 = Sink.start(lab, MX1, 25, "mx1", BEHAVIOUR, hostname="mx1.example.test")
            cls.mx2 = Sink.start(lab, MX2, 25, "mx2", BEHAVIOUR, hostname="mx2.example.test")
            cls.dsn = Sink.start(lab, DSN_MX, 25, "mx-acme", {}, hostname="mx.acme.test")
            cls.tls = Sink.start(lab, TLS_MX, 25, "mx-tls", {}, tls=cert, hostname="mx.tls.test")
            cls.static = Sink.start(lab, STATIC, STATIC_PORT, "static", {}, hostname="static.route")
            cls.mx6 = Sink.start(lab, MX6, 25, "mx6", {}, hostname="mx.ipv6.test")
            cls.sinks = [cls.mx1, cls.mx2, cls.dsn, cls.tls, cls.static, cls.mx6]
            lab.start_dnsmasq(extra=DNS)

            cls.daemon = cls._start_daemon(INTERCEPT, delivery_config(ca_file=cls.ca))
            cls.expiry_daemon = cls._start_daemon(
                EXPIRY_INTERCEPT, delivery_config(f"{EXPIRY_MAX_AGE}s", ca_file=cls.ca) +
                "  delay_notices: true\n  delay_notice_after: 3s\n")
            # The expiry clock starts now; test_zz_expiry_bounce checks the outcome.
            cls.expiry_token = token("expiry")
            cls.expiry_sender = f"s-{cls.expiry_token}@acme.test"
            cls.expiry_rcpt = f"always451-{cls.expiry_token}@single.test"
            cls.expiry_started = time.monotonic()
            cls.expiry_id = submit(lab, lab.tenant, GW_LAN4, EXPIRY_INTERCEPT, [(
                cls.expiry_sender, [cls.expiry_rcpt],
                render_message(cls.expiry_sender, [cls.expiry_rcpt], f"expiry {cls.expiry_token}"))])[0]
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _start_daemon(cls, port, delivery):
        d = Daemon(BIN, lambda state, sock: render_config(
            state, sock, intercept=[f"{GW_LAN4}:{port}"], hostname=HOSTNAME, extra=delivery),
            netns=cls.lab.gw)
        if port == INTERCEPT:
            cls.daemon = d
        else:
            cls.expiry_daemon = d
        d.start()
        cls.lab.wait_port(cls.lab.tenant, GW_LAN4, port)
        d.ctl("tenant", "add", "acme", "--plan", "standard", "--subnet", "198.18.1.0/24",
              "--mode", "redirect", "--abuse-contact", "abuse@acme.test")
        return d

    @classmethod
    def tearDownClass(cls):
        logs = []
        for name, d in (("portcullisd", cls.daemon), ("portcullisd (expiry)", cls.expiry_daemon)):
            if d:
                d.stop()
                logs.append(f"---- {name} log (last 80 lines) ----\n" +
                            "\n".join(d.log().splitlines()[-80:]))
                d.cleanup()
        DeliveryTest.daemon_log = "\n".join(logs)
        DeliveryTest.sink_logs = "\n".join(
            f"---- sink {s.name} log ----\n{s.log(25)}" for s in getattr(cls, "sinks", []))
        if cls.lab:
            cls.lab.close()

    # -- helpers ---------------------------------------------------------
    def send(self, rcpts, sender=None, subject=None, daemon_port=INTERCEPT, body=None):
        """Queues one message from the tenant; returns (queue id, subject)."""
        subject = subject or token(self._testMethodName)
        data = render_message(sender if sender is not None else "app@acme.test", rcpts, subject,
                              **({"body": body} if body else {}))
        qid = submit(self.lab, self.lab.tenant, GW_LAN4, daemon_port,
                     [(sender if sender is not None else "app@acme.test", rcpts, data)])[0]
        return qid, subject

    def queue_ids(self, daemon=None):
        return {m["id"] for m in (daemon or self.daemon).ctl("queue", "list")["messages"]}

    def wait_gone(self, qid, daemon=None, timeout=WAIT):
        """True once qid has left the queue (every recipient final)."""
        return wait_until(lambda: qid not in self.queue_ids(daemon), timeout=timeout)

    def events(self, qid, daemon=None):
        out = (daemon or self.daemon).ctl("events", "--message", qid, "--limit", "1000")
        return sorted(out["events"], key=lambda e: (e.get("time", 0), e.get("id", 0)))

    def wait_events(self, qid, pred, daemon=None, timeout=WAIT):
        """The message's events once pred(events) holds (else the last list seen)."""
        last = []

        def check():
            nonlocal last
            last = self.events(qid, daemon)
            return pred(last)
        wait_until(check, timeout=timeout)
        return last

    def types_for(self, events, rcpt):
        return [e["type"] for e in events if e.get("recipient") == rcpt]

    def final_events(self, qid, rcpts, daemon=None, timeout=WAIT):
        final = {"delivered", "bounced", "expired"}
        return self.wait_events(qid, lambda ev: all(
            any(t in final for t in self.types_for(ev, r)) for r in rcpts), daemon, timeout)

    def assertDelivered(self, qid, rcpts, sink, subject, tls=None, remote=None):
        got = sink.wait_for(lambda m: m.subject == subject
                            and set(rcpts) <= {r for mm in sink.find(lambda x: x.subject == subject)
                                               for r in mm.rcpts}, timeout=WAIT)
        self.assertTrue(got, f"{sink.name} received nothing with subject {subject}:\n{sink.log()}")
        delivered = sorted({r for m in got for r in m.rcpts})
        self.assertEqual(delivered, sorted(rcpts), got)
        for m in got:
            self.assertEqual(m.mail_from, "app@acme.test", m.meta)
            if tls is not None:
                self.assertEqual(m.tls, tls, m.meta)
            self.assertIn(HOSTNAME, m.meta["helo"], m.meta)
            self.assertRegex(m.data.decode(errors="replace"), r"(?m)^Received: ")
        ev = self.final_events(qid, rcpts)
        for r in rcpts:
            types = self.types_for(ev, r)
            self.assertIn("accepted", types, ev)
            self.assertIn("delivered", types, ev)
            self.assertNotIn("bounced", types, ev)
            d = [e for e in ev if e.get("recipient") == r and e["type"] == "delivered"][-1]
            self.assertEqual(d.get("tenant_id"), "acme", d)
            if remote:
                self.assertIn(remote, d.get("remote", "") + " " + d.get("detail", ""), d)
            self.assertRegex(d.get("detail", ""), r"^2\d\d", d)
        self.assertTrue(self.wait_gone(qid), f"{qid} still queued after delivery: "
                        f"{self.daemon.ctl('queue', 'show', qid, check=False)}")
        return got, ev

    def dsns_for(self, sender, count=1, timeout=None):
        return self.dsn.wait_for(lambda m: sender in m.rcpts, count=count,
                                 timeout=WAIT if timeout is None else timeout)

    def check_dsn(self, dsn, sender, failed, status=None, action="failed", subject=None):
        """RFC 3464/6522 structure; returns {recipient: per-recipient field block}."""
        self.assertEqual(dsn.mail_from, "", f"DSN must have a null reverse-path: {dsn.meta}")
        self.assertEqual(dsn.rcpts, [sender], dsn.meta)
        text = dsn.data.decode(errors="replace")
        self.assertNotRegex(text.replace("\r\n", ""), r"[\r\n]", "DSN lines must end in CRLF")
        msg = email.message_from_bytes(dsn.data, policy=email.policy.compat32)
        self.assertIn("MAILER-DAEMON", msg.get("From", ""), text)
        self.assertIn(sender, msg.get("To", ""), text)
        self.assertEqual(msg.get("Auto-Submitted", "").strip().lower().split(";")[0], "auto-replied")
        self.assertTrue(msg.get("Message-ID"), text)
        self.assertTrue(msg.get("Date"), text)
        if action == "failed":
            self.assertEqual(msg.get("Subject"), "Undelivered Mail Returned to Sender")
        self.assertEqual(msg.get_content_type(), "multipart/report", text)
        self.assertEqual(msg.get_param("report-type"), "delivery-status", text)
        self.assertEqual(msg.defects, [], text)
        parts = msg.get_payload()
        self.assertEqual(len(parts), 3, [p.get_content_type() for p in parts])
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        self.assertEqual(parts[1].get_content_type(), "message/delivery-status")
        self.assertIn(parts[2].get_content_type(), ("text/rfc822-headers", "message/rfc822-headers"))
        blocks = parts[1].get_payload()
        self.assertGreaterEqual(len(blocks), 2, f"per-message + per-recipient blocks:\n{text}")
        self.assertTrue(blocks[0].get("Reporting-MTA", "").lower().startswith("dns;"), text)
        self.assertIn(HOSTNAME, blocks[0].get("Reporting-MTA", ""))
        per_rcpt = {}
        for b in blocks[1:]:
            final = b.get("Final-Recipient", "")
            self.assertTrue(final.lower().startswith("rfc822;"), f"Final-Recipient {final!r}")
            addr = final.split(";", 1)[1].strip()
            per_rcpt[addr] = b
            self.assertEqual(b.get("Action", "").strip().lower(), action, str(b))
            st = b.get("Status", "").strip()
            self.assertRegex(st, STATUS, str(b))
            if action == "failed":
                self.assertTrue(st.startswith("5."), f"failed recipient with status {st}")
            if status:
                self.assertEqual(st, status, str(b))
        self.assertEqual(sorted(per_rcpt), sorted(failed), text)
        original = parts[2].get_payload()
        if not isinstance(original, str):   # message/rfc822-headers parsed as a message
            original = str(original[0] if isinstance(original, list) else original)
        if subject:
            self.assertIn(f"Subject: {subject}", original, text)
        self.assertNotIn("Hello from the delivery tests", original, "only the headers are returned")
        return per_rcpt

    def assertBounced(self, qid, rcpt, event_types=("bounced",)):
        ev = self.final_events(qid, [rcpt])
        types = self.types_for(ev, rcpt)
        self.assertTrue(any(t in types for t in event_types), ev)
        self.assertNotIn("delivered", types, ev)
        self.assertTrue(self.wait_gone(qid), f"{qid} still queued after bounce")
        return ev

    # -- routing -----------------------------------------------------------
    def test_delivery_via_preferred_mx(self):
        rcpt = f"{token('pref')}@example.test"
        qid, subj = self.send([rcpt])
        self.assertDelivered(qid, [rcpt], self.mx1, subj, tls=False, remote=MX1)
        self.assertEqual(self.mx2.find(lambda m: m.subject == subj), [], "went to the backup MX")

    def test_failover_when_first_mx_refuses(self):
        rcpt = f"{token('failover')}@failover.test"
        qid, subj = self.send([rcpt])
        _, ev = self.assertDelivered(qid, [rcpt], self.mx2, subj, remote=MX2)
        self.assertNotIn("bounced", [e["type"] for e in ev])

    def test_a_record_fallback_without_mx(self):
        rcpt = f"{token('afb')}@afallback.test"
        qid, subj = self.send([rcpt])
        self.assertDelivered(qid, [rcpt], self.mx1, subj, remote=MX1)

    def test_ipv6_only_mx(self):
        rcpt = f"{token('v6')}@ipv6.test"
        qid, subj = self.send([rcpt])
        got, _ = self.assertDelivered(qid, [rcpt], self.mx6, subj, remote=MX6)
        self.assertIn(":", got[0].meta["peer"], got[0].meta)

    def test_static_route_overrides_mx(self):
        rcpt = f"{token('static')}@static.test"
        qid, subj = self.send([rcpt])
        self.assertDelivered(qid, [rcpt], self.static, subj, remote=STATIC)
        self.assertEqual(self.mx1.find(lambda m: m.subject == subj), [], "MX used despite the route")

    def test_null_mx_bounces_with_dsn(self):
        sender = f"s-{token('nullmx')}@acme.test"
        rcpt = "user@nullmx.test"
        qid, subj = self.send([rcpt], sender=sender)
        ev = self.assertBounced(qid, rcpt)
        self.assertNotIn("deferred", self.types_for(ev, rcpt), "null MX is permanent at once")
        dsns = self.dsns_for(sender)
        self.assertEqual(len(dsns), 1, dsns)
        self.check_dsn(dsns[0], sender, [rcpt], status="5.1.10", subject=subj)
        for s in self.sinks:
            self.assertEqual(s.find(lambda m: m.subject == subj), [], f"{s.name} got it")

    # -- retries and bounces -------------------------------------------------
    def test_4xx_then_success_after_retry(self):
        rcpt = f"flaky-{token('retry')}@single.test"
        qid, subj = self.send([rcpt])
        got, ev = self.assertDelivered(qid, [rcpt], self.mx1, subj)
        self.assertEqual(len(got), 1, got)
        types = self.types_for(ev, rcpt)
        self.assertEqual(types.count("deferred"), 2, ev)
        self.assertEqual(types[-1], "delivered", ev)
        deferred = [e for e in ev if e["type"] == "deferred"]
        self.assertTrue(all("451" in e.get("detail", "") for e in deferred), deferred)

    def test_5xx_bounce_with_valid_dsn(self):
        sender = f"s-{token('bounce')}@acme.test"
        rcpt = f"bounce-{token('b')}@single.test"
        qid, subj = self.send([rcpt], sender=sender)
        ev = self.assertBounced(qid, rcpt)
        b = [e for e in ev if e["type"] == "bounced"][-1]
        self.assertIn("550", b.get("detail", ""), b)
        self.assertEqual(b.get("tenant_id"), "acme", b)
        dsns = self.dsns_for(sender)
        self.assertEqual(len(dsns), 1, dsns)
        blocks = self.check_dsn(dsns[0], sender, [rcpt], status="5.1.1", subject=subj)
        diag = blocks[rcpt].get("Diagnostic-Code", "")
        self.assertTrue(diag.lower().startswith("smtp;"), diag)
        self.assertIn("550", diag)
        self.assertIn("No such user", diag)
        remote_mta = blocks[rcpt].get("Remote-MTA", "")
        self.assertTrue(remote_mta.lower().startswith("dns;"), str(blocks[rcpt]))
        self.assertTrue(MX1 in remote_mta or "mx1.example.test" in remote_mta, remote_mta)
        self.assertEqual(self.mx1.find(lambda m: m.subject == subj), [])

    def test_partial_recipient_failure(self):
        t = token("partial")
        sender = f"s-{t}@acme.test"
        good = [f"ok1-{t}@single.test", f"ok2-{t}@single.test"]
        bad = f"bounce-{t}@single.test"
        qid, subj = self.send(good + [bad], sender=sender)
        got = self.mx1.wait_for(lambda m: m.subject == subj, timeout=WAIT)
        self.assertEqual(sorted({r for m in got for r in m.rcpts}), sorted(good), got)
        ev = self.final_events(qid, good + [bad])
        for r in good:
            self.assertIn("delivered", self.types_for(ev, r), ev)
        self.assertIn("bounced", self.types_for(ev, bad), ev)
        self.assertNotIn("delivered", self.types_for(ev, bad), ev)
        dsns = self.dsns_for(sender)
        self.assertEqual(len(dsns), 1, dsns)
        self.check_dsn(dsns[0], sender, [bad], subject=subj)
        self.assertTrue(self.wait_gone(qid))
        time.sleep(2)
        self.assertEqual(len(self.dsn.find(lambda m: sender in m.rcpts)), 1, "exactly one DSN")

    def test_null_sender_never_bounces(self):
        rcpt = f"bounce-{token('nullsender')}@single.test"
        qid, _ = self.send([rcpt], sender="")
        self.assertBounced(qid, rcpt)
        time.sleep(4)   # a DSN would be queued and delivered within this
        # Other tests' DSNs may arrive meanwhile: look for one about this recipient.
        about_this = [m for m in self.dsn.messages() if rcpt.encode() in m.data]
        self.assertEqual(about_this, [], "a DSN for a null-sender message")
        listed = self.daemon.ctl("queue", "list")["messages"]
        self.assertEqual([m for m in listed if m.get("mail_from") == ""], [], listed)

    # -- TLS -----------------------------------------------------------------
    def test_starttls_to_mx(self):
        rcpt = f"{token('tls')}@tls.test"
        qid, subj = self.send([rcpt])
        got, _ = self.assertDelivered(qid, [rcpt], self.tls, subj, tls=True, remote=TLS_MX)
        self.assertTrue(got[0].meta["tls_version"].startswith("TLS"), got[0].meta)

    def test_required_tls_with_tls_mx_delivers(self):
        rcpt = f"{token('securetls')}@securetls.test"
        qid, subj = self.send([rcpt])
        self.assertDelivered(qid, [rcpt], self.tls, subj, tls=True)

    def test_verify_tls_with_private_ca_delivers(self):
        rcpt = f"{token('verify')}@verifytls.test"
        qid, subj = self.send([rcpt])
        self.assertDelivered(qid, [rcpt], self.tls, subj, tls=True, remote=TLS_MX)

    def test_verify_tls_refuses_certificate_for_another_name(self):
        rcpt = f"{token('wrongname')}@wrongname.test"
        qid, subj = self.send([rcpt])
        DeliveryTest.left_deferred.add(qid)
        ev = self.wait_events(qid, lambda ev: "deferred" in self.types_for(ev, rcpt))
        deferred = [e for e in ev if e["type"] == "deferred"]
        self.assertTrue(deferred, ev)
        self.assertNotIn("delivered", self.types_for(ev, rcpt), ev)
        self.assertRegex(deferred[0].get("detail", "").lower(), r"tls|certificate|verif", deferred)
        self.assertEqual(self.tls.find(lambda m: m.subject == subj), [], "delivered to a wrong name")
        self.daemon.ctl("queue", "delete", qid, json_output=False)
        self.assertTrue(self.wait_gone(qid, timeout=5))
        DeliveryTest.left_deferred.discard(qid)

    def test_required_tls_refuses_plaintext_mx(self):
        t = token("plaintls")
        sender = f"s-{t}@acme.test"
        rcpt = f"{t}@plaintls.test"
        qid, subj = self.send([rcpt], sender=sender)
        ev = self.wait_events(qid, lambda ev: self.types_for(ev, rcpt).count("deferred") >= 2)
        deferred = [e for e in ev if e["type"] == "deferred" and e.get("recipient") == rcpt]
        self.assertGreaterEqual(len(deferred), 1, ev)
        self.assertTrue(all("tls" in e.get("detail", "").lower() for e in deferred), deferred)
        for s in self.sinks:
            self.assertEqual(s.find(lambda m: m.subject == subj), [], f"{s.name} got it in clear")
        self.assertIn(qid, self.queue_ids())
        shown = self.daemon.ctl("queue", "show", qid)
        states = recipient_states(shown)
        self.assertIn(rcpt, states, f"no per-recipient state in queue show: {shown}")
        self.assertEqual(states[rcpt].get("status"), "deferred", states)
        self.assertGreaterEqual(int(states[rcpt].get("attempts", 0)), 1, states)
        self.assertIn("tls", str(states[rcpt].get("last_reply", "")).lower(), states)
        self.assertEqual(self.dsns_for(sender, timeout=0), [], "no DSN while deferred")
        DeliveryTest.left_deferred.add(qid)
        # Operator delete: gone from the queue, a 'deleted' event, no DSN.
        self.daemon.ctl("queue", "delete", qid, json_output=False)
        self.assertTrue(self.wait_gone(qid, timeout=5))
        DeliveryTest.left_deferred.discard(qid)
        ev = self.wait_events(qid, lambda ev: "deleted" in self.types_for(ev, rcpt), timeout=5)
        self.assertIn("deleted", self.types_for(ev, rcpt), ev)

    # -- DKIM ----------------------------------------------------------------
    def dkim_verify(self, data, records):
        """(verified, verifier log) for data by python3-dkim; records: {dns name: TXT}."""
        res = subprocess.run([SYSTEM_PYTHON, "-c", DKIM_VERIFY, json.dumps(records)],
                             input=data, capture_output=True, timeout=30)
        self.assertEqual(res.returncode, 0, res.stderr.decode(errors="replace"))
        out = json.loads(res.stdout)
        return out["ok"], out["log"]

    def send_dkim_message(self, domain):
        """Queues From: someone@domain (envelope app@acme.test) with a folded Subject
        and body lines with trailing whitespace; returns the copy mx1 received."""
        t = token("dkim")
        rcpt = f"{t}@example.test"
        subject = f"{t} a long subject that the client folds onto"
        body = ("Hello from the delivery tests.   \r\n"
                "A line with a trailing tab\t\r\n"
                "  indented, with   inner   runs  \r\n"
                "\r\n"
                ".a line that starts with a dot \r\n"
                "last line\r\n"
                "\r\n\r\n")
        data = render_message(f"someone@{domain}", [rcpt], subject, body=body,
                              message_id=f"<{t}@{domain}>",
                              headers=["X-Note:   spaces around  \t", "X-Folded: first part,",
                                       "\tsecond part  "])
        # Fold the Subject: a second line starting with a space.
        data = data.replace(f"Subject: {subject}",
                            f"Subject: {subject}\r\n a second line   of the subject", 1)
        qid = submit(self.lab, self.lab.tenant, GW_LAN4, INTERCEPT,
                     [("app@acme.test", [rcpt], data)])[0]
        got = self.mx1.wait_for(lambda m: t in m.subject, timeout=WAIT)
        self.assertEqual(len(got), 1, f"mx1 received {got} for {t}:\n{self.mx1.log()}")
        self.assertEqual(got[0].rcpts, [rcpt], got[0].meta)
        ev = self.final_events(qid, [rcpt])
        self.assertIn("delivered", self.types_for(ev, rcpt), ev)
        self.assertTrue(self.wait_gone(qid), f"{qid} still queued after delivery")
        return got[0]

    def check_dkim_signed(self, algorithm, domain):
        key = self.daemon.ctl("dkim", "generate", "acme", domain, "--algorithm", algorithm)
        shown = self.daemon.ctl("dkim", "show", "acme", domain)
        self.assertEqual(shown.get("dns_txt"), key.get("dns_txt"), (key, shown))
        txt, selector = key["dns_txt"], key["selector"]
        k = "rsa" if algorithm == "rsa" else "ed25519"
        self.assertRegex(txt, rf"(^|;)\s*k={k}\s*(;|$)", key)
        name = f"{selector}._domainkey.{domain}"
        if key.get("dns_name"):
            self.assertEqual(key["dns_name"].rstrip(".").lower(), name.lower(), key)

        got = self.send_dkim_message(domain)
        sigs = got.msg.get_all("DKIM-Signature") or []
        self.assertEqual(len(sigs), 1, got.data.decode(errors="replace"))
        tags = {m.group(1): re.sub(r"\s+", "", m.group(2))
                for m in re.finditer(r"(\w+)\s*=([^;]*)", sigs[0])}
        self.assertEqual(tags.get("d", "").lower(), domain, sigs[0])
        self.assertEqual(tags.get("s"), selector, sigs[0])
        self.assertEqual(tags.get("a"), f"{k}-sha256", sigs[0])
        self.assertIn("from", tags.get("h", "").lower().split(":"), sigs[0])
        # The folded header and the trailing whitespace reached the sink as sent.
        self.assertIn(b"\r\n a second line   of the subject\r\n", got.data)
        self.assertIn(b"Hello from the delivery tests.   \r\n", got.data)

        ok, log = self.dkim_verify(got.data, {name: txt})
        self.assertTrue(ok, f"python3-dkim rejects the {algorithm} signature:\n{log}\n"
                            f"{got.data.decode(errors='replace')}")
        # One changed byte in the body breaks it (the verification can fail).
        i = got.data.index(b"Hello from the delivery tests.")
        tampered = got.data[:i] + b"J" + got.data[i + 1:]
        ok, log = self.dkim_verify(tampered, {name: txt})
        self.assertFalse(ok, f"a tampered body still verifies:\n{log}")
        # And with no published key there is nothing to verify against.
        self.assertFalse(self.dkim_verify(got.data, {})[0], "verified without a key")

    def test_dkim_rsa_signature_verifies(self):
        self.check_dkim_signed("rsa", "dkim-rsa.test")

    def test_dkim_ed25519_signature_verifies(self):
        self.check_dkim_signed("ed25519", "dkim-ed25519.test")

    def test_dkim_domain_without_key_unsigned(self):
        got = self.send_dkim_message("dkim-nokey.test")
        self.assertIsNone(got.msg.get("DKIM-Signature"), got.data.decode(errors="replace"))
        self.assertNotIn(b"dkim-signature", got.data.lower())

    # -- events and queue ----------------------------------------------------
    def test_events_by_tenant_and_since(self):
        rcpt = f"{token('events')}@example.test"
        qid, subj = self.send([rcpt])
        self.assertDelivered(qid, [rcpt], self.mx1, subj)
        out = self.daemon.ctl("events", "--tenant", "acme", "--since", "1h", "--limit", "1000")
        mine = [e for e in out["events"] if e.get("message_id") == qid]
        self.assertEqual(sorted(e["type"] for e in mine), ["accepted", "delivered"], mine)
        for e in mine:
            for k in ("id", "time", "type", "tenant_id", "message_id", "recipient", "detail", "remote"):
                self.assertIn(k, e, e)
        out = self.daemon.ctl("events", "--tenant", "nosuchtenant", "--since", "1h")
        self.assertEqual(out["events"], [])
        human = self.daemon.ctl("events", "--message", qid, json_output=False)
        self.assertEqual(human.returncode, 0, human.stderr)
        self.assertIn("delivered", human.stdout)
        self.assertIn(rcpt, human.stdout)

    def test_zy_queue_drains_when_all_final(self):
        rcpts = [f"{token('drain')}@example.test", f"bounce-{token('drain')}@single.test",
                 f"flaky-{token('drain')}@single.test", f"{token('drain')}@tls.test"]
        qid, _ = self.send(rcpts, sender=f"s-{token('drain')}@acme.test")
        ev = self.final_events(qid, rcpts)
        self.assertTrue(self.wait_gone(qid), ev)
        self.assertTrue(wait_until(lambda: self.queue_ids() <= self.left_deferred, timeout=WAIT),
                        self.daemon.ctl("queue", "list"))

    # -- expiry (second daemon, started in setUpClass) ------------------------
    def test_zz_expiry_bounce(self):
        d, qid, rcpt, sender = (self.expiry_daemon, self.expiry_id, self.expiry_rcpt,
                                self.expiry_sender)
        left = EXPIRY_MAX_AGE + WAIT - (time.monotonic() - self.expiry_started)
        ev = self.final_events(qid, [rcpt], daemon=d, timeout=max(left, 5))
        types = self.types_for(ev, rcpt)
        self.assertIn("expired", types, ev)
        self.assertGreaterEqual(types.count("deferred"), 2, ev)
        self.assertNotIn("delivered", types, ev)
        self.assertTrue(self.wait_gone(qid, daemon=d), "expired message still queued")
        # First one delay notice (delay_notices on, after 3 s), then the bounce.
        dsns = self.dsns_for(sender, count=2)
        self.assertEqual(len(dsns), 2, dsns)
        delayed = [m for m in dsns if b"Action: delayed" in m.data]
        failed = [m for m in dsns if b"Action: failed" in m.data]
        self.assertEqual((len(delayed), len(failed)), (1, 1), [m.data[:2000] for m in dsns])
        notice = self.check_dsn(delayed[0], sender, [rcpt], action="delayed",
                                subject=f"expiry {self.expiry_token}")
        self.assertTrue(notice[rcpt].get("Status", "").startswith("4."), str(notice[rcpt]))
        blocks = self.check_dsn(failed[0], sender, [rcpt], status="5.4.7",
                                subject=f"expiry {self.expiry_token}")
        self.assertIn("451", blocks[rcpt].get("Diagnostic-Code", ""), str(blocks[rcpt]))


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    print(DeliveryTest.daemon_log, file=sys.stderr)
    print(DeliveryTest.sink_logs, file=sys.stderr)


def main():
    return runner.run("test_delivery", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
