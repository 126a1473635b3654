#!/usr/bin/env bash
# Backlog drain: the next hop is down (a loopback port with no listener) while
# BACKLOG messages of 1 KB are accepted through smtp-source (20 sessions); then
# an smtp-sink comes up on that port, the queue is flushed, and the drain is
# timed at the sink, per 10% of the backlog. Postfix (after `postqueue -f`)
# and Portcullis (after `portcullisctl queue retry-now --all` when the binary
# has it, else its short retry schedule) each drain the same backlog, one
# after the other, in the same run. Every message must reach the sink once:
# the sink's dump is checked for the gateway's queue id of each message.
# Not a test; see tests/bench/README.md.
#
# Usage (as root): tests/bench/backlog_bench.sh [BIN_DIR]
# Env: BACKLOG (100000; QUICK=1 makes it 10000), SIZE (1024), SESSIONS (20),
#      PC_RETRY (5s), DRAIN_TIMEOUT (1800 s), ACCEPT_TIMEOUT (3600 s),
#      ONLY (postfix|portcullis: run one side), KEEP=1.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -n ${1:-} ]] && BIN_DIR=$1

if [[ -n ${QUICK:-} ]]; then BACKLOG=${BACKLOG:-10000}; fi
BACKLOG=${BACKLOG:-100000}
SIZE=${SIZE:-1024}
SESSIONS=${SESSIONS:-20}
PC_RETRY=${PC_RETRY:-5s}
DRAIN_TIMEOUT=${DRAIN_TIMEOUT:-1800}
ACCEPT_TIMEOUT=${ACCEPT_TIMEOUT:-3600}
ONLY=${ONLY:-}

bench_init backlog
PF_NEXT_HOP=$(free_port)   # closed until that side's drain starts
PC_NEXT_HOP=$(free_port)
PC_PORT=$(free_port)
PF_PORT=$(free_port)
if [[ $ONLY != postfix ]] && ! pc_has_retry_now; then
  # No flush command: the retry schedule must bring the mail back soon after
  # the next hop is up. An engine that backs off a failing destination as a
  # whole (delivery.backoff_initial/backoff_max, default up to 20 min) would
  # otherwise sit out its backoff; make that as short as the schedule.
  backoff="  backoff_initial: $PC_RETRY
  backoff_max: $PC_RETRY"
  if pc_accepts_delivery_yaml "$backoff"; then
    PC_DELIVERY_YAML=$backoff
    PC_BACKOFF_NOTE="delivery.backoff_initial = backoff_max = $PC_RETRY"
  fi
fi
[[ $ONLY != postfix ]] && pc_start "$PC_PORT" "$PC_NEXT_HOP"
[[ $ONLY != portcullis ]] && pf_start "$PF_PORT" "$PF_NEXT_HOP"
mkdir -m 777 "$WORK/dump"   # smtp-sink writes as nobody

# accept LABEL PORT -> accept rate; fails if smtp-source did.
accept() {
  local t0 t1 log=$WORK/source-$1.log
  t0=$(bench_now)
  timeout "$ACCEPT_TIMEOUT" smtp-source -s "$SESSIONS" -m "$BACKLOG" -l "$SIZE" \
    -M bench-client.example -f "$FROM" -t "$TO" "127.0.0.1:$2" >"$log" 2>&1 ||
    bench_die "smtp-source into $1 failed: $(tail -1 "$log")"
  t1=$(bench_now)
  python3 -c "print(f'{$BACKLOG / ($t1 - $t0):.0f}')"
}

# drain LABEL NEXT_HOP_PORT FLUSH-COMMAND...: starts the sink, runs the flush,
# waits for BACKLOG messages; writes "t0 t_end got" to $WORK/drain-LABEL.
drain() {
  local label=$1 port=$2 t0 got t_flushed
  shift 2
  sink_start "$label" "$port" -D "$WORK/dump/$label"
  t0=$(bench_now)
  "$@" >"$WORK/flush-$label.log" 2>&1 || bench_log "flush for $label failed: $(tail -1 "$WORK/flush-$label.log")"
  t_flushed=$(bench_now)
  sink_wait "$label" "$BACKLOG" "$DRAIN_TIMEOUT" || bench_log "$label: drain timed out"
  sleep 3   # late duplicates would show up here
  got=$(sink_count "$label")
  sink_stop "$label"
  echo "$t0 $(sink_time "$label" "$BACKLOG") $got $t_flushed" >"$WORK/drain-$label"
}

echo "backlog: $BACKLOG messages of $SIZE bytes, $SESSIONS sessions, next hop down while accepting"
echo "machine: $(nproc) CPUs, $(uname -r); portcullisd $(stat -c '%y' "$BIN/portcullisd" | cut -d. -f1)"

# Postfix first, alone (Portcullis is idle with an empty queue), then Portcullis
# alone (Postfix is empty again), so neither drain competes with the other.
if [[ $ONLY != portcullis ]]; then
  bench_log "postfix: accepting $BACKLOG with the next hop down"
  PF_ACCEPT=$(accept postfix "$PF_PORT")
  pf_wait_settled 600 || bench_log "postfix still has $(pf_unsettled) messages in incoming/active"
  bench_log "postfix: $(pf_queued) queued; next hop up, postqueue -f"
  drain postfix "$PF_NEXT_HOP" postqueue -c "$PF_CONF" -f
  pf_wait_empty 120 || bench_log "postfix queue not empty after the drain: $(pf_queued)"
fi
if [[ $ONLY != postfix ]]; then
  bench_log "portcullis: accepting $BACKLOG with the next hop down (retry_schedule [$PC_RETRY])"
  PC_ACCEPT=$(accept portcullis "$PC_PORT")
  bench_log "portcullis: $(pc_queued) queued; next hop up"
  if pc_has_retry_now; then
    PC_FLUSH=(pc_ctl queue retry-now --all)
  else
    bench_log "portcullisctl has no 'queue retry-now': relying on the retry schedule [$PC_RETRY]${PC_BACKOFF_NOTE:+, $PC_BACKOFF_NOTE}"
    PC_FLUSH=(true)
  fi
  drain portcullis "$PC_NEXT_HOP" "${PC_FLUSH[@]}"
  pc_wait_empty 120 || bench_log "portcullis queue not empty after the drain: $(pc_queued)"
fi

python3 - "$WORK" "$BACKLOG" "${PF_ACCEPT:-}" "${PC_ACCEPT:-}" "${PC_FLUSH[*]:-}${PC_BACKOFF_NOTE:+ (retry schedule; $PC_BACKOFF_NOTE)}" <<'EOF'
import collections, os, re, sys

work, n = sys.argv[1], int(sys.argv[2])
accept = {"postfix": sys.argv[3], "portcullis": sys.argv[4]}
flush = {"postfix": "postqueue -f", "portcullis": sys.argv[5] or "-"}
# The gateway's own Received header names its queue id: one per accepted message.
GW_ID = re.compile(r"by bench-(?:postfix|portcullis)\.localdomain \((?:Postfix|Portcullis)\) with \S+ id ([A-Za-z0-9._-]+)")

def check(label):
    ids = collections.Counter()
    for name in os.listdir(os.path.join(work, "dump")):
        if not name.startswith(label):
            continue
        with open(os.path.join(work, "dump", name), errors="replace") as f:
            text = re.sub(r"\r?\n[ \t]+", " ", f.read())   # unfold headers
        ids.update(GW_ID.findall(text))
    return ids

def deciles(label, t0, total):
    rows = [tuple(map(float, line.split())) for line in open(os.path.join(work, f"sink-{label}.log"))]
    out, prev_t, prev_c = [], t0, 0
    for k in range(1, 11):
        target = (n * k + 9) // 10
        t = next((t for t, c in rows if c >= target), None)
        if t is None:
            out.append(None)
            continue
        out.append((t - t0, (target - prev_c) / max(t - prev_t, 1e-6)))
        prev_t, prev_c = t, target
    first = next((t for t, c in rows if c >= 1), None)
    return out, first

results = {}
for label in ("postfix", "portcullis"):
    path = os.path.join(work, f"drain-{label}")
    if not os.path.exists(path):
        continue
    t0, t_end, got, t_flushed = (open(path).read().split() + [""] * 4)[:4]
    t0, got = float(t0), int(got)
    ids = check(label)
    dups = {i: c for i, c in ids.items() if c > 1}
    dec, first = deciles(label, t0, got)
    rate = n / (float(t_end) - t0) if t_end else None
    results[label] = (rate, dec, first, t0)
    print(f"\n{label}: accepted at {accept[label]} msg/s; flush: {flush[label]}")
    print(f"  sink received {got} of {n}; distinct queue ids {len(ids)}; missing {max(0, n - len(ids))}; "
          f"duplicated ids {len(dups)} ({sum(dups.values()) - len(dups)} extra copies)")
    if dups:
        print("  duplicates (id: copies): " + ", ".join(f"{i}: {c}" for i, c in list(dups.items())[:20]))
    if t_flushed:
        print(f"  flush command returned after {float(t_flushed) - t0:.2f} s")
    if first:
        print(f"  first message at the sink {first - t0:.2f} s after the flush began")
    print(f"  drain rate flush -> last message: {rate:.0f} msg/s" if rate else "  drain incomplete")
    if rate and first and float(t_end) > first:
        print(f"  drain rate first -> last message: {(n - 1) / (float(t_end) - first):.0f} msg/s")

print("\nper 10% of the backlog: seconds since the flush began, and msg/s within that 10%")
print(f"{'share':>6} {'postfix s':>10} {'postfix/s':>10} {'portcullis s':>13} {'portcullis/s':>13} {'ratio':>7}")
for k in range(10):
    cells = []
    rates = []
    for label in ("postfix", "portcullis"):
        d = results.get(label, (None, [None] * 10))[1][k]
        cells += [f"{d[0]:.1f}", f"{d[1]:.0f}"] if d else ["-", "-"]
        rates.append(d[1] if d else None)
    ratio = f"{rates[1] / rates[0]:.2f}" if all(rates) else "n/a"
    print(f"{10 * (k + 1):>5}% {cells[0]:>10} {cells[1]:>10} {cells[2]:>13} {cells[3]:>13} {ratio:>7}")
pf, pc = (results.get(x, (None,))[0] for x in ("postfix", "portcullis"))
print(f"\ndrain msg/s: postfix {pf and round(pf)}, portcullis {pc and round(pc)}, "
      f"portcullis/postfix {pc / pf:.2f}" if pf and pc else
      f"\ndrain msg/s: postfix {pf and round(pf)}, portcullis {pc and round(pc)}, ratio n/a")
EOF
