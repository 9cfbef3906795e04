#!/usr/bin/env bash
# Transactional messages with an unmodified third-party client (rocketmq-client-rust 1.0.0,
# the compat program's `trans` mode) against a running LedgerMQ cluster:
#
#   scripts/compat-trans.sh NAMESRV RUST_COMPAT OUTDIR [PYTHON]
#
# A TransactionMQProducer sends COMPAT_TRANS_COUNT (default 9) transactional messages to a
# fresh topic; its local transaction COMMITs i%3==0, ROLLBACKs i%3==1 and answers UNKNOW for
# i%3==2, which it COMMITs when the broker checks back (CHECK_TRANSACTION_STATE). Then a new
# consumer group must receive exactly the committed messages, each once, and nothing that
# was rolled back. The brokers should run with a short transactionCheckInterval (the
# harness uses 2000 ms; RocketMQ's default is 60 s); transactionTimeOut stays 6 s.
#
# Prints the client output's location and, last, one line `PASS ...` or `FAIL ...`; exits 0
# on PASS. scripts/compat-test.sh runs it after the Rust client's checks; by hand, start a
# cluster with `scripts/compat-test.sh up` and pass its name server and rust-compat binary.
set -euo pipefail
if [ "$#" -lt 3 ]; then
  echo "usage: $0 NAMESRV RUST_COMPAT OUTDIR [PYTHON]" >&2
  exit 2
fi
NS=$1
RUST=$2
OUT=$3
PY=${4:-python3}
COUNT=${COMPAT_TRANS_COUNT:-9}
mkdir -p "$OUT"
STAMP=$(date +%s%N | cut -c1-13)
TOPIC="CompatTx_$STAMP"
GROUP="compat_tx_consumer_$STAMP"

rc=0
timeout -k 5 $((COUNT * 10 + 200)) "$RUST" trans --namesrv "$NS" --topic "$TOPIC" --count "$COUNT" \
  --group "compat_tx_producer_$STAMP" --check-timeout-secs 120 \
  >"$OUT/trans.jsonl" 2>"$OUT/trans.err" || rc=$?

committed=$("$PY" - "$OUT/trans.jsonl" <<'PYEOF'
import json, sys
n = 0
for line in open(sys.argv[1], "rb"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    if r.get("summary") == "trans":
        n = len(r.get("committed_msg_ids") or [])
print(n)
PYEOF
)

crc=0
if [ "$committed" -gt 0 ]; then
  timeout -k 5 200 "$RUST" consume --namesrv "$NS" --topic "$TOPIC" --group "$GROUP" \
    --expect "$committed" --timeout-secs 60 --settle-secs 8 \
    >"$OUT/consume.jsonl" 2>"$OUT/consume.err" || crc=$?
else
  : >"$OUT/consume.jsonl"
fi
echo "    client output in $OUT (trans.jsonl, consume.jsonl)"

"$PY" - "$OUT/trans.jsonl" "$OUT/consume.jsonl" "$rc" "$crc" "$COUNT" <<'PYEOF'
import collections, json, sys
trans_path, consume_path, rc, crc, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def rows(path):
    out = []
    for line in open(path, "rb"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out
trans = rows(trans_path)
summary = next((r for r in trans if r.get("summary") == "trans"), None)
sends = [r for r in trans if "i" in r and "summary" not in r]
problems = []
if summary is None:
    problems.append("the producer printed no summary (exit code %d)" % rc)
    summary = {}
committed = set(summary.get("committed_msg_ids") or [])
rolled_back = {r["msg_id"] for r in sends if r.get("decision") == "RollbackMessage" and r.get("msg_id")}
consumed = [r["msg_id"] for r in rows(consume_path) if "msg_id" in r and "summary" not in r]
seen = collections.Counter(consumed)
if rc != 0:
    problems.append("producer exit code %d (failed sends %s, all UNKNOW checked back: %s)"
                    % (rc, summary.get("failed"), summary.get("all_unknown_checked")))
if len(sends) != count or any(r.get("status") != "SEND_OK" for r in sends):
    problems.append("not every half message was answered SEND_OK")
missing = committed - set(seen)
if missing:
    problems.append("%d committed messages never delivered, e.g. %s" % (len(missing), sorted(missing)[:3]))
extra = set(seen) - committed
if extra:
    leaked = extra & rolled_back
    problems.append("%d messages delivered that were not committed (%d rolled back), e.g. %s"
                    % (len(extra), len(leaked), sorted(extra)[:3]))
dups = {m: n for m, n in seen.items() if n > 1}
if dups:
    problems.append("%d committed messages delivered more than once" % len(dups))
if summary.get("checks_of_resolved"):
    problems.append("the broker checked back messages already resolved: %s" % summary["checks_of_resolved"])
unknown = summary.get("unknown") or []
checks = summary.get("checked") or {}
detail = "%d sent, %d committed (%d after a check-back) received exactly once, %d rolled back never delivered" % (
    len(sends), len(committed), len(unknown), len(rolled_back))
if problems:
    print("FAIL rust transactions: " + "; ".join(problems) + " (consumer exit code %d)" % crc)
    sys.exit(1)
print("PASS rust transactions: " + detail + "; check-backs per UNKNOW message: %s" % sorted(checks.values()))
PYEOF
