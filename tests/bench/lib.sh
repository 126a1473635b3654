# shellcheck shell=bash
# Shared pieces of the delivery benchmarks (e2e_bench.sh, backlog_bench.sh,
# io_bench.sh): a temp dir cleaned up on exit or Ctrl-C, a private copy of the
# binaries, one portcullisd and one private Postfix instance on loopback, and
# smtp-sink counters with time stamps. Sourced, not run. Everything listens on
# and connects to 127.0.0.1 only.
#
# After bench_init: WORK (temp dir), BIN (copied binaries). After pc_start:
# PC_DIR, PC_PID, PC_CONF. After pf_start: PF_CONF, PF_QUEUE, PF_LOG.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_NAME=${BENCH_NAME:-bench}
BENCH_PIDS=()        # stopped with TERM (then KILL) on exit, in reverse order
BENCH_PF_CONFS=()    # Postfix instances stopped with `postfix -c ... stop`
declare -A SINK_PID SINK_LOG
FROM=bench@client.example
TO=rcpt@example.net

bench_die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
bench_now() { date +%s.%N; }
bench_log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Kills PID with TERM, waits up to 5 s, then KILL. Only pids this script started.
bench_stop_pid() {
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
}

bench_cleanup() {
  set +e
  local i
  for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
    # A stopped (SIGSTOP) process must be continued to see the TERM.
    kill -CONT "${BENCH_PIDS[i]}" 2>/dev/null
    bench_stop_pid "${BENCH_PIDS[i]}"
  done
  for conf in "${BENCH_PF_CONFS[@]}"; do postfix -c "$conf" stop >/dev/null 2>&1; done
  wait 2>/dev/null
  if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}

# bench_init NAME: checks, temp dir, exit trap, private copy of the binaries.
bench_init() {
  BENCH_NAME=$1
  [[ $(id -u) == 0 ]] || bench_die "must run as root (Postfix needs it)"
  local tool
  for tool in smtp-source smtp-sink postfix postqueue python3 flock; do
    command -v "$tool" >/dev/null || bench_die "$tool not found (Debian packages postfix, python3, util-linux)"
  done
  getent passwd postfix >/dev/null || bench_die "user postfix missing"
  getent passwd nobody >/dev/null || bench_die "user nobody missing (smtp-sink drops to it)"
  WORK=$(mktemp -d "/tmp/portcullis-$BENCH_NAME.XXXXXX")
  chmod 755 "$WORK"   # Postfix daemons (user postfix) must traverse it
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  local src=${BIN_DIR:-/work/main/build/bin}
  [[ -x $src/portcullisd && -x $src/portcullisctl ]] || bench_die "no portcullisd/portcullisctl in $src"
  BIN=$WORK/bin
  mkdir -p "$BIN"
  # The lock keeps ninja from relinking the binaries halfway through the copy
  # (only needed when the directory is a ninja build's output).
  if [[ -e $src/../build.ninja ]]; then
    flock /tmp/portcullis-ninja.lock cp -p "$src/portcullisd" "$src/portcullisctl" "$BIN/"
  else
    cp -p "$src/portcullisd" "$src/portcullisctl" "$BIN/"
  fi
  bench_log "binaries copied from $src (portcullisd $(stat -c '%y' "$src/portcullisd" | cut -d. -f1))"
}

# --- Portcullis ---------------------------------------------------------------

# pc_start INTERCEPT_PORT ROUTE_PORT: portcullisd with only the intercept
# listener, every domain routed to 127.0.0.1:ROUTE_PORT, tenant "bench" owning
# 127.0.0.0/8 with limits that never bite.
# Env: PC_RETRY (retry_schedule entries, default "1m"), PC_LOG_LEVEL (info),
#      PC_MAX_CONNECTIONS (1000), PC_DELIVERY_YAML (extra lines under delivery:,
#      indented by two spaces, e.g. "  max_per_destination: 20").
pc_start() {
  pc_write_config "$@"
  "$BIN/portcullisd" --config "$PC_CONF" >"$PC_DIR/daemon.log" 2>&1 &
  PC_PID=$!
  BENCH_PIDS+=("$PC_PID")
  for _ in $(seq 300); do
    pc_ctl --json tenant list >/dev/null 2>&1 && break
    kill -0 "$PC_PID" 2>/dev/null || { tail -20 "$PC_DIR/daemon.log" >&2; bench_die "portcullisd exited"; }
    sleep 0.1
  done
  pc_ctl tenant add bench --plan bench --subnet 127.0.0.0/8 --mode redirect >/dev/null ||
    bench_die "tenant add failed"
}

# pc_accepts_delivery_yaml LINES: true if this portcullisd's --check accepts
# LINES under delivery: (keys differ between engine versions; unknown keys are refused).
pc_accepts_delivery_yaml() {
  local saved=${PC_DELIVERY_YAML:-} ok=0
  PC_DELIVERY_YAML=$1
  pc_write_config 1 1
  "$BIN/portcullisd" --config "$PC_CONF" --check >/dev/null 2>&1 || ok=1
  PC_DELIVERY_YAML=$saved
  return $ok
}

# pc_write_config INTERCEPT_PORT ROUTE_PORT: writes PC_CONF (see pc_start).
pc_write_config() {
  local port=$1 route_port=$2 dns_port
  dns_port=$(free_port)   # nobody answers: routes need no DNS
  PC_DIR=$WORK/portcullis
  PC_CONF=$PC_DIR/portcullis.yaml
  mkdir -p "$PC_DIR"
  local conns=${PC_MAX_CONNECTIONS:-1000}
  cat >"$PC_CONF" <<EOF
node:
  name: bench-gw
  state_dir: $PC_DIR/state
  control_socket: $PC_DIR/control.sock
  log_level: ${PC_LOG_LEVEL:-info}
relay:
  hostname: bench-portcullis.localdomain
  listen:
    submission: []
    smtps: []
    intercept: ["127.0.0.1:$port"]
  limits:
    max_connections: $conns
    max_connections_per_client: $conns
    max_message_size: 25M
    max_recipients: 100
delivery:
  resolver: "127.0.0.1:$dns_port"
  retry_schedule: [${PC_RETRY:-1m}]
  routes:
    - {domain: "*", host: "127.0.0.1", port: $route_port}
${PC_DELIVERY_YAML:-}
plans:
  bench:
    monthly_quota: 1000000000
    messages_per_minute: 1000000
    messages_per_hour: 100000000
    recipients_per_message: 1000
    recipients_per_hour: 100000000
    max_connections: $conns
    max_message_size: 25M
EOF
}

pc_ctl() { "$BIN/portcullisctl" --socket "$PC_DIR/control.sock" "$@"; }

# Messages still in Portcullis's queue (any state).
pc_queued() {
  pc_ctl --json queue list --limit 1 |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("total", len(d.get("messages", []))))'
}

pc_alive() { kill -0 "$PC_PID" 2>/dev/null; }

# pc_died_report: after portcullisd is gone, its exit status and last log lines.
pc_died_report() {
  local rc=0
  wait "$PC_PID" 2>/dev/null || rc=$?
  echo "portcullisd (pid $PC_PID) exited with status $rc$( ((rc > 128)) && echo " (signal $((rc - 128)))"); last log lines:"
  tail -5 "$PC_DIR/daemon.log" | cut -c1-300 | sed 's/^/  /'
}

# pc_wait_empty TIMEOUT: until the queue is empty; returns 1 on timeout or if
# the daemon is gone.
pc_wait_empty() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    pc_alive || return 1
    [[ $(pc_queued 2>/dev/null) == 0 ]] && return 0
    sleep 0.5
  done
  return 1
}

# True if `portcullisctl queue` offers retry-now (the new queue tools).
pc_has_retry_now() {
  # Not a pipe into grep -q: with pipefail, the writer's SIGPIPE would read as "absent".
  local help
  help=$({ "$BIN/portcullisctl" queue --help 2>&1; "$BIN/portcullisctl" --help 2>&1; } || true)
  [[ $help == *"queue retry-now"* ]]
}

# --- Postfix ------------------------------------------------------------------

# pf_start SMTPD_PORT RELAY_PORT: a private Postfix (own config, queue and data
# dirs under WORK; /etc/postfix untouched) whose smtpd listens on
# 127.0.0.1:SMTPD_PORT and relays everything to [127.0.0.1]:RELAY_PORT with its
# durable queue and its default delivery concurrency. PF_EXTRA: more main.cf lines.
pf_start() {
  local port=$1 relay_port=$2
  PF_CONF=$WORK/postfix-conf
  PF_QUEUE=$WORK/postfix-queue
  PF_LOG=$WORK/postfix-maillog
  local data=$WORK/postfix-data
  mkdir -p "$PF_CONF" "$PF_QUEUE" "$data"
  chown postfix "$data"
  cat >"$PF_CONF/main.cf" <<EOF
compatibility_level = 3.6
myhostname = bench-postfix.localdomain
mydomain = localdomain
myorigin = \$myhostname
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_peername_lookup = no
relayhost = [127.0.0.1]:$relay_port
queue_directory = $PF_QUEUE
data_directory = $data
maillog_file = $PF_LOG
maillog_file_prefixes = $WORK
default_process_limit = 200
smtpd_tls_security_level = none
smtp_tls_security_level = none
smtp_dns_support_level = disabled
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
${PF_EXTRA:-}
EOF
  cat >"$PF_CONF/master.cf" <<EOF
127.0.0.1:$port inet n - n - 200 smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
pickup    unix  n       -       n       60      1       pickup
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
showq     unix  n       -       n       -       -       showq
flush     unix  n       -       n       1000?   0       flush
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  postfix -c "$PF_CONF" check >"$WORK/postfix-check.log" 2>&1 || { cat "$WORK/postfix-check.log" >&2; bench_die "postfix check failed"; }
  postfix -c "$PF_CONF" start >>"$WORK/postfix-check.log" 2>&1 || { cat "$WORK/postfix-check.log" >&2; bench_die "postfix start failed"; }
  BENCH_PF_CONFS+=("$PF_CONF")
  wait_smtp "$port" || bench_die "postfix smtpd on $port does not answer"
}

# Messages in the instance's queue, every state.
pf_queued() { find "$PF_QUEUE"/{incoming,active,deferred,hold,maildrop} -type f 2>/dev/null | wc -l; }
pf_unsettled() { find "$PF_QUEUE"/{incoming,active} -type f 2>/dev/null | wc -l; }

# pf_wait_empty TIMEOUT / pf_wait_settled TIMEOUT (no incoming/active: all deferred or gone).
pf_wait_empty() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    [[ $(pf_queued) == 0 ]] && return 0
    sleep 0.5
  done
  return 1
}
pf_wait_settled() {
  local deadline=$((SECONDS + $1))
  while ((SECONDS < deadline)); do
    [[ $(pf_unsettled) == 0 ]] && return 0
    sleep 0.5
  done
  return 1
}

pf_master_pid() { tr -d ' \n' <"$PF_QUEUE/pid/master.pid"; }

# The instance's processes: master and every descendant.
pf_pids() {
  local master
  master=$(pf_master_pid)
  ps -e -o pid=,ppid= | python3 -c '
import sys
root = int(sys.argv[1])
children = {}
for line in sys.stdin:
    pid, ppid = map(int, line.split())
    children.setdefault(ppid, []).append(pid)
out, todo = [], [root]
while todo:
    p = todo.pop()
    out.append(p)
    todo.extend(children.get(p, []))
print(" ".join(map(str, out)))' "$master"
}

# --- sinks and sources --------------------------------------------------------

wait_smtp() {   # wait_smtp PORT: until 127.0.0.1:PORT greets with 220 (10 s)
  for _ in $(seq 100); do
    python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$1),1); sys.exit(0 if s.recv(100).startswith(b'220') else 1)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# sink_start NAME PORT [SMTP-SINK OPTIONS...]: smtp-sink on 127.0.0.1:PORT whose
# received-message counter is time-stamped into SINK_LOG[NAME] ("time count").
sink_start() {
  local name=$1 port=$2
  shift 2
  SINK_LOG[$name]=$WORK/sink-$name.log
  : >"${SINK_LOG[$name]}"
  python3 "$BENCH_LIB_DIR/sink_counter.py" "${SINK_LOG[$name]}" -- \
    smtp-sink -u nobody -c -m 2000 "$@" "127.0.0.1:$port" 2000 2>"$WORK/sink-$name.err" &
  SINK_PID[$name]=$!
  BENCH_PIDS+=("$!")
  wait_smtp "$port" || { cat "$WORK/sink-$name.err" >&2; bench_die "smtp-sink $name on $port does not answer"; }
}

sink_stop() { bench_stop_pid "${SINK_PID[$1]}"; }

# sink_count NAME: messages received so far.
sink_count() { tail -n 1 "${SINK_LOG[$1]}" | cut -d' ' -f2; }

# sink_wait NAME TARGET TIMEOUT: until the count reaches TARGET; 1 on timeout.
sink_wait() {
  local deadline
  deadline=$(python3 -c "import time; print(time.time() + $3)")
  while :; do
    (($(sink_count "$1") >= $2)) && return 0
    python3 -c "import time,sys; sys.exit(0 if time.time() < $deadline else 1)" || return 1
    sleep 0.2
  done
}

# sink_time NAME TARGET: when the count first reached TARGET (unix seconds).
sink_time() { awk -v t="$2" '$2 >= t { print $1; exit }' "${SINK_LOG[$1]}"; }

# send_mail PORT SESSIONS MESSAGES SIZE LOG: smtp-source, one new connection per
# message (Postfix's default client behaviour), SIZE body bytes; killed after
# SOURCE_TIMEOUT seconds (default 600) so a stuck gateway cannot hang the run.
send_mail() {
  # shellcheck disable=SC2086
  timeout "${SOURCE_TIMEOUT:-600}" smtp-source ${SMTP_SOURCE_FLAGS:-} -s "$2" -m "$3" -l "$4" -M bench-client.example \
    -f "$FROM" -t "$TO" "127.0.0.1:$1" >"$5" 2>&1
}
