#!/usr/bin/env bash
# Ordered and broadcast consumption with an unmodified third-party client (the C++ client of
# PyPI rocketmq==0.4.4, compat/cpp-client/ordered.py) against a running LedgerMQ cluster:
#
#   scripts/compat-order.sh NAMESRV PYTHON OUTDIR [LEDGERMQ_BIN NAME:PID:PORT...]
#
# ordered:   send_orderly puts message i on queue i % queues; an orderly push consumer
#            (queue locks: LOCK_BATCH_MQ / UNLOCK_BATCH_MQ) must see every queue's messages
#            in send order with no gap.
# broadcast: two push consumers of one BROADCASTING group (offsets kept by each client)
#            must each receive every message.
# failover:  (only with LEDGERMQ_BIN and the brokers NAME:PID:PORT, e.g. n0:4242:20010) the
#            "ordered" check across a leader kill: while an orderly push consumer runs and
#            messages go out with send_orderly at 10/s, this script kill -9s the master (BID 0
#            of `mqadmin clusterList`) after a third of them, then, once the survivors show a
#            new master, asks for the killed broker's restart by writing its NAME to
#            OUTDIR/failover/restart-request; the caller (compat-test.sh, whose child the
#            broker is) restarts it and writes OUTDIR/failover/restarted. Failed sends are
#            counted, not errors; every SEND_OK message must reach the consumer, in order per
#            queue, no SEND_OK message skipped; redeliveries after the kill are counted.
#            About 60-110 s.
# Prints one `PASS ...` / `FAIL ...` line per check (the last lines); exits 0 if all passed.
# scripts/compat-test.sh runs it after the C++ client's checks.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 NAMESRV PYTHON OUTDIR" >&2
  exit 2
fi
NS=$1
PY=$2
OUT=$3
BIN=${4:-}
BROKERS=("${@:5}")
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

# The master's NAME:PID:PORT from clusterList (BID 0), or nothing.
master_entry() {
  local addr b
  addr=$(timeout 10 "$BIN" mqadmin clusterList -n "$NS" 2>/dev/null |
    awk '!/^#/ && $3 == "0" { print $4; exit }') || true
  [ -n "$addr" ] || return 0
  for b in "${BROKERS[@]}"; do
    if [ "127.0.0.1:${b##*:}" = "$addr" ]; then
      echo "$b"
      return 0
    fi
  done
}

failover() {
  local dir="$OUT/failover" py rc=0 victim="" name pid deadline
  mkdir -p "$dir"
  rm -f "$dir"/kill-now "$dir"/killed "$dir"/restart-request "$dir"/restarted "$dir"/whole
  HOME="$OUT/cpp-home" timeout -k 5 220 "$PY" "$HERE/compat/cpp-client/ordered.py" failover \
    --namesrv "$NS" --topic "CompatOrder_failover_$STAMP" --group "compat_failover_$STAMP" \
    --count "${COMPAT_FAILOVER_COUNT:-300}" --rate 10 --signal-dir "$dir" --timeout-secs 40 \
    >"$OUT/failover.jsonl" 2>"$OUT/failover.err" &
  py=$!
  while [ ! -e "$dir/kill-now" ] && kill -0 "$py" 2>/dev/null; do sleep 0.1; done
  if [ -e "$dir/kill-now" ]; then
    deadline=$((SECONDS + 15))
    until victim=$(master_entry) && [ -n "$victim" ]; do
      [ "$SECONDS" -lt "$deadline" ] || break
      sleep 0.5
    done
  fi
  if [ -n "$victim" ]; then
    name=${victim%%:*}
    pid=${victim#*:}
    pid=${pid%%:*}
    kill -KILL "$pid"
    date +%s.%N >"$dir/killed"
    echo "    failover: kill -9 of the master $name (pid $pid, 127.0.0.1:${victim##*:}) at $(date -u +%T.%N | cut -c1-12)"
    # Restart it once the other two show a new master, so that it rejoins as a follower.
    deadline=$((SECONDS + 20))
    while :; do
      local now_master
      now_master=$(master_entry)
      if [ -n "$now_master" ] && [ "$now_master" != "$victim" ]; then
        echo "    failover: new master ${now_master%%:*} at $(date -u +%T.%N | cut -c1-12)"
        break
      fi
      [ "$SECONDS" -lt "$deadline" ] || { echo "    failover: no new master within 20 s"; break; }
      sleep 0.2
    done
    echo "$name" >"$dir/restart-request.tmp"
    mv "$dir/restart-request.tmp" "$dir/restart-request"
    deadline=$((SECONDS + 20))
    while [ ! -e "$dir/restarted" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    if [ -e "$dir/restarted" ]; then
      echo "    failover: $name restarted (pid $(cut -d' ' -f2 "$dir/restarted")) at $(date -u +%T.%N | cut -c1-12)"
      # Later checks need the whole group: every broker listed by the name server again.
      deadline=$((SECONDS + 30))
      until [ "$(timeout 10 "$BIN" mqadmin clusterList -n "$NS" 2>/dev/null | grep -vc '^#')" -ge "${#BROKERS[@]}" ]; do
        [ "$SECONDS" -lt "$deadline" ] || break
        sleep 0.5
      done
      if [ "$SECONDS" -lt "$deadline" ]; then
        echo "    failover: clusterList lists all ${#BROKERS[@]} brokers again at $(date -u +%T.%N | cut -c1-12)"
        touch "$dir/whole"
      else
        echo "    failover: clusterList does not list all ${#BROKERS[@]} brokers 30 s after the restart"
      fi
    else
      echo "    failover: nobody restarted $name (restart-request not served within 20 s)"
    fi
  elif [ -e "$dir/kill-now" ]; then
    echo "    failover: no master among the brokers in clusterList within 15 s; nothing killed"
  fi
  wait "$py" || rc=$?
  summary=$(grep '"summary"' "$OUT/failover.jsonl" | tail -n 1 || true)
  if [ "$rc" -eq 0 ] && [ -n "$summary" ] && [ -e "$dir/whole" ]; then
    lines+=("PASS cpp ordered across a leader kill: $summary")
  else
    failed=1
    [ -e "$dir/whole" ] || summary="${summary:+$summary; }the group was not whole again after the restart"
    lines+=("FAIL cpp ordered across a leader kill (exit $rc): ${summary:-no summary; see $OUT/failover.err}")
  fi
}
if [ -n "$BIN" ] && [ "${#BROKERS[@]}" -gt 0 ]; then
  failover
fi

echo "    client output in $OUT"
printf '%s\n' "${lines[@]}"
exit "$failed"
