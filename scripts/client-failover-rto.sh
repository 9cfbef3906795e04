#!/usr/bin/env bash
# What an UNMODIFIED RocketMQ client sees when a node dies: the third-party rocketmq-client-rust
# 1.0.0 (compat/rust-client) or the C++ client of PyPI rocketmq==0.4.4 (compat/cpp-client)
# sync-sends one message at a time at a steady pace to the cluster `scripts/fast-try.sh start`
# runs, while this script kill -9s a node (a process: every group member in it), restarts it,
# and waits until its groups' leadership is back, N times. Then a fresh push consumer of the
# same client reads the topic: every SEND_OK message must be there.
#
#   scripts/client-failover-rto.sh [options] [KILLS]
#     --client rust|cpp     which unmodified client (default rust)
#     --kills N             faults (default 3; also the positional argument)
#     --graceful            `mqshutdown broker -c CONF` the node (SIGTERM) instead of kill -9
#     --down SECS           how long the node stays down before its restart (default 3)
#     --window SECS         at least this long from one fault to the next (default 35 on
#                           dledger-3g, 40 on dledger): longer than the clients' 30 s route poll,
#                           so each fault meets a client that has seen the cluster whole again
#                           (a group whose route had no master when the client refreshed is left
#                           out until its next poll; faults closer together than that can leave
#                           it no live group)
#     --interval-ms MS      pause between two sends (default 10)
#     --live                also run the client's push consumer through the faults and report
#                           how long each group's messages waited for it
# Reports, per fault and over all of them (scripts/client_rto_report.py): send calls that
# returned an error to the application, the longest gap between two successful sends, and the
# loss check. Works on the dledger and dledger-3g layouts (whichever fast-try runs).
# Environment: SEND_TIMEOUT_MS (the client's sendMsgTimeout, default 3000), COMPAT_PROFILE
# (cargo profile of the Rust client, default dev), LEDGERMQ_BIN (default the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENT_KIND=rust KILLS=3 GRACEFUL=0 DOWN=3 WINDOW= INTERVAL_MS=10 LIVE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --client) CLIENT_KIND=${2:?}; shift 2 ;;
    --kills) KILLS=${2:?}; shift 2 ;;
    --graceful) GRACEFUL=1; shift ;;
    --down) DOWN=${2:?}; shift 2 ;;
    --window) WINDOW=${2:?}; shift 2 ;;
    --interval-ms) INTERVAL_MS=${2:?}; shift 2 ;;
    --live) LIVE=1; shift ;;
    [0-9]*) KILLS=$1; shift ;;
    *) echo "client-failover-rto: unknown option $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
SEND_TIMEOUT_MS=${SEND_TIMEOUT_MS:-3000}
RUN=${LEDGERMQ_RUN_DIR:-/tmp/ledgermq}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN=${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/release/ledgermq}
NAMESRV=127.0.0.1:9876
COMPAT_TARGET=/var/tmp/ledgermq-compat-target
PROFILE=${COMPAT_PROFILE:-dev}
PROFILE_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
VENV=/var/tmp/ledgermq-compat-venv

LAYOUT=$(cat "$RUN/layout" 2>/dev/null || echo dledger)
case "$LAYOUT" in
  dledger) CONFS=(cluster-conf/dledger/broker-n*.conf); WINDOW=${WINDOW:-40} ;;
  dledger-3g) CONFS=(cluster-conf/dledger-3g/broker-n*-g*.conf); WINDOW=${WINDOW:-35} ;;
  *) echo "client-failover-rto: needs the dledger or dledger-3g layout (scripts/fast-try.sh start --layout ...)" >&2; exit 2 ;;
esac
[ -x "$BIN" ] || { echo "client-failover-rto: no $BIN; run scripts/fast-try.sh start first" >&2; exit 2; }

case "$CLIENT_KIND" in
  rust)
    echo "==> building the rocketmq-client-rust 1.0.0 driver (compat/rust-client, profile $PROFILE)"
    inherits=()
    [ "$PROFILE" = dev ] || inherits=("CARGO_PROFILE_${PROFILE^^}_INHERITS=dev")
    env "${inherits[@]}" CARGO_TARGET_DIR=$COMPAT_TARGET \
      cargo build --quiet --locked --profile "$PROFILE" --manifest-path compat/rust-client/Cargo.toml
    CLIENT=("$COMPAT_TARGET/$PROFILE_DIR/rust-compat")
    PRODUCE_EXTRA=()
    ;;
  cpp)
    [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import rocketmq.client' 2>/dev/null ||
      { echo "client-failover-rto: no C++ client; run scripts/compat-test.sh once (it installs $VENV)" >&2; exit 2; }
    CLIENT=("$VENV/bin/python" compat/cpp-client/compat.py)
    # Every send error counts: no retry of "No route info" by the harness (the C++ client
    # raises that text also when all its own attempts failed).
    PRODUCE_EXTRA=(--route-retries 0)
    ;;
  *) echo "client-failover-rto: --client rust|cpp" >&2; exit 2 ;;
esac

"$BIN" status -c "${CONFS[@]}" -n "$NAMESRV" --wait 30 >/dev/null ||
  { echo "client-failover-rto: the cluster is not whole; run scripts/fast-try.sh start --layout $LAYOUT" >&2; exit 1; }

OUT=$(mktemp -d /tmp/client-rto.XXXXXX)
# The C++ library logs under $HOME/logs/rocketmq-cpp; keep that with this run's output.
[ "$CLIENT_KIND" = cpp ] && CLIENT=(env HOME="$OUT" "${CLIENT[@]}")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
now_ms() { date +%s%3N; }

# status_json: one JSON object per member (ledgermq status --json).
status_json() { "$BIN" status -c "${CONFS[@]}" --json 2>/dev/null || true; }

# target_for K: "PROCESS CONF" of the node to fault in round K: the node that leads group
# (K-1) mod groups, so the rounds visit every group's leader (and so every node on dledger-3g).
target_for() {
  status_json | python3 -c '
import json, re, sys
k = int(sys.argv[1])
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
groups = sorted({r["spec"]["broker_name"] for r in rows})
g = groups[(k - 1) % len(groups)]
for r in rows:
    s = r["status"].get("Ok")
    if r["spec"]["broker_name"] == g and s and s["state"] == "Leader":
        name = r["spec"]["name"]
        m = re.match(r"^(broker-[^-]+)-g[0-9]+$", name)
        print((m.group(1) if m else name), r["spec"]["conf"])
        break' "$1"
}

# leaders_home: true when every group with a preferredLeaderId is led by it (dledger: has a leader).
leaders_home() {
  status_json | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
pref = {}
for r in rows:
    for line in open(r["spec"]["conf"]):
        k, _, v = line.partition("=")
        if k.strip() == "preferredLeaderId":
            pref[r["spec"]["broker_name"]] = v.strip()
ok = True
for g in {r["spec"]["broker_name"] for r in rows}:
    leaders = [r for r in rows if r["spec"]["broker_name"] == g and (r["status"].get("Ok") or {}).get("state") == "Leader"]
    if not leaders:
        ok = False
    elif g in pref and "n%d" % leaders[0]["spec"]["node_id"] != pref[g]:
        ok = False
sys.exit(0 if ok else 1)'
}

topic="ClientRto$(date +%s)"
echo "==> topic $topic on every group of RaftCluster ($LAYOUT), client $CLIENT_KIND, $KILLS fault(s), output $OUT"
"$BIN" mqadmin updateTopic -n "$NAMESRV" -c RaftCluster -t "$topic" -r 8 -w 8 >/dev/null
echo "load before: $(uptime)"
per_kill=$((WINDOW + DOWN + 30))
total=$((5 + KILLS * per_kill))
count=$((total * 1000 / (INTERVAL_MS + 1)))
"${CLIENT[@]}" produce --namesrv "$NAMESRV" --topic "$topic" --count "$count" \
  --interval-ms "$INTERVAL_MS" --send-timeout-ms "$SEND_TIMEOUT_MS" \
  --max-consecutive-failures 1000000 --timeout-secs "$total" "${PRODUCE_EXTRA[@]}" \
  >"$OUT/sends.jsonl" 2>"$OUT/produce.err" &
producer=$!
pids+=("$producer")
if [ "$LIVE" = 1 ]; then
  "${CLIENT[@]}" consume --namesrv "$NAMESRV" --topic "$topic" --group "rto_live_$topic" \
    --expect "$count" --timeout-secs $((total + 30)) >"$OUT/live.jsonl" 2>"$OUT/live.err" &
  pids+=($!)
fi
sleep 5
: >"$OUT/kills.jsonl"
for k in $(seq 1 "$KILLS"); do
  read -r proc conf < <(target_for "$k") || true
  [ -n "${proc:-}" ] || { echo "fault $k: no leader found" >&2; exit 1; }
  if [ "$GRACEFUL" = 1 ]; then
    mode=graceful
    t_kill=$(now_ms)
    "$BIN" mqshutdown broker -c "$conf" >/dev/null ||
      { echo "fault $k: mqshutdown broker -c $conf found no broker process to stop" >&2; exit 1; }
  else
    mode=kill
    victim=$(cat "$RUN/pids/$proc.pid")
    # No fork between the timestamp and the (builtin) kill, so that the report can tell a send
    # in flight at the kill from one started just after it (a `date` fork took milliseconds).
    us=${EPOCHREALTIME/[.,]/}
    t_kill=$((us / 1000))
    kill -9 "$victim"
  fi
  sleep "$DOWN"
  # Restarts only what is down; for a graceful stop, waits for the process to be gone first.
  for _ in $(seq 1 100); do kill -0 "$(cat "$RUN/pids/$proc.pid")" 2>/dev/null || break; sleep 0.1; done
  scripts/fast-try.sh start --layout "$LAYOUT" --no-dashboard >"$OUT/restart$k.log" 2>&1 ||
    { echo "fault $k: restart of $proc failed (see $OUT/restart$k.log)" >&2; exit 1; }
  returned=
  for _ in $(seq 1 300); do
    if leaders_home; then returned=$(now_ms); break; fi
    sleep 0.1
  done
  printf '{"kill": %d, "target": "%s", "mode": "%s", "t_ms": %s, "returned_ms": %s}\n' \
    "$k" "$proc" "$mode" "$t_kill" "${returned:-null}" >>"$OUT/kills.jsonl"
  echo "fault $k: $mode $proc at $t_kill; leadership back $([ -n "$returned" ] && echo "$((returned - t_kill)) ms" || echo "not within 30 s") after it"
  rest=$(( (t_kill + WINDOW * 1000 - $(now_ms)) / 1000 ))
  [ "$rest" -gt 0 ] && sleep "$rest"
done
sleep 2
kill "$producer" 2>/dev/null || true
wait "$producer" 2>/dev/null || true
echo "load after: $(uptime)"
oks=$(grep -c '"SEND_OK"' "$OUT/sends.jsonl" || true)
echo "==> a fresh push consumer ($CLIENT_KIND) reads $topic: expecting the $oks SEND_OK messages"
"${CLIENT[@]}" consume --namesrv "$NAMESRV" --topic "$topic" --group "rto_check_$topic" \
  --expect "$oks" --timeout-secs 180 --settle-secs 5 >"$OUT/consumed.jsonl" 2>"$OUT/consume.err" || true
live_args=()
[ "$LIVE" = 1 ] && live_args=(--live "$OUT/live.jsonl")
python3 scripts/client_rto_report.py --label "$CLIENT_KIND on $LAYOUT ($([ "$GRACEFUL" = 1 ] && echo graceful || echo kill -9))" \
  --sends "$OUT/sends.jsonl" --kills "$OUT/kills.jsonl" --consumed "$OUT/consumed.jsonl" "${live_args[@]}"
echo "client output: $OUT"
