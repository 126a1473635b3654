"""The fake internet of the delivery tests: extra inet addresses, scriptable
SMTP sinks (test_sink.py) on them, dnsmasq with MX records, a self-signed
certificate, and a tenant-side submitter.

    with Lab() as lab:
        add_inet_addresses(lab, "198.18.2.11/24", "fd00:2::11/64")
        sink = Sink.start(lab, "198.18.2.10", 25, behaviour={...})
        lab.start_dnsmasq(extra=dns_records(...))
        qid = submit(lab, lab.tenant, GW_LAN4, 2525, "app@acme.test", ["a@example.test"], "subj")
        sink.wait_for(lambda m: m.subject == "subj")
"""
import email
import email.policy
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SINK_SCRIPT = os.path.join(HERE, "test_sink.py")


def wait_until(pred, timeout=30, interval=0.2):
    """Polls pred until it returns something truthy; returns that (or the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def add_inet_addresses(lab, *cidrs, dev="eth0"):
    """Adds more addresses to inet's interface (each may host its own sink)."""
    for cidr in cidrs:
        extra = ["nodad"] if ":" in cidr else []
        lab.run(lab.inet, ["ip", "addr", "add", cidr, "dev", dev] + extra)


def make_cert(directory, cn="mx.test", names=()):
    """A self-signed RSA certificate (cert, key) for a TLS sink."""
    os.makedirs(directory, exist_ok=True)
    cert, key = os.path.join(directory, f"{cn}.crt"), os.path.join(directory, f"{cn}.key")
    san = ",".join(f"DNS:{n}" for n in (cn,) + tuple(names))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", f"subjectAltName={san}",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key


def make_ca_and_cert(directory, cn="mx.test", names=(), ips=()):
    """A private CA and a certificate for cn (+ names, + IP addresses) signed by it:
    (ca_cert, cert, key)."""
    os.makedirs(directory, exist_ok=True)
    ca_key, ca_cert = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.crt")
    key, csr = os.path.join(directory, f"{cn}.key"), os.path.join(directory, f"{cn}.csr")
    cert, ext = os.path.join(directory, f"{cn}.crt"), os.path.join(directory, f"{cn}.ext")

    def run(*cmd):
        subprocess.run(["openssl", *cmd], check=True, capture_output=True)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=Portcullis Test CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", ca_key, "-out", ca_cert)
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}", "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=" +
                ",".join([f"DNS:{n}" for n in (cn,) + tuple(names)] + [f"IP:{a}" for a in ips]) +
                "\n")
    run("x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
        "-days", "2", "-extfile", ext, "-out", cert)
    return ca_cert, cert, key


class Received:
    """One message stored by a sink: envelope (JSON sidecar) and bytes."""

    def __init__(self, meta_path):
        with open(meta_path) as f:
            self.meta = json.load(f)
        with open(os.path.join(os.path.dirname(meta_path), self.meta["file"]), "rb") as f:
            self.data = f.read()
        self.msg = email.message_from_bytes(self.data, policy=email.policy.compat32)

    mail_from = property(lambda self: self.meta["mail_from"])
    rcpts = property(lambda self: self.meta["rcpts"])
    tls = property(lambda self: self.meta["tls"])
    subject = property(lambda self: str(self.msg.get("Subject", "")))
    message_id = property(lambda self: str(self.msg.get("Message-ID", "")).strip())

    def __repr__(self):
        return (f"<Received from={self.mail_from!r} rcpts={self.rcpts} tls={self.tls} "
                f"subject={self.subject!r}>")


class Sink:
    """A test_sink.py process in inet; behaviour can change while it runs."""

    @classmethod
    def start(cls, lab, address, port=25, name=None, behaviour=None, tls=None, hostname=None):
        """tls: (cert, key) to offer STARTTLS."""
        self = cls()
        self.lab, self.address, self.port = lab, address, port
        self.name = name or f"sink-{address.replace(':', '_')}-{port}"
        self.dir = os.path.join(lab.workdir, self.name)
        self.spool = os.path.join(self.dir, "spool")
        os.makedirs(self.spool, exist_ok=True)
        self.behaviour_path = os.path.join(self.dir, "behaviour.json")
        self.log_path = os.path.join(self.dir, "sink.log")
        self.set_behaviour(behaviour or {})
        listen = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        cmd = [sys.executable, "-u", SINK_SCRIPT, "--listen", listen, "--spool", self.spool,
               "--behaviour", self.behaviour_path, "--hostname", hostname or self.name]
        if tls:
            cmd += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        with open(self.log_path, "a") as log:
            self.proc = lab.popen(lab.inet, cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            lab.wait_port(lab.inet, address, port)
        except RuntimeError:
            raise RuntimeError(f"sink {self.name} did not start:\n{self.log()}")
        return self

    def set_behaviour(self, behaviour):
        tmp = self.behaviour_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(behaviour, f)
        os.rename(tmp, self.behaviour_path)

    def messages(self):
        out = []
        for meta in sorted(glob.glob(os.path.join(self.spool, "*.json"))):
            try:
                out.append(Received(meta))
            except (OSError, ValueError, KeyError):
                pass
        return out

    def find(self, pred):
        return [m for m in self.messages() if pred(m)]

    def wait_for(self, pred, count=1, timeout=30):
        """Messages matching pred once at least count of them arrived (else what there is)."""
        found = wait_until(lambda: (lambda ms: ms if len(ms) >= count else None)(self.find(pred)),
                           timeout=timeout)
        return found or self.find(pred)

    def log(self, tail=40):
        try:
            with open(self.log_path) as f:
                return "\n".join(f.read().splitlines()[-tail:])
        except OSError:
            return ""

    def stop(self):
        self.lab.stop(self.proc)


def dns_records(mx=(), hosts=()):
    """dnsmasq flags: mx = (domain, target, preference); hosts = (name, ip[, ip...]).

    --host-record answers only that exact name (unlike --address, which also
    covers subdomains), and --local=/test/ makes every other name under .test
    NXDOMAIN (a name we know with no record of the asked type is NODATA)."""
    flags = ["--local=/test/", "--auth-ttl=1", "--local-ttl=1"]
    flags += [f"--mx-host={d},{t},{p}" for d, t, p in mx]
    flags += [f"--host-record={name},{','.join(ips)}" for name, *ips in hosts]
    return flags


def render_message(mail_from, rcpts, subject, body="Hello from the delivery tests.\r\n",
                   headers=(), message_id=None):
    """A simple RFC 5322 message with CRLF lines."""
    mid = message_id or f"<{subject.replace(' ', '-')}@acme.test>"
    lines = [f"From: {mail_from or 'MAILER-DAEMON@acme.test'}", f"To: {', '.join(rcpts)}",
             f"Subject: {subject}", f"Message-ID: {mid}", "Date: Mon, 23 Nov 2026 10:00:00 +0000",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=us-ascii", *headers]
    return "\r\n".join(lines) + "\r\n\r\n" + body


def submit(lab, ns, host, port, messages, helo="app.acme.test", timeout=120):
    """Sends messages [(mail_from, rcpts, data)] over one SMTP session from ns.

    Returns the queue ids from the '250 2.0.0 Ok: queued as ID' replies (None for
    a refused message). Uses a scripted client so the final DATA reply is seen."""
    script = r"""
import json, re, socket, sys
spec = json.loads(sys.argv[1])
sock = socket.create_connection((spec["host"], spec["port"]), timeout=30)
f = sock.makefile("rb")
def reply():
    lines = []
    while True:
        l = f.readline(4096).decode(errors="replace").rstrip("\r\n")
        if not l: raise SystemExit("closed: " + repr(lines))
        lines.append(l)
        if len(l) < 4 or l[3] != "-": return lines
def cmd(line):
    sock.sendall(line.encode() + b"\r\n"); return reply()
out = {"ids": [], "replies": []}
reply()
cmd("EHLO " + spec["helo"])
for frm, rcpts, data in spec["messages"]:
    r = [cmd(f"MAIL FROM:<{frm}>")]
    ok = r[0][-1].startswith("250")
    for rc in rcpts:
        r.append(cmd(f"RCPT TO:<{rc}>"))
    if ok and any(x[-1].startswith("250") for x in r[1:]):
        r.append(cmd("DATA"))
        if r[-1][-1].startswith("354"):
            if not data.endswith("\r\n"):
                data += "\r\n"
            body = "".join(("." + l if l.startswith(".") else l) + "\r\n"
                           for l in data[:-2].split("\r\n"))
            sock.sendall(body.encode() + b".\r\n")
            r.append(reply())
    else:
        r.append(cmd("RSET"))
    m = re.search(r"queued as ([0-9A-Za-z]+)", r[-1][-1])
    out["ids"].append(m.group(1) if m and r[-1][-1].startswith("250") else None)
    out["replies"].append(r)
cmd("QUIT")
print(json.dumps(out))
"""
    spec = {"host": host, "port": port, "helo": helo,
            "messages": [list(m) for m in messages]}
    res = lab.run(ns, [sys.executable, "-c", script, json.dumps(spec)], check=False,
                  timeout=timeout)
    if res.returncode != 0:
        raise RuntimeError(f"submit failed in {ns}: {res.stdout}\n{res.stderr}")
    out = json.loads(res.stdout)
    for mid, replies in zip(out["ids"], out["replies"]):
        if mid is None:
            raise RuntimeError(f"message not queued: {replies}")
    return out["ids"]
