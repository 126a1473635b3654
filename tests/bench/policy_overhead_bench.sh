#!/usr/bin/env bash
# What the tenant policy costs: two portcullisd side by side on loopback, the
# same config except relay.enforce_policy (true: plan limits, quota, rate
# buckets and a suppression lookup on every RCPT, against 10,000 suppressed
# addresses; false: none of it). smtp-source sends MESSAGES messages to each,
# alternately, ROUNDS times per session count; prints msg/s and the ratio.
# A benchmark, not a test: nothing passes or fails on time.
#
#   sudo tests/bench/policy_overhead_bench.sh build/bin
#
# Env: MESSAGES (2000), SIZE (4096), SESSIONS ("1 20"), ROUNDS (3), KEEP (keep temp dir).
set -euo pipefail

BIN_DIR=$(cd "${1:?usage: policy_overhead_bench.sh BUILD_BIN_DIR}" && pwd)
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-4096}
SESSIONS=${SESSIONS:-"1 20"}
ROUNDS=${ROUNDS:-3}
die() { echo "policy_overhead_bench: $*" >&2; exit 1; }
command -v smtp-source >/dev/null || die "smtp-source missing (Debian package postfix)"

WORK=$(mktemp -d /tmp/portcullis-policy-bench-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [[ -n ${KEEP:-} ]] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CLOSED_PORT=$(free_port)

start() {   # start NAME ENFORCE -> sets PORT_<NAME>
  local name=$1 enforce=$2 dir=$WORK/$1 port
  port=$(free_port)
  mkdir -p "$dir"
  cat >"$dir/portcullis.yaml" <<YAML
node:
  name: bench-$name
  state_dir: $dir/state
  control_socket: $dir/control.sock
  log_level: warning
relay:
  hostname: bench-$name.localdomain
  enforce_policy: $enforce
  listen:
    submission: []
    smtps: []
    intercept: ["127.0.0.1:$port"]
  limits:
    max_connections: 1000
    max_connections_per_client: 1000
    max_message_size: 25M
delivery:
  resolver: "127.0.0.1:$CLOSED_PORT"
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
  "$BIN_DIR/portcullisd" --config "$dir/portcullis.yaml" >"$dir/daemon.log" 2>&1 &
  PIDS+=($!)
  local ctl=("$BIN_DIR/portcullisctl" --socket "$dir/control.sock")
  for _ in $(seq 200); do
    "${ctl[@]}" --json tenant list >/dev/null 2>&1 && break
    sleep 0.1
  done
  "${ctl[@]}" tenant add bench --plan bench --subnet 127.0.0.0/8 --mode redirect >/dev/null
  python3 -c 'print("address,list,reason"); [print(f"user{i}@example.net,blocks,bench") for i in range(10000)]' \
    >"$dir/suppressions.csv"
  "${ctl[@]}" suppression import --tenant bench --file "$dir/suppressions.csv" >/dev/null
  printf -v "PORT_$name" '%s' "$port"
}

start on true
start off false

run() {   # run PORT SESSIONS -> elapsed seconds
  local t0 t1
  t0=$(date +%s.%N)
  smtp-source -c -s "$2" -m "$MESSAGES" -l "$SIZE" -M bench-client.example \
    -f bench@client.example -t rcpt@example.net "127.0.0.1:$1" >/dev/null 2>&1 ||
    die "smtp-source against port $1 failed"
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
}

echo "smtp-source: $MESSAGES messages of $SIZE bytes, $ROUNDS alternating rounds per session count"
printf '%-9s %18s %18s %10s\n' sessions "policy on msg/s" "policy off msg/s" "on/off"
for s in $SESSIONS; do
  on=0 off=0
  for _ in $(seq "$ROUNDS"); do
    on=$(python3 -c "print($on + $(run "$PORT_on" "$s"))")
    sleep 1
    off=$(python3 -c "print($off + $(run "$PORT_off" "$s"))")
    sleep 1
  done
  python3 -c "
m = $MESSAGES * $ROUNDS
print(f'{$s:<9} {m / $on:18.0f} {m / $off:18.0f} {$off / $on:10.3f}')"
done
echo "on/off is throughput with policy over without: 0.95 would be 5% overhead."
