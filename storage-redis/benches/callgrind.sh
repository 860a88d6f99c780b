#!/usr/bin/env bash
# Instructions per operation on both sides of the Redis connection, counted
# by valgrind's callgrind: repeatable on a machine too busy for timings.
#
#   storage-redis/benches/callgrind.sh                  # every operation, 2000 calls each
#   storage-redis/benches/callgrind.sh "reserve refund" 500
#   KEEP=/tmp/cg storage-redis/benches/callgrind.sh introspect_valid 1000
#
# With KEEP set, each operation's client profile is kept there as
# client-<op>.out, for `callgrind_annotate --inclusive=yes` (which
# functions of the redis crate, Tokio and ours the count is made of).
#
# Needs valgrind and redis-server (apt-get install valgrind redis-server).
# Starts its own redis-server under callgrind on a free loopback port (no
# persistence, `hz 1` so its timer adds little), and for each operation
# runs the `instructions` bench binary twice: once natively, zeroing and
# dumping redis-server's counters around its measured loop (redis-server
# instructions per call), once itself under callgrind, counting only its
# measured loop (client instructions per call: the core, the store, the
# redis crate and Tokio on one thread).
set -euo pipefail
cd "$(dirname "$0")/../.."
ops=${1:-introspect_valid introspect_forged issue reserve refund}
n=${2:-2000}
bin=$(cargo bench -p gatehouse-redis --features testing --bench instructions --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*instructions[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the instructions bench" >&2; exit 1; }
out=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$out/redis.out" \
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --hz 1 --dir "$out" \
    >"$out/redis.log" 2>&1 &
vg=$!
trap 'kill "$vg" 2>/dev/null; wait "$vg" 2>/dev/null; rm -rf "$out"' EXIT
for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export REDIS_URL="redis://127.0.0.1:$port/"
printf '%-20s %14s %14s\n' operation 'redis-server' 'client'
for op in $ops; do
    rm -f "$out"/redis.out.*
    REDIS_CALLGRIND_PID=$vg "$bin" "$op" "$n" >/dev/null
    dump=$(ls -t "$out"/redis.out.* | head -n 1)
    server=$(grep -E '^(summary|totals):' "$dump" | head -n 1 | awk '{print $2}')
    valgrind --tool=callgrind --callgrind-out-file="$out/client.out" --toggle-collect='*instructions*measure*' \
        "$bin" "$op" "$n" >/dev/null 2>"$out/client.log"
    client=$(grep -E '^(summary|totals):' "$out/client.out" | head -n 1 | awk '{print $2}')
    if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$out/client.out" "$KEEP/client-$op.out"; fi
    printf '%-20s %14d %14d\n' "$op" $((server / n)) $((client / n))
done
