"""Start, query and stop a real portcullisd for integration tests.

A Daemon owns a temporary state dir and config; it runs portcullisd (inside a
network namespace when `netns` is given), waits for the control API, and
talks to it through the real portcullisctl.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def render_config(state_dir, socket_path, submission=(), smtps=(), intercept=(),
                  hostname="relay.gw.example", extra_relay_limits="", extra=""):
    def listen(items):
        return "[" + ", ".join(f'"{i}"' for i in items) + "]"
    return f"""node:
  name: test-gw
  state_dir: {state_dir}
  control_socket: {socket_path}
  log_level: debug
relay:
  hostname: {hostname}
  listen:
    submission: {listen(submission)}
    smtps: {listen(smtps)}
    intercept: {listen(intercept)}
  limits:
    max_message_size: 1M
    max_recipients: 10
    max_errors: 5
    idle_timeout: 30s
    session_timeout: 2m
{extra_relay_limits}
  auth:
    max_failures: 5
    failure_window: 10m
    lockout: 15m
plans:
  standard:
    monthly_quota: 25000
    messages_per_minute: 600
{extra}"""


class Daemon:
    def __init__(self, bin_dir, config_text_fn, netns=None, workdir=None):
        """config_text_fn(state_dir, socket_path) -> YAML text."""
        self.bin_dir = bin_dir
        self.netns = netns
        self.workdir = workdir or tempfile.mkdtemp(prefix="portcullis-it-")
        self.state_dir = os.path.join(self.workdir, "state")
        self.socket = os.path.join(self.workdir, "control.sock")
        self.config_path = os.path.join(self.workdir, "portcullis.yaml")
        self.log_path = os.path.join(self.workdir, "daemon.log")
        with open(self.config_path, "w") as f:
            f.write(config_text_fn(self.state_dir, self.socket))
        self.proc = None

    def _prefix(self):
        return ["ip", "netns", "exec", self.netns] if self.netns else []

    def start(self, timeout=20):
        with open(self.log_path, "a") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                # PORTCULLISD_WRAPPER (e.g. "gdb -batch -ex run -ex bt --args") to debug a test.
                self._prefix() + os.environ.get("PORTCULLISD_WRAPPER", "").split()
                + [os.path.join(self.bin_dir, "portcullisd"), "--config", self.config_path],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"portcullisd exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.api("GET", "/v1/health")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"portcullisd did not become ready:\n{self.log()}")

    def api(self, method, path, body=None):
        conn = UnixHTTPConnection(self.socket)
        try:
            conn.request(method, path, body=None if body is None else json.dumps(body),
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, (json.loads(data) if data else None)
        finally:
            conn.close()

    def ctl(self, *args, json_output=True, check=True):
        """Runs portcullisctl; returns parsed JSON (json_output) or the CompletedProcess."""
        cmd = [os.path.join(self.bin_dir, "portcullisctl"), "--socket", self.socket]
        if json_output:
            cmd.append("--json")
        cmd += list(args)
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check and res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr.strip()}")
        if json_output and check:
            return json.loads(res.stdout)
        return res

    def log(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def kill9(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def cleanup(self):
        self.stop()
        # KEEP_DAEMON_LOG=DIR keeps each daemon's log of a run there, for a look.
        if os.environ.get("KEEP_DAEMON_LOG"):
            os.makedirs(os.environ["KEEP_DAEMON_LOG"], exist_ok=True)
            shutil.copy(self.log_path, os.path.join(os.environ["KEEP_DAEMON_LOG"],
                                                    os.path.basename(self.workdir) + ".log"))
        shutil.rmtree(self.workdir, ignore_errors=True)
