#!/usr/bin/env bash
# Instructions per issued token on the SQLite writer thread (valgrind's
# callgrind, user space only, so machine noise does not move it), measured
# on a release build of the example server while wrk drives issuance:
#
#   storage-sqlite/benches/writer_profile.sh BIN [BIN...]
#
# BIN: a release build of the example (`cargo build --release -p
# gatehouse-example-server`, copied aside to compare builds). For each BIN:
# the server under callgrind on a fresh SQLite file (the bench config,
# log filter `warn`), `wrk -t1 -c32 -d15s` issuance (client_credentials),
# then the writer thread's instructions (callgrind's per-thread totals:
# the thread that runs the writer's BEGIN and COMMIT) and, within them, the
# inclusive count of `sqlite3_step`, each divided by the tokens stored
# (the rows of the file), all threads' instructions per token, and the
# tokens per commit (rows over the writer's BEGIN/COMMIT pairs). The
# annotated writer profile is left in $PROFILE_DIR (`*.out-NN.txt`).
# Under valgrind all threads share one core, as in the pinned benches.
# Needs valgrind, wrk, curl, python3 and ../shared/bench/introspect.lua.
# Work files go to $PROFILE_DIR (default target/writer-profile); PORT
# defaults to 19433.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
PORT=${PORT:-19433} SECS=${SECS:-15}
DIR=${PROFILE_DIR:-target/writer-profile}; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
WRK_LUA=$(cd ../shared/bench && pwd)/introspect.lua
[ -f "$WRK_LUA" ] || { echo "needs $WRK_LUA" >&2; exit 2; }
CLIENT=bench-client:bench-client-secret-0123456789abcdef
. examples/server/benches/bench_config.sh
SERVER=""
trap '[ -n "$SERVER" ] && kill -INT "$SERVER" 2>/dev/null || true' EXIT
for bin in "$@"; do
  rm -f "$DIR"/bench.db "$DIR"/bench.db-*
  bench_config "$bin" "$PORT" "{\"type\": \"sqlite\", \"path\": \"$DIR/bench.db\"}" warn >"$DIR/cfg.json"
  out="$DIR/callgrind-$(basename "$bin").out"
  rm -f "$out" "$out"-*
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" "$bin" --config "$DIR/cfg.json" \
      >"$DIR/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 300); do curl -s -o /dev/null "http://127.0.0.1:$PORT/oauth/token" && break; sleep 0.2; done
  export WRK_BODY=grant_type=client_credentials
  WRK_AUTH=$(printf %s "$CLIENT" | base64 -w0); export WRK_AUTH
  wrk -t1 -c32 -d"${SECS}s" -s "$WRK_LUA" "http://127.0.0.1:$PORT/oauth/token" >"$DIR/wrk.txt"
  kill -INT "$SERVER"; wait "$SERVER" || true; SERVER=""
  rows=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from tokens").fetchone()[0])' "$DIR/bench.db")
  # One file per thread; the writer's is the one that runs `writer::run`
  # (its BEGIN and COMMIT).
  writer="" all=0
  for f in "$out"-*; do
    total=$(grep -E '^(summary|totals):' "$f" | head -n 1 | awk '{print $2}')
    all=$((all + total))
    if grep -q 'gatehouse_sqlite::writer::run' "$f"; then writer=$f; wtotal=$total; fi
  done
  [ -n "$writer" ] || { echo "no writer thread in $out-*" >&2; exit 1; }
  callgrind_annotate --inclusive=yes --threshold=100 "$writer" >"$writer.txt" 2>/dev/null
  step=$(grep -m1 -E ':sqlite3_step ' "$writer.txt" | awk '{gsub(",","",$1); print $1}')
  # Batches: the writer runs BEGIN and COMMIT through `writer::run`, and
  # issuance's inserts run no other statement through it (no savepoint).
  runs=$(python3 - "$writer" <<'PY'
import re, sys
names, cur, total = {}, None, 0
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"c?fn=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(2):
            names[m.group(1)] = m.group(2)
        cur = names.get(m.group(1), "") if line.startswith("cfn=") else None
        continue
    m = re.match(r"calls=(\d+)", line)
    if m and cur and cur.endswith("gatehouse_sqlite::writer::run"):
        total += int(m.group(1))
print(total)
PY
)
  echo "$(basename "$bin"): tokens=$rows tokens_per_commit=$((rows * 2 / (runs > 0 ? runs : 1))) writer_per_token=$((wtotal / rows)) writer_sqlite3_step_per_token=$((${step:-0} / rows)) all_threads_per_token=$((all / rows))"
done
