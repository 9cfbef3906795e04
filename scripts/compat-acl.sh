#!/usr/bin/env bash
# ACL compatibility checks (issue 15): unmodified third-party clients against a LedgerMQ
# three-node group with aclEnable=true and RocketMQ's sample plain_acl.yml
# (cluster-conf/dledger-acl/plain_acl.yml: RocketMQ/12345678 with topicA=DENY, topicB=PUB|SUB,
# topicC=SUB, groupB=PUB|SUB; rocketmq2/12345678 admin).
#
#   scripts/compat-acl.sh      start the cluster in a temp dir, run every check, clean up;
#                              exit 1 if any failed
#
# For each client, rocketmq-client-rust 1.0.0 (AclClientRPCHook, --access-key/--secret-key) and
# the C++ client (PyPI rocketmq 0.4.4, set_session_credentials):
#   - the permitted account produces to topicB and consumes it with groupB: every message once;
#   - a wrong secret, an unknown access key, no credentials, and a DENY topic (topicA) fail,
#     the broker answered RocketMQ's ACL refusal (code 1 SYSTEM_ERROR with the AclException
#     text, counted in the brokers' /metrics), and nothing was stored (the topic's max offsets,
#     read with the admin account, did not move);
# then a hot reload: topicC is SUB only, so a send is refused; plain_acl.yml is rewritten with
# topicC=PUB|SUB and a send must succeed within 5 s of the write (and the reverse for topicB).
#
# Needs what `scripts/compat-test.sh install` installs (the venv and the Rust client program);
# compat-test.sh runs this script at its end. Environment as compat-test.sh: LEDGERMQ_BIN or
# CARGO_TARGET_DIR, COMPAT_PROFILE, COMPAT_ONLY (rust or cpp), COMPAT_KEEP_TMP=1,
# COMPAT_ACL_COUNT (messages of the permitted run, default 50).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
COMPAT_TARGET=/var/tmp/ledgermq-compat-target
VENV=/var/tmp/ledgermq-compat-venv
BIN="${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/debug/ledgermq}"
COMPAT_PROFILE="${COMPAT_PROFILE:-dev}"
case "$COMPAT_PROFILE" in
  dev) COMPAT_DIR=debug ;;
  release) COMPAT_DIR=release ;;
  *) COMPAT_DIR=$COMPAT_PROFILE ;;
esac
RUST_COMPAT="$COMPAT_TARGET/$COMPAT_DIR/rust-compat"
CPP_COMPAT="$REPO/compat/cpp-client/compat.py"
ONLY="${COMPAT_ONLY:-all}"
COUNT="${COMPAT_ACL_COUNT:-50}"
SAMPLE="$REPO/cluster-conf/dledger-acl/plain_acl.yml"
AK=RocketMQ
SK=12345678
ADMIN=(--accessKey rocketmq2 --secretKey 12345678)
RELOAD_LIMIT_MS=5000

[ -x "$BIN" ] || { echo "compat-acl: no ledgermq binary at $BIN (LEDGERMQ_BIN)" >&2; exit 2; }
[ -x "$RUST_COMPAT" ] || [ "$ONLY" = cpp ] ||
  { echo "compat-acl: $RUST_COMPAT missing: run scripts/compat-test.sh install first" >&2; exit 2; }
[ -x "$VENV/bin/python" ] || { echo "compat-acl: $VENV missing: run scripts/compat-test.sh install first" >&2; exit 2; }

RESULTS=()
PASSED=0
FAILED=0
record() {
  RESULTS+=("$1 $2")
  echo "    $1 $2"
  if [ "$1" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ledgermq-compat-acl.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ "${COMPAT_KEEP_TMP:-0}" = 1 ]; then echo "compat-acl: kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Free loopback ports: name server, three client ports (each with its neighbours free) and
# three Raft ports.
read -r NS_PORT C0 C1 C2 R0 R1 R2 < <("$VENV/bin/python" - <<'EOF'
import random, socket, sys
def free(p):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    base = random.randrange(20000, 32000, 50)
    ns, cs, rs = base, [base + 10, base + 20, base + 30], [base + 40, base + 41, base + 42]
    if all(free(p) for p in [ns] + rs + [c + d for c in cs for d in (-2, -1, 0, 1, 2)]):
        print(ns, *cs, *rs); sys.exit(0)
sys.exit("no free ports")
EOF
)
NS="127.0.0.1:$NS_PORT"
CLIENT_PORTS=("$C0" "$C1" "$C2")
mkdir -p "$TMP/logs" "$TMP/cpp-home"
cp "$SAMPLE" "$TMP/plain_acl.yml"
printf 'listenPort=%s\nmetricsPort=0\naclEnable=true\nrocketmq.acl.plain.file=plain_acl.yml\n' \
  "$NS_PORT" >"$TMP/namesrv.conf"
for i in 0 1 2; do
  cat >"$TMP/broker-n$i.conf" <<EOF
brokerClusterName=RaftCluster
brokerName=RaftNode00
listenPort=${CLIENT_PORTS[$i]}
brokerIP1=127.0.0.1
namesrvAddr=$NS
storePathRootDir=$TMP/n$i
mappedFileSizeCommitLog=67108864
enableDLegerCommitLog=true
dLegerGroup=RaftNode00
dLegerPeers=n0-127.0.0.1:$R0;n1-127.0.0.1:$R1;n2-127.0.0.1:$R2
dLegerSelfId=n$i
autoCreateTopicEnable=true
aclEnable=true
rocketmq.acl.plain.file=plain_acl.yml
raftPeerSecret=compat-acl-peer-secret
namesrvAccessKey=rocketmq2
namesrvSecretKey=12345678
EOF
done

echo "==> start name server + 3 brokers with aclEnable=true (temp dir $TMP)"
# The brokers register with an admin account (namesrvAccessKey): the name server checks ACL.
NO_COLOR=1 "$BIN" namesrv -c "$TMP/namesrv.conf" >"$TMP/logs/namesrv.log" 2>&1 &
PIDS+=("$!")
sleep 0.5
for i in 0 1 2; do
  NO_COLOR=1 "$BIN" broker -c "$TMP/broker-n$i.conf" >"$TMP/logs/broker-n$i.log" 2>&1 &
  PIDS+=("$!")
done
ready=0
for _ in $(seq 1 120); do
  if timeout 5 "$BIN" mqadmin clusterList -n "$NS" 2>/dev/null | awk '!/^#/ && $3 == "0" { f = 1 } END { exit !f }'; then
    ready=1
    break
  fi
  sleep 0.5
done
if [ "$ready" = 0 ]; then
  tail -n 20 "$TMP"/logs/*.log >&2
  echo "compat-acl: the ACL cluster did not show a master within 60 s" >&2
  exit 1
fi
# The Raft peers authenticated each other (raftPeerSecret), or there would be no leader.
echo "    name server $NS; brokers 127.0.0.1:{$C0,$C1,$C2}"

# stored TOPIC: the sum of the topic's max offsets (0 if it does not exist), read with the
# admin account.
stored() {
  local out
  out=$(timeout 10 "$BIN" mqadmin topicStatus -n "$NS" -t "$1" "${ADMIN[@]}" 2>/dev/null) || { echo 0; return; }
  awk '!/^#/ && NF >= 4 && $4 ~ /^[0-9]+$/ { s += $4 } END { print s + 0 }' <<<"$out"
}

# refusals: how many ACL refusals (SYSTEM_ERROR answers to sends) the brokers counted.
refusals() {
  local i total=0 n
  for i in 0 1 2; do
    # Python rather than curl: a fresh Debian has python3 (the venv), not always curl.
    n=$("$VENV/bin/python" -c 'import sys, urllib.request
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())
except Exception:
    pass' "http://127.0.0.1:$((CLIENT_PORTS[i] + 2))/metrics" |
      awk '/^ledgermq_broker_requests_total\{/ && /code="SYSTEM_ERROR"/ && /request="SEND_MESSAGE/ { s += $NF } END { print s + 0 }')
    total=$((total + ${n%.*}))
  done
  echo "$total"
}

# client NAME: the command line of that client.
client() {
  case "$1" in
    rust) echo "$RUST_COMPAT" ;;
    cpp) echo "env HOME=$TMP/cpp-home $VENV/bin/python $CPP_COMPAT" ;;
  esac
}

# must_fail NAME LABEL TOPIC CREDENTIAL-ARGS...: a produce that must fail with RocketMQ's
# ACL refusal and store nothing.
must_fail() {
  local name=$1 label=$2 topic=$3
  shift 3
  local before after r0 r1 rc=0 out="$TMP/$name-$label"
  before=$(stored "$topic")
  r0=$(refusals)
  # shellcheck disable=SC2046
  timeout 90 $(client "$name") produce --namesrv "$NS" --topic "$topic" --count 3 \
    --max-consecutive-failures 1 --timeout-secs 40 "$@" >"$out.jsonl" 2>"$out.err" || rc=$?
  after=$(stored "$topic")
  r1=$(refusals)
  local ok
  ok=$(grep -c '"status": *"SEND_OK"' "$out.jsonl" || true)
  if [ "$rc" -ne 0 ] && [ "$ok" -eq 0 ] && [ "$after" = "$before" ] && [ "$r1" -gt "$r0" ]; then
    record PASS "$name $label: refused (client exit $rc, broker ACL refusals +$((r1 - r0)), $topic still holds $after)"
  else
    record FAIL "$name $label: client exit $rc, SEND_OK $ok, $topic max offsets $before -> $after, ACL refusals $r0 -> $r1"
    tail -n 5 "$out.err" | sed 's/^/      /'
  fi
  grep -h -o -m1 'AclException[^"]*' "$out.jsonl" "$out.err" 2>/dev/null | head -n 1 | sed 's/^/      remark: /' || true
}

# The permitted account produces COUNT to topicB, then a consumer group of its own reads the
# topic from the start: every message sent OK so far (by this client and any earlier one)
# exactly once. The rust client consumes with the sample's groupB (PUB|SUB); the C++ client
# with a group of its own, allowed by the sample's defaultGroupPerm SUB.
permitted() {
  local name=$1 topic=topicB group rc=0 out="$TMP/$name-ok" before after
  if [ "$name" = rust ]; then group=groupB; else group="acl_${name}_group"; fi
  before=$(stored "$topic")
  # shellcheck disable=SC2046
  timeout 150 $(client "$name") produce --namesrv "$NS" --topic "$topic" --count "$COUNT" \
    --tag TagA --key-prefix "acl-$name-" --timeout-secs 90 --access-key "$AK" --secret-key "$SK" \
    >"$out-produce.jsonl" 2>"$out-produce.err" || rc=$?
  local sent
  sent=$(grep -c '"status": *"SEND_OK"' "$out-produce.jsonl" || true)
  cat "$out-produce.jsonl" >>"$TMP/topicB-produced.jsonl"
  if [ "$rc" -ne 0 ] || [ "$sent" -ne "$COUNT" ]; then
    record FAIL "$name permitted produce to $topic as $AK: $sent/$COUNT SEND_OK (exit $rc)"
    tail -n 5 "$out-produce.err" | sed 's/^/      /'
    return
  fi
  # Also proves that stored() sees stored messages, so its "did not move" above means something.
  after=$(stored "$topic")
  if [ "$after" -ne $((before + COUNT)) ]; then
    record FAIL "$name permitted produce to $topic: max offsets $before -> $after, expected +$COUNT"
    return
  fi
  record PASS "$name permitted produce to $topic as $AK: $sent/$COUNT SEND_OK, max offsets $before -> $after"
  local all
  all=$(grep -c '"status": *"SEND_OK"' "$TMP/topicB-produced.jsonl" || true)
  rc=0
  # shellcheck disable=SC2046
  timeout 150 $(client "$name") consume --namesrv "$NS" --topic "$topic" --group "$group" \
    --expect "$all" --timeout-secs 60 --settle-secs 2 --access-key "$AK" --secret-key "$SK" \
    >"$out-consume.jsonl" 2>"$out-consume.err" || rc=$?
  local verdict vrc=0
  verdict=$("$VENV/bin/python" "$REPO/compat/verify.py" consume --label "$name acl consume" \
    --produced "$TMP/topicB-produced.jsonl" --consumed "$out-consume.jsonl" 2>&1) || vrc=$?
  if [ "$rc" -eq 0 ] && [ "$vrc" -eq 0 ]; then
    record PASS "$name permitted consume of $topic with $group as $AK: $(head -n 1 <<<"$verdict")"
  else
    record FAIL "$name permitted consume of $topic with $group as $AK (exit $rc): $(head -n 1 <<<"$verdict")"
    printf '%s\n' "$verdict" | sed -n '2,6p' | sed 's/^/      /'
    tail -n 5 "$out-consume.err" | sed 's/^/      /'
  fi
}

# reload NAME TOPIC FROM TO EXPECT: rewrite plain_acl.yml turning "TOPIC=FROM" into "TOPIC=TO",
# then retry single sends until their outcome is EXPECT (ok|refused); PASS if within 5 s of
# the write.
reload() {
  local name=$1 topic=$2 from=$3 to=$4 expect=$5
  sed -i "s/- $topic=$from\$/- $topic=$to/" "$TMP/plain_acl.yml"
  local t0 now outcome rc
  t0=$(date +%s%3N)
  while :; do
    rc=0
    # shellcheck disable=SC2046
    timeout 30 $(client "$name") produce --namesrv "$NS" --topic "$topic" --count 1 \
      --max-consecutive-failures 1 --send-timeout-ms 2000 --timeout-secs 10 \
      --access-key "$AK" --secret-key "$SK" >"$TMP/reload.jsonl" 2>"$TMP/reload.err" || rc=$?
    now=$(date +%s%3N)
    if grep -q '"status": *"SEND_OK"' "$TMP/reload.jsonl"; then outcome=ok; else outcome=refused; fi
    if [ "$outcome" = "$expect" ]; then
      if [ $((now - t0)) -le "$RELOAD_LIMIT_MS" ]; then
        record PASS "$name hot reload $topic=$from -> $to: sends $expect after $((now - t0)) ms (limit ${RELOAD_LIMIT_MS} ms)"
      else
        record FAIL "$name hot reload $topic=$from -> $to: sends $expect only after $((now - t0)) ms (limit ${RELOAD_LIMIT_MS} ms)"
      fi
      return
    fi
    if [ $((now - t0)) -gt 20000 ]; then
      record FAIL "$name hot reload $topic=$from -> $to: sends still $outcome after $((now - t0)) ms"
      return
    fi
    sleep 0.2
  done
}

export RUST_LOG="${RUST_LOG:-warn}"
clients=()
[ "$ONLY" = cpp ] || clients+=(rust)
[ "$ONLY" = rust ] || clients+=(cpp)
for name in "${clients[@]}"; do
  echo
  echo "==> $name: refused requests store nothing"
  must_fail "$name" "wrong-secret" topicB --access-key "$AK" --secret-key wrong-secret
  must_fail "$name" "unknown-access-key" topicB --access-key NoSuchKey --secret-key "$SK"
  must_fail "$name" "no-credentials" topicB
  must_fail "$name" "deny-topic" topicA --access-key "$AK" --secret-key "$SK"
  echo
  echo "==> $name: the permitted account produces and consumes"
  permitted "$name"
done

echo
echo "==> hot reload of plain_acl.yml (${clients[0]} client)"
reload "${clients[0]}" topicC SUB 'PUB|SUB' ok
reload "${clients[0]}" topicC 'PUB|SUB' SUB refused
# A malformed file keeps the last good table: topicB stays writable.
cp "$TMP/plain_acl.yml" "$TMP/plain_acl.good"
echo "accounts: [" >"$TMP/plain_acl.yml"
sleep 2
rc=0
# shellcheck disable=SC2046
timeout 30 $(client "${clients[0]}") produce --namesrv "$NS" --topic topicB --count 1 --timeout-secs 10 \
  --access-key "$AK" --secret-key "$SK" >"$TMP/bad.jsonl" 2>"$TMP/bad.err" || rc=$?
if [ "$rc" -eq 0 ] && grep -q "plain_acl.yml changed but cannot be used" "$TMP"/logs/broker-n*.log; then
  record PASS "malformed plain_acl.yml: logged, the last good ACL stays in force (send to topicB OK)"
else
  record FAIL "malformed plain_acl.yml: send exit $rc, or no log line about the bad file"
fi
cp "$TMP/plain_acl.good" "$TMP/plain_acl.yml"

if grep -h "secret" "$TMP"/logs/*.log | grep -q -e "12345678" -e "compat-acl-peer-secret"; then
  record FAIL "a secret appears in the broker logs"
fi

echo
echo "==> results"
for r in "${RESULTS[@]}"; do echo "  $r"; done
echo
echo "compat-acl: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
