"""Shared pieces for the SMTP integration tests: argument handling, free
loopback ports, a raw SMTP client that shows every reply line exactly, a
daemon set up with an intercept tenant for 127.0.0.0/8, and read-only access
to the queue (control API and queue.db).

Everything here talks to 127.0.0.1 only. Outbound delivery is routed to a
closed loopback port so queued messages stay queued and nothing leaves.
"""
import argparse
import base64
import os
import socket
import sqlite3
import ssl
import sys
import time

from harness.daemon import Daemon, render_config


def parse_args():
    """Strips --bin/--source from sys.argv (the rest goes to unittest)."""
    parser = argparse.ArgumentParser(add_help=False)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--bin", default=os.environ.get("PORTCULLIS_BIN", "build/bin"))
    parser.add_argument("--source", default=os.path.abspath(os.path.join(here, "..", "..", "..")))
    args, rest = parser.parse_known_args()
    sys.argv = [sys.argv[0]] + rest
    args.bin = os.path.abspath(args.bin)
    return args


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (bound together, then closed)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


# A plan generous enough that per-tenant rate limits never get in the way of
# the protocol tests or the crash test.
BULK_PLAN = """  bulk:
    monthly_quota: 100000000
    messages_per_minute: 1000000
    messages_per_hour: 10000000
    recipients_per_message: 1000
    recipients_per_hour: 100000000
    max_connections: 200
    max_message_size: 25M
"""


class Testbed:
    """A running portcullisd with intercept, submission and smtps listeners on
    127.0.0.1 and tenant `t1` (plan bulk) owning 127.0.0.0/8."""

    def __init__(self, bin_dir, extra_relay_limits="", with_credential=True):
        (self.intercept_port, self.submission_port, self.smtps_port,
         self.sink_port, self.dns_port) = free_ports(5)
        # Deliveries go to a loopback port nobody listens on, DNS likewise:
        # every attempt fails temporarily and messages stay in the queue.
        extra = BULK_PLAN + f"""delivery:
  resolver: "127.0.0.1:{self.dns_port}"
  retry_schedule: [1h]
  routes:
    - {{domain: "*", host: "127.0.0.1", port: {self.sink_port}}}
"""

        def cfg(state_dir, socket_path):
            return render_config(state_dir, socket_path,
                                 submission=[f"127.0.0.1:{self.submission_port}"],
                                 smtps=[f"127.0.0.1:{self.smtps_port}"],
                                 intercept=[f"127.0.0.1:{self.intercept_port}"],
                                 extra_relay_limits=extra_relay_limits, extra=extra)

        self.daemon = Daemon(bin_dir, cfg)
        self.queue_db = os.path.join(self.daemon.state_dir, "queue.db")
        self.username = self.password = None
        try:
            self.daemon.start()
            self.daemon.ctl("tenant", "add", "t1", "--plan", "bulk", "--subnet", "127.0.0.0/8",
                            "--mode", "redirect")
            if with_credential:
                cred = self.daemon.ctl("credential", "issue", "t1", "--description", "tests")
                self.username, self.password = cred["username"], cred["password"]
        except Exception:
            self.daemon.cleanup()
            raise

    def cleanup(self):
        self.daemon.cleanup()

    # --- queue inspection -------------------------------------------------
    def queue_total(self):
        out = self.daemon.ctl("queue", "list")
        if isinstance(out, dict) and "total" in out:
            return int(out["total"])
        return len(out["messages"])

    def queue_list(self, limit=10000):
        status, body = self.daemon.api("GET", f"/v1/queue?limit={limit}")
        if status != 200:
            raise RuntimeError(f"GET /v1/queue -> {status} {body}")
        return body["messages"]

    def queue_show(self, qid):
        return self.daemon.ctl("queue", "show", qid)

    def stored_messages(self):
        return read_queue_db(self.queue_db)


def read_queue_db(path):
    """{id: data bytes} from queue.db, opened read-only."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        cur = con.execute("SELECT * FROM messages")
        cols = [d[0].lower() for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    data_col = cols.index("data")
    id_col = cols.index("id") if "id" in cols else None
    out = {}
    for row in rows:
        data = row[data_col]
        if isinstance(data, str):
            data = data.encode()
        if id_col is not None:
            out[str(row[id_col])] = data
        else:  # id stored under another name: take the first id-looking text column
            key = next(v for v in row if isinstance(v, str) and v.isalnum() and 12 <= len(v) <= 40)
            out[key] = data
    return out


def integrity_check(path):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return [r[0] for r in con.execute("PRAGMA integrity_check").fetchall()]
    finally:
        con.close()


def split_message(data):
    """(header section, body) split at the first empty line."""
    idx = data.find(b"\r\n\r\n")
    if idx < 0:
        return data, b""
    return data[:idx + 2], data[idx + 4:]


# --- a raw SMTP client ------------------------------------------------------
class Reply:
    def __init__(self, lines):
        self.lines = lines                 # raw lines without CRLF (bytes)
        self.code = int(lines[-1][:3])
        self.text = b"\n".join(l[4:] for l in lines).decode(errors="replace")

    @property
    def enhanced(self):
        first = self.lines[0][4:].split(b" ", 1)[0].decode(errors="replace")
        return first

    def __repr__(self):
        return " | ".join(l.decode(errors="replace") for l in self.lines)


class ConnectionClosed(Exception):
    pass


class RawSMTP:
    def __init__(self, port, tls=False, timeout=15, host="127.0.0.1"):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock, server_hostname="relay.gw.example")
        self.sock = sock
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _line(self):
        while b"\r\n" not in self.buf:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise ConnectionClosed(f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return Reply(lines)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def ehlo(self, name="client.example"):
        return self.cmd(f"EHLO {name}")

    def is_closed(self, timeout=5):
        """True if the server closes the connection (EOF/RST) within timeout
        without sending anything more."""
        if self.buf:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLError:
            return True
        if data:
            self.buf += data
            return False
        return True

    def auth_plain(self, username, password):
        token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
        return self.cmd(f"AUTH PLAIN {token}")


def wait_until(pred, timeout=5, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(interval)
    return pred()
