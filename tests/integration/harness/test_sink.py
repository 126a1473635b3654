"""A scriptable SMTP sink for the delivery tests: the "remote MX" in inet.

    ip netns exec NS python3 test_sink.py --listen 198.18.2.10:25 --spool DIR \
        --behaviour FILE [--tls-cert C --tls-key K] [--hostname NAME]

Speaks ESMTP (EHLO: PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES and
STARTTLS when a certificate is given and the behaviour allows it). Every
accepted message is stored as DIR/<n>-<pid>.eml (the bytes as received,
dot-unstuffed) plus DIR/<n>-<pid>.json (envelope: mail_from, rcpts, tls,
tls_version, helo, peer, listen, mail_params, received_at, size), the JSON
written last via rename so a reader never sees a half-stored message.

The behaviour file (JSON, optional, re-read at every connection and every
MAIL) decides the replies; patterns are case-insensitive substrings of the
address:
    {"greeting": "220 mx ESMTP",          # a 4xx/5xx greeting closes after QUIT
     "starttls": true,                    # advertise STARTTLS (needs --tls-cert)
     "ehlo": "502 5.5.1 no EHLO",         # refuse EHLO (clients fall back to HELO)
     "size": 10485760,                    # SIZE advertised
     "mail": {"refuse@": "550 5.7.1 no"}, # MAIL FROM replies by pattern
     "rcpt": {"bounce@": "550 5.1.1 no such user", "defer@": "451 4.3.0 try later"},
     "defer_first_n": {"flaky@": 2},      # first n RCPTs of each matching address: 451
     "data": "554 5.6.0 rejected",        # final DATA reply (default 250)
     "data_delay": 0.2,                   # seconds between storing and the final reply
     "store_before_reply": true}          # false: store only after the final reply is sent
Counters for defer_first_n live for the process (per pattern and address).
Stdlib only; one thread per connection. Logs one line per command on stderr.
"""
import argparse
import itertools
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

MAX_LINE = 4096
_seq = itertools.count(1)
_lock = threading.Lock()
_defer_counts = {}


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


class Sink:
    def __init__(self, args):
        self.args = args
        self.tls_ctx = None
        if args.tls_cert:
            self.tls_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls_ctx.load_cert_chain(args.tls_cert, args.tls_key)
        os.makedirs(args.spool, exist_ok=True)

    def behaviour(self):
        path = self.args.behaviour
        if not path:
            return {}
        try:
            with open(path) as f:
                return json.load(f) or {}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            log("bad behaviour file:", e)
            return {}

    def store(self, envelope, data):
        with _lock:
            n = next(_seq)
        base = os.path.join(self.args.spool, f"{time.time_ns()}-{n:06d}-{os.getpid()}")
        with open(base + ".eml", "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        envelope = dict(envelope, size=len(data), received_at=time.time(),
                        file=os.path.basename(base) + ".eml")
        with open(base + ".json.tmp", "w") as f:
            json.dump(envelope, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(base + ".json.tmp", base + ".json")
        return base


def match(table, address):
    """First reply whose pattern is a substring of address (case-insensitive)."""
    low = address.lower()
    for pattern, reply in (table or {}).items():
        if pattern.lower() in low:
            return pattern, reply
    return None, None


def parse_path(arg):
    """'FROM:<a@b> SIZE=1' -> ('a@b', ['SIZE=1']) or (None, []) on syntax errors."""
    _, _, rest = arg.partition(":")
    rest = rest.strip()
    if not rest.startswith("<") or ">" not in rest:
        return None, []
    addr, _, params = rest[1:].partition(">")
    return addr, params.split()


class Handler(socketserver.StreamRequestHandler):
    timeout = 120

    def setup(self):
        super().setup()
        self.sink = self.server.sink
        self.tls = None
        self.helo = None
        self.peer = self.client_address[0]
        self.reset()

    def reset(self):
        self.mail_from = None
        self.mail_params = []
        self.rcpts = []

    def send(self, line):
        log(self.peer, "<-", line)
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def send_multi(self, code, lines):
        for i, text in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            self.wfile.write(f"{code}{sep}{text}\r\n".encode())
        self.wfile.flush()
        log(self.peer, "<-", code, " | ".join(lines))

    def readline(self):
        line = self.rfile.readline(MAX_LINE)
        if not line:
            return None
        return line

    def handle(self):
        try:
            self._session()
        except (OSError, ssl.SSLError, socket.timeout) as e:
            log(self.peer, "connection ended:", repr(e))

    def _session(self):
        b = self.sink.behaviour()
        greeting = b.get("greeting", f"220 {self.sink.args.hostname} ESMTP test-sink")
        if b.get("greeting_delay"):
            time.sleep(float(b["greeting_delay"]))
        self.send(greeting)
        refused = not greeting.startswith("2")
        while True:
            raw = self.readline()
            if raw is None:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            log(self.peer, "->", line)
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            if refused:
                self.send("503 5.5.1 Service not available")
                continue
            if verb in ("EHLO", "HELO"):
                b = self.sink.behaviour()
                if verb == "EHLO" and b.get("ehlo"):
                    self.send(b["ehlo"])
                    continue
                self.helo = arg.strip()
                self.reset()
                if verb == "HELO":
                    self.send(f"250 {self.sink.args.hostname}")
                    continue
                caps = [self.sink.args.hostname, "PIPELINING", f"SIZE {int(b.get('size', 52428800))}",
                        "8BITMIME", "ENHANCEDSTATUSCODES"]
                if b.get("smtputf8", True):
                    caps.append("SMTPUTF8")
                if self.sink.tls_ctx and self.tls is None and b.get("starttls", True):
                    caps.append("STARTTLS")
                self.send_multi(250, caps)
            elif verb == "STARTTLS":
                if not self.sink.tls_ctx or self.tls is not None:
                    self.send("502 5.5.1 STARTTLS not available")
                    continue
                self.send("220 2.0.0 Ready to start TLS")
                conn = self.sink.tls_ctx.wrap_socket(self.connection, server_side=True)
                self.connection = self.request = conn
                self.rfile = conn.makefile("rb")
                self.wfile = conn.makefile("wb")
                self.tls = conn.version()
                self.helo = None
                self.reset()
                log(self.peer, "TLS", self.tls, conn.cipher()[0] if conn.cipher() else "")
            elif verb == "MAIL":
                b = self.sink.behaviour()
                if self.helo is None:
                    self.send("503 5.5.1 EHLO first")
                    continue
                if self.mail_from is not None:
                    self.send("503 5.5.1 Nested MAIL")
                    continue
                addr, params = parse_path(arg)
                if addr is None:
                    self.send("501 5.5.4 Syntax: MAIL FROM:<address>")
                    continue
                _, reply = match(b.get("mail"), addr)
                if reply and not reply.startswith("2"):
                    self.send(reply)
                    continue
                self.mail_from, self.mail_params = addr, params
                self.send(reply or "250 2.1.0 Ok")
            elif verb == "RCPT":
                b = self.sink.behaviour()
                if self.mail_from is None:
                    self.send("503 5.5.1 MAIL first")
                    continue
                addr, _ = parse_path(arg)
                if addr is None:
                    self.send("501 5.5.4 Syntax: RCPT TO:<address>")
                    continue
                pattern, n = match(b.get("defer_first_n"), addr)
                if pattern is not None:
                    key = (pattern.lower(), addr.lower())
                    with _lock:
                        seen = _defer_counts.get(key, 0)
                        _defer_counts[key] = seen + 1
                    if seen < int(n):
                        self.send(f"451 4.3.0 Deferred attempt {seen + 1} of {n}, try later")
                        continue
                _, reply = match(b.get("rcpt"), addr)
                if reply and not reply.startswith("2"):
                    self.send(reply)
                    continue
                self.rcpts.append(addr)
                self.send(reply or "250 2.1.5 Ok")
            elif verb == "DATA":
                if self.mail_from is None or not self.rcpts:
                    self.send("503 5.5.1 No valid recipients")
                    continue
                self.send("354 End data with <CR><LF>.<CR><LF>")
                data = self._read_data()
                if data is None:
                    log(self.peer, "connection lost during DATA; message discarded")
                    return
                self._finish_data(data)
                self.reset()
            elif verb == "RSET":
                self.reset()
                self.send("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.send("250 2.0.0 Ok")
            else:
                self.send("502 5.5.2 Command not implemented")

    def _read_data(self):
        chunks = []
        while True:
            raw = self.rfile.readline(1 << 20)
            if not raw:
                return None
            if raw == b".\r\n" or raw == b".\n":
                return b"".join(chunks)
            if raw.startswith(b"."):
                raw = raw[1:]
            chunks.append(raw)

    def _finish_data(self, data):
        b = self.sink.behaviour()
        reply = b.get("data", "250 2.0.0 Ok: stored")
        envelope = {"mail_from": self.mail_from, "rcpts": list(self.rcpts), "tls": self.tls is not None,
                    "tls_version": self.tls, "helo": self.helo, "peer": self.peer,
                    "listen": self.sink.args.listen, "mail_params": self.mail_params}
        accept = reply.startswith("2")
        before = b.get("store_before_reply", True)
        if accept and before:
            self.sink.store(envelope, data)
        if b.get("data_delay"):
            time.sleep(float(b["data_delay"]))
        self.send(reply)
        if accept and not before:
            self.sink.store(envelope, data)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def parse_listen(text):
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host, int(port), socket.AF_INET6
    host, _, port = text.rpartition(":")
    return host, int(port), socket.AF_INET


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", required=True, help="ip:port or [ipv6]:port")
    p.add_argument("--spool", required=True)
    p.add_argument("--behaviour", default="")
    p.add_argument("--tls-cert", default="")
    p.add_argument("--tls-key", default="")
    p.add_argument("--hostname", default="sink.test")
    args = p.parse_args()
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    host, port, family = parse_listen(args.listen)
    Server.address_family = family
    server = Server((host, port), Handler)
    server.sink = Sink(args)
    log("listening on", args.listen, "spool", args.spool, "tls" if args.tls_cert else "plain")
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
