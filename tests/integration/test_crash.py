"""Durability under kill -9: every message acknowledged with 250 survives.

8 client threads stream messages over the intercept listener; after ~1.5 s the
daemon is SIGKILLed mid-stream and restarted on the same state dir. Every
queue id a client saw in a 250 reply must be in the queue with its exact
body, and queue.db must pass PRAGMA integrity_check. Two rounds. Loopback only.

    python3 -u tests/integration/test_crash.py --bin BUILD/bin --source REPO
"""
import os
import random
import smtplib
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import smtp_testbed as tb  # noqa: E402

ARGS = tb.parse_args() if __name__ == "__main__" else None

THREADS = 8
RUN_SECONDS = 1.5
ROUNDS = 2
ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:-_=+/"


def random_body(rng):
    """1-20 KB of CRLF lines; some start with '.' to exercise dot-stuffing."""
    target = rng.randint(1024, 20 * 1024)
    lines, size = [], 0
    while size < target:
        line = "".join(rng.choices(ALPHABET, k=rng.randint(0, 76)))
        if rng.random() < 0.05:
            line = "." + line
        raw = line.encode() + b"\r\n"
        lines.append(raw)
        size += len(raw)
    return b"".join(lines)


class Sender(threading.Thread):
    def __init__(self, port, round_no, index, stop):
        super().__init__(daemon=True)
        self.port, self.round_no, self.index, self.stop = port, round_no, index, stop
        self.acked = {}        # queue id -> body bytes
        self.attempted = 0
        self.errors = []
        self.rng = random.Random(f"{round_no}-{index}")

    def run(self):
        n = 0
        try:
            with smtplib.SMTP("127.0.0.1", self.port, timeout=20) as s:
                s.ehlo("crash.client.example")
                while not self.stop.is_set():
                    n += 1
                    tag = f"r{self.round_no}-t{self.index}-m{n}-{self.rng.getrandbits(48):012x}"
                    body = random_body(self.rng)
                    msg = (f"From: sender{self.index}@client.example\r\n"
                           f"To: rcpt@example.net\r\nSubject: crash {tag}\r\n"
                           f"Message-ID: <{tag}@client.example>\r\n"
                           f"Date: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n").encode() + body
                    self.attempted += 1
                    code, resp = s.mail(f"sender{self.index}@client.example")
                    if code != 250:
                        self.errors.append(f"MAIL {code} {resp!r}")
                        return
                    code, resp = s.rcpt("rcpt@example.net")
                    if code != 250:
                        self.errors.append(f"RCPT {code} {resp!r}")
                        return
                    code, resp = s.data(msg)
                    if code != 250:
                        self.errors.append(f"DATA {code} {resp!r}")
                        return
                    text = resp.decode()
                    if "queued as " not in text:
                        self.errors.append(f"DATA 250 without queue id: {text!r}")
                        return
                    self.acked[text.rsplit("queued as ", 1)[1].strip()] = body
        except (OSError, smtplib.SMTPException):
            pass   # the daemon was killed under us: expected


class CrashTest(unittest.TestCase):
    def test_kill9_keeps_every_acknowledged_message(self):
        bed = tb.Testbed(ARGS.bin, with_credential=False)
        try:
            self._run(bed)
        except Exception:
            print(bed.daemon.log()[-5000:])
            raise
        finally:
            bed.cleanup()

    def _run(self, bed):
        acked = {}
        for round_no in range(1, ROUNDS + 1):
            stop = threading.Event()
            senders = [Sender(bed.intercept_port, round_no, i, stop) for i in range(THREADS)]
            for t in senders:
                t.start()
            time.sleep(RUN_SECONDS)
            bed.daemon.kill9()
            stop.set()
            for t in senders:
                t.join(timeout=30)
                self.assertFalse(t.is_alive(), "sender thread hung after kill -9")
            errors = [e for t in senders for e in t.errors]
            self.assertEqual(errors, [], "server refused messages before the kill")
            round_acked = {}
            for t in senders:
                round_acked.update(t.acked)
            attempted = sum(t.attempted for t in senders)
            self.assertGreater(len(round_acked), 0, "no message acknowledged before the kill")
            acked.update(round_acked)

            bed.daemon.start()
            stored = bed.stored_messages()
            missing = [q for q in acked if q not in stored]
            corrupt = [q for q, body in acked.items()
                       if q in stored and tb.split_message(stored[q])[1] != body]
            total = bed.queue_total()
            print(f"round {round_no}: attempted {attempted}, acknowledged {len(round_acked)} "
                  f"(cumulative {len(acked)}), found {len(acked) - len(missing)}, "
                  f"corrupt {len(corrupt)}, queue total {total}, rows in queue.db {len(stored)}")
            self.assertEqual(missing, [], "acknowledged messages lost after kill -9")
            self.assertEqual(corrupt, [], "acknowledged messages corrupted after kill -9")
            self.assertGreaterEqual(total, len(acked))
            self.assertEqual(tb.integrity_check(bed.queue_db), ["ok"])
            # The control API sees them too (spot check).
            listed = {m["id"] for m in bed.queue_list(limit=min(10000, len(stored) + 100))}
            self.assertEqual(set(acked) - listed, set(), "acknowledged ids missing from /v1/queue")


if __name__ == "__main__":
    if not os.path.exists(os.path.join(ARGS.bin, "portcullisd")):
        print(f"portcullisd not found in {ARGS.bin}", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=2)
