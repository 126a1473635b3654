#!/usr/bin/env bash
# What stays on disk per message once it has been delivered, and that it
# stops growing with retention.
#
# 1. N messages (1 KB, one recipient, 20 sessions) through Portcullis and,
#    side by side, a private Postfix, both relaying to smtp-sink. Once both
#    queues are empty: Portcullis's queue.db by table (SQLite dbstat: the
#    events table and its four indexes, stats_hourly, free pages) per message,
#    beside Postfix's maillog per message (what Postfix keeps of a delivered
#    message: its log lines; its queue files are gone).
# 2. Steady state: Portcullis restarted with node.retention.events RETENTION
#    seconds (interval 1 s) takes RATE messages a second for 4 x RETENTION
#    seconds; queue.db (+ WAL) and the events row count every 10 s level off.
#
#   sudo tests/bench/storage_bench.sh [N=20000] [RETENTION=30] [RATE=200]
#
# Prints figures only; not a test. Everything on 127.0.0.1.
set -euo pipefail
# shellcheck source=tests/bench/lib.sh
source "$(dirname "$0")/lib.sh"

N=${1:-20000}
RETENTION=${2:-30}
RATE=${3:-200}
bench_init storage
command -v sqlite3 >/dev/null || bench_die "sqlite3 not found (Debian package sqlite3)"

PC_PORT=$(free_port)
PF_PORT=$(free_port)
PC_SINK=$(free_port)
PF_SINK=$(free_port)
sink_start pc "$PC_SINK"
sink_start pf "$PF_SINK"

# The daemon with extra node: lines (after log_level), tenant added once.
pc_launch() {
  local node_lines=$1
  pc_write_config "$PC_PORT" "$PC_SINK"
  python3 - "$PC_CONF" "$node_lines" <<'EOF'
import sys
path, extra = sys.argv[1], sys.argv[2]
text = open(path).read()
lines = text.split("\n")
at = next(i for i, l in enumerate(lines) if l.startswith("  log_level:"))
lines[at + 1:at + 1] = [l for l in extra.split("\n") if l]
open(path, "w").write("\n".join(lines))
EOF
  "$BIN/portcullisd" --config "$PC_CONF" >>"$PC_DIR/daemon.log" 2>&1 &
  PC_PID=$!
  BENCH_PIDS+=("$PC_PID")
  for _ in $(seq 300); do
    pc_ctl --json tenant list >/dev/null 2>&1 && break
    pc_alive || { tail -20 "$PC_DIR/daemon.log" >&2; bench_die "portcullisd exited"; }
    sleep 0.1
  done
  pc_ctl --json tenant list | grep -q '"bench"' ||
    pc_ctl tenant add bench --plan bench --subnet 127.0.0.0/8 --mode redirect >/dev/null
}

DB() { sqlite3 -readonly "$PC_DIR/state/queue.db" "$@"; }
# Bytes of the given b-trees (tables and indexes) on disk, from dbstat.
btree_bytes() {
  local names
  names=$(printf "'%s'," "$@")
  DB "SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name IN (${names%,});"
}
file_bytes() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---- 1. per message, side by side ----------------------------------------------
pc_launch "  retention:
    events: 30d
    stats: 395d"
pf_start "$PF_PORT" "$PF_SINK"
bench_log "sending $N x 1 KB to each"
send_mail "$PC_PORT" 20 "$N" 1024 "$WORK/source-pc.log" &
src_pc=$!
send_mail "$PF_PORT" 20 "$N" 1024 "$WORK/source-pf.log" &
src_pf=$!
wait "$src_pc" "$src_pf"
sink_wait pc "$N" 600 || bench_die "Portcullis delivered $(sink_count pc) of $N"
sink_wait pf "$N" 600 || bench_die "Postfix delivered $(sink_count pf) of $N"
pc_wait_empty 120 || bench_die "Portcullis queue not empty"
pf_wait_empty 120 || bench_die "Postfix queue not empty"
sleep 2  # let both finish their log lines

events_rows=$(DB "SELECT COUNT(*) FROM events;")
events_bytes=$(btree_bytes events events_tenant_time events_message events_time events_tenant_id)
events_table=$(btree_bytes events)
stats_rows=$(DB "SELECT COUNT(*) FROM stats_hourly;")
stats_bytes=$(btree_bytes stats_hourly)
page_size=$(DB "PRAGMA page_size;")
free_bytes=$(($(DB "PRAGMA freelist_count;") * page_size))
db_bytes=$(file_bytes "$PC_DIR/state/queue.db")
wal_bytes=$(file_bytes "$PC_DIR/state/queue.db-wal")
pf_log_bytes=$(file_bytes "$PF_LOG")

echo
echo "== kept on disk per delivered message (N=$N, 1 KB, 1 recipient) =="
python3 - "$N" "$events_rows" "$events_bytes" "$events_table" "$stats_rows" "$stats_bytes" \
  "$free_bytes" "$db_bytes" "$wal_bytes" "$pf_log_bytes" <<'EOF'
import sys
n, ev_rows, ev_bytes, ev_table, st_rows, st_bytes, free, db, wal, pf_log = map(int, sys.argv[1:])
pc = ev_bytes / n
print(f"Portcullis events: {ev_rows} rows ({ev_rows / n:.1f} per message), "
      f"{ev_bytes / 1e6:.2f} MB with indexes ({ev_table / 1e6:.2f} MB table)")
print(f"Portcullis events per message:      {pc:7.0f} bytes")
print(f"Portcullis hourly stats: {st_rows} rows, {st_bytes} bytes (per tenant and hour, not per message)")
print(f"Portcullis queue.db {db / 1e6:.2f} MB, of which free pages {free / 1e6:.2f} MB "
      f"(the delivered bodies' space, reused); WAL {wal / 1e6:.2f} MB")
print(f"Postfix maillog per message:        {pf_log / n:7.0f} bytes")
print(f"ratio Portcullis/Postfix:           {pc / (pf_log / n):7.2f}")
print(f"steady state at R messages/day with events kept D days: about {pc:.0f} x R x D bytes")
print(f"  e.g. 100,000/day, 30 days: {pc * 100000 * 30 / 1e9:.2f} GB")
EOF

# ---- 2. steady state with a short retention ----------------------------------------
bench_stop_pid "$PC_PID"
pc_launch "  retention:
    events: ${RETENTION}s
    interval: 1s"
echo
echo "== steady state: events kept ${RETENTION}s, $RATE messages/s for $((4 * RETENTION))s =="
printf "%6s %10s %12s %12s\n" "t (s)" "events" "queue.db" "WAL"
start=$SECONDS
sent=0
while ((SECONDS - start < 4 * RETENTION)); do
  tick=$SECONDS
  send_mail "$PC_PORT" 10 "$RATE" 1024 "$WORK/source-steady.log" || true
  sent=$((sent + RATE))
  if (((SECONDS - start) % 10 == 0)) || ((SECONDS - tick > 1)); then
    printf "%6d %10s %12s %12s\n" $((SECONDS - start)) "$(DB 'SELECT COUNT(*) FROM events;')" \
      "$(file_bytes "$PC_DIR/state/queue.db")" "$(file_bytes "$PC_DIR/state/queue.db-wal")"
  fi
  while ((SECONDS == tick)); do sleep 0.05; done
done
echo "sent $sent; events kept at the end: $(DB 'SELECT COUNT(*) FROM events;')" \
  "(expected about $((2 * RATE * RETENTION)): accepted + delivered for ${RETENTION}s of mail)"
grep -c "event=retention_pruned" "$PC_DIR/daemon.log" | sed 's/^/retention runs: /'
