#!/usr/bin/env bash
# Per-thread CPU and I/O per issued token of the example server on SQLite,
# over 5 s in the middle of a 10 s `wrk -t1 -c32` issuance run (server
# pinned to CPU 0, wrk to CPU 1, a fresh file, the bench config with the
# default `info` log):
#
#   storage-sqlite/benches/thread_cpu.sh BIN [BIN...]
#
# For each BIN (a release build of the example, copied aside): tokens per
# second, user+system µs per token of each busy thread
# (`/proc/PID/task/*/stat`; the writer is `gatehouse-sqlit…`), bytes and
# write calls per token (`/proc/PID/io` `wchar`, `syscw`), and, with
# `perf` available, the `openat`/`unlink` (SQLite's temporary files),
# `pwrite64` and `fsync` calls in the same 5 s (`perf stat` on the
# syscall tracepoints). Noisy: run the builds alternately, several times,
# on a quiet machine. Work files go to $BENCH_DIR (default
# target/thread-cpu); PORT defaults to 19467.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
PORT=${PORT:-19467}
DIR=${BENCH_DIR:-target/thread-cpu}; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
. examples/server/benches/bench_config.sh
PID=""
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null || true' EXIT
snap() { for t in /proc/"$PID"/task/*; do echo "$(tr ' ' _ <"$t/comm") $(cut -d' ' -f14,15 "$t/stat")"; done; }
io() { awk '$1=="wchar:"||$1=="syscw:"{printf "%s ", $2}' /proc/"$PID"/io; }
rows() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from tokens").fetchone()[0])' "$DIR/bench.db"; }
for bin in "$@"; do
  rm -f "$DIR"/bench.db "$DIR"/bench.db-*
  bench_config "$bin" "$PORT" "{\"type\": \"sqlite\", \"path\": \"$DIR/bench.db\"}" >"$DIR/cfg.json"
  taskset -c 0 "$bin" --config "$DIR/cfg.json" >"$DIR/server.log" 2>&1 & PID=$!
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$PORT/oauth/token" && break; sleep 0.05; done
  export WRK_BODY=grant_type=client_credentials
  WRK_AUTH=$(printf %s bench-client:bench-client-secret-0123456789abcdef | base64 -w0); export WRK_AUTH
  taskset -c 1 wrk -t1 -c32 -d10s -s ../shared/bench/introspect.lua "http://127.0.0.1:$PORT/oauth/token" >"$DIR/wrk.txt" & WRK=$!
  sleep 3
  r0=$(rows); snap >"$DIR/a"; io0=$(io)
  if command -v perf >/dev/null; then
    perf stat -x, -e syscalls:sys_enter_openat,syscalls:sys_enter_unlink,syscalls:sys_enter_pwrite64,syscalls:sys_enter_fsync \
        -p "$PID" -o "$DIR/perf.txt" -- sleep 5
  else
    : >"$DIR/perf.txt"; sleep 5
  fi
  snap >"$DIR/b"; io1=$(io); r1=$(rows)
  wait "$WRK"; kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
  python3 - "$DIR/a" "$DIR/b" "$DIR/perf.txt" $((r1 - r0)) "$(basename "$bin")" "$io0" "$io1" <<'PY'
import collections, os, sys
a, b, perf, tokens, label, io0, io1 = sys.argv[1:8]
tokens, hz = max(int(tokens), 1), os.sysconf("SC_CLK_TCK")
def load(p):
    d = collections.defaultdict(lambda: [0, 0])
    for line in open(p):
        n, u, s = line.split()
        d[n][0] += int(u); d[n][1] += int(s)
    return d
a, b = load(a), load(b)
threads, total = [], [0.0, 0.0]
for n in b:
    u, s = ((b[n][i] - a.get(n, [0, 0])[i]) / hz * 1e6 / tokens for i in (0, 1))
    total[0] += u; total[1] += s
    if u + s > 0.2:
        threads.append(f"{n} {u:.1f}+{s:.1f}")
w0, c0 = map(int, io0.split()); w1, c1 = map(int, io1.split())
calls = {l.split(",")[2].rsplit("_", 1)[1]: int(l.split(",")[0]) for l in open(perf) if "syscalls:" in l}
print(f"{label}: tokens/s={tokens / 5:.0f} us/token user+sys total {total[0]:.1f}+{total[1]:.1f} ({', '.join(threads)}) "
      f"wchar/token={(w1 - w0) / tokens:.0f} syscw/token={(c1 - c0) / tokens:.2f} "
      + " ".join(f"{k}={v}" for k, v in sorted(calls.items())))
PY
done
