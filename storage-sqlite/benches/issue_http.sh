#!/usr/bin/env bash
# Issuance (client_credentials) over HTTP: the memory store against one or
# more builds of the example server on SQLite, alternated in one session,
# with the bench kit's bench_http.sh (wrk -t1 -c32 -d10s after a 3 s
# warm-up; server pinned to CPU 0 with taskset, wrk to CPU 1; a fresh
# database file for every run), and optionally the WAL syncs under strace:
#
#   storage-sqlite/benches/issue_http.sh ROUNDS BIN [LABEL=BIN...]
#   MODE=strace storage-sqlite/benches/issue_http.sh 1 BIN [LABEL=BIN...]
#
# BIN (a release build of gatehouse-example: `cargo build --release -p
# gatehouse-example-server`, copied aside when several builds are
# compared) serves the memory run of each round; each LABEL=BIN serves one
# SQLite run (default: `sqlite=BIN`). One line per run, as bench_http.sh
# prints it, prefixed with round and label; then the median per label and
# its ratio to memory's, and the median of the per-round ratios.
# The config is versus.sh's gh_config (default `info` log, the audit trail
# on stdout to a file); LOG=warn adds `"log": {"filter": "warn"}`.
# MODE=perf: the same with `perf trace -s -e fsync,fdatasync` (in-kernel
# tracepoints: far less overhead than strace's ptrace stops, no file
# names: fdatasync is the writer's own WAL sync, fsync SQLite's).
# MODE=strace: instead of wrk's measurement, one 10 s wrk run per SQLite
# label with `strace -f -T -y -e trace=fsync,fdatasync` attached for its
# middle 5 s: WAL syncs per second, mean and median sync latency, and
# tokens per WAL sync (requests completed in the traced 5 s, from the
# server's own count of issued tokens: the rows of the database).
# PORT defaults to 19411; work files go to $BENCH_DIR (default
# target/issue-http). Run only while nothing else builds on this machine;
# other processes' CPU is in each line's foreign_cpu_s.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:?ROUNDS}; BIN=${2:?BIN}; shift 2
RUNS=("$@"); [ ${#RUNS[@]} -gt 0 ] || RUNS=("sqlite=$BIN")
PORT=${PORT:-19411} MODE=${MODE:-wrk} LOG=${LOG:-info}
KIT=$(cd ../shared/bench && pwd)
DIR=${BENCH_DIR:-target/issue-http}; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
CLIENT=bench-client:bench-client-secret-0123456789abcdef
RAW="$DIR/issue-$(date -u +%Y%m%dT%H%M%SZ).txt"
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi; PID=""; }
trap stop EXIT

. examples/server/benches/bench_config.sh
config() {  # config BIN STORE_JSON
  local log=""
  [ "$LOG" = warn ] && log=warn
  bench_config "$1" "$PORT" "$2" $log
}

start() {  # start BIN STORE_JSON
  config "$1" "$2" >"$DIR/cfg.json"
  taskset -c 0 "$1" --config "$DIR/cfg.json" >"$DIR/server.log" 2>&1 & PID=$!
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/oauth/token" && return 0; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}

sqlite_json() { rm -f "$DIR"/bench.db "$DIR"/bench.db-*; echo "{\"type\": \"sqlite\", \"path\": \"$DIR/bench.db\"}"; }
issue() { BODY=grant_type=client_credentials EXPECT='"access_token"' "$KIT/bench_http.sh" "$PORT" /oauth/token "$CLIENT" issue; }
rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from tokens").fetchone()[0])' "$DIR/bench.db"; }

if [ "$MODE" = strace ] || [ "$MODE" = perf ]; then
  for run in "${RUNS[@]}"; do
    label=${run%%=*} bin=${run#*=}
    start "$bin" "$(sqlite_json)"
    export WRK_BODY=grant_type=client_credentials WRK_AUTH=$(printf %s "$CLIENT" | base64 -w0)
    taskset -c 1 wrk -t1 -c32 -d10s -s "$KIT/introspect.lua" "http://127.0.0.1:$PORT/oauth/token" >/dev/null & WRK=$!
    sleep 3
    before=$(rows)
    if [ "$MODE" = perf ]; then
      # Counts over exactly 5 s (perf stat), then latencies over 3 s (perf trace).
      t0=$(date +%s.%N)
      perf stat -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync -p "$PID" -o "$DIR/perfstat-$label.txt" -- sleep 5
      after=$(rows) t1=$(date +%s.%N)
      timeout -s INT 3 perf trace -s -e fsync,fdatasync -p "$PID" -o "$DIR/perf-$label.txt" || true
      wait "$WRK"
      python3 - "$DIR/perfstat-$label.txt" "$DIR/perf-$label.txt" "$label" $((after - before)) "$t0" "$t1" <<'PY' | tee -a "$RAW"
import re, sys
stat, trace, label, tokens, t0, t1 = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rate = {}  # syncs per second over perf's own counting time (it attaches late)
for line in open(stat):
    f = line.strip().split(",")
    if len(f) > 3 and f[2].startswith("syscalls:sys_enter_"):
        rate[f[2].rsplit("_", 1)[1]] = int(f[0]) / (int(f[3]) / 1e9)
tokens_s = tokens / (t1 - t0)
n, total = {}, {}
for line in open(trace):
    m = re.match(r"\s*(fsync|fdatasync)\s+(\d+)\s+\d+\s+([\d.]+)", line)
    if m:
        n[m.group(1)] = n.get(m.group(1), 0) + int(m.group(2))
        total[m.group(1)] = total.get(m.group(1), 0.0) + float(m.group(3))
# A commit's sync is the writer's fdatasync when it makes any, else
# SQLite's fsync (which then also counts checkpoints: ~5% of them here).
commit = rate.get("fdatasync") or rate.get("fsync") or 1
print(f"label={label} tracer=perf syncs_per_s=" + ",".join(f"{k}:{v:.0f}" for k, v in sorted(rate.items()))
      + " mean_ms=" + ",".join(f"{k}:{total[k]/n[k]:.3f}" for k in sorted(n))
      + f" tokens_per_s={tokens_s:.0f} tokens_per_commit={tokens_s/commit:.1f}")
PY
      stop
      continue
    fi
    timeout -s INT 5 strace -f -T -y -e trace=fsync,fdatasync -p "$PID" -o "$DIR/strace-$label.txt" || true
    after=$(rows)
    wait "$WRK"
    python3 - "$DIR/strace-$label.txt" "$label" $((after - before)) <<'PY' | tee -a "$RAW"
import re, statistics, sys
path, label, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3])
wal, other = [], []
for line in open(path):
    m = re.search(r"(fsync|fdatasync)\((\d+)<([^>]*)>\)\s*=\s*(-?\d+).*<([\d.]+)>", line)
    if m:
        (wal if m.group(3).endswith("-wal") else other).append((m.group(1), float(m.group(5)) * 1e3))
kinds = sorted({k for k, _ in wal})
ms = [t for _, t in wal]
print(f"label={label} wal_syncs={len(wal)} ({'/'.join(kinds)}) per_s={len(wal)/5:.0f} "
      f"mean_ms={statistics.mean(ms):.3f} median_ms={statistics.median(ms):.3f} "
      f"tokens={tokens} tokens_per_sync={tokens/max(len(wal),1):.1f} other_syncs={len(other)} "
      f"other_mean_ms={statistics.mean([t for _, t in other]) if other else 0:.2f}")
PY
    stop
  done
  exit 0
fi

echo "# $(date -u +%FT%TZ) rounds=$ROUNDS log=$LOG runs=${RUNS[*]}" | tee -a "$RAW"
for round in $(seq 1 "$ROUNDS"); do
  start "$BIN" '{"type": "memory"}'
  echo "round=$round label=memory $(issue)" | tee -a "$RAW"
  stop
  for run in "${RUNS[@]}"; do
    label=${run%%=*} bin=${run#*=}
    start "$bin" "$(sqlite_json)"
    echo "round=$round label=$label $(issue)" | tee -a "$RAW"
    stop
  done
done
python3 - "$RAW" <<'PY'
import re, statistics, sys
rows = [dict(re.findall(r"(\w+)=(\S+)", l)) for l in open(sys.argv[1]) if l.startswith("round=")]
mem = {r["round"]: float(r["rps"]) for r in rows if r["label"] == "memory"}
labels = list(dict.fromkeys(r["label"] for r in rows))
for label in labels:
    rs = [r for r in rows if r["label"] == label]
    rps = statistics.median(float(r["rps"]) for r in rs)
    ratios = [float(r["rps"]) / mem[r["round"]] for r in rs]
    us = statistics.median(float(r["server_cpu_us_per_req"]) for r in rs if r["server_cpu_us_per_req"] != "NA")
    print(f"{label}: median {rps:,.0f} req/s, {us:.1f} µs server CPU per token, "
          f"per-round ratios to memory {' '.join(f'{x:.2f}' for x in ratios)} (median {statistics.median(ratios):.2f})")
PY
echo "raw lines: $RAW" >&2
