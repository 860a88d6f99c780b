#!/usr/bin/env bash
# Instructions per operation over the SQLite store (valgrind's callgrind,
# user space only): repeatable on a noisy machine.
#
#   storage-sqlite/benches/callgrind.sh                 # every operation, 2000 calls each
#   storage-sqlite/benches/callgrind.sh introspect 500  # one operation
#
# Needs valgrind (apt-get install valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."
ops=${1:-introspect_endpoint introspect get}
n=${2:-2000}
bin=$(cargo bench -p gatehouse-sqlite --bench instructions --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*instructions[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the instructions bench" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-22s %12s\n' operation 'Ir per call'
for op in $ops; do
    valgrind --tool=callgrind --callgrind-out-file="$out/$op.out" --toggle-collect='*instructions*measure*' \
        "$bin" "$op" "$n" >/dev/null 2>"$out/$op.log"
    total=$(grep -E '^(summary|totals):' "$out/$op.out" | head -n 1 | awk '{print $2}')
    printf '%-22s %12d\n' "$op" $((total / n))
done
