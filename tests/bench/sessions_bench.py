#!/usr/bin/env python3
"""Concurrent idle sessions: memory per SMTP session, Portcullis vs Postfix.

Opens SESSIONS (10,000) TCP connections to portcullisd's intercept listener on
127.0.0.1, from several 127.0.1.x source addresses (so no single source runs
out of ephemeral ports), each reads the greeting, sends EHLO and then stays
idle. portcullisd's VmRSS (/proc/PID/status) is read before and after; the
difference over the sessions held is the memory per session. A sample of
sessions then answers NOOP to show they are still held, and all are closed.
If the daemon refuses or drops sessions, the first failure (how many were
open, what it said) is printed.

Beside it, a private Postfix instance (one smtpd process per session) holds
POSTFIX_SESSIONS sessions the same way; its cost is the growth of the summed
Pss (proportional set size, shared pages split between processes) of all its
processes. Postfix would need one process per session for 10,000, hence a
smaller default; the per-session figures are comparable.

Not a test. Usage (as root): tests/bench/sessions_bench.py [BIN_DIR]
Env: SESSIONS (10000), SOURCE_IPS (20), POSTFIX_SESSIONS (1000; 0 skips Postfix),
     HOLD (5 s idle before the NOOP check), ONLY=postfix (skip Portcullis),
     KEEP=1 keeps the temp dir.
"""

import asyncio
import os
import random
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SESSIONS = int(os.environ.get("SESSIONS", "10000"))
SOURCE_IPS = int(os.environ.get("SOURCE_IPS", "20"))
POSTFIX_SESSIONS = int(os.environ.get("POSTFIX_SESSIONS", "1000"))
HOLD = float(os.environ.get("HOLD", "5"))
BIN_DIR = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BIN_DIR", "/work/main/build/bin")
NOFILE = 4 * SESSIONS + 4096
BATCH = 250  # connections in flight at once while opening


def log(msg):
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def descendants(root):
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


async def read_reply(reader):
    lines = []
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed" + (f" after {lines[-1]!r}" if lines else ""))
        lines.append(line.decode(errors="replace").rstrip())
        if len(line) < 4 or line[3:4] != b"-":
            return lines


class Failure(Exception):
    pass


async def open_session(port, source):
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 30)
    try:
        greeting = await asyncio.wait_for(read_reply(reader), 30)
        if not greeting[-1].startswith("220"):
            raise Failure(f"greeting {greeting[-1]!r}")
        writer.write(b"EHLO bench-client.example\r\n")
        await writer.drain()
        ehlo = await asyncio.wait_for(read_reply(reader), 30)
        if not ehlo[-1].startswith("250"):
            raise Failure(f"EHLO answered {ehlo[-1]!r}")
    except BaseException:
        writer.close()
        raise
    return reader, writer


async def hold_sessions(port, count, label):
    """Opens `count` sessions; returns (held, failures) with the first failure described."""
    sources = [f"127.0.1.{i + 1}" for i in range(max(1, SOURCE_IPS))]
    held, failures = [], []
    t0 = time.monotonic()
    for start in range(0, count, BATCH):
        n = min(BATCH, count - start)
        results = await asyncio.gather(
            *(open_session(port, sources[(start + i) % len(sources)]) for i in range(n)),
            return_exceptions=True)
        for i, r in enumerate(results):
            if isinstance(r, BaseException):
                failures.append((len(held), start + i, f"{type(r).__name__}: {r}"))
            else:
                held.append(r)
        if failures and len(failures) >= 1000:
            log(f"{label}: {len(failures)} failures, giving up opening more")
            break
        if (start // BATCH) % 8 == 7:
            log(f"{label}: {len(held)} sessions held, {len(failures)} failed")
    log(f"{label}: opened {len(held)} of {count} in {time.monotonic() - t0:.1f} s")
    return held, failures


async def noop_check(held, sample=200):
    """NOOP on a random sample: the sessions are still there and answering."""
    picks = random.sample(held, min(sample, len(held)))

    async def one(rw):
        reader, writer = rw
        writer.write(b"NOOP\r\n")
        await writer.drain()
        reply = await asyncio.wait_for(read_reply(reader), 30)
        return reply[-1].startswith("250")

    results = await asyncio.gather(*(one(rw) for rw in picks), return_exceptions=True)
    return sum(1 for r in results if r is True), len(picks)


async def close_all(held):
    for _, writer in held:
        writer.close()
    await asyncio.gather(*(w.wait_closed() for _, w in held), return_exceptions=True)


def report_failures(label, failures, held):
    if not failures:
        return
    first_open, first_index, first_what = failures[0]
    kinds = {}
    for _, _, what in failures:
        kinds[what.split(":")[0]] = kinds.get(what.split(":")[0], 0) + 1
    print(f"{label}: {len(failures)} sessions failed; the first was attempt #{first_index + 1}, "
          f"with {first_open} held: {first_what}")
    print(f"{label}: failures by kind: {kinds}")


def portcullis_config(work, port):
    limit = SESSIONS + 1000
    d = os.path.join(work, "portcullis")
    os.makedirs(d)
    path = os.path.join(d, "portcullis.yaml")
    with open(path, "w") as f:
        f.write(f"""node:
  name: bench-gw
  state_dir: {d}/state
  control_socket: {d}/control.sock
  log_level: warning
relay:
  hostname: bench-portcullis.localdomain
  listen:
    submission: []
    smtps: []
    intercept: ["127.0.0.1:{port}"]
  limits:
    max_connections: {limit}
    max_connections_per_client: {limit}
    idle_timeout: 10m
delivery:
  resolver: "127.0.0.1:{free_port()}"
  routes:
    - {{domain: "*", host: "127.0.0.1", port: {free_port()}}}
plans:
  bench:
    monthly_quota: 1000000000
    messages_per_minute: 1000000
    messages_per_hour: 100000000
    recipients_per_message: 1000
    recipients_per_hour: 100000000
    max_connections: {min(limit, 100000)}
""")
    return d, path


def postfix_config(work, port):
    conf, queue, data = (os.path.join(work, x) for x in ("postfix-conf", "postfix-queue", "postfix-data"))
    for x in (conf, queue, data):
        os.makedirs(x)
    shutil.chown(data, "postfix")
    procs = POSTFIX_SESSIONS + 50
    with open(os.path.join(conf, "main.cf"), "w") as f:
        f.write(f"""compatibility_level = 3.6
myhostname = bench-postfix.localdomain
mydomain = localdomain
myorigin = $myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
relayhost = [127.0.0.1]:{free_port()}
defer_transports = smtp, relay
queue_directory = {queue}
data_directory = {data}
maillog_file = {work}/postfix-maillog
maillog_file_prefixes = {work}
default_process_limit = {procs}
smtpd_timeout = 600s
smtpd_tls_security_level = none
biff = no
alias_maps =
alias_database =
local_recipient_maps =
""")
    with open(os.path.join(conf, "master.cf"), "w") as f:
        f.write(f"""127.0.0.1:{port} inet n - n - {procs} smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
postlog   unix-dgram n  -       n       -       1       postlogd
""")
    return conf, queue


def wait_greeting(port, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 1) as s:
                if s.recv(100).startswith(b"220"):
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


async def measure_portcullis(work):
    port = free_port()
    d, conf = portcullis_config(work, port)
    bin_dir = os.path.join(work, "bin")
    daemon_log = open(os.path.join(d, "daemon.log"), "w")
    daemon = subprocess.Popen([os.path.join(bin_dir, "portcullisd"), "--config", conf],
                              stdout=daemon_log, stderr=subprocess.STDOUT)
    CLEANUP.append(lambda: stop(daemon))
    ctl = [os.path.join(bin_dir, "portcullisctl"), "--socket", os.path.join(d, "control.sock")]
    for _ in range(300):
        if subprocess.run(ctl + ["--json", "tenant", "list"], capture_output=True).returncode == 0:
            break
        if daemon.poll() is not None:
            sys.exit("portcullisd exited: " + open(os.path.join(d, "daemon.log")).read()[-2000:])
        time.sleep(0.1)
    subprocess.run(ctl + ["tenant", "add", "bench", "--plan", "bench", "--subnet", "127.0.0.0/8",
                          "--mode", "redirect"], check=True, capture_output=True)
    pid = daemon.pid
    log(f"portcullisd pid {pid}, open files limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}")
    # Warm-up: the first sessions allocate what every later one reuses.
    warm, _ = await hold_sessions(port, 20, "portcullis warm-up")
    await close_all(warm)
    await asyncio.sleep(1)
    rss0 = status_kib(pid, "VmRSS")
    held, failures = await hold_sessions(port, SESSIONS, "portcullis")
    await asyncio.sleep(2)
    alive = daemon.poll() is None
    rss1 = status_kib(pid, "VmRSS") if alive else 0
    threads = status_kib(pid, "Threads") if alive else 0
    fds = len(os.listdir(f"/proc/{pid}/fd")) if alive else 0
    await asyncio.sleep(HOLD)
    ok, sampled = await noop_check(held) if alive else (0, 0)
    rss_hold = status_kib(pid, "VmRSS") if alive else 0
    await close_all(held)
    await asyncio.sleep(3)
    rss2 = status_kib(pid, "VmRSS") if daemon.poll() is None else 0
    per = (rss1 - rss0) / len(held) if held else float("nan")
    print(f"portcullis: {len(held)} of {SESSIONS} sessions held after EHLO "
          f"(daemon {'alive' if alive else 'DEAD'}, {threads} threads, {fds} open fds)")
    report_failures("portcullis", failures, held)
    print(f"portcullis: VmRSS {rss0} KiB before, {rss1} KiB with the sessions, {rss_hold} KiB after "
          f"{HOLD:.0f} s idle, {rss2} KiB after closing them; VmHWM {status_kib(pid, 'VmHWM')} KiB")
    print(f"portcullis: NOOP answered by {ok} of {sampled} sampled sessions after {HOLD:.0f} s idle")
    print(f"portcullis: {per:.1f} KiB per session")
    return per, len(held)


async def measure_postfix(work):
    port = free_port()
    conf, queue = postfix_config(work, port)
    r = subprocess.run(["postfix", "-c", conf, "start"], capture_output=True, text=True)
    if r.returncode != 0:
        print("postfix start failed: " + r.stdout + r.stderr)
        return None, 0
    CLEANUP.append(lambda: subprocess.run(["postfix", "-c", conf, "stop"], capture_output=True))
    if not wait_greeting(port):
        print("postfix: smtpd does not answer")
        return None, 0
    master = int(open(os.path.join(queue, "pid", "master.pid")).read().split()[0])
    await asyncio.sleep(2)
    pss0 = pss_kib(descendants(master))
    held, failures = await hold_sessions(port, POSTFIX_SESSIONS, "postfix")
    await asyncio.sleep(2)
    pids = descendants(master)
    pss1 = pss_kib(pids)
    await asyncio.sleep(HOLD)
    ok, sampled = await noop_check(held)
    await close_all(held)
    per = (pss1 - pss0) / len(held) if held else float("nan")
    print(f"postfix: {len(held)} of {POSTFIX_SESSIONS} sessions held after EHLO, {len(pids)} processes")
    report_failures("postfix", failures, held)
    print(f"postfix: summed Pss {pss0} KiB before, {pss1} KiB with the sessions")
    print(f"postfix: NOOP answered by {ok} of {sampled} sampled sessions after {HOLD:.0f} s idle")
    print(f"postfix: {per:.1f} KiB per session (Pss, one smtpd process each)")
    return per, len(held)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


CLEANUP = []


def main():
    if os.geteuid() != 0:
        sys.exit("sessions_bench: must run as root (open files limit, Postfix)")
    for f in ("portcullisd", "portcullisctl"):
        if not os.access(os.path.join(BIN_DIR, f), os.X_OK):
            sys.exit(f"sessions_bench: no {f} in {BIN_DIR}")
    # Inherited by portcullisd and Postfix: one fd per session on each side.
    # Without CAP_SYS_RESOURCE (containers) the hard limit cannot be raised:
    # take what is allowed and say so if it is too little.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, max(NOFILE, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if limit < SESSIONS + 1024:
        print(f"warning: open files limit {limit} (hard limit, no CAP_SYS_RESOURCE) is below "
              f"{SESSIONS} sessions + 1024", file=sys.stderr)
    work = tempfile.mkdtemp(prefix="portcullis-sessions.")
    os.chmod(work, 0o755)  # Postfix daemons (user postfix) traverse it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    try:
        os.makedirs(os.path.join(work, "bin"))
        # The lock keeps ninja from relinking the binaries halfway through the copy.
        # (only needed when the directory is a ninja build's output).
        lock = ["flock", "/tmp/portcullis-ninja.lock"]
        if not os.path.exists(os.path.join(BIN_DIR, "..", "build.ninja")):
            lock = []
        subprocess.run(lock + ["cp", "-p", os.path.join(BIN_DIR, "portcullisd"),
                               os.path.join(BIN_DIR, "portcullisctl"), os.path.join(work, "bin")],
                       check=True)
        print(f"sessions: {SESSIONS} idle sessions after EHLO from {SOURCE_IPS} source addresses "
              f"127.0.1.x; machine {os.cpu_count()} CPUs")
        pc, pc_n = (float("nan"), 0)
        if os.environ.get("ONLY") != "postfix":
            pc, pc_n = asyncio.run(measure_portcullis(work))
        pf, pf_n = (None, 0)
        if POSTFIX_SESSIONS > 0:
            pf, pf_n = asyncio.run(measure_postfix(work))
        print(f"\n{'KiB per idle session':<22} {'postfix':>10} {'portcullis':>11} {'postfix/portcullis':>19}")
        pf_text = f"{pf:.1f}" if pf else "-"
        ratio = f"{pf / pc:.1f}" if pf and pc > 0 else "n/a"
        print(f"{'':<22} {pf_text:>10} {pc:>11.1f} {ratio:>19}")
        print(f"(sessions held: postfix {pf_n}, portcullis {pc_n})")
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        for f in reversed(CLEANUP):
            try:
                f()
            except Exception as e:  # cleanup must go on
                print(f"cleanup: {e}", file=sys.stderr)
        if os.environ.get("KEEP"):
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
