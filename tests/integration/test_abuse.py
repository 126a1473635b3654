"""The abuse desk end to end through the running daemon (issue 6): the acceptance, as a test.

Through the control API and CLI as built (tenant "-" = the gateway).

    tenant  198.18.1.10  acme (198.18.1.10/32): hammers port 25; its mail is complained about
    tenant2 198.18.1.11  beta (198.18.1.11/32): bounces; asks for a port-25 exception
      → gw 198.18.1.1 / 198.18.2.1: portcullisd, nftables, feedback listener on 198.18.2.1:25,
        outbound mail from 198.18.2.1 (delivery.source_address: "the relay's address")
      → inet 198.18.2.10: the MX sink (every domain is routed there) and dnsmasq, which
        serves two DNSBL zones: bl.test lists 198.18.2.1 (127.0.0.2 + TXT), refuse.test
        answers 127.255.255.254 ("query refused") for 198.18.2.1 and 198.18.2.2;
        198.18.2.20: a plain port-25 listener, the "internet" an exempt host reaches.

    python3 -u tests/integration/test_abuse.py --bin BUILD/bin --source REPO
"""
import email
import email.policy
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import runner  # noqa: E402
from harness.daemon import Daemon, render_config  # noqa: E402
from harness.delivery_lab import (Sink, add_inet_addresses, dns_records, render_message,  # noqa: E402
                                  submit, wait_until)
from harness.netns import GW_INET4, GW_LAN4, INET4, Lab  # noqa: E402

BIN = SOURCE = None
HOSTNAME = "relay.gw.example"
SAMPLES = None  # tests/data/reports, set in configure()
ACME_HOST, BETA_HOST = "198.18.1.10", "198.18.1.11"
DIRECT_MX = "198.18.2.20"  # a port-25 server on the internet, reachable only when exempt
REFUSED_ONLY = "198.18.2.2"  # checked against the lists, answered only with refusals
EGRESS_TARGETS = [f"198.18.2.{100 + i}" for i in range(24)]
FEEDBACK = (GW_INET4, 25)

ABUSE_CONFIG = f"""firewall:
  enabled: true
  table: portcullis
  default_mode: block
  nflog_group: 25
  monitor_window: 5m
delivery:
  resolver: "{INET4}:53"
  source_address: "{GW_INET4}"
  retry_schedule: [1h]
  queue_scan_interval: 1s
  routes:
    - {{domain: "*", host: "{INET4}", port: 25}}
abuse:
  desk_address: desk@gw.example
  ticket_threshold: 10
  signal_cooldown: 0s
  dnsbl:
    zones:
      - {{zone: bl.test, weight: 1}}
      - {{zone: refuse.test, weight: 1}}
    interval: 10s
    queries_per_second: 50
    addresses: ["{REFUSED_ONLY}"]
  bounces:
    window: 1h
    min_messages: 6
    bounce_rate: 0.3
    unknown_recipient_rate: 0.3
  egress:
    min_attempts: 15
    min_destinations: 10
"""

# One SYN per destination from a tenant host (the firewall drops them).
HAMMER = r"""
import socket, sys, time
socks = []
for addr in sys.argv[1:]:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.connect_ex((addr, 25))
    socks.append(s)
time.sleep(0.5)
for s in socks:
    s.close()
"""

LISTENER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 25)); s.listen(16)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    try:
        c.sendall(b"220 inet-direct\r\n")
    finally:
        c.close()
"""

PROBE = r"""
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], 25), timeout=1.5)
    s.settimeout(3)
    print("inet" if s.recv(100).startswith(b"220 inet-direct") else "other")
except OSError:
    print("closed")
"""

SEND_REPORT = r"""
import smtplib, sys
host, port, rcpt, path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
# The samples are stored with LF line ends; on the wire every line ends in CRLF.
data = open(path, "rb").read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
try:
    with smtplib.SMTP(host, port, timeout=20) as s:
        s.ehlo("fbl.mailbox-provider.example")
        code, msg = s.mail("")
        code, msg = s.rcpt(rcpt)
        if code != 250:
            print(code, msg.decode()); raise SystemExit(0)
        code, msg = s.data(data)
        print(code, msg.decode())
except smtplib.SMTPException as e:
    print("error", e)
"""


def mail_text(received):
    """The text/plain body of a message the sink stored, transfer encoding undone."""
    msg = email.message_from_bytes(received.data, policy=email.policy.default)
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def arf_for(original_headers, complainant="reader@mailbox-provider.example"):
    """An RFC 5965 report with the original's header section (text/rfc822-headers)."""
    boundary = "arf-boundary-42"
    return ("From: <fbl@mailbox-provider.example>\r\n"
            f"To: <fbl@{HOSTNAME}>\r\n"
            "Subject: FW: complaint\r\n"
            "Message-ID: <own-fbl-1@mailbox-provider.example>\r\n"
            "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\n"
            f"Content-Type: multipart/report; report-type=feedback-report; boundary=\"{boundary}\"\r\n"
            "\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/plain\r\n\r\n"
            "A user marked this message as spam.\r\n"
            f"--{boundary}\r\n"
            "Content-Type: message/feedback-report\r\n\r\n"
            "Feedback-Type: abuse\r\n"
            "User-Agent: TestFBL/1.0\r\n"
            "Version: 1\r\n"
            f"Original-Rcpt-To: <{complainant}>\r\n"
            "Source-IP: 198.18.2.1\r\n"
            "Reporting-MTA: dns; fbl.mailbox-provider.example\r\n"
            "\r\n"
            f"--{boundary}\r\n"
            "Content-Type: text/rfc822-headers\r\n\r\n"
            + original_headers +
            f"\r\n--{boundary}--\r\n").encode()


class AbuseTest(unittest.TestCase):
    lab = daemon = sink = None
    daemon_log = ""

    @classmethod
    def setUpClass(cls):
        cls.lab = lab = Lab(tenants=2).start()
        try:
            add_inet_addresses(lab, f"{DIRECT_MX}/24")
            lab.popen(lab.inet, [sys.executable, "-c", LISTENER, DIRECT_MX])
            lab.wait_port(lab.inet, DIRECT_MX, 25)
            cls.sink = Sink.start(lab, INET4, 25, behaviour={
                "rcpt": {"bounce": "550 5.1.1 <bounce>: Recipient address rejected: no such user",
                         "rbl": "554 5.7.1 Service unavailable; client [198.18.2.1] blocked "
                                "using zen.spamhaus.example"}})
            lab.start_dnsmasq(extra=dns_records() + [
                "--log-queries",
                "--address=/1.2.18.198.bl.test/127.0.0.2",
                "--txt-record=1.2.18.198.bl.test,Listed by bl.test: see http://bl.test/198.18.2.1",
                "--address=/1.2.18.198.refuse.test/127.255.255.254",
                "--address=/2.2.18.198.refuse.test/127.255.255.254"])

            def text(state, sock):
                config = render_config(state, sock, intercept=[f"{GW_LAN4}:2525"],
                                       hostname=HOSTNAME, extra=ABUSE_CONFIG)
                return config.replace(
                    "    intercept:",
                    f'    feedback: ["{FEEDBACK[0]}:{FEEDBACK[1]}"]\n    intercept:', 1)
            cls.daemon = d = Daemon(BIN, text, netns=lab.gw)
            d.start()
            d.ctl("tenant", "add", "acme", "--plan", "standard", "--subnet", f"{ACME_HOST}/32",
                  "--mode", "block", "--abuse-contact", "abuse@acme.test")
            d.ctl("tenant", "add", "beta", "--plan", "standard", "--subnet", f"{BETA_HOST}/32",
                  "--mode", "block", "--abuse-contact", "noc@beta.test")
            d.ctl("tenant", "add", "initech", "--plan", "standard", "--subnet", "198.18.1.12/32",
                  "--mode", "block")
            lab.wait_port(lab.tenant, GW_LAN4, 2525)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon_log = cls.daemon.log()
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    # -- helpers ---------------------------------------------------------
    def tickets(self, **filters):
        args = ["ticket", "list"]
        for k, v in filters.items():
            args += [f"--{k}", v]
        return self.daemon.ctl(*args)["tickets"]

    def ticket(self, ticket_id):
        return self.daemon.ctl("ticket", "show", str(ticket_id))

    def wait_ticket(self, category, tenant, timeout=60):
        found = wait_until(lambda: [t for t in self.tickets(tenant=tenant, category=category)
                                    if t["status"] in ("open", "waiting")], timeout=timeout)
        self.assertTrue(found, f"no {category} ticket for {tenant!r}:\n{self.log_tail()}")
        self.assertEqual(len(found), 1, found)
        return self.ticket(found[0]["id"])

    def score(self, tenant):
        return self.daemon.ctl("reputation", "--tenant", tenant)["score"]

    def send_report(self, path, rcpt=f"fbl@{HOSTNAME}"):
        res = self.lab.run(self.lab.inet, [sys.executable, "-c", SEND_REPORT, FEEDBACK[0],
                                           str(FEEDBACK[1]), rcpt, path], timeout=60)
        return res.stdout.strip()

    def write(self, name, data):
        path = os.path.join(self.lab.workdir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def probe(self, ns):
        return self.lab.run(ns, [sys.executable, "-c", PROBE, DIRECT_MX], timeout=30).stdout.strip()

    def wait_probe(self, ns, want, within):
        deadline = time.monotonic() + within
        while True:
            got = self.probe(ns)
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def log_tail(self, n=60):
        return "\n".join(self.daemon.log().splitlines()[-n:])

    @staticmethod
    def evidence(detail):
        return "\n".join(s["evidence"] for s in detail["signals"])

    # -- DNSBL -------------------------------------------------------------
    def test_dnsbl_listing_opens_blacklisting_ticket_and_refusal_does_not(self):
        detail = self.wait_ticket("blacklisting", "-", timeout=60)
        self.assertEqual(detail["ticket"]["tenant_id"], "")
        text = self.evidence(detail)
        self.assertIn("Listed by bl.test: see http://bl.test/198.18.2.1", text)
        self.assertIn(GW_INET4, detail["ticket"]["hosts"])
        # 127.255.255.254 is "query refused": never a listing, in either zone.
        self.assertNotIn("refuse.test", text)
        self.assertNotIn(REFUSED_ONLY, detail["ticket"]["hosts"])
        rep = self.daemon.ctl("reputation", "--tenant", "-")
        self.assertFalse([s for s in rep["recent"] if "refuse.test" in s["evidence"]], rep)
        # Both zones were really asked, and the refusals were logged as errors.
        with open(os.path.join(self.lab.workdir, "dnsmasq.log")) as f:
            dns_log = f.read()
        self.assertIn("2.2.18.198.refuse.test", dns_log)
        self.assertTrue(wait_until(lambda: "refuse.test" in self.daemon.log(), timeout=10))
        # The desk is told, by mail through the relay itself.
        mails = self.sink.wait_for(lambda m: "desk@gw.example" in m.rcpts and
                                   "blacklisting" in m.subject, timeout=30)
        self.assertTrue(mails, self.sink.log())
        self.assertIn("Listed by bl.test", mail_text(mails[0]))

    # -- feedback loop -----------------------------------------------------
    def test_arf_sample_is_attributed_suppresses_complainant_and_raises_score(self):
        before = self.score("acme")
        out = self.send_report(os.path.join(SAMPLES, "arf", "full-message.eml"))
        self.assertTrue(out.startswith("250"), out)
        reports = wait_until(lambda: [r for r in self.daemon.ctl("report", "list")["reports"]
                                      if r["status"] == "attributed" and r["tenant_id"] == "acme"],
                             timeout=20)
        self.assertTrue(reports, self.log_tail())
        supp = self.daemon.ctl("suppression", "list", "--tenant", "acme")
        self.assertIn("reader@mailbox-provider.example",
                      [s["address"] for s in supp["suppressions"] if s["list"] == "spam-reports"])
        self.assertTrue(wait_until(lambda: self.score("acme") > before, timeout=10))
        rep = self.daemon.ctl("reputation", "--tenant", "acme")
        self.assertIn("complaint", [t["kind"] for t in rep["terms"]])

    def test_arf_for_relayed_mail_is_attributed_by_received_and_message_id(self):
        # Real mail from beta through the relay; the complaint carries only its headers,
        # without X-Portcullis-Tenant, as many feedback loops strip custom headers.
        subject = "newsletter for complaint"
        submit(self.lab, self.lab.tenants[1], GW_LAN4, 2525,
               [("news@beta.test", ["victim@mailbox-provider.example"],
                 render_message("news@beta.test", ["victim@mailbox-provider.example"], subject))])
        got = self.sink.wait_for(lambda m: m.subject == subject)
        self.assertTrue(got, self.sink.log())
        headers = got[0].data.split(b"\r\n\r\n", 1)[0].decode()
        stripped = "\r\n".join(line for line in headers.split("\r\n")
                               if not line.lower().startswith("x-portcullis-tenant"))
        self.assertIn("(Portcullis)", stripped)
        out = self.send_report(self.write("own-arf.eml", arf_for(stripped + "\r\n",
                                                                  "victim@mailbox-provider.example")))
        self.assertTrue(out.startswith("250"), out)
        self.assertTrue(wait_until(lambda: "victim@mailbox-provider.example" in [
            s["address"] for s in self.daemon.ctl("suppression", "list", "--tenant",
                                                  "beta")["suppressions"]], timeout=20),
            self.log_tail())

    def test_unattributable_and_broken_reports_are_kept_for_the_desk(self):
        for name in ("headers-only.eml", "broken-no-feedback-part.eml", "broken-truncated.eml"):
            out = self.send_report(os.path.join(SAMPLES, "arf", name))
            self.assertTrue(out.startswith("250"), f"{name}: {out}")

        def by_status():
            rows = self.daemon.ctl("report", "list")["reports"]
            return {s: [r for r in rows if r["status"] == s] for s in ("unattributed", "rejected")}
        kept = wait_until(lambda: (lambda b: b if len(b["rejected"]) >= 1 and
                                   len(b["unattributed"]) >= 1 else None)(by_status()), timeout=20)
        self.assertTrue(kept, by_status())
        rejected = self.daemon.ctl("report", "show", str(kept["rejected"][0]["id"]))
        self.assertTrue(rejected["summary"], rejected)
        self.assertIn("From:", rejected["raw"])  # the bytes are kept, not dropped

    def test_feedback_listener_is_not_a_relay(self):
        out = self.send_report(os.path.join(SAMPLES, "arf", "full-message.eml"),
                               rcpt="someone@example.net")
        self.assertTrue(out.startswith("550"), out)

    # -- egress monitor ----------------------------------------------------
    def test_host_hammering_port_25_opens_compromised_host_ticket_and_notifies(self):
        for _ in range(2):
            self.lab.run(self.lab.tenant, [sys.executable, "-c", HAMMER, *EGRESS_TARGETS],
                         timeout=30)
        detail = self.wait_ticket("compromised_host", "acme", timeout=60)
        self.assertIn(ACME_HOST, detail["ticket"]["hosts"])
        text = self.evidence(detail)
        self.assertIn(ACME_HOST, text)
        self.assertRegex(text, r"\d+ direct port-25 attempts")
        # The automatic action (block_host) is recorded on the ticket.
        self.assertIn("block_host", [a["kind"] for a in detail["actions"]])
        mails = self.sink.wait_for(lambda m: "abuse@acme.test" in m.rcpts and
                                   "compromised_host" in m.subject, timeout=30)
        self.assertTrue(mails, self.sink.log())
        body = mail_text(mails[0])
        self.assertIn(ACME_HOST, body)
        self.assertRegex(body, r"\d+ direct port-25 attempts")
        self.assertIn("what you did to prevent it", body)
        # The desk lifts the block: the action is marked reverted, by whom.
        reverted = self.daemon.ctl("ticket", "revert", str(detail["ticket"]["id"]))
        blocks = [a for a in reverted["actions"] if a["kind"] == "block_host"]
        self.assertTrue(blocks and all(a["reverted_at"] and a["reverted_by"].startswith("desk:")
                                       for a in blocks), reverted)
        self.assertIn("reverted", [h["action"] for h in reverted["history"]])

    # -- delivery outcomes -------------------------------------------------
    def test_bounce_rate_opens_one_ticket_and_later_signals_attach(self):
        rcpts = [f"bounce{i}@example.net" for i in range(5)] + ["ok1@example.net",
                                                                "ok2@example.net"]
        submit(self.lab, self.lab.tenants[1], GW_LAN4, 2525,
               [("shop@beta.test", [r], render_message("shop@beta.test", [r], f"order {r}"))
                for r in rcpts])
        detail = self.wait_ticket("spam", "beta", timeout=60)
        first = len(detail["signals"])
        self.assertIn("bounce_rate", [s["kind"] for s in detail["signals"]])
        self.assertIn("bounced", self.evidence(detail))
        # More trouble: blocklist refusals. They join the same ticket, no new one.
        submit(self.lab, self.lab.tenants[1], GW_LAN4, 2525,
               [("shop@beta.test", [f"rbl{i}@example.org"],
                 render_message("shop@beta.test", [f"rbl{i}@example.org"], f"rbl {i}"))
                for i in range(2)])
        grown = wait_until(lambda: (lambda d: d if len(d["signals"]) > first else None)(
            self.ticket(detail["ticket"]["id"])), timeout=30)
        self.assertTrue(grown, self.log_tail())
        self.assertIn("rbl_rejection", [s["kind"] for s in grown["signals"]])
        active = [t for t in self.tickets(tenant="beta", category="spam")
                  if t["status"] in ("open", "waiting")]
        self.assertEqual([t["id"] for t in active], [detail["ticket"]["id"]])

    # -- exceptions --------------------------------------------------------
    def request(self, reason):
        return self.daemon.ctl("exception", "request", "--tenant", "beta", "--host", BETA_HOST,
                               "--reason", reason, "--use-case", "own MTA for invoices",
                               "--rdns", "mail.beta.test", "--volume", "500")

    def test_exception_approve_expire_deny_revoke_with_audit(self):
        lab, ns = self.lab, self.lab.tenants[1]
        self.assertEqual(self.probe(ns), "closed")

        # deny
        denied = self.request("first try")
        self.daemon.ctl("exception", "deny", str(denied["id"]), "--reason", "no reverse DNS yet")
        self.assertEqual(self.daemon.ctl("exception", "show", str(denied["id"]))["request"]["status"],
                         "denied")
        self.assertEqual(self.probe(ns), "closed")

        # approve with expiry → direct port 25 works → expiry → blocked again
        req = self.request("we run our own MTA")
        listed = self.daemon.ctl("exception", "list", "--status", "pending")["exceptions"]
        self.assertIn(req["id"], [e["id"] for e in listed])
        t0 = time.monotonic()
        self.daemon.ctl("exception", "approve", str(req["id"]), "--expires", "12s",
                        "--note", "rDNS checked")
        self.assertEqual(self.wait_probe(ns, "inet", within=1.0), "inet")
        self.assertLess(time.monotonic() - t0, 12)
        self.assertEqual(self.wait_probe(ns, "closed", within=30), "closed")
        # While exempt, the host was on the DNSBL rounds too (every 10 s, the exemption 12 s).
        with open(os.path.join(self.lab.workdir, "dnsmasq.log")) as f:
            self.assertIn("11.1.18.198.bl.test", f.read())
        shown = self.daemon.ctl("exception", "show", str(req["id"]))
        self.assertEqual(shown["request"]["status"], "expired")
        actions = [a["action"] for a in shown["audit"]]
        self.assertEqual(actions[:3], ["requested", "approved", "expired"], shown["audit"])
        self.assertTrue(shown["audit"][1]["actor"].startswith("desk:"))

        # approve without expiry → revoke → blocked again
        req = self.request("second host role")
        self.daemon.ctl("exception", "approve", str(req["id"]))
        self.assertEqual(self.wait_probe(ns, "inet", within=1.0), "inet")
        self.daemon.ctl("exception", "revoke", str(req["id"]), "--reason", "complaints")
        self.assertEqual(self.wait_probe(ns, "closed", within=1.0), "closed")
        shown = self.daemon.ctl("exception", "show", str(req["id"]))
        self.assertEqual(shown["request"]["status"], "revoked")
        self.assertEqual([a["action"] for a in shown["audit"]], ["requested", "approved", "revoked"])
        self.assertIn("complaints", shown["audit"][-1]["text"])


def configure(bin_dir, source_dir):
    global BIN, SOURCE, SAMPLES
    BIN, SOURCE = bin_dir, source_dir
    SAMPLES = os.path.join(source_dir, "tests", "data", "reports")


if __name__ == "__main__":
    sys.exit(runner.run("test_abuse", configure,
                        on_failure=lambda: print(AbuseTest.daemon_log[-40000:], file=sys.stderr)))
