#!/usr/bin/env bash
# Benchmark: SMTP AUTH logins per second, one message per connection, the way
# PHP and CMS mailers send: implicit TLS (relay.listen.smtps), EHLO, AUTH
# PLAIN, MAIL/RCPT/DATA of one small message, QUIT; SESSIONS connections at a
# time for SECONDS_PER_RUN seconds. Beside it, in the same run and against the
# same daemon, the same client without AUTH on the intercept listener (tenant
# found by source address 127.0.0.0/8): with STARTTLS (the same TLS handshake
# per connection) and without TLS. A private Postfix instance (durable queue,
# deliveries deferred) runs the same three clients in the same run: smtps with
# Cyrus SASL (sasldb: plaintext secrets, no password hash at all), STARTTLS
# and plain. Prints connections/s, the ratios, and the server's CPU per
# connection. Not a test; not registered with ctest (see tests/bench/README.md).
#
# Usage (as root): tests/bench/auth_rate_bench.sh [BIN_DIR]
# Env: SECONDS_PER_RUN (10), WARMUP (2), SESSIONS (20), PROCS (1: client
#      processes sharing SESSIONS threads), ROUNDS (1; even rounds run Postfix
#      first), POSTFIX (1; 0 skips it), LOGIN_ONLY (1: also smtps-login, the
#      same connection with AUTH but QUIT instead of a message; 0 skips it),
#      KEEP=1 keeps the temp dir.
# The client shares the machine's cores with the servers: compare the columns
# of one run, and look at "server CPU ms" (the server's CPU time per accepted
# message, warm-up included) for what each path costs the server.
#
# The verifier alone (no TLS, SMTP or spool): auth_rate_bench.cpp.
set -euo pipefail

BIN_DIR=$(cd "${1:-${BIN_DIR:-/work/main/build/bin}}" && pwd)
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-2}
SESSIONS=${SESSIONS:-20}
PROCS=${PROCS:-1}
ROUNDS=${ROUNDS:-1}
POSTFIX=${POSTFIX:-1}
LOGIN_ONLY=${LOGIN_ONLY:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/auth_rate_bench.py

die() { echo "auth_rate_bench: $*" >&2; exit 1; }
[[ -x $BIN_DIR/portcullisd && -x $BIN_DIR/portcullisctl ]] || die "no portcullisd/portcullisctl in $BIN_DIR"
[[ -f $CLIENT ]] || die "client $CLIENT missing"
if [[ $POSTFIX == 1 ]]; then
  [[ $(id -u) == 0 ]] || die "must run as root for Postfix (or POSTFIX=0)"
  command -v postfix >/dev/null || die "postfix not found"
  getent passwd postfix >/dev/null || die "user postfix missing"
  command -v saslpasswd2 >/dev/null || die "saslpasswd2 not found (Debian package sasl2-bin)"
  [[ -n $(find /usr/lib -name 'libsasldb.so*' -print -quit) ]] \
    || die "Cyrus sasldb plugin missing (Debian package libsasl2-modules-db)"
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

WORK=$(mktemp -d /tmp/portcullis-auth-bench.XXXXXX)
chmod 755 "$WORK"   # Postfix daemons (user postfix) must traverse it
DAEMON_PID=""
PF_CONF=$WORK/postfix-conf
PF_QUEUE=$WORK/postfix-queue
PF_DATA=$WORK/postfix-data
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

SMTPS_PORT=$(free_port)
INTERCEPT_PORT=$(free_port)
PF_SMTPS_PORT=$(free_port)
PF_PORT=$(free_port)
CLOSED_PORT=$(free_port)   # nobody listens here: every delivery attempt fails
DNS_PORT=$(free_port)      # nor here: no name is ever resolved off the machine
TICKS=$(getconf CLK_TCK)

# --- Portcullis ---------------------------------------------------------------
PC_DIR=$WORK/portcullis
mkdir -p "$PC_DIR"
cat >"$PC_DIR/portcullis.yaml" <<YAML
node:
  name: bench-gw
  state_dir: $PC_DIR/state
  control_socket: $PC_DIR/control.sock
  log_level: info
relay:
  hostname: bench-portcullis.localdomain
  listen:
    submission: []
    smtps: ["127.0.0.1:$SMTPS_PORT"]
    intercept: ["127.0.0.1:$INTERCEPT_PORT"]
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
YAML
"$BIN_DIR/portcullisd" --config "$PC_DIR/portcullis.yaml" >"$PC_DIR/daemon.log" 2>&1 &
DAEMON_PID=$!
ctl() { "$BIN_DIR/portcullisctl" --socket "$PC_DIR/control.sock" "$@"; }
for _ in $(seq 200); do
  ctl --json tenant list >/dev/null 2>&1 && break
  kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$PC_DIR/daemon.log" >&2; die "portcullisd exited"; }
  sleep 0.1
done
ctl tenant add bench --plan bench --subnet 127.0.0.0/8 --mode redirect >/dev/null
CRED=$(ctl --json credential issue bench --description auth-bench)
PC_USER=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["username"])' <<<"$CRED")
PC_PASS=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["password"])' <<<"$CRED")
pc_queued() {
  ctl --json queue list | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("total", len(d["messages"])))'
}
pc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$DAEMON_PID/stat"; }

# --- Postfix ------------------------------------------------------------------
PF_USER=benchuser
PF_PASS=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
PF_HOST=bench-postfix.localdomain
if [[ $POSTFIX == 1 ]]; then
  mkdir -p "$PF_CONF" "$PF_QUEUE" "$PF_DATA" "$PF_CONF/sasl"
  chown postfix "$PF_DATA"
  # The same kind of key as portcullisd's generated one (EC P-256).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$PF_HOST" -keyout "$WORK/postfix-key.pem" -out "$WORK/postfix-cert.pem" 2>/dev/null
  # Debian's Postfix looks for smtpd.conf in $config_directory/sasl.
  cat >"$PF_CONF/sasl/smtpd.conf" <<SASL
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $PF_CONF/sasl/sasldb2
SASL
  printf '%s' "$PF_PASS" | saslpasswd2 -p -c -f "$PF_CONF/sasl/sasldb2" -u "$PF_HOST" "$PF_USER"
  chown postfix "$PF_CONF/sasl/sasldb2"   # smtpd runs as postfix
  cat >"$PF_CONF/main.cf" <<MAIN
compatibility_level = 3.6
myhostname = $PF_HOST
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
defer_transports = smtp, relay
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
maillog_file = $WORK/postfix-maillog
maillog_file_prefixes = $WORK
default_process_limit = 200
smtpd_tls_security_level = may
smtpd_tls_cert_file = $WORK/postfix-cert.pem
smtpd_tls_key_file = $WORK/postfix-key.pem
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $PF_CONF/sasl
smtpd_sasl_local_domain = $PF_HOST
smtp_tls_security_level = none
smtp_dns_support_level = disabled
biff = no
append_dot_mydomain = no
alias_maps =
alias_database =
local_recipient_maps =
MAIN
  cat >"$PF_CONF/master.cf" <<MASTER
127.0.0.1:$PF_PORT inet n - n - 200 smtpd
127.0.0.1:$PF_SMTPS_PORT inet n - n - 200 smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
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
MASTER
  postfix -c "$PF_CONF" check >"$WORK/postfix-check.log" 2>&1 || { cat "$WORK/postfix-check.log" >&2; die "postfix check failed"; }
  postfix -c "$PF_CONF" start >>"$WORK/postfix-check.log" 2>&1 || { cat "$WORK/postfix-check.log" >&2; die "postfix start failed"; }
  PF_STARTED=1
  for _ in $(seq 100); do
    python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$PF_PORT),1); sys.exit(0 if s.recv(100).startswith(b'220') else 1)" 2>/dev/null && break
    sleep 0.1
  done
fi
pf_queued() { find "$PF_QUEUE"/{incoming,active,deferred,hold} -type f 2>/dev/null | wc -l; }
pf_settle() {   # let the queue manager finish with the last run before counting
  for _ in $(seq 600); do
    [[ $(find "$PF_QUEUE"/{incoming,active} -type f 2>/dev/null | wc -l) == 0 ]] && return
    sleep 0.1
  done
}
# Postfix's CPU: the master's own and its reaped children's (cutime/cstime),
# plus the children still running.
pf_cpu_ticks() {
  local master total pid
  master=$(tr -d ' ' <"$PF_QUEUE/pid/master.pid")
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$master/stat")
  for pid in $(pgrep -P "$master"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# --- runs ---------------------------------------------------------------------
declare -A RATE
run() {   # run SERVER MODE PORT ROUND USER PASS -> sets RATE[SERVER/MODE], prints a row
  local server=$1 mode=$2 port=$3 round=$4 user=$5 pass=$6 before after t0 t1 out
  sleep 1
  if [[ $server == postfix ]]; then
    pf_settle
    before=$(pf_queued)
    t0=$(pf_cpu_ticks)
  else
    before=$(pc_queued)
    t0=$(pc_cpu_ticks)
  fi
  out=$(python3 "$CLIENT" "$mode" 127.0.0.1 "$port" "$SECONDS_PER_RUN" --sessions "$SESSIONS" \
        --procs "$PROCS" --warmup "$WARMUP" --user "$user" --password "$pass")
  if [[ $server == postfix ]]; then
    pf_settle
    t1=$(pf_cpu_ticks)
    after=$(pf_queued)
  else
    t1=$(pc_cpu_ticks)
    after=$(pc_queued)
  fi
  echo "$server $out" >>"$WORK/results.jsonl"
  python3 - "$out" "$before" "$after" "$t0" "$t1" "$TICKS" "$round" "$server" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
before, after, t0, t1, hz = (int(x) for x in sys.argv[2:7])
round_, server = sys.argv[7], sys.argv[8]
queued = after - before
if r["mode"] == "smtps-login":  # no message: what matters is that none was queued
    r["ok_total"], logins = 0, r["ok_total"]
else:
    logins = r["ok_total"]
# CPU over the whole client run (warm-up included) per successful connection.
cpu_ms = (t1 - t0) * 1000 / hz / max(logins, 1)
line = (f"{round_:<6} {server:<11} {r['mode']:<11} {r['rate']:10.0f} {r['ok']:8d} {r['errors']:7d}"
        f" {cpu_ms:14.2f}")
if r["errors"]:
    line += f"   first error: {r['first_error']}"
print(line)
if queued != r["ok_total"]:
    print(f"       note: {server} queue grew by {queued}, client saw {r['ok_total']} accepted",
          file=sys.stderr)
    if queued < r["ok_total"]:
        sys.exit("auth_rate_bench: fewer messages queued than the client saw accepted")
PY
  RATE[$server/$mode]=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rate"])' "$out")
}

echo "auth_rate_bench: $SESSIONS sessions ($PROCS client process(es)), ${SECONDS_PER_RUN}s per run after ${WARMUP}s warm-up, one message per connection"
echo "machine: $(nproc) CPUs, $(uname -r); client python $(python3 -c 'import ssl,sys; print(sys.version.split()[0] + ", " + ssl.OPENSSL_VERSION)')"
printf '%-6s %-11s %-11s %10s %8s %7s %14s\n' round server mode "conn/s" ok errors "server CPU ms"
run_portcullis() {
  run portcullis smtps-auth "$SMTPS_PORT" "$1" "$PC_USER" "$PC_PASS"
  run portcullis starttls "$INTERCEPT_PORT" "$1" - -
  run portcullis plain "$INTERCEPT_PORT" "$1" - -
  [[ $LOGIN_ONLY == 1 ]] && run portcullis smtps-login "$SMTPS_PORT" "$1" "$PC_USER" "$PC_PASS"
  return 0
}
run_postfix() {
  [[ $POSTFIX == 1 ]] || return 0
  run postfix smtps-auth "$PF_SMTPS_PORT" "$1" "$PF_USER" "$PF_PASS"
  run postfix starttls "$PF_PORT" "$1" - -
  run postfix plain "$PF_PORT" "$1" - -
  [[ $LOGIN_ONLY == 1 ]] && run postfix smtps-login "$PF_SMTPS_PORT" "$1" "$PF_USER" "$PF_PASS"
  return 0
}
for round in $(seq "$ROUNDS"); do
  # Alternate which server goes first, so neither always meets the other's
  # leftover work (Postfix's queue manager, Portcullis's delivery attempts).
  if ((round % 2)); then
    run_portcullis "$round"
    run_postfix "$round"
  else
    run_postfix "$round"
    run_portcullis "$round"
  fi
  python3 - "$POSTFIX" "${RATE[portcullis/smtps-auth]}" "${RATE[portcullis/starttls]}" \
    "${RATE[portcullis/plain]}" "${RATE[postfix/smtps-auth]:-0}" "${RATE[postfix/starttls]:-0}" \
    "${RATE[postfix/plain]:-0}" <<'PY'
import sys
with_postfix = sys.argv[1] == "1"
auth, tls, plain, pf_auth, pf_tls, pf_plain = (float(x) for x in sys.argv[2:8])
ratio = lambda a, b: f"{a / b:.2f}" if b else "-"
print(f"       portcullis: smtps+AUTH / STARTTLS without AUTH = {ratio(auth, tls)}, "
      f"smtps+AUTH / plain without AUTH = {ratio(auth, plain)}")
if with_postfix:
    print(f"       postfix:    smtps+AUTH / STARTTLS without AUTH = {ratio(pf_auth, pf_tls)}, "
          f"smtps+AUTH / plain without AUTH = {ratio(pf_auth, pf_plain)}")
    print(f"       portcullis / postfix: smtps+AUTH {ratio(auth, pf_auth)}, "
          f"STARTTLS {ratio(tls, pf_tls)}, plain {ratio(plain, pf_plain)}")
PY
done

# Nothing may have left the machine: Postfix never attempted a delivery and
# Portcullis's only route is the closed loopback port.
if [[ $POSTFIX == 1 ]] && grep -qE "status=sent|status=bounced" "$WORK/postfix-maillog" 2>/dev/null; then
  die "postfix delivered or bounced mail"
fi
pc_total=$(pc_queued)
pf_total=-
[[ $POSTFIX == 1 ]] && pf_total=$(pf_queued)
# The verifier logs its cache counters when the daemon stops.
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=""
echo "portcullis log: $(grep -c 'event=auth_succeeded' "$PC_DIR/daemon.log" || true) auth_succeeded," \
     "$(grep -c 'event=auth_failed' "$PC_DIR/daemon.log" || true) auth_failed;" \
     "$(grep -o 'event=auth_cache_stats.*' "$PC_DIR/daemon.log" || echo 'no auth_cache_stats line')"
echo "verified: portcullis queued $pc_total, postfix queued $pf_total (none sent);" \
     "every delivery goes to closed 127.0.0.1:$CLOSED_PORT"
