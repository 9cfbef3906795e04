#!/usr/bin/env bash
# What recovery time an UNMODIFIED RocketMQ client sees when the leader dies: the third-party
# rocketmq-client-rust 1.0.0 (compat/rust-client) sync-sends at a steady pace to the cluster
# that `scripts/fast-try.sh start` runs, while this script kill -9s the Raft leader, once per
# round, and restarts it. RTO = from the kill to the first SEND_OK after it, as the client's
# own per-send JSON lines show. Compare with `scripts/failover-drill.sh` (LedgerMQ's client).
#   scripts/client-failover-rto.sh [ROUNDS]        default 3 rounds
# Environment: INTERVAL_MS (pause between sends, default 20), SEND_TIMEOUT_MS (the client's
# sendMsgTimeout, default its 3000), AFTER_SECS (how long to keep sending after a kill,
# default 40: long enough to see a 30 s route poll).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
INTERVAL_MS=${INTERVAL_MS:-20}
SEND_TIMEOUT_MS=${SEND_TIMEOUT_MS:-3000}
AFTER_SECS=${AFTER_SECS:-40}
RUN=${LEDGERMQ_RUN_DIR:-/tmp/ledgermq}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN="$CARGO_TARGET_DIR/release/ledgermq"
COMPAT_TARGET=/var/tmp/ledgermq-compat-target
CLIENT="$COMPAT_TARGET/debug/rust-compat"
CONFS=(cluster-conf/dledger/broker-n*.conf)

[ "$(cat "$RUN/layout" 2>/dev/null || echo dledger)" = dledger ] ||
  { echo "client-failover-rto: needs the dledger layout (scripts/fast-try.sh start)" >&2; exit 2; }
[ -x "$BIN" ] || { echo "client-failover-rto: run scripts/fast-try.sh start first" >&2; exit 2; }
echo "==> building rocketmq-client-rust 1.0.0 driver (compat/rust-client)"
CARGO_TARGET_DIR=$COMPAT_TARGET cargo build --quiet --locked --manifest-path compat/rust-client/Cargo.toml
"$BIN" status -c "${CONFS[@]}" -n 127.0.0.1:9876 --wait 20 >/dev/null ||
  { echo "client-failover-rto: the cluster is not up; run scripts/fast-try.sh start" >&2; exit 1; }

OUT=$(mktemp -d /tmp/client-rto.XXXXXX)
trap 'kill "${producer:-0}" 2>/dev/null || true' EXIT
now_ms() { date +%s%3N; }
leader_name() {
  "$BIN" status -c "${CONFS[@]}" --json |
    python3 -c 'import json,sys
for l in sys.stdin:
    v=json.loads(l); s=v["status"].get("Ok")
    if s and s["state"]=="Leader": print(v["spec"]["name"])'
}

for round in $(seq 1 "$ROUNDS"); do
  topic="ClientRto$(date +%s)"
  # Enough messages to keep sending for the whole window even at full pace.
  count=$(( (AFTER_SECS + 5) * 1000 / (INTERVAL_MS + 1) ))
  "$CLIENT" produce --namesrv 127.0.0.1:9876 --topic "$topic" --count "$count" \
    --interval-ms "$INTERVAL_MS" --send-timeout-ms "$SEND_TIMEOUT_MS" \
    --max-consecutive-failures 1000000 --timeout-secs $((AFTER_SECS + 5)) \
    >"$OUT/round$round.jsonl" 2>"$OUT/round$round.err" &
  producer=$!
  sleep 3
  leader=$(leader_name)
  [ -n "$leader" ] || { echo "round $round: no leader found" >&2; exit 1; }
  kill_ms=$(now_ms)
  kill -9 "$(cat "$RUN/pids/$leader.pid")"
  wait "$producer" || true
  scripts/fast-try.sh start >/dev/null 2>&1 || { echo "restart of $leader failed" >&2; exit 1; }
  python3 - "$OUT/round$round.jsonl" "$kill_ms" "$round" "$leader" <<'EOF'
import json, sys
path, kill_ms, rnd, leader = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
lines = [json.loads(l) for l in open(path) if l.startswith("{")]
# Sends that started after the kill (a send in flight at the kill may still complete).
after = [l for l in lines if l.get("t_ms", 0) - l.get("elapsed_ms", 0) >= kill_ms]
first_ok = next((l for l in after if l.get("status") == "SEND_OK"), None)
errors = [l for l in after if l.get("status") != "SEND_OK"]
if first_ok is None:
    last = max((l["t_ms"] for l in lines), default=kill_ms)
    print(f"round {rnd}: killed {leader}; RTO > {(last - kill_ms) / 1000:.1f} s: no send succeeded"
          f" before the client stopped ({len(errors)} failed)")
else:
    rto = (first_ok["t_ms"] - kill_ms) / 1000
    before = [l for l in errors if l["t_ms"] <= first_ok["t_ms"]]
    kinds = sorted({(e.get("error") or e.get("status", ""))[:100] for e in before})
    print(f"round {rnd}: killed {leader}; RTO {rto:.3f} s; {len(before)} failed send(s) first"
          + (f"; errors: {kinds}" if kinds else ""))
EOF
  "$BIN" status -c "${CONFS[@]}" -n 127.0.0.1:9876 --wait 20 >/dev/null || true
done
echo "client output: $OUT"
