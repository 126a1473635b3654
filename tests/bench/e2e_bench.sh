#!/usr/bin/env bash
# End to end: smtp-source -> gateway -> smtp-sink, all on 127.0.0.1, for
# Portcullis (intercept listener, every domain routed to the sink) and a
# private Postfix relaying to the same sink (relayhost, durable queue), plus
# the ceiling smtp-source -> smtp-sink. Throughput is counted at the sink: from
# just before smtp-source starts to the moment the sink has received the last
# message of the run. Not a test; see tests/bench/README.md.
#
# Usage (as root): tests/bench/e2e_bench.sh [BIN_DIR]
# Env: SESSIONS ("1 20 100"), SIZES ("1024 102400" body bytes),
#      MESSAGES_SMALL (2000, for sizes < 10 KB), MESSAGES_LARGE (1000),
#      QUICK=1 (500 / 200 messages), CELL_TIMEOUT (300 s per gateway per cell),
#      CEILING_RUNS (3: the ceiling is the best of that many runs),
#      ONLY (postfix|portcullis: skip the other gateway), PC_DELIVERY_YAML,
#      PF_EXTRA (extra config lines), KEEP=1.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -n ${1:-} ]] && BIN_DIR=$1

SESSIONS=${SESSIONS:-"1 20 100"}
SIZES=${SIZES:-"1024 102400"}
if [[ -n ${QUICK:-} ]]; then
  MESSAGES_SMALL=${MESSAGES_SMALL:-500}
  MESSAGES_LARGE=${MESSAGES_LARGE:-200}
fi
MESSAGES_SMALL=${MESSAGES_SMALL:-2000}
MESSAGES_LARGE=${MESSAGES_LARGE:-1000}
CELL_TIMEOUT=${CELL_TIMEOUT:-300}
CEILING_RUNS=${CEILING_RUNS:-3}
ONLY=${ONLY:-}

bench_init e2e
SINK_PORT=$(free_port)
PC_PORT=$(free_port)
PF_PORT=$(free_port)
sink_start e2e "$SINK_PORT"
[[ $ONLY == postfix ]] || pc_start "$PC_PORT" "$SINK_PORT"
[[ $ONLY == portcullis ]] || pf_start "$PF_PORT" "$SINK_PORT"

# run_cell LABEL PORT SESSIONS MESSAGES SIZE -> prints msg/s, or "lost:GOT/M"
# when the sink did not see every message within CELL_TIMEOUT.
run_cell() {
  local label=$1 port=$2 sessions=$3 messages=$4 size=$5 base t0 t1 log
  log=$WORK/source-$label-$sessions-$size.log
  base=$(sink_count e2e)
  t0=$(bench_now)
  local left=$CELL_TIMEOUT start=$SECONDS
  if ! SOURCE_TIMEOUT=$CELL_TIMEOUT send_mail "$port" "$sessions" "$messages" "$size" "$log"; then
    bench_log "smtp-source against $label failed: $(tail -1 "$log")"
    left=10   # what was accepted has a little time to arrive; no point waiting longer
  fi
  left=$((left - (SECONDS - start)))
  if ! sink_wait e2e $((base + messages)) $((left > 10 ? left : 10)); then
    echo "lost:$(($(sink_count e2e) - base))/$messages"
    return
  fi
  t1=$(sink_time e2e $((base + messages)))
  python3 -c "print(f'{$messages / ($t1 - $t0):.0f}')"
}

echo "e2e: smtp-source -> gateway -> smtp-sink on 127.0.0.1, one connection per message"
echo "machine: $(nproc) CPUs, $(uname -r); portcullisd $(stat -c '%y' "$BIN/portcullisd" | cut -d. -f1)"
printf '%-16s %8s %10s %12s %14s %18s %12s\n' cell messages "ceiling" "postfix" "portcullis" "portcullis/postfix" "% ceiling"
expected=0
for size in $SIZES; do
  if ((size < 10240)); then messages=$MESSAGES_SMALL; else messages=$MESSAGES_LARGE; fi
  for s in $SESSIONS; do
    cell="${s}s x $((size / 1024))KB"
    bench_log "cell $cell: ceiling"
    # Best of CEILING_RUNS: the ceiling is cheap, and one unlucky run on a
    # busy machine would make the gateways look closer to it than they are.
    ceil=0
    for _ in $(seq "$CEILING_RUNS"); do
      c=$(run_cell ceiling "$SINK_PORT" "$s" "$messages" "$size")
      expected=$((expected + messages))
      [[ $c =~ ^[0-9]+$ ]] && ((c > ceil)) && ceil=$c
    done
    ((ceil > 0)) || ceil=$c
    sleep 1
    pf=- pc=-
    if [[ $ONLY != portcullis ]]; then
      bench_log "cell $cell: postfix"
      pf_wait_empty 120 || bench_log "postfix queue not empty before the run: $(pf_queued)"
      pf=$(run_cell postfix "$PF_PORT" "$s" "$messages" "$size")
      pf_wait_empty "$CELL_TIMEOUT" || bench_log "postfix queue not empty after the run: $(pf_queued)"
      expected=$((expected + messages))
      sleep 1
    fi
    if [[ $ONLY != postfix ]] && ! pc_alive; then
      pc=died
    elif [[ $ONLY != postfix ]]; then
      bench_log "cell $cell: portcullis"
      pc_wait_empty 120 || bench_log "portcullis queue not empty before the run: $(pc_queued)"
      pc=$(run_cell portcullis "$PC_PORT" "$s" "$messages" "$size")
      pc_wait_empty "$CELL_TIMEOUT" || bench_log "portcullis queue not empty after the run: $(pc_queued)"
      expected=$((expected + messages))
      pc_alive || pc_died_report >&2
    fi
    python3 - "$cell" "$messages" "$ceil" "$pf" "$pc" <<'EOF'
import sys
cell, m, ceil, pf, pc = sys.argv[1:]
def num(x):
    try:
        return float(x)
    except ValueError:
        return None
c, f, p = num(ceil), num(pf), num(pc)
ratio = f"{p / f:.2f}" if p and f else "n/a"
share = f"{100 * p / c:.0f}%" if p and c else "n/a"
print(f"{cell:<16} {m:>8} {ceil:>10} {pf:>12} {pc:>14} {ratio:>18} {share:>12}")
EOF
    sleep 1
  done
done
sleep 2
got=$(sink_count e2e)
echo "sink received $got messages, sent $expected (difference = duplicates or losses: $((got - expected)))"
if [[ $ONLY != postfix ]]; then
  if pc_alive; then echo "portcullis queue left: $(pc_queued)"; else pc_died_report; fi
fi
[[ $ONLY == portcullis ]] || echo "postfix queue left: $(pf_queued)"
if [[ $ONLY != portcullis ]] && grep -q 'status=bounced\|status=deferred' "$PF_LOG" 2>/dev/null; then
  echo "postfix: $(grep -c 'status=deferred' "$PF_LOG") deferred, $(grep -c 'status=bounced' "$PF_LOG") bounced lines"
fi
