#!/usr/bin/env bash
# CPU time per valid introspection (or, with MODE=issue, per
# client_credentials issuance) over HTTP, the example server and its
# redis-server together (both pinned to CPU 0, as ../shared/bench/versus.sh
# runs them), beside the memory store: on a shared machine, CPU per request
# moves less with the load than req/s does, and the ratio memory/Redis of
# CPU per request is what the req/s ratio would be on an idle core.
#
#   storage-redis/benches/cpu_per_request.sh BIN [OLD_BIN] [ROUNDS]
#   MODE=issue storage-redis/benches/cpu_per_request.sh BIN [OLD_BIN] [ROUNDS]
#
# BIN, OLD_BIN: gatehouse-example binaries built with
# `cargo build --release -p gatehouse-example-server --features redis`
# (copy the first one away before building the second). Each round runs,
# interleaved: memory on BIN, Redis on OLD_BIN (when given), Redis on BIN;
# each a 2 s warm-up then `wrk -t1 -c32 -d5s` (pinned to CPU 1) with the
# bench kit's introspect.lua ($KIT, default ../shared/bench), reading both
# processes' utime + stime from /proc before and after. Needs wrk, curl,
# python3, taskset, redis-server; uses 127.0.0.1 ports 9115 and 6391.
set -euo pipefail
BIN=$1 OLD=${2:-} ROUNDS=${3:-2}
KIT=${KIT:-$(cd "$(dirname "$0")/../../.." && pwd)/shared/bench}
OUT=$(mktemp -d)
RS=bench-rs:bench-rs-secret-0123456789abcdef
CLIENT=bench-client:bench-client-secret-0123456789abcdef
RPORT=6391
. "$(dirname "$0")/../../examples/server/benches/bench_config.sh"
config() { bench_config "$1" 9115 "$2"; }  # config BIN STORE_JSON: versus.sh's config, on port 9115
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
taskset -c 0 redis-server --port $RPORT --bind 127.0.0.1 --save '' --appendonly no >"$OUT/redis.log" 2>&1 &
REDIS=$!
PID=
trap 'kill $REDIS 2>/dev/null; [ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$OUT"' EXIT
sleep 0.5
HZ=$(getconf CLK_TCK)
runs=(memory:"$BIN")
[ -n "$OLD" ] && runs+=(redis-old:"$OLD")
runs+=(redis:"$BIN")
for _ in $(seq "$ROUNDS"); do
  for run in "${runs[@]}"; do
    name=${run%%:*} bin=${run#*:}
    case $name in
      memory) store='{"type": "memory"}';;
      *) store="{\"type\": \"redis\", \"url\": \"redis://127.0.0.1:$RPORT/\"}";;
    esac
    redis-cli -p $RPORT flushall >/dev/null
    config "$bin" "$store" >"$OUT/config.json"
    taskset -c 0 "$bin" --config "$OUT/config.json" >"$OUT/gh.log" 2>&1 &
    PID=$!
    for _ in $(seq 200); do curl -s -o /dev/null http://127.0.0.1:9115/oauth/token && break; sleep 0.05; done
    TOK=$(curl -sS -u "$CLIENT" -d grant_type=client_credentials http://127.0.0.1:9115/oauth/token \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    if [ "${MODE:-introspect}" = issue ]; then
      export WRK_BODY="grant_type=client_credentials" WRK_AUTH=$(printf '%s' "$CLIENT" | base64 -w0)
      wrk=(taskset -c 1 wrk -t1 -c32 -s "$KIT/introspect.lua" http://127.0.0.1:9115/oauth/token)
    else
      export WRK_BODY="token=${TOK}&token_type_hint=access_token" WRK_AUTH=$(printf '%s' "$RS" | base64 -w0)
      wrk=(taskset -c 1 wrk -t1 -c32 -s "$KIT/introspect.lua" http://127.0.0.1:9115/oauth/introspect)
    fi
    "${wrk[@]}" -d2s >/dev/null
    s0=$(ticks $PID) r0=$(ticks $REDIS)
    stats=$("${wrk[@]}" -d5s | grep '^WRKSTATS')
    s1=$(ticks $PID) r1=$(ticks $REDIS)
    n=$(sed -E 's/.* requests=([0-9]+).*/\1/' <<<"$stats")
    bad=$(sed -E 's/.* status_errors=([0-9]+).*/\1/' <<<"$stats")
    awk -v name="$name" -v n="$n" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v hz="$HZ" -v bad="$bad" \
      -v load="$(cut -d' ' -f1 /proc/loadavg)" 'BEGIN {
      printf "%-10s %7.0f req/s  server %5.1f us/req  redis-server %5.1f us/req  total %5.1f us/req  errors %s  load %s\n",
        name, n / 5, s * 1e6 / hz / n, r * 1e6 / hz / n, (s + r) * 1e6 / hz / n, bad, load }'
    kill $PID; wait $PID 2>/dev/null || true; PID=
  done
done
