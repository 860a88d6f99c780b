#!/usr/bin/env bash
# User-space instructions per request over HTTP (valgrind's callgrind),
# the example server on the memory store beside the bench kit's oauth-as
# peer and its axum-floor: unlike req/s, repeatable on a noisy machine.
#
#   examples/server/benches/instructions_vs_peer.sh            # all three servers, valid forged issue
#   examples/server/benches/instructions_vs_peer.sh gh valid   # one server, one kind
#
# Each server runs alone under callgrind, loaded by `wrk -t1 -c4 -d15s`
# with the kit's introspect.lua; prints per request the total, SHA-256's
# part (`sha2::sha256::compress256`: valgrind has no SHA extensions, so
# each block counts ~3,480 portable instructions that natively take
# ~55 ns) and the rest. The example runs the config of versus.sh (so its
# audit line at `info`), on the memory store, or with STORE=sqlite on a
# fresh SQLite file; GH_BIN=path measures that build of the example
# instead of main's (to compare builds). Needs valgrind, wrk, curl, python3; $KIT is the
# bench kit (default ../shared/bench); uses 127.0.0.1 ports 9104-9106.
set -euo pipefail
cd "$(dirname "$0")/../../.."
KIT=${KIT:-$(cd .. && pwd)/shared/bench}
SERVERS=${1:-oauth-as gh axum-floor}
KINDS=${2:-valid forged issue}
OUT=$(mktemp -d)
VG=""
# A server left under valgrind by a failed step is stopped too.
trap 'if [ -n "$VG" ]; then kill "$VG" 2>/dev/null || true; fi; rm -rf "$OUT"' EXIT
cargo build -q --release -p gatehouse-example-server --features redis  # as versus.sh builds it
cargo build -q --release --manifest-path "$KIT/oauth-as/Cargo.toml" --target-dir target/bench-versus/oauth-as-target --bin server
cargo build -q --release --manifest-path "$KIT/axum-floor/Cargo.toml" --target-dir target/bench-versus/oauth-as-target
GH=${GH_BIN:-target/release/gatehouse-example}
PEERS=target/bench-versus/oauth-as-target/release
case ${STORE:-memory} in
  memory) STORE_JSON='{"type": "memory"}';;
  sqlite) STORE_JSON="{\"type\": \"sqlite\", \"path\": \"$OUT/bench.db\"}";;
  *) echo "STORE: memory or sqlite" >&2; exit 2;;
esac
. examples/server/benches/bench_config.sh
bench_config "$GH" 9105 "$STORE_JSON" >"$OUT/gh.json"
CLIENT=bench-client:bench-client-secret-0123456789abcdef
RS=bench-rs:bench-rs-secret-0123456789abcdef
RESOURCE=https%3A%2F%2Fapi.bench.example%2F
printf '%-10s %-7s %9s %9s %9s %9s\n' server kind requests total sha256 rest
for s in $SERVERS; do
  for kind in $KINDS; do
    cg="$OUT/$s-$kind.out"
    case $s in
      oauth-as) PORT=9104 TP=/token IP=/introspect EXTRA="-d resource=$RESOURCE" FORGED=invalid-token-never-issued-0123456789abcdefgh
        valgrind --tool=callgrind --callgrind-out-file="$cg" "$PEERS/server" >"$OUT/log" 2>&1 & VG=$!;;
      axum-floor) PORT=9106 TP=/token IP=/introspect EXTRA="" FORGED=x
        valgrind --tool=callgrind --callgrind-out-file="$cg" "$PEERS/axum-floor" >"$OUT/log" 2>&1 & VG=$!;;
      gh) rm -f "$OUT"/bench.db*; PORT=9105 TP=/oauth/token IP=/oauth/introspect EXTRA="" FORGED=gat_k1.invalid-token-never-issued-0123456789abcdefgh
        valgrind --tool=callgrind --callgrind-out-file="$cg" "$GH" --config "$OUT/gh.json" >"$OUT/log" 2>&1 & VG=$!;;
      *) echo "unknown server $s (oauth-as, gh, axum-floor)" >&2; exit 2;;
    esac
    for _ in $(seq 300); do curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT$TP" && break; sleep 0.2; done
    TOK=$(curl -sS -u "$CLIENT" -d grant_type=client_credentials $EXTRA "http://127.0.0.1:$PORT$TP" \
          | python3 -c 'import json,sys; print(json.load(sys.stdin).get("access_token","none"))')
    case $kind in
      valid) BODY="token=$TOK&token_type_hint=access_token" AUTH=$RS P=$IP;;
      forged) BODY="token=$FORGED&token_type_hint=access_token" AUTH=$RS P=$IP;;
      issue) BODY="grant_type=client_credentials${EXTRA:+&resource=$RESOURCE}" AUTH=$CLIENT P=$TP;;
      *) echo "unknown kind $kind (valid, forged, issue)" >&2; exit 2;;
    esac
    n=$(WRK_BODY="$BODY" WRK_AUTH=$(printf %s "$AUTH" | base64 -w0) wrk -t1 -c4 -d15s -s "$KIT/introspect.lua" \
        "http://127.0.0.1:$PORT$P" | grep -o 'requests=[0-9]*' | cut -d= -f2)
    kill -INT $VG
    for _ in $(seq 50); do kill -0 $VG 2>/dev/null || break; sleep 0.2; done
    kill -TERM $VG 2>/dev/null || true; wait $VG 2>/dev/null || true
    total=$(callgrind_annotate "$cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    sha=$(callgrind_annotate --inclusive=no "$cg" 2>/dev/null | awk '/sha256::compress256/ {gsub(",","",$1); print $1; exit}' || true)
    sha=${sha:-0}
    printf '%-10s %-7s %9d %9d %9d %9d\n' "$s" "$kind" "$n" $((total / n)) $((sha / n)) $(((total - sha) / n))
  done
done
