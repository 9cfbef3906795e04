#!/usr/bin/env bash
# Ordered and broadcast consumption with an unmodified third-party client (the C++ client of
# PyPI rocketmq==0.4.4, compat/cpp-client/ordered.py) against a running LedgerMQ cluster:
#
#   scripts/compat-order.sh NAMESRV PYTHON OUTDIR
#
# ordered:   send_orderly puts message i on queue i % queues; an orderly push consumer
#            (queue locks: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ) must see every queue's messages
#            in send order with no gap.
# broadcast: two push consumers of one BROADCASTING group (offsets kept by each client)
#            must each receive every message.
# Prints one `PASS ...` / `FAIL ...` line per check (the last two lines); exits 0 if both
# passed. scripts/compat-test.sh runs it after the C++ client's checks.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 NAMESRV PYTHON OUTDIR" >&2
  exit 2
fi
NS=$1
PY=$2
OUT=$3
HERE=$(cd "$(dirname "$0")/.." && pwd)
COUNT=${COMPAT_ORDER_COUNT:-200}
mkdir -p "$OUT/cpp-home"
STAMP=$(date +%s%N | cut -c1-13)
failed=0
lines=()
for mode in ordered broadcast; do
  rc=0
  HOME="$OUT/cpp-home" timeout -k 5 400 "$PY" "$HERE/compat/cpp-client/ordered.py" "$mode" \
    --namesrv "$NS" --topic "CompatOrder_${mode}_$STAMP" --group "compat_${mode}_$STAMP" \
    --count "$COUNT" >"$OUT/$mode.jsonl" 2>"$OUT/$mode.err" || rc=$?
  summary=$(grep '"summary"' "$OUT/$mode.jsonl" | tail -n 1 || true)
  if [ "$rc" -eq 0 ] && [ -n "$summary" ]; then
    lines+=("PASS cpp $mode: $summary")
  else
    failed=1
    lines+=("FAIL cpp $mode (exit $rc): ${summary:-no summary; see $OUT/$mode.err}")
  fi
done
echo "    client output in $OUT"
printf '%s\n' "${lines[@]}"
exit "$failed"
