#!/usr/bin/env bash
# Instruction counts per operation (valgrind's callgrind), from the
# `instructions` bench binary: repeatable on a noisy machine.
#
#   core/benches/callgrind.sh            # every operation, 2000 calls each
#   core/benches/callgrind.sh issue 500  # one operation
#
# Needs valgrind (apt-get install valgrind). Prints one line per operation:
# instructions per call (Ir), setup excluded.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${2:-2000}
bin=$(cargo bench -p gatehouse-core --bench instructions --no-run --message-format=json 2>/dev/null \
    | grep -o '"executable":"[^"]*instructions[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$bin" ] || { echo "could not build the instructions bench" >&2; exit 1; }
ops=${1:-introspect_valid introspect_unknown introspect_forged http_introspect_valid http_introspect_forged issue http_issue client_auth client_auth_unknown client_auth_wrong_secret client_auth_malformed record_encode record_decode record_encode_json record_decode_json}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
printf '%-24s %12s\n' operation 'Ir per call'
for op in $ops; do
    valgrind --tool=callgrind --callgrind-out-file="$out/$op.out" \
        --toggle-collect="*measure_${op}*" "$bin" "$op" "$n" >/dev/null 2>"$out/$op.log"
    total=$(grep -E '^(summary|totals):' "$out/$op.out" | head -n 1 | awk '{print $2}')
    printf '%-24s %12d\n' "$op" $((total / n))
done
