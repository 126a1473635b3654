"""Hostile and malformed SMTP input against a real portcullisd.

Each case checks the exact reply (code + enhanced code from the SPEC table),
that nothing it should not have queued got queued, and that the daemon still
serves the next client normally. Runs on 127.0.0.1 only.

    python3 -u tests/integration/test_bad_input.py --bin BUILD/bin --source REPO
"""
import base64
import os
import smtplib
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import smtp_testbed as tb  # noqa: E402

ARGS = tb.parse_args() if __name__ == "__main__" else None

MAX_MESSAGE_SIZE = 1024 * 1024   # render_config: max_message_size: 1M
MAX_RECIPIENTS = 10              # render_config: max_recipients: 10
MAX_ERRORS = 5                   # render_config: max_errors: 5


def message(subject, body=b"hello\r\n", extra_headers=b""):
    return (b"From: sender@client.example\r\nTo: rcpt@example.net\r\n"
            b"Subject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.encode() + b"@client.example>\r\n"
            b"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n" + extra_headers + b"\r\n" + body)


class BadInputTest(unittest.TestCase):
    bed = None

    @classmethod
    def setUpClass(cls):
        cls.bed = tb.Testbed(ARGS.bin)

    @classmethod
    def tearDownClass(cls):
        if cls.bed:
            if os.environ.get("KEEP_LOG"):
                print(cls.bed.daemon.log())
            cls.bed.cleanup()

    # --- helpers ------------------------------------------------------------
    def connect(self, ehlo=True):
        c = tb.RawSMTP(self.bed.intercept_port)
        greeting = c.reply()
        self.assertEqual(greeting.code, 220, greeting)
        if ehlo:
            r = c.ehlo()
            self.assertEqual(r.code, 250, r)
        return c

    def expect(self, reply, code, enhanced):
        self.assertEqual((reply.code, reply.enhanced), (code, enhanced), repr(reply))

    def expect_ok(self, reply, code):
        """Replies the SPEC table does not pin down: code plus a well-formed
        enhanced code of the same class."""
        self.assertEqual(reply.code, code, repr(reply))
        self.assertRegex(reply.enhanced, r"^%d\.\d{1,3}\.\d{1,3}$" % (code // 100), repr(reply))

    def start_txn(self, c, rcpts=("rcpt@example.net",), mail_params=""):
        self.expect_ok(c.cmd(f"MAIL FROM:<sender@client.example>{mail_params}"), 250)
        for r in rcpts:
            self.expect_ok(c.cmd(f"RCPT TO:<{r}>"), 250)

    def send_data(self, c, raw_body_with_terminator):
        self.assertEqual(c.cmd("DATA").code, 354)
        c.send(raw_body_with_terminator)
        return c.reply()

    def queued_id(self, reply):
        self.expect(reply, 250, "2.0.0")
        self.assertIn("queued as ", reply.text, repr(reply))
        return reply.text.rsplit("queued as ", 1)[1].strip()

    def assert_serves(self, before):
        """A fresh smtplib client gets a message queued; the queue grows by one."""
        with smtplib.SMTP("127.0.0.1", self.bed.intercept_port, timeout=15) as s:
            s.ehlo("good.client.example")
            s.mail("good@client.example")
            code, _ = s.rcpt("rcpt@example.net")
            self.assertEqual(code, 250)
            code, resp = s.data(message("still-serving-%f" % time.time()))
            self.assertEqual(code, 250, resp)
            self.assertIn(b"2.0.0", resp)
        self.assertEqual(self.bed.queue_total(), before + 1)

    def assert_nothing_queued(self, before, settle=0.3):
        time.sleep(settle)
        self.assertEqual(self.bed.queue_total(), before, "a rejected message was queued")

    def stored(self, qid):
        msgs = self.bed.stored_messages()
        self.assertIn(qid, msgs, "queued id not found in queue.db")
        return msgs[qid]

    # --- command line length -------------------------------------------------
    def test_command_line_too_long(self):
        before = self.bed.queue_total()
        with self.connect() as c:
            # 512 octets incl. CRLF is allowed; 513 is not.
            r = c.cmd("NOOP " + "x" * (512 - 7))
            self.assertNotEqual((r.code, r.enhanced), (500, "5.5.2"), f"512-octet line refused: {r!r}")
            self.expect(c.cmd("NOOP " + "x" * (513 - 7)), 500, "5.5.2")
            self.assertIn("Line too long", c.cmd("MAIL FROM:<" + "a" * 3000 + "@x.example>").text)
            # Exactly one reply per long line: the next reply belongs to NOOP.
            self.expect_ok(c.cmd("NOOP"), 250)
            # A transaction in the same session still works.
            self.start_txn(c)
            self.queued_id(self.send_data(c, message("after-long-line") + b".\r\n"))
        self.assertEqual(self.bed.queue_total(), before + 1)
        self.assert_serves(before + 1)

    # --- DATA content ----------------------------------------------------------
    def test_text_line_too_long_in_data(self):
        before = self.bed.queue_total()
        with self.connect() as c:
            self.start_txn(c)
            body = b"ok line\r\n" + b"y" * 999 + b"\r\nafter\r\n"      # 1001 octets incl. CRLF
            r = self.send_data(c, message("long-text-line", body) + b".\r\n")
            self.expect(r, 550, "5.6.0")
            self.assertIn("longer than 1000", r.text)
            self.expect_ok(c.cmd("NOOP"), 250)
        self.assert_nothing_queued(before)
        # 1000 octets incl. CRLF is the limit and accepted.
        with self.connect() as c:
            self.start_txn(c)
            body = b"z" * 998 + b"\r\n"
            qid = self.queued_id(self.send_data(c, message("max-text-line", body) + b".\r\n"))
        self.assertEqual(tb.split_message(self.stored(qid))[1], body)
        self.assert_serves(before + 1)

    def test_message_too_big_via_data(self):
        before = self.bed.queue_total()
        line = b"0123456789" * 9 + b"abcdefgh\r\n"                   # 100 octets
        body = line * (MAX_MESSAGE_SIZE // len(line) + 2000)           # ~1.2 MB
        with self.connect() as c:
            self.start_txn(c)
            r = self.send_data(c, message("too-big", body) + b".\r\n")
            self.expect(r, 552, "5.3.4")
            # The session is usable after the rejection.
            self.expect_ok(c.cmd("RSET"), 250)
        self.assert_nothing_queued(before)
        self.assert_serves(before)

    def test_message_too_big_via_size_param(self):
        before = self.bed.queue_total()
        with self.connect() as c:
            r = c.cmd(f"MAIL FROM:<sender@client.example> SIZE={MAX_MESSAGE_SIZE + 1}")
            self.expect(r, 552, "5.3.4")
            # No transaction was started: RCPT must be refused as a bad sequence.
            self.expect(c.cmd("RCPT TO:<rcpt@example.net>"), 503, "5.5.1")
            # SIZE within the limit is fine.
            self.start_txn(c, mail_params=" SIZE=1000")
            self.queued_id(self.send_data(c, message("size-ok") + b".\r\n"))
        self.assertEqual(self.bed.queue_total(), before + 1)
        self.assert_serves(before + 1)

    def test_too_many_recipients(self):
        before = self.bed.queue_total()
        rcpts = [f"r{i}@example.net" for i in range(MAX_RECIPIENTS)]
        with self.connect() as c:
            self.start_txn(c, rcpts=rcpts)
            self.expect(c.cmd("RCPT TO:<extra@example.net>"), 452, "4.5.3")
            qid = self.queued_id(self.send_data(c, message("many-rcpts") + b".\r\n"))
        self.assertEqual(self.bed.queue_total(), before + 1)
        shown = self.bed.queue_show(qid)
        got = shown.get("recipients")
        if got is None and isinstance(shown.get("envelope"), dict):
            got = shown["envelope"].get("recipients")
        if isinstance(got, list):
            self.assertEqual(sorted(got), sorted(rcpts))
        else:
            self.assertEqual(got, MAX_RECIPIENTS, shown)
        self.assert_serves(before + 1)

    # --- SMTP smuggling ------------------------------------------------------
    def test_smuggling_variants_rejected(self):
        for sep in (b"\n.\n", b"\n.\r\n", b"\r\n.\n", b"\r.\r"):
            with self.subTest(separator=sep):
                before = self.bed.queue_total()
                smuggled = (b"MAIL FROM:<evil@x>\r\nRCPT TO:<victim@y>\r\nDATA\r\n"
                            b"From: evil@x\r\nSubject: smuggled\r\n\r\nsmuggled body")
                raw = message("smuggle", b"real body" + sep + smuggled) + b"\r\n.\r\n"
                with self.connect() as c:
                    self.start_txn(c)
                    r = self.send_data(c, raw)
                    self.expect(r, 550, "5.6.0")
                    # Exactly one reply for the whole message: the next one is NOOP's.
                    self.expect_ok(c.cmd("NOOP"), 250)
                    self.expect_ok(c.cmd("QUIT"), 221)
                self.assert_nothing_queued(before)
                for m in self.bed.queue_list():
                    self.assertNotEqual(m["mail_from"], "evil@x", "smuggled message queued")
                for data in self.bed.stored_messages().values():
                    self.assertNotIn(b"Subject: smuggled", data)
                self.assert_serves(before)

    def test_bdat_bare_lf_rejected(self):
        before = self.bed.queue_total()
        with self.connect() as c:
            self.start_txn(c)
            chunk = message("bdat-bare-lf", b"line one\nline two\r\n")
            c.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
            self.expect(c.reply(), 550, "5.6.0")
            self.expect_ok(c.cmd("NOOP"), 250)
        self.assert_nothing_queued(before)
        self.assert_serves(before)

    # --- error counting --------------------------------------------------------
    def test_pipelined_garbage_closes_after_max_errors(self):
        before = self.bed.queue_total()
        with self.connect() as c:
            c.send(b"".join(b"GARBAGE%d foo\r\n" % i for i in range(3 * MAX_ERRORS)))
            replies = []
            while True:
                try:
                    r = c.reply()
                except tb.ConnectionClosed:
                    break
                replies.append(r)
                if r.code == 421:
                    break
            codes = [(r.code, r.enhanced) for r in replies]
            self.assertTrue(replies, "no reply at all")
            self.assertEqual(codes[-1], (421, "4.7.0"), codes)
            self.assertIn("Too many errors", replies[-1].text)
            bad = codes[:-1]
            self.assertTrue(all(x == (500, "5.5.2") for x in bad), codes)
            self.assertIn(len(bad), (MAX_ERRORS - 1, MAX_ERRORS), codes)
            self.assertTrue(c.is_closed(), "connection still open after 421")
        self.assert_nothing_queued(before, settle=0)
        self.assert_serves(before)

    # --- AUTH ------------------------------------------------------------------
    def test_malformed_auth_on_smtps(self):
        before = self.bed.queue_total()
        with tb.RawSMTP(self.bed.smtps_port, tls=True) as c:
            self.assertEqual(c.reply().code, 220)
            r = c.ehlo()
            self.assertEqual(r.code, 250)
            self.assertIn("AUTH", r.text)
            self.expect(c.cmd("AUTH PLAIN !!!not*base64!!!"), 501, "5.5.2")
            # Valid base64 that is not "authzid NUL authcid NUL passwd".
            self.expect(c.cmd("AUTH PLAIN " + base64.b64encode(b"no-nuls-here").decode()), 501, "5.5.2")
            # Still unauthenticated.
            self.expect(c.cmd("MAIL FROM:<a@client.example>"), 530, "5.7.0")
        # Each 501 counts towards max_errors, so the challenge/response forms
        # get a connection of their own.
        with tb.RawSMTP(self.bed.smtps_port, tls=True) as c:
            self.assertEqual(c.reply().code, 220)
            self.assertEqual(c.ehlo().code, 250)
            r = c.cmd("AUTH PLAIN")
            self.assertEqual(r.code, 334, r)
            self.expect(c.cmd("%%%%"), 501, "5.5.2")
            r = c.cmd("AUTH LOGIN")
            self.assertEqual(r.code, 334, r)
            self.expect(c.cmd("@@not base64@@"), 501, "5.5.2")
        # The real credential still works afterwards on a new connection.
        with tb.RawSMTP(self.bed.smtps_port, tls=True) as c:
            self.assertEqual(c.reply().code, 220)
            self.assertEqual(c.ehlo().code, 250)
            self.expect_ok(c.auth_plain(self.bed.username, self.bed.password), 235)
            self.start_txn(c)
            self.queued_id(self.send_data(c, message("after-bad-auth") + b".\r\n"))
        self.assertEqual(self.bed.queue_total(), before + 1)
        self.assert_serves(before + 1)

    # --- disconnects -------------------------------------------------------------
    def test_disconnect_mid_data(self):
        before = self.bed.queue_total()
        for abortive in (False, True):
            with self.subTest(reset=abortive):
                c = self.connect()
                self.start_txn(c)
                self.assertEqual(c.cmd("DATA").code, 354)
                c.send(message("cut-off", b"partial line\r\n" * 200))
                c.send(b"no terminator and no CRLF")
                if abortive:
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.close()
                self.assert_nothing_queued(before, settle=0.5)
        self.assert_serves(before)

    # --- valid input that must work -----------------------------------------------
    def test_pipelined_transaction(self):
        before = self.bed.queue_total()
        with self.connect() as c:
            c.send(b"MAIL FROM:<sender@client.example>\r\nRCPT TO:<a@example.net>\r\n"
                   b"RCPT TO:<b@example.net>\r\nDATA\r\n")
            self.expect_ok(c.reply(), 250)
            self.expect_ok(c.reply(), 250)
            self.expect_ok(c.reply(), 250)
            self.assertEqual(c.reply().code, 354)
            c.send(message("pipelined") + b".\r\nQUIT\r\n")
            qid = self.queued_id(c.reply())
            self.expect_ok(c.reply(), 221)
        summaries = {m["id"]: m for m in self.bed.queue_list()}
        self.assertIn(qid, summaries)
        rc = summaries[qid]["recipients"]
        self.assertEqual(len(rc) if isinstance(rc, list) else rc, 2)
        self.assertEqual(summaries[qid]["mail_from"], "sender@client.example")
        self.assert_serves(before + 1)

    def test_bdat_two_chunks_byte_exact(self):
        before = self.bed.queue_total()
        # BDAT carries no dot-stuffing: lines starting with "." and a lone "."
        # line are content and must be stored unchanged.
        body = (b"first line\r\n.leading dot stays\r\n.\r\n..two dots stay\r\n"
                + b"".join(b"line %04d of the chunked body\r\n" % i for i in range(300))
                + b"\tlast line\r\n")
        msg = message("bdat-two-chunks", body)
        cut = len(msg) // 2 + 7
        with self.connect() as c:
            self.start_txn(c)
            c.send(b"BDAT %d\r\n" % cut + msg[:cut])
            self.expect_ok(c.reply(), 250)
            c.send(b"BDAT %d LAST\r\n" % (len(msg) - cut) + msg[cut:])
            qid = self.queued_id(c.reply())
        data = self.stored(qid)
        headers, stored_body = tb.split_message(data)
        self.assertEqual(stored_body, body)
        for h in msg.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
            self.assertIn(h + b"\r\n", headers)
        self.assertTrue(data.startswith(b"Received:"), data[:200])
        self.assert_serves(before + 1)

    def test_dot_stuffing_removed(self):
        before = self.bed.queue_total()
        wire_body = b"normal\r\n..leading dot\r\n...\r\n..\r\nend\r\n"
        want_body = b"normal\r\n.leading dot\r\n..\r\n.\r\nend\r\n"
        with self.connect() as c:
            self.start_txn(c)
            qid = self.queued_id(self.send_data(c, message("dot-stuffed", wire_body) + b".\r\n"))
        self.assertEqual(tb.split_message(self.stored(qid))[1], want_body)
        shown = self.bed.queue_show(qid)
        self.assertIn("Subject: dot-stuffed", shown.get("headers", ""))
        self.assert_serves(before + 1)


if __name__ == "__main__":
    if not os.path.exists(os.path.join(ARGS.bin, "portcullisd")):
        print(f"portcullisd not found in {ARGS.bin}", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
