#!/usr/bin/env python3
"""Client of auth_rate_bench.sh: connections per second, one message each.

Every connection is what a PHP or CMS mailer does per message: connect,
EHLO, (AUTH PLAIN), MAIL, RCPT, DATA with one small message, QUIT. SESSIONS
connections run at a time, as THREADS threads in each of PROCS processes
(more than one process keeps the client's GIL out of the measurement).
Counts only the connections that finished between WARMUP and WARMUP+SECONDS.

  auth_rate_bench.py MODE HOST PORT SECONDS [--user U --password P]
  MODE: smtps-auth (implicit TLS + AUTH PLAIN), starttls (STARTTLS, no AUTH),
        plain (no TLS, no AUTH), smtps-login (implicit TLS + AUTH PLAIN, then
        QUIT without a message: the login alone)
Prints one JSON object: mode, sessions, procs, seconds, ok, errors, ok_total
(warm-up included), rate, first_error.
"""

import argparse
import json
import multiprocessing
import smtplib
import ssl
import sys
import threading
import time

FROM = "bench@client.example"
TO = "rcpt@example.net"
HELO = "bench-client.example"  # smtplib would otherwise look up the FQDN per connection
MESSAGE = (
    "From: bench@client.example\r\n"
    "To: rcpt@example.net\r\n"
    "Subject: auth rate bench\r\n"
    "\r\n" + "x" * 72 + "\r\n"
)


def tls_context():
    # The daemon's certificate is self-signed: verification is off on purpose.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def one_connection(args, ctx):
    if args.mode in ("smtps-auth", "smtps-login"):
        s = smtplib.SMTP_SSL(args.host, args.port, local_hostname=HELO, timeout=30, context=ctx)
        s.ehlo(HELO)
        s.user, s.password = args.user, args.password
        s.auth("PLAIN", s.auth_plain, initial_response_ok=True)
    elif args.mode == "starttls":
        s = smtplib.SMTP(args.host, args.port, local_hostname=HELO, timeout=30)
        s.ehlo(HELO)
        s.starttls(context=ctx)
        s.ehlo(HELO)
    else:
        s = smtplib.SMTP(args.host, args.port, local_hostname=HELO, timeout=30)
        s.ehlo(HELO)
    try:
        if args.mode != "smtps-login":
            s.sendmail(FROM, [TO], MESSAGE)
    finally:
        s.quit()


def process_main(args, threads, start_at, result_queue):
    ctx = tls_context()
    begin = start_at + args.warmup
    end = begin + args.seconds
    lock = threading.Lock()
    # ok/errors: finished inside the window; ok_total: every message accepted (for the queue check)
    totals = {"ok": 0, "errors": 0, "ok_total": 0, "first_error": ""}

    def worker():
        while time.monotonic() < start_at:
            time.sleep(0.001)
        while True:
            t0 = time.monotonic()
            if t0 >= end:
                return
            try:
                one_connection(args, ctx)
                failed = None
            except Exception as e:  # a benchmark counts failures, it does not stop at one
                failed = f"{type(e).__name__}: {e}"
            t1 = time.monotonic()
            with lock:
                totals["ok_total"] += failed is None
                if begin <= t1 < end:
                    if failed is None:
                        totals["ok"] += 1
                    else:
                        totals["errors"] += 1
                if failed is not None:
                    totals["first_error"] = totals["first_error"] or failed

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    result_queue.put(totals)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["smtps-auth", "starttls", "plain", "smtps-login"])
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("seconds", type=float)
    p.add_argument("--user", default="")
    p.add_argument("--password", default="")
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--procs", type=int, default=1)
    p.add_argument("--warmup", type=float, default=2.0)
    args = p.parse_args()
    if args.mode.startswith("smtps") and not (args.user and args.password):
        p.error(f"{args.mode} needs --user and --password")
    procs = max(1, min(args.procs, args.sessions))
    per_proc = [args.sessions // procs + (1 if i < args.sessions % procs else 0) for i in range(procs)]
    results = multiprocessing.Queue()
    start_at = time.monotonic() + 0.5  # monotonic is system-wide on Linux: one start for all
    children = [
        multiprocessing.Process(target=process_main, args=(args, n, start_at, results))
        for n in per_proc
    ]
    for c in children:
        c.start()
    totals = [results.get() for _ in children]
    for c in children:
        c.join()
    ok = sum(t["ok"] for t in totals)
    errors = sum(t["errors"] for t in totals)
    ok_total = sum(t["ok_total"] for t in totals)
    first_error = next((t["first_error"] for t in totals if t["first_error"]), "")
    print(json.dumps({
        "mode": args.mode, "sessions": args.sessions, "procs": procs, "seconds": args.seconds,
        "ok": ok, "errors": errors, "ok_total": ok_total, "rate": ok / args.seconds, "first_error": first_error,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
