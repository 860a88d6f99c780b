#!/usr/bin/env bash
# The example server's cost per introspection on one store, measured while
# wrk drives it (1 thread, 4 connections, 15 s; log filter `warn`, so the
# store is not hidden behind the audit trail):
#
#   storage-sqlite/benches/server_profile.sh callgrind sqlite valid   # instructions per request
#   storage-sqlite/benches/server_profile.sh strace    sqlite forged  # system calls per request
#
# TOOL: callgrind (valgrind; the connection handler's inclusive count over
# the requests wrk made, so start-up is left out) or strace (`strace -c -f`
# attached after start-up). STORE: sqlite or memory. KIND: valid (a token
# issued just before) or forged (a well-formed token never issued: no token
# read, the caller's authentication only). Needs valgrind, strace, wrk,
# curl, python3 and the bench kit's ../shared/bench/introspect.lua; builds
# the example in release. Work files go to
# $PROFILE_DIR (default target/server-profile); PORT defaults to 19377.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOL=${1:?callgrind or strace} STORE=${2:?sqlite or memory} KIND=${3:?valid or forged}
PORT=${PORT:-19377}
DIR=${PROFILE_DIR:-target/server-profile}; mkdir -p "$DIR"; DIR=$(cd "$DIR" && pwd)
cargo build -q --release -p gatehouse-example-server
BIN=$(cargo metadata -q --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/gatehouse-example
rm -f "$DIR"/bench.db "$DIR"/bench.db-*
case $STORE in
  sqlite) STORE_JSON="{\"type\": \"sqlite\", \"path\": \"$DIR/bench.db\"}";;
  memory) STORE_JSON='{"type": "memory"}';;
  *) echo "STORE: sqlite or memory" >&2; exit 2;;
esac
. examples/server/benches/bench_config.sh
bench_config "$BIN" "$PORT" "$STORE_JSON" warn >"$DIR/cfg.json"
OUT="$DIR/$TOOL-$STORE-$KIND.out"
case $TOOL in
  callgrind) valgrind --tool=callgrind --callgrind-out-file="$OUT" "$BIN" --config "$DIR/cfg.json" >"$DIR/server.log" 2>&1 &;;
  strace) "$BIN" --config "$DIR/cfg.json" >"$DIR/server.log" 2>&1 &;;
  *) echo "TOOL: callgrind or strace" >&2; exit 2;;
esac
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null || true' EXIT
URL=http://127.0.0.1:$PORT
for _ in $(seq 300); do curl -s -o /dev/null "$URL/oauth/token" && break; sleep 0.2; done
TOKEN=$(curl -sS -u bench-client:bench-client-secret-0123456789abcdef -d grant_type=client_credentials "$URL/oauth/token" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
[ "$KIND" = forged ] && TOKEN=gat_k1.invalid-token-never-issued-0123456789abcdefgh
export WRK_BODY="token=$TOKEN&token_type_hint=access_token"
WRK_AUTH=$(printf %s bench-rs:bench-rs-secret-0123456789abcdef | base64 -w0); export WRK_AUTH
WRK_LUA=../shared/bench/introspect.lua   # the kit versus.sh uses, beside the project
[ -f "$WRK_LUA" ] || { echo "needs $WRK_LUA" >&2; exit 2; }
[ "$TOOL" = strace ] && { strace -c -f -p "$SERVER" -o "$OUT" & TRACER=$!; sleep 1; }
n=$(wrk -t1 -c4 -d15s -s "$WRK_LUA" "$URL/oauth/introspect" | grep -o 'requests=[0-9]*' | cut -d= -f2)
if [ "$TOOL" = strace ]; then
    kill -INT "$TRACER"; wait "$TRACER" || true
    echo "requests=$n (the first lines of strace -c; divide calls by requests)"; head -n 12 "$OUT"
else
    kill -INT "$SERVER"; wait "$SERVER" || true
    handler=$(callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null \
        | grep -m1 'handle_connection::{{closure}}::{{closure}}' | awk '{gsub(",","",$1); print $1}')
    echo "requests=$n handler_instructions=$handler per_request=$((handler / n))"
fi
