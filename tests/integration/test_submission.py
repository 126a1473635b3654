"""Submission, smtps and intercept listeners end to end, with real clients.

One Lab (network namespaces) and one portcullisd in `gw`; tenant `acme` owns
the tenant LAN (198.18.1.0/24, fd00:1::/64). Clients (swaks, a scripted raw
client) run inside the tenant and stranger namespaces.

    python3 -u test_submission.py --bin BUILD/bin --source REPO [unittest args]
"""
import base64
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness.daemon import Daemon, render_config  # noqa: E402
from harness import runner  # noqa: E402
from harness.netns import GW_LAN4, GW_LAN6, Lab  # noqa: E402
from harness.smtp_client import dialog  # noqa: E402

BIN = None
SOURCE = None
HOSTNAME = "relay.gw.example"
QUEUED = re.compile(r"^250 2\.0\.0 Ok: queued as ([0-9A-Za-z]+)\s*$", re.M)


def b64(text):
    return base64.b64encode(text.encode()).decode()


def plain(user, password):
    return b64(f"\0{user}\0{password}")


def envelope_of(shown):
    """GET /v1/queue/{id} gives the envelope either flat or under "envelope"."""
    env = dict(shown.get("envelope", {}))
    for k, v in shown.items():
        env.setdefault(k, v)
    return env


class SubmissionTest(unittest.TestCase):
    lab = None
    daemon = None
    daemon_log = ""

    @classmethod
    def setUpClass(cls):
        cls.lab = Lab(tenants=2).start()
        try:
            delivery = ("delivery:\n"
                        # Nothing answers DNS there: messages stay queued (deferred)
                        # so the tests can inspect them.
                        "  resolver: \"198.18.2.10:53\"\n"
                        "  retry_schedule: [1h]\n")
            cls.daemon = Daemon(BIN, lambda state, sock: render_config(
                state, sock,
                submission=[f"{GW_LAN4}:587", f"[{GW_LAN6}]:587"],
                smtps=[f"{GW_LAN4}:465", f"[{GW_LAN6}]:465"],
                intercept=[f"{GW_LAN4}:2525", f"[{GW_LAN6}]:2525"],
                hostname=HOSTNAME, extra=delivery), netns=cls.lab.gw)
            cls.daemon.start()
            for port in (587, 465, 2525):
                cls.lab.wait_port(cls.lab.tenant, GW_LAN4, port)
            cls.daemon.ctl("tenant", "add", "acme", "--plan", "standard",
                           "--subnet", "198.18.1.0/24", "--subnet", "fd00:1::/64",
                           "--mode", "redirect", "--abuse-contact", "abuse@acme.test")
            cls.cred = cls.daemon.ctl("credential", "issue", "acme", "--description", "main")
            cls.cred_badpw = cls.daemon.ctl("credential", "issue", "acme", "--description", "bad pw")
            cls.cred_lock = cls.daemon.ctl("credential", "issue", "acme", "--description", "lockout")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop()
            SubmissionTest.daemon_log = cls.daemon.log()
            cls.daemon.cleanup()
        if cls.lab:
            cls.lab.close()

    # -- helpers ---------------------------------------------------------
    def talk(self, steps, ns=None, host=GW_LAN4, port=587, **kw):
        return dialog(self.lab, ns or self.lab.tenant, host, port, steps, **kw)

    def assertReply(self, reply, code, enh=None, msg=None):
        self.assertEqual(reply.code, code, f"{msg or ''} reply: {dict(reply)}")
        if enh is not None:
            self.assertEqual(reply.enh, enh, f"{msg or ''} reply: {dict(reply)}")

    def swaks(self, *args, ns=None):
        res = self.lab.run(ns or self.lab.tenant,
                           ["swaks", "--timeout", "20", "--ehlo", "app.acme.test", *args],
                           check=False, timeout=90)
        return res

    def swaks_queued(self, *args, ns=None):
        res = self.swaks(*args, ns=ns)
        out = res.stdout + res.stderr
        self.assertEqual(res.returncode, 0, f"swaks failed:\n{out}")
        ids = QUEUED.findall("\n".join(line[4:] for line in out.splitlines()
                                       if line[:2] in ("<-", "<~")))
        self.assertEqual(len(ids), 1, f"no '250 2.0.0 Ok: queued as ID' in:\n{out}")
        return ids[0]

    def queue(self):
        return self.daemon.ctl("queue", "list")

    def queue_ids(self):
        return {m["id"] for m in self.queue()["messages"]}

    def assertQueued(self, msg_id, listener, credential, client_address):
        listed = {m["id"]: m for m in self.queue()["messages"]}
        self.assertIn(msg_id, listed)
        self.assertEqual(listed[msg_id]["tenant_id"], "acme")
        env = envelope_of(self.daemon.ctl("queue", "show", msg_id))
        self.assertEqual(env.get("tenant_id"), "acme", env)
        self.assertEqual(env.get("listener"), listener, env)
        self.assertEqual(env.get("credential"), credential, env)
        self.assertIn(client_address, str(env.get("client_address")), env)
        return env

    # -- EHLO --------------------------------------------------------------
    def test_greeting_and_ehlo_before_and_after_starttls(self):
        t = self.talk(["EHLO app.acme.test", "STARTTLS", "EHLO app.acme.test", "STARTTLS", "QUIT"])
        self.assertReply(t.greeting, 220)
        self.assertEqual(t.greeting.text, f"{HOSTNAME} ESMTP Portcullis")
        before, starttls, after, again = t[0], t[1], t[2], t[3]
        self.assertReply(before, 250)
        kw = before.keywords()
        self.assertIn("STARTTLS", kw)
        self.assertNotIn("AUTH", kw)
        for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8"):
            self.assertIn(k, kw)
        self.assertEqual(before.ehlo_params("SIZE"), [str(1024 * 1024)])
        self.assertReply(starttls, 220)
        self.assertTrue(t["tls"], "no TLS handshake")
        self.assertReply(after, 250)
        kw = after.keywords()
        self.assertNotIn("STARTTLS", kw)
        self.assertEqual(sorted(after.ehlo_params("AUTH") or []), ["LOGIN", "PLAIN"])
        for k in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "CHUNKING", "SMTPUTF8"):
            self.assertIn(k, kw)
        self.assertReply(again, 503, "5.5.1", "STARTTLS twice")

    def test_ehlo_on_smtps_offers_auth(self):
        t = self.talk(["EHLO app.acme.test", "QUIT"], port=465, tls="implicit")
        self.assertReply(t.greeting, 220)
        self.assertReply(t[0], 250)
        self.assertNotIn("STARTTLS", t[0].keywords())
        self.assertEqual(sorted(t[0].ehlo_params("AUTH") or []), ["LOGIN", "PLAIN"])

    # -- successful submission ---------------------------------------------
    def test_swaks_starttls_auth_plain(self):
        u, p = self.cred["username"], self.cred["password"]
        msg_id = self.swaks_queued("--server", f"{GW_LAN4}:587", "--tls", "--auth", "PLAIN",
                                   "--auth-user", u, "--auth-password", p,
                                   "--to", "someone@example.test", "--from", "app@acme.test")
        self.assertQueued(msg_id, "submission", u, "198.18.1.10")

    def test_swaks_starttls_auth_login(self):
        u, p = self.cred["username"], self.cred["password"]
        msg_id = self.swaks_queued("--server", f"{GW_LAN4}:587", "--tls", "--auth", "LOGIN",
                                   "--auth-user", u, "--auth-password", p,
                                   "--to", "someone@example.test", "--from", "app@acme.test")
        self.assertQueued(msg_id, "submission", u, "198.18.1.10")

    def test_swaks_implicit_tls_smtps(self):
        u, p = self.cred["username"], self.cred["password"]
        msg_id = self.swaks_queued("--server", f"{GW_LAN4}:465", "--tlsc", "--auth", "PLAIN",
                                   "--auth-user", u, "--auth-password", p,
                                   "--to", "someone@example.test", "--from", "app@acme.test")
        self.assertQueued(msg_id, "smtps", u, "198.18.1.10")

    def test_raw_auth_plain_and_login_replies(self):
        u, p = self.cred["username"], self.cred["password"]
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", f"AUTH PLAIN {plain(u, p)}",
                       f"AUTH PLAIN {plain(u, p)}", "QUIT"])
        self.assertReply(t[3], 235, "2.7.0")
        self.assertReply(t[4], 503, "5.5.1", "AUTH twice")
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", "AUTH LOGIN", b64(u), b64(p), "QUIT"])
        self.assertReply(t[3], 334)
        self.assertReply(t[4], 334)
        self.assertReply(t[5], 235, "2.7.0")

    def test_received_header_names_tenant_address(self):
        u, p = self.cred["username"], self.cred["password"]
        msg_id = self.swaks_queued("--server", f"{GW_LAN4}:587", "--tls", "--auth", "PLAIN",
                                   "--auth-user", u, "--auth-password", p,
                                   "--to", "rcpt@example.test", "--from", "app@acme.test",
                                   "--header", "Subject: received-check")
        shown = self.daemon.ctl("queue", "show", msg_id)
        headers = shown.get("headers", "")
        received = re.search(r"^Received:.*(?:\r?\n[ \t].*)*", headers, re.M)
        self.assertIsNotNone(received, f"no Received header in:\n{headers}")
        self.assertIn("198.18.1.10", received.group(0))
        self.assertIn(HOSTNAME, received.group(0))
        self.assertIn("Subject: received-check", headers)
        env = envelope_of(shown)
        self.assertEqual(env.get("mail_from"), "app@acme.test")
        self.assertEqual(env.get("recipients"), ["rcpt@example.test"])

    # -- refusals ----------------------------------------------------------
    def test_auth_without_tls_is_538(self):
        u, p = self.cred["username"], self.cred["password"]
        t = self.talk(["EHLO a.test", f"AUTH PLAIN {plain(u, p)}", "AUTH LOGIN", "QUIT"])
        self.assertReply(t[1], 538, "5.7.11")
        self.assertReply(t[2], 538, "5.7.11")

    def test_wrong_password_is_535(self):
        u = self.cred_badpw["username"]
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test",
                       f"AUTH PLAIN {plain(u, 'not-the-password')}", "QUIT"], ns=self.lab.stranger)
        self.assertReply(t[3], 535, "5.7.8")
        self.assertIn("Authentication credentials invalid", t[3].text)

    def test_unknown_user_is_535(self):
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", "AUTH LOGIN",
                       b64("nosuchuser"), b64("whatever"), "QUIT"], ns=self.lab.stranger)
        self.assertReply(t[3], 334)
        self.assertReply(t[4], 334)
        self.assertReply(t[5], 535, "5.7.8")

    def test_malformed_auth_is_501(self):
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", "AUTH PLAIN !!!notbase64!!!",
                       "QUIT"], ns=self.lab.stranger)
        self.assertReply(t[3], 501, "5.5.2")

    def test_mail_without_auth_is_530(self):
        before = self.queue_ids()
        t = self.talk(["EHLO a.test", "MAIL FROM:<app@acme.test>", "QUIT"])
        self.assertReply(t[1], 530, "5.7.0", "before TLS")
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", "MAIL FROM:<app@acme.test>",
                       "QUIT"])
        self.assertReply(t[3], 530, "5.7.0", "after TLS")
        self.assertIn("Authentication required", t[3].text)
        t = self.talk(["EHLO a.test", "MAIL FROM:<app@acme.test>", "QUIT"], port=465,
                      tls="implicit")
        self.assertReply(t[1], 530, "5.7.0", "smtps")
        self.assertEqual(self.queue_ids() - before, set())

    def test_relaying_without_auth_refused(self):
        before = self.queue_ids()
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", "MAIL FROM:<x@elsewhere.test>",
                       "RCPT TO:<victim@example.test>", "DATA", "QUIT"], ns=self.lab.stranger)
        self.assertReply(t[3], 530, "5.7.0")
        self.assertGreaterEqual(t[4].code or 0, 500, dict(t[4]))
        self.assertGreaterEqual(t[5].code or 0, 500, dict(t[5]))
        res = self.swaks("--server", f"{GW_LAN4}:587", "--tls", "--to", "victim@example.test",
                         "--from", "x@elsewhere.test", ns=self.lab.stranger)
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertEqual(self.queue_ids() - before, set())

    def test_lockout_after_repeated_failures(self):
        u, p = self.cred_lock["username"], self.cred_lock["password"]
        ns = self.lab.tenants[1]  # its own client address: other tests are not locked out
        for i in range(5):
            t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test",
                           f"AUTH PLAIN {plain(u, 'wrong' + str(i))}", "QUIT"], ns=ns)
            self.assertReply(t[3], 535, "5.7.8", f"attempt {i + 1}")
        t = self.talk(["EHLO a.test", "STARTTLS", "EHLO a.test", f"AUTH PLAIN {plain(u, p)}",
                       "QUIT"], ns=ns)
        self.assertReply(t[3], 454, "4.7.0", "correct password while locked out")
        self.assertIn("Too many failed authentication attempts", t[3].text)

    # -- intercept ---------------------------------------------------------
    def test_intercept_from_stranger_is_554(self):
        before = self.queue_ids()
        t = self.talk(["EHLO stranger.test", "MAIL FROM:<x@stranger.test>"], ns=self.lab.stranger,
                      port=2525, check_closed=True)
        self.assertReply(t.greeting, 554, "5.7.1")
        self.assertIn("not a tenant address", t.greeting.text)
        self.assertTrue(t["closed"], "connection not closed after 554 greeting")
        self.assertTrue(all(r.code is None for r in t.replies), t["replies"])
        self.assertEqual(self.queue_ids() - before, set())

    def test_intercept_from_tenant_ipv4(self):
        msg_id = self.swaks_queued("--server", GW_LAN4, "--port", "2525",
                                   "--to", "someone@example.test", "--from", "app@acme.test")
        self.assertQueued(msg_id, "intercept", "", "198.18.1.10")

    def test_intercept_from_tenant_ipv6(self):
        # Debian's swaks needs IO::Socket::INET6 for IPv6; the scripted client
        # does the same transaction and checks every reply.
        t = self.talk(["EHLO app.acme.test", "MAIL FROM:<app@acme.test>",
                       "RCPT TO:<someone@example.test>", "DATA",
                       {"raw": "Subject: v6\r\n\r\nhello over IPv6\r\n.\r\n", "reply": True},
                       "QUIT"], host=GW_LAN6, port=2525)
        self.assertReply(t.greeting, 220)
        self.assertReply(t[1], 250, "2.1.0")
        self.assertReply(t[2], 250, "2.1.5")
        self.assertReply(t[3], 354)
        m = QUEUED.match(f"{t[4].code} {t[4].text}")
        self.assertIsNotNone(m, dict(t[4]))
        env = self.assertQueued(m.group(1), "intercept", "", "fd00:1::10")
        self.assertIn("fd00:1::10", self.daemon.ctl("queue", "show", m.group(1))["headers"])
        self.assertEqual(env.get("helo"), "app.acme.test")

    def test_intercept_raw_replies(self):
        t = self.talk(["EHLO app.acme.test", "MAIL FROM:<app@acme.test>",
                       "RCPT TO:<someone@example.test>", "DATA",
                       {"raw": "Subject: raw\r\n\r\nhello\r\n.\r\n", "reply": True}, "QUIT"],
                      port=2525)
        self.assertReply(t.greeting, 220)
        self.assertNotIn("AUTH", t[0].keywords())
        self.assertReply(t[1], 250, "2.1.0")
        self.assertReply(t[2], 250, "2.1.5")
        self.assertReply(t[3], 354)
        self.assertReply(t[4], 250, "2.0.0")
        m = QUEUED.match("250 " + t[4].text)
        self.assertIsNotNone(m, t[4].text)
        self.assertIn(m.group(1), self.queue_ids())

    # -- portcullisctl -------------------------------------------------------
    def test_ctl_human_output(self):
        res = self.daemon.ctl("tenant", "list", json_output=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        lines = res.stdout.splitlines()
        self.assertGreaterEqual(len(lines), 2, res.stdout)
        self.assertIn("ID", lines[0].upper())
        self.assertTrue(any(line.split()[:1] == ["acme"] for line in lines[1:]), res.stdout)
        res = self.daemon.ctl("tenant", "show", "acme", json_output=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        for text in ("acme", "198.18.1.0/24", "fd00:1::/64", "redirect"):
            self.assertIn(text, res.stdout)
        res = self.daemon.ctl("credential", "list", "acme", json_output=False)
        self.assertEqual(res.returncode, 0, res.stderr)
        self.assertIn(self.cred["username"], res.stdout)
        self.assertNotIn(self.cred["password"], res.stdout)
        res = self.daemon.ctl("queue", "list", json_output=False)
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_ctl_errors(self):
        res = self.daemon.ctl("tenant", "show", "nosuch", json_output=False, check=False)
        self.assertEqual(res.returncode, 1, res)
        err = res.stderr.splitlines()
        self.assertEqual(len(err), 1, res.stderr)
        self.assertTrue(err[0].startswith("portcullisctl: "), res.stderr)
        self.assertEqual(res.stdout, "")
        res = self.daemon.ctl("tenant", "add", "other", "--plan", "nosuchplan",
                              "--subnet", "198.18.9.0/24", json_output=False, check=False)
        self.assertEqual(res.returncode, 1, res)
        self.assertEqual(len(res.stderr.splitlines()), 1, res.stderr)
        res = self.daemon.ctl("tenant", "add", "overlap", "--plan", "standard",
                              "--subnet", "198.18.1.128/25", json_output=False, check=False)
        self.assertEqual(res.returncode, 1, res)
        res = self.daemon.ctl("frobnicate", json_output=False, check=False)
        self.assertEqual(res.returncode, 2, res)


def configure(bin_dir, source_dir):
    global BIN, SOURCE
    BIN, SOURCE = bin_dir, source_dir


def print_diagnostics():
    if SubmissionTest.daemon_log:
        print("---- portcullisd log (last 80 lines) ----", file=sys.stderr)
        print("\n".join(SubmissionTest.daemon_log.splitlines()[-80:]), file=sys.stderr)


def main():
    return runner.run("test_submission", configure, print_diagnostics)


if __name__ == "__main__":
    sys.exit(main())
