#!/usr/bin/env bash
# Durability cost per message, accept + deliver, at 20 sessions, smtp-source ->
# gateway -> smtp-sink on 127.0.0.1, for Portcullis and a private Postfix:
#  1. fsync + fdatasync calls per message (1 KB messages), counted by
#     `strace -f -c -e trace=fsync,fdatasync` attached to every thread of
#     portcullisd, and to the Postfix master and all its processes (-f follows
#     the ones it forks during the run). strace slows both down: the counts are
#     the figure here, not the time.
#  2. bytes written to storage per message at 100 KB (no strace): write_bytes
#     of /proc/PID/io (the whole thread group; for Postfix the master, which
#     also holds the I/O of its exited children, plus every live descendant),
#     before and after the run; also without the log files' growth, and minus
#     cancelled_write_bytes (data of files deleted before writeback, e.g. a
#     delivered Postfix queue file).
# Not a test; see tests/bench/README.md.
#
# Usage (as root): tests/bench/io_bench.sh [BIN_DIR]
# Env: SESSIONS (20), FSYNC_MESSAGES (2000), FSYNC_SIZE (1024), BYTES_MESSAGES (500),
#      BYTES_SIZE (102400), QUICK=1 (500 / 200), TIMEOUT (600 s per run), KEEP=1.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -n ${1:-} ]] && BIN_DIR=$1

SESSIONS=${SESSIONS:-20}
if [[ -n ${QUICK:-} ]]; then
  FSYNC_MESSAGES=${FSYNC_MESSAGES:-500}
  BYTES_MESSAGES=${BYTES_MESSAGES:-200}
fi
FSYNC_MESSAGES=${FSYNC_MESSAGES:-2000}
FSYNC_SIZE=${FSYNC_SIZE:-1024}
BYTES_MESSAGES=${BYTES_MESSAGES:-500}
BYTES_SIZE=${BYTES_SIZE:-102400}
TIMEOUT=${TIMEOUT:-600}
command -v strace >/dev/null || bench_die "strace not found (apt-get install strace)"

bench_init io
SINK_PORT=$(free_port)
PC_PORT=$(free_port)
PF_PORT=$(free_port)
sink_start io "$SINK_PORT"
pc_start "$PC_PORT" "$SINK_PORT"
pf_start "$PF_PORT" "$SINK_PORT"

settle() {   # settle LABEL: the gateway's queue is empty, then 2 s of quiet
  if [[ $1 == portcullis ]]; then
    pc_wait_empty "$TIMEOUT" || bench_log "portcullis queue not empty: $(pc_queued)"
  else
    pf_wait_empty "$TIMEOUT" || bench_log "postfix queue not empty: $(pf_queued)"
  fi
  sleep 2
}

# deliver LABEL PORT MESSAGES SIZE: smtp-source into the gateway, wait until the
# sink has every message and the gateway's queue is empty again.
deliver() {
  local base log=$WORK/source-$1-$4.log
  base=$(sink_count io)
  send_mail "$2" "$SESSIONS" "$3" "$4" "$log" || bench_log "smtp-source into $1: $(tail -1 "$log")"
  sink_wait io $((base + $3)) "$TIMEOUT" || bench_log "$1: sink got $(($(sink_count io) - base)) of $3"
  settle "$1"
}

# count_syncs LABEL PORT PIDS...: fsync+fdatasync calls during one run -> SYNCS="fsync fdatasync"
# (not in a subshell, so the exit trap knows the strace pid)
count_syncs() {
  local label=$1 port=$2 out=$WORK/strace-$1.txt pid args=()
  shift 2
  for pid in "$@"; do args+=(-p "$pid"); done
  strace -f -c -e trace=fsync,fdatasync -o "$out" "${args[@]}" 2>"$WORK/strace-$label.err" &
  local strace_pid=$!
  BENCH_PIDS+=("$strace_pid")
  sleep 2   # attached to every thread before the first message
  deliver "$label" "$port" "$FSYNC_MESSAGES" "$FSYNC_SIZE"
  kill -INT "$strace_pid"
  wait "$strace_pid" 2>/dev/null || true
  SYNCS=$(awk '$NF == "fsync" { f = $4 } $NF == "fdatasync" { d = $4 } END { print f + 0, d + 0 }' "$out")
}

io_total() {   # io_total PIDS...: "write_bytes cancelled_write_bytes" summed
  python3 - "$@" <<'EOF'
import sys
w = c = 0
for pid in sys.argv[1:]:
    try:
        fields = dict(line.split(": ") for line in open(f"/proc/{pid}/io").read().splitlines())
    except OSError:
        continue   # exited between the listing and now: the master holds its I/O
    w += int(fields["write_bytes"])
    c += int(fields["cancelled_write_bytes"])
print(w, c)
EOF
}
fsize() { stat -c %s "$1" 2>/dev/null || echo 0; }

# measure_bytes LABEL PORT LOGFILE PIDS-COMMAND -> BYTES="write cancelled log" deltas
measure_bytes() {
  local label=$1 port=$2 logfile=$3 pids_cmd=$4 before after log0 log1
  settle "$label"
  log0=$(fsize "$logfile")
  # shellcheck disable=SC2046
  before=$(io_total $($pids_cmd))
  deliver "$label" "$port" "$BYTES_MESSAGES" "$BYTES_SIZE"
  # shellcheck disable=SC2046
  after=$(io_total $($pids_cmd))
  log1=$(fsize "$logfile")
  BYTES=$(python3 -c "
b, a = '$before'.split(), '$after'.split()
print(int(a[0]) - int(b[0]), int(a[1]) - int(b[1]), $log1 - $log0)")
}

pc_pids() { echo "$PC_PID"; }

echo "io: $SESSIONS sessions; fsync count over $FSYNC_MESSAGES x $FSYNC_SIZE B, bytes over $BYTES_MESSAGES x $BYTES_SIZE B"
echo "machine: $(nproc) CPUs, $(uname -r); portcullisd $(stat -c '%y' "$BIN/portcullisd" | cut -d. -f1)"
# Warm-up so both have their processes/threads and files in place.
deliver portcullis "$PC_PORT" 100 "$FSYNC_SIZE"
deliver postfix "$PF_PORT" 100 "$FSYNC_SIZE"

bench_log "fsync count: portcullis"
count_syncs portcullis "$PC_PORT" "$PC_PID"
read -r pc_fsync pc_fdatasync <<<"$SYNCS"
bench_log "fsync count: postfix"
# shellcheck disable=SC2046
count_syncs postfix "$PF_PORT" $(pf_pids)
read -r pf_fsync pf_fdatasync <<<"$SYNCS"
bench_log "bytes written: portcullis"
measure_bytes portcullis "$PC_PORT" "$PC_DIR/daemon.log" pc_pids
read -r pc_w pc_c pc_log <<<"$BYTES"
bench_log "bytes written: postfix"
measure_bytes postfix "$PF_PORT" "$PF_LOG" pf_pids
read -r pf_w pf_c pf_log <<<"$BYTES"

python3 - "$FSYNC_MESSAGES" "$BYTES_MESSAGES" "$BYTES_SIZE" \
  "$pf_fsync" "$pf_fdatasync" "$pc_fsync" "$pc_fdatasync" \
  "$pf_w" "$pf_c" "$pf_log" "$pc_w" "$pc_c" "$pc_log" <<'EOF'
import sys
m1, m2, size = map(int, sys.argv[1:4])
pf_fs, pf_fd, pc_fs, pc_fd, pf_w, pf_c, pf_log, pc_w, pc_c, pc_log = map(int, sys.argv[4:])
def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"
print(f"\n{'per message (accept + deliver)':<44} {'postfix':>10} {'portcullis':>11} {'portcullis/postfix':>19}")
rows = [
    ("fsync calls", pf_fs / m1, pc_fs / m1),
    ("fdatasync calls", pf_fd / m1, pc_fd / m1),
    ("fsync + fdatasync", (pf_fs + pf_fd) / m1, (pc_fs + pc_fd) / m1),
]
for name, a, b in rows:
    print(f"{name:<44} {a:>10.2f} {b:>11.2f} {ratio(b, a):>19}")
kib = lambda x: x / m2 / 1024
rows = [
    (f"KiB written at {size // 1024} KB (write_bytes)", kib(pf_w), kib(pc_w)),
    ("  of which log files", kib(pf_log), kib(pc_log)),
    ("  without logs", kib(pf_w - pf_log), kib(pc_w - pc_log)),
    ("  without logs, minus cancelled_write_bytes", kib(pf_w - pf_log - pf_c), kib(pc_w - pc_log - pc_c)),
]
for name, a, b in rows:
    print(f"{name:<44} {a:>10.1f} {b:>11.1f} {ratio(b, a):>19}")
print(f"{'written / message size (without logs)':<44} {(pf_w - pf_log) / m2 / size:>10.2f} "
      f"{(pc_w - pc_log) / m2 / size:>11.2f}")
EOF
