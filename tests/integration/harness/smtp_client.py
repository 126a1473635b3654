"""A scripted SMTP client that records exact replies (codes and enhanced codes).

Run inside a namespace as `python3 smtp_client.py JSON`; prints a JSON
transcript. From tests use `dialog(lab, ns, host, port, steps, tls=...)`.

Steps: a string is sent as one command line (CRLF added) and its reply read;
"STARTTLS" upgrades the connection when the reply is 220; {"raw": "text"}
sends text as is (no reply read unless "reply": true). The transcript stops
at the first closed connection or timeout.
"""
import json
import os
import re
import socket
import ssl
import subprocess
import sys

_ENH = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")


class Reply(dict):
    """{"code": int|None, "lines": [...], "enh": "5.7.8"|None, "error": str|None}"""

    @property
    def code(self):
        return self.get("code")

    @property
    def enh(self):
        return self.get("enh")

    @property
    def text(self):
        return "\n".join(self.get("lines", []))

    def keywords(self):
        """EHLO keywords (first word of each line after the first), upper-case."""
        return [line.split(" ", 1)[0].upper() for line in self.get("lines", [])[1:]]

    def ehlo_params(self, keyword):
        for line in self.get("lines", [])[1:]:
            words = line.split()
            if words and words[0].upper() == keyword.upper():
                return words[1:]
        return None


def _read_reply(f):
    lines, code = [], None
    while True:
        raw = f.readline(4096)
        if not raw:
            return {"code": None, "lines": lines, "enh": None, "error": "closed"}
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(line) < 3 or not line[:3].isdigit():
            return {"code": None, "lines": lines + [line], "enh": None, "error": "malformed"}
        code = int(line[:3])
        lines.append(line[4:])
        if len(line) == 3 or line[3] == " ":
            break
    first = lines[0].split(" ", 1)[0] if lines else ""
    return {"code": code, "lines": lines, "enh": first if _ENH.match(first) else None, "error": None}


def _run(spec):
    host, port = spec["host"], int(spec["port"])
    timeout = float(spec.get("timeout", 15))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    out = {"greeting": None, "replies": [], "closed": False, "tls": None}
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        out["connect_error"] = str(e)
        return out
    try:
        if spec.get("tls") == "implicit":
            sock = ctx.wrap_socket(sock, server_hostname=None)
            out["tls"] = sock.version()
        f = sock.makefile("rb")
        out["greeting"] = _read_reply(f)
        if out["greeting"]["code"] is None:
            out["closed"] = True
            return out
        for step in spec.get("steps", []):
            if isinstance(step, dict):
                sock.sendall(step["raw"].encode())
                if not step.get("reply", False):
                    continue
                cmd = None
            else:
                sock.sendall(step.encode() + b"\r\n")
                cmd = step
            r = _read_reply(f)
            out["replies"].append(r)
            if r["code"] is None:
                out["closed"] = True
                return out
            if cmd is not None and cmd.upper() == "STARTTLS" and r["code"] == 220:
                sock = ctx.wrap_socket(sock, server_hostname=None)
                out["tls"] = sock.version()
                f = sock.makefile("rb")
        if spec.get("check_closed"):
            sock.settimeout(float(spec.get("close_timeout", 3)))
            try:
                out["closed"] = f.read(1) == b""
            except (socket.timeout, TimeoutError):
                out["closed"] = False
    except (socket.timeout, TimeoutError):
        out["replies"].append({"code": None, "lines": [], "enh": None, "error": "timeout"})
    except (OSError, ssl.SSLError) as e:
        out["replies"].append({"code": None, "lines": [], "enh": None, "error": repr(e)})
        out["closed"] = True
    finally:
        try:
            sock.close()
        except OSError:
            pass
    return out


class Transcript(dict):
    @property
    def greeting(self):
        return Reply(self["greeting"] or {"code": None, "lines": [], "enh": None})

    @property
    def replies(self):
        return [Reply(r) for r in self["replies"]]

    def __getitem__(self, key):
        if isinstance(key, int):
            return self.replies[key]
        return super().__getitem__(key)


def dialog(lab, ns, host, port, steps, tls=None, check_closed=False, timeout=15):
    """Runs the scripted session from inside namespace ns; returns a Transcript."""
    spec = {"host": host, "port": port, "steps": steps, "tls": tls,
            "check_closed": check_closed, "timeout": timeout}
    res = lab.run(ns, [sys.executable, os.path.abspath(__file__), json.dumps(spec)],
                  check=False, timeout=timeout * (len(steps) + 2) + 10)
    if res.returncode != 0:
        raise RuntimeError(f"smtp_client failed in {ns}: {res.stderr}")
    return Transcript(json.loads(res.stdout))


if __name__ == "__main__":
    print(json.dumps(_run(json.loads(sys.argv[1]))))
