#!/usr/bin/env bash
# Benchmark: Postfix's smtp-source against Portcullis's intercept listener and
# against a private Postfix instance set up the same way (durable queue,
# loopback only, deliveries deferred so nothing leaves the machine).
# Not a test; not registered with ctest. See tests/bench/README.md.
#
# Usage (as root): tests/bench/smtp_source_bench.sh [BIN_DIR]
# Env: MESSAGES (2000), SIZE (4096 body bytes), SESSIONS ("1 20 100"),
#      SMTP_SOURCE_FLAGS (extra smtp-source flags, e.g. "-d" to reuse sessions),
#      POSTFIX_MODE (defer|hold, default defer), KEEP=1 keeps the temp dir.
set -euo pipefail

BIN_DIR=${1:-${BIN_DIR:-/work/main/build/bin}}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-"1 20 100"}
SMTP_SOURCE_FLAGS=${SMTP_SOURCE_FLAGS:-}
POSTFIX_MODE=${POSTFIX_MODE:-defer}
FROM=bench@client.example
TO=rcpt@example.net

die() { echo "smtp_source_bench: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || die "must run as root (Postfix needs it)"
[[ -x $BIN_DIR/portcullisd && -x $BIN_DIR/portcullisctl ]] || die "no portcullisd/portcullisctl in $BIN_DIR"
command -v smtp-source >/dev/null || die "smtp-source not found (Debian package postfix)"
command -v postfix >/dev/null || die "postfix not found"
getent passwd postfix >/dev/null || die "user postfix missing"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

WORK=$(mktemp -d /tmp/portcullis-bench.XXXXXX)
chmod 755 "$WORK"   # Postfix daemons (user postfix) must traverse it
DAEMON_PID=""
PF_CONF=$WORK/postfix-conf
PF_STARTED=""

cleanup() {
  set +e
  if [[ -n $PF_STARTED ]]; then postfix -c "$PF_CONF" stop >/dev/null 2>&1; fi
  if [[ -n $DAEMON_PID ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID"
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$DAEMON_PID" 2>/dev/null && kill -KILL "$DAEMON_PID"
  fi
  if [[ -n ${KEEP:-} ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PC_PORT=$(free_port)
PF_PORT=$(free_port)
CLOSED_PORT=$(free_port)   # nobody listens here: every delivery attempt fails
DNS_PORT=$(free_port)

# --- Portcullis ---------------------------------------------------------------
PC_DIR=$WORK/portcullis
mkdir -p "$PC_DIR"
cat >"$PC_DIR/portcullis.yaml" <<EOF
node:
  name: bench-gw
  state_dir: $PC_DIR/state
  control_socket: $PC_DIR/control.sock
  log_level: info
relay:
  hostname: bench-portcullis.localdomain
  listen:
    submission: []
    smtps: []
    intercept: ["127.0.0.1:$PC_PORT"]
  limits:
    max_connections: 1000
    max_connections_per_client: 1000
    max_message_size: 25M
    max_recipients: 100
delivery:
  resolver: "127.0.0.1:$DNS_PORT"
  retry_schedule: [1h]
  routes:
    - {domain: "*", host: "127.0.0.1", port: $CLOSED_PORT}
plans:
  bench:
    monthly_quota: 1000000000
    messages_per_minute: 1000000
    messages_per_hour: 100000000
    recipients_per_message: 1000
    recipients_per_hour: 100000000
    max_connections: 1000
    max_message_size: 25M
EOF
"$BIN_DIR/portcullisd" --config "$PC_DIR/portcullis.yaml" >"$PC_DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
ctl() { "$BIN_DIR/portcullisctl" --socket "$PC_DIR/control.sock" "$@"; }
for _ in $(seq 200); do
  ctl --json tenant list >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$PC_DIR/daemon.log" >&2; die "portcullisd exited"; }
  sleep 0.1
done
ctl tenant add bench --plan bench --subnet 127.0.0.0/8 --mode redirect >/dev/null
pc_queued() {
  ctl --json queue list | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("total", len(d["messages"])))'
}

# --- Postfix ------------------------------------------------------------------
PF_QUEUE=$WORK/postfix-queue
PF_DATA=$WORK/postfix-data
mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA"
chown postfix "$PF_DATA"
if [[ $POSTFIX_MODE == hold ]]; then
  # Accepted mail goes straight to the hold queue: no queue manager work.
  PF_POLICY="smtpd_data_restrictions = check_client_access static:HOLD"
else
  # Queue manager runs; the smtp/relay transports are deferred without any
  # connection attempt, and the relayhost is a closed loopback port anyway.
  PF_POLICY="defer_transports = smtp, relay"
fi
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
relayhost = [127.0.0.1]:$CLOSED_PORT
$PF_POLICY
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
maillog_file = $WORK/postfix-maillog
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
EOF
cat >"$PF_CONF/master.cf" <<EOF
127.0.0.1:$PF_PORT inet n - n - 200 smtpd
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
postfix -c "$PF_CONF" check >"$WORK/postfix-check.log" 2>&1 || { cat "$WORK/postfix-check.log" >&2; die "postfix check failed"; }
postfix -c "$PF_CONF" start >>"$WORK/postfix-check.log" 2>&1 || { cat "$WORK/postfix-check.log" >&2; die "postfix start failed"; }
PF_STARTED=1
for _ in $(seq 100); do
  python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$PF_PORT),1); sys.exit(0 if s.recv(100).startswith(b'220') else 1)" 2>/dev/null && break
  sleep 0.1
done
pf_queued() { find "$PF_QUEUE"/{incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }
pf_settle() {   # let the queue manager finish with the last run before timing the next
  for _ in $(seq 600); do
    [[ $(find "$PF_QUEUE"/{incoming,active} -type f 2>/dev/null | wc -l) == 0 ]] && return
    sleep 0.1
  done
}

# --- runs ---------------------------------------------------------------------
now() { date +%s.%N; }
run() {   # run LABEL PORT SESSIONS -> prints elapsed seconds
  local label=$1 port=$2 sessions=$3 t0 t1
  t0=$(now)
  # shellcheck disable=SC2086
  if ! smtp-source $SMTP_SOURCE_FLAGS -c -s "$sessions" -m "$MESSAGES" -l "$SIZE" \
      -M bench-client.example -f "$FROM" -t "$TO" "127.0.0.1:$port" \
      >"$WORK/smtp-source-$label-$sessions.log" 2>&1; then
    tail -5 "$WORK/smtp-source-$label-$sessions.log" >&2
    die "smtp-source against $label failed"
  fi
  t1=$(now)
  python3 -c "print(f'{$t1 - $t0:.3f}')"
}

echo "smtp-source: $MESSAGES messages of $SIZE bytes per run, flags '${SMTP_SOURCE_FLAGS}', postfix mode $POSTFIX_MODE"
echo "machine: $(nproc) CPUs, $(uname -r)"
printf '%-9s %16s %16s %18s\n' sessions "portcullis msg/s" "postfix msg/s" "portcullis/postfix"
pc_expect=$(pc_queued)
pf_expect=$(pf_queued)
for s in $SESSIONS; do
  sleep 2
  pc_t=$(run portcullis "$PC_PORT" "$s")
  pc_expect=$((pc_expect + MESSAGES))
  got=$(pc_queued)
  [[ $got == "$pc_expect" ]] || die "portcullis queue holds $got messages, expected $pc_expect"
  sleep 2
  pf_settle
  pf_t=$(run postfix "$PF_PORT" "$s")
  pf_expect=$((pf_expect + MESSAGES))
  pf_settle
  got=$(pf_queued)
  [[ $got == "$pf_expect" ]] || die "postfix queue holds $got messages, expected $pf_expect"
  python3 - "$s" "$pc_t" "$pf_t" "$MESSAGES" <<'EOF'
import sys
s, pc, pf, m = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"{s:<9} {m / pc:16.0f} {m / pf:16.0f} {pf / pc:18.2f}")
EOF
done

# Nothing may have left the machine: Postfix never attempted a delivery and
# Portcullis only ever tried the closed loopback port.
if grep -E "status=sent|status=bounced" "$WORK/postfix-maillog" >/dev/null 2>&1; then
  die "postfix delivered or bounced mail: $(grep -cE 'status=(sent|bounced)' "$WORK/postfix-maillog") lines"
fi
echo "verified: postfix queued $(pf_queued) (none sent), portcullis queued $(pc_queued); all deliveries go to closed 127.0.0.1:$CLOSED_PORT"
