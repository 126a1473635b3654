"""A throw-away network of Linux network namespaces for integration tests.

    tenant (198.18.1.10)  ─┐
    tenant2 (198.18.1.11) ─┤ br0 198.18.1.1   gw   198.18.2.1 ── inet 198.18.2.10
    stranger (198.18.3.10) ─── 198.18.3.1                       (smtp-sink, dnsmasq)

Every namespace name starts with `pc<pid>-` so parallel runs never collide,
every address comes from 198.18.0.0/15 or fd00::/8, and nothing is attached
to the host's own network: traffic cannot leave the namespaces. Cleanup (the
context manager, atexit, SIGTERM/SIGHUP) kills every process the Lab started
and deletes its namespaces, also after a failure or Ctrl-C.
"""
import atexit
import os
import shutil
import signal
import subprocess
import tempfile
import sys
import time

# name, IPv4, IPv6 of each tenant host on the LAN (gw is .1 / ::1).
TENANT_HOSTS = [("tenant", "198.18.1.10", "fd00:1::10"), ("tenant2", "198.18.1.11", "fd00:1::11")]
LAN4, LAN6 = "198.18.1.0/24", "fd00:1::/64"
GW_LAN4, GW_LAN6 = "198.18.1.1", "fd00:1::1"
STRANGER4, STRANGER6 = "198.18.3.10", "fd00:3::10"
GW_STRANGER4, GW_STRANGER6 = "198.18.3.1", "fd00:3::1"
INET4, INET6 = "198.18.2.10", "fd00:2::10"
GW_INET4, GW_INET6 = "198.18.2.1", "fd00:2::1"

_live_labs = []


def _cleanup_all():
    for lab in list(_live_labs):
        lab.close()


def _on_signal(signum, _frame):
    # Turn the signal into an exception so `with Lab()` blocks and finally
    # clauses unwind normally; atexit covers anything left over.
    raise SystemExit(128 + signum)


atexit.register(_cleanup_all)


def _install_signal_handlers():
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread
            pass


class Lab:
    """tenant host(s), a stranger host, gw (forwards) and inet, wired by veth pairs."""

    def __init__(self, tenants=2, prefix=None, workdir=None):
        self.prefix = prefix or f"pc{os.getpid()}-"
        self.tenant_hosts = TENANT_HOSTS[:tenants]
        self.tenants = [self.prefix + name for name, _, _ in self.tenant_hosts]
        self.tenant = self.tenants[0]
        self.stranger = self.prefix + "stranger"
        self.gw = self.prefix + "gw"
        self.inet = self.prefix + "inet"
        self.namespaces = []
        self.procs = []
        self._own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="portcullis-lab-")
        os.makedirs(self.workdir, exist_ok=True)
        self.closed = False

    # -- lifecycle -------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self):
        _install_signal_handlers()
        _live_labs.append(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _ns(self, name):
        subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
        self.namespaces.append(name)
        self.run(name, ["ip", "link", "set", "lo", "up"])
        # No router advertisements or SLAAC: only our static addresses exist.
        self.run(name, ["sysctl", "-qw", "net.ipv6.conf.all.accept_ra=0",
                        "net.ipv6.conf.default.accept_ra=0"])

    def _veth(self, ns_a, dev_a, ns_b, dev_b):
        subprocess.run(["ip", "link", "add", dev_a, "netns", ns_a, "type", "veth",
                        "peer", "name", dev_b, "netns", ns_b], check=True, capture_output=True)

    def _addr(self, ns, dev, *addrs):
        for a in addrs:
            extra = ["nodad"] if ":" in a else []
            self.run(ns, ["ip", "addr", "add", a, "dev", dev] + extra)
        self.run(ns, ["ip", "link", "set", dev, "up"])

    def _default_routes(self, ns, via4, via6):
        self.run(ns, ["ip", "route", "add", "default", "via", via4])
        self.run(ns, ["ip", "-6", "route", "add", "default", "via", via6])

    def _build(self):
        for ns in [self.gw, self.inet, self.stranger] + self.tenants:
            self._ns(ns)
        self.run(self.gw, ["sysctl", "-qw", "net.ipv4.ip_forward=1",
                           "net.ipv6.conf.all.forwarding=1"])
        # LAN: a bridge in gw so several tenant hosts share 198.18.1.0/24.
        self.run(self.gw, ["ip", "link", "add", "br0", "type", "bridge"])
        self._addr(self.gw, "br0", f"{GW_LAN4}/24", f"{GW_LAN6}/64")
        for i, (name, a4, a6) in enumerate(self.tenant_hosts):
            ns = self.prefix + name
            self._veth(ns, "eth0", self.gw, f"lan{i}")
            self.run(self.gw, ["ip", "link", "set", f"lan{i}", "master", "br0", "up"])
            self._addr(ns, "eth0", f"{a4}/24", f"{a6}/64")
            self._default_routes(ns, GW_LAN4, GW_LAN6)
        self._veth(self.stranger, "eth0", self.gw, "str0")
        self._addr(self.gw, "str0", f"{GW_STRANGER4}/24", f"{GW_STRANGER6}/64")
        self._addr(self.stranger, "eth0", f"{STRANGER4}/24", f"{STRANGER6}/64")
        self._default_routes(self.stranger, GW_STRANGER4, GW_STRANGER6)
        self._veth(self.inet, "eth0", self.gw, "wan0")
        self._addr(self.gw, "wan0", f"{GW_INET4}/24", f"{GW_INET6}/64")
        self._addr(self.inet, "eth0", f"{INET4}/24", f"{INET6}/64")
        self._default_routes(self.inet, GW_INET4, GW_INET6)
        self._wait_lan()

    def _wait_lan(self, timeout=10):
        # A fresh bridge may take a moment to forward; probe until the gw
        # answers every host (a TCP RST from a closed port proves reachability,
        # and needs no ping binary).
        for ns, target in [(t, GW_LAN4) for t in self.tenants] + [(t, GW_LAN6) for t in self.tenants] \
                + [(self.stranger, GW_STRANGER4), (self.inet, GW_INET4)]:
            if not self.reachable(ns, target, timeout=timeout):
                raise RuntimeError(f"lab: {target} not reachable from {ns}")

    def reachable(self, ns, host, port=9, timeout=5):
        """True once host answers a TCP connect from ns (accepted or refused)."""
        code = ("import socket,sys,time\n"
                "d=time.monotonic()+float(sys.argv[3])\n"
                "while True:\n"
                "  try:\n"
                "    socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=0.5).close();break\n"
                "  except ConnectionRefusedError:\n"
                "    break\n"
                "  except OSError:\n"
                "    if time.monotonic()>d: sys.exit(1)\n"
                "    time.sleep(0.05)\n")
        res = self.run(ns, [sys.executable, "-c", code, host, str(port), str(timeout)],
                       check=False, timeout=timeout + 5)
        return res.returncode == 0

    def close(self):
        if self.closed:
            return
        self.closed = True
        for p in reversed(self.procs):
            self._stop_proc(p)
        self.procs.clear()
        for ns in reversed(self.namespaces):
            self._kill_ns_pids(ns)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.namespaces.clear()
        if self in _live_labs:
            _live_labs.remove(self)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _stop_proc(p, timeout=5):
        if p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()

    @staticmethod
    def _kill_ns_pids(ns):
        # Anything still running inside our own namespace was started by us
        # (directly or by a daemon we started); end it by pid.
        res = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True)
        for pid in res.stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass

    # -- running things --------------------------------------------------
    @staticmethod
    def exec_prefix(ns):
        return ["ip", "netns", "exec", ns]

    def run(self, ns, cmd, check=True, timeout=60, **kw):
        """Runs cmd (list) inside ns; returns CompletedProcess (text, captured)."""
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        res = subprocess.run(self.exec_prefix(ns) + list(cmd), timeout=timeout, **kw)
        if check and res.returncode != 0:
            raise RuntimeError(f"in {ns}: {' '.join(cmd)} failed ({res.returncode}): "
                               f"{(res.stderr or '').strip()}")
        return res

    def popen(self, ns, cmd, **kw):
        """Starts cmd inside ns in its own process group; the Lab stops it on close."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.exec_prefix(ns) + list(cmd), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        self._stop_proc(p)
        if p in self.procs:
            self.procs.remove(p)

    def wait_port(self, ns, host, port, timeout=10):
        """Waits until host:port accepts TCP connections from inside ns."""
        code = ("import socket,sys,time\n"
                "d=time.monotonic()+float(sys.argv[3])\n"
                "while True:\n"
                "  try:\n"
                "    socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=1).close();break\n"
                "  except OSError:\n"
                "    if time.monotonic()>d: sys.exit(1)\n"
                "    time.sleep(0.05)\n")
        res = self.run(ns, [sys.executable, "-c", code, host, str(port), str(timeout)],
                       check=False, timeout=timeout + 5)
        if res.returncode != 0:
            raise RuntimeError(f"{host}:{port} not reachable from {ns}")

    # -- services in inet ------------------------------------------------
    def start_smtp_sink(self, address=INET4, port=25, dump_dir=None, extra=()):
        """Postfix's smtp-sink in inet; each message is dumped into dump_dir."""
        dump_dir = dump_dir or os.path.join(self.workdir, "sink")
        os.makedirs(dump_dir, exist_ok=True)
        # smtp-sink writes as nobody: it must reach and write the dump dir.
        os.chmod(dump_dir, 0o777)
        if self._own_workdir:
            os.chmod(self.workdir, 0o711)
        listen = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        with open(os.path.join(self.workdir, f"smtp-sink-{port}.log"), "a") as log:
            p = self.popen(self.inet, ["smtp-sink", "-u", "nobody", "-d",
                                       os.path.join(dump_dir, "%M."),
                                       *(["-6"] if ":" in address else []), *extra, listen, "100"],
                           stdout=log, stderr=subprocess.STDOUT)
        self.wait_port(self.inet, address, port)
        p.dump_dir = dump_dir
        return p

    def start_dnsmasq(self, mx=(), address=(), txt=(), extra=(), listen=INET4):
        """dnsmasq on listen:53 in inet, answering only from its flags.

        mx: (domain, host, pref); address: (name, ip); txt: (name, text)."""
        pid_file = os.path.join(self.workdir, "dnsmasq.pid")
        args = ["dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--port=53", f"--listen-address={listen}", "--bind-interfaces",
                f"--pid-file={pid_file}", "--user=root", "--log-facility=-"]
        args += [f"--mx-host={d},{h},{p}" for d, h, p in mx]
        args += [f"--address=/{n}/{ip}" for n, ip in address]
        args += [f"--txt-record={n},{t}" for n, t in txt]
        args += list(extra)
        with open(os.path.join(self.workdir, "dnsmasq.log"), "a") as log:
            p = self.popen(self.inet, args, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not os.path.exists(pid_file):
            if p.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dnsmasq did not start (rc={p.poll()})")
            time.sleep(0.05)
        return p


def leftover_namespaces(prefix):
    """Names from `ip netns` that start with prefix (for leak checks)."""
    res = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return [line.split()[0] for line in res.stdout.splitlines()
            if line.strip() and line.split()[0].startswith(prefix)]
