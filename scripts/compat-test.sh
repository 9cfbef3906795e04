#!/usr/bin/env bash
# Client-compatibility checks: unmodified third-party RocketMQ clients against a LedgerMQ
# name server and a three-node Raft (DLedger-style) broker group on loopback.
#
#   scripts/compat-test.sh           install what is missing, build, start the cluster in a
#                                    temp dir, run every check, clean up; exit 1 if any failed
#   scripts/compat-test.sh install   only install the clients (apt if needed, Python venv with
#                                    rocketmq==0.4.4, the Rust client program)
#   scripts/compat-test.sh up        start the cluster and keep it until Ctrl-C, to run the
#                                    client programs by hand (compat/README.md)
#
# The checks (compat/README.md): for each client, rocketmq-client-rust 1.0.0 and
# rocketmq-client-cpp (PyPI rocketmq 0.4.4), produce COUNT messages with tags and keys to a
# fresh topic, then two consumer groups, one after the other, must each receive every msgId
# exactly once with intact bodies.
#
# Environment: CARGO_TARGET_DIR (ledgermq build; default /var/tmp/ledgermq-target),
# COMPAT_COUNT (messages per client, default 1000), COMPAT_ONLY (rust or cpp),
# COMPAT_KEEP_TMP=1 (keep the temp dir with logs and client output, for debugging),
# LEDGERMQ_BIN (use this ledgermq binary instead of building one, e.g. a release build),
# COMPAT_PROFILE (the cargo profile of the Rust client program, default dev), COMPAT_ACL=0 (skip
# the ACL checks of scripts/compat-acl.sh, which run last on a cluster of their own),
# COMPAT_FAILOVER_COUNT (minimum sends of the ordered check across a leader kill, default 300;
# scripts/compat-order.sh kill -9s the master then, and this script restarts it).
# Runs as root on a fresh Debian machine with Rust; needs no network but the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
COMPAT_TARGET=/var/tmp/ledgermq-compat-target
VENV=/var/tmp/ledgermq-compat-venv
PY_CLIENT=rocketmq==0.4.4
COUNT="${COMPAT_COUNT:-1000}"
ONLY="${COMPAT_ONLY:-all}"
MODE="${1:-all}"
BIN="${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/debug/ledgermq}"
# COMPAT_PROFILE=NAME builds the Rust client program with that cargo profile (see test.sh).
COMPAT_PROFILE="${COMPAT_PROFILE:-dev}"
case "$COMPAT_PROFILE" in
  dev) COMPAT_DIR=debug ;;
  release) COMPAT_DIR=release ;;
  *)
    COMPAT_DIR=$COMPAT_PROFILE
    inherits_var="CARGO_PROFILE_$(printf '%s' "$COMPAT_PROFILE" | tr '[:lower:]-' '[:upper:]_')_INHERITS"
    export "$inherits_var=${!inherits_var:-dev}"
    ;;
esac
RUST_COMPAT="$COMPAT_TARGET/$COMPAT_DIR/rust-compat"
CPP_COMPAT="$REPO/compat/cpp-client/compat.py"
VERIFY="$REPO/compat/verify.py"
READY_SECS=60          # cap on waiting for the cluster to show a master
PRODUCE_SECS=90        # cap on one client sending all COUNT messages
CONSUME_SECS=60        # cap on one consumer group receiving everything
SETTLE_SECS=2          # extra listening after the last message, to catch redeliveries

case "$MODE" in
  all | install | up) ;;
  *) echo "usage: $0 [install|up]" >&2; exit 2 ;;
esac
case "$ONLY" in
  all | rust | cpp) ;;
  *) echo "compat-test: COMPAT_ONLY must be rust or cpp, not '$ONLY'" >&2; exit 2 ;;
esac

# ---------------------------------------------------------------------------------------
# Timing, results, cleanup

now() { date +%s.%N; }
RUN_T0=$(now)
STEP_NAME=""
STEP_T0=""
TIMINGS=()
RESULTS=()
PASSED=0
FAILED=0

secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
step() { STEP_NAME=$1; STEP_T0=$(now); echo; echo "==> $1"; }
step_done() {
  local dt
  dt=$(secs_since "$STEP_T0")
  TIMINGS+=("$(printf '%7ss  %s' "$dt" "$STEP_NAME")")
  echo "    (${dt}s)"
}
die() { echo "compat-test: $*" >&2; exit 1; }

# record PASS|FAIL "label: details"
record() {
  RESULTS+=("$1 $2")
  if [ "$1" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
}

TMP=""
DAEMON_PIDS=()
DAEMON_NAMES=()
CHILD=""
PORTS=()

# Stops what this script started, by pid: first SIGTERM to all, then SIGKILL after 10 s.
stop_all() {
  if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null || true
    wait "$CHILD" 2>/dev/null || true
  fi
  CHILD=""
  local pid i
  for pid in "${DAEMON_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for i in $(seq 1 100); do
    local alive=0
    for pid in "${DAEMON_PIDS[@]}"; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for i in "${!DAEMON_PIDS[@]}"; do
    pid=${DAEMON_PIDS[$i]}
    if kill -0 "$pid" 2>/dev/null; then
      echo "compat-test: ${DAEMON_NAMES[$i]} (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  DAEMON_PIDS=()
  DAEMON_NAMES=()
  if [ "${#PORTS[@]}" -gt 0 ] && [ -x "$VENV/bin/python" ]; then
    local busy
    busy=$(ports_in_use "${PORTS[@]}") || busy=""
    [ -z "$busy" ] || echo "compat-test: warning: still listening after shutdown: $busy" >&2
  fi
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e # clean up as much as possible, whatever fails
  stop_all
  if [ -n "$TMP" ] && [ -d "$TMP" ]; then
    if [ "${COMPAT_KEEP_TMP:-0}" = 1 ]; then
      echo "compat-test: kept $TMP (COMPAT_KEEP_TMP=1)"
    else
      rm -rf "$TMP"
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command in the background under a hard time limit and waits for it, so that a
# signal to this script is handled at once (the trap kills it) instead of after it ends.
run_bounded() {
  local limit=$1
  shift
  timeout -k 5 "$limit" "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

# ---------------------------------------------------------------------------------------
# 1. Install

install_clients() {
  step "install: apt packages, Python venv with $PY_CLIENT, Rust client"
  local need_apt=()
  if ! command -v python3 >/dev/null 2>&1; then
    need_apt+=(python3 python3-venv libstdc++6)
  else
    # Debian splits venv/ensurepip out of python3; the venv needs both.
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then need_apt+=(python3-venv); fi
    # librocketmq.so links libstdc++ (the wheel bundles only its own zlib).
    if ! python3 -c 'import ctypes; ctypes.CDLL("libstdc++.so.6")' >/dev/null 2>&1; then
      need_apt+=(libstdc++6)
    fi
  fi
  if [ "${#need_apt[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || die "needs root to install: ${need_apt[*]} (apt-get install -y ${need_apt[*]})"
    echo "    apt-get install ${need_apt[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"; } \
      >/tmp/ledgermq-compat-apt.log 2>&1; then
      tail -n 20 /tmp/ledgermq-compat-apt.log >&2
      die "apt-get install ${need_apt[*]} failed (log above)"
    fi
  fi

  if ! "$VENV/bin/python" -c \
    'import importlib.metadata as m, sys; sys.exit(m.version("rocketmq") != "0.4.4")' >/dev/null 2>&1; then
    echo "    python3 -m venv $VENV && pip install $PY_CLIENT"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv $VENV failed"
    if ! "$VENV/bin/pip" install -q --disable-pip-version-check "$PY_CLIENT" >"$VENV/pip-install.log" 2>&1; then
      tail -n 20 "$VENV/pip-install.log" >&2
      die "pip install $PY_CLIENT failed (log above, $VENV/pip-install.log)"
    fi
  fi
  # Importing loads librocketmq.so, which is what can fail on a bare machine.
  if ! "$VENV/bin/python" -c 'import rocketmq.client' 2>"$VENV/import-check.log"; then
    cat "$VENV/import-check.log" >&2
    ldd "$VENV"/lib/python3*/site-packages/rocketmq/librocketmq.so >&2 || true
    die "the C++ client in $PY_CLIENT does not load (above: the error and its shared libraries)"
  fi

  echo "    cargo build compat/rust-client (target dir $COMPAT_TARGET)"
  [ -x "$RUST_COMPAT" ] || echo "    (first build: ~360 crates, about 4 minutes on 2 cores)"
  if ! CARGO_TARGET_DIR="$COMPAT_TARGET" cargo build --locked --quiet --profile "$COMPAT_PROFILE" \
    --manifest-path "$REPO/compat/rust-client/Cargo.toml"; then
    die "building compat/rust-client (rocketmq-client-rust 1.0.0) failed"
  fi
  step_done
}

# ---------------------------------------------------------------------------------------
# 2-3. Build and start the cluster

# Prints which of the given ports have a listening TCP socket (from /proc, so sockets in
# TIME_WAIT after a clean shutdown do not count).
ports_in_use() {
  "$VENV/bin/python" - "$@" <<'EOF'
import sys
wanted, busy = set(map(int, sys.argv[1:])), set()
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        rows = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for row in rows:
        f = row.split()
        port = int(f[1].rsplit(":", 1)[1], 16)
        if f[3] == "0A" and port in wanted:  # 0A = LISTEN
            busy.add(port)
print(" ".join(map(str, sorted(busy))))
EOF
}

# Prints "NS C0 C1 C2 R0 R1 R2": free loopback ports below the ephemeral range, each client
# port with its RocketMQ neighbours (listenPort-2 fast port, listenPort+1 HA port) free too.
pick_ports() {
  "$VENV/bin/python" - <<'EOF'
import random, socket, sys
def free(p):
    s = socket.socket()
    # As servers bind: SO_REUSEADDR, so a TIME_WAIT left by an earlier run does not count.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
        return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    base = random.randrange(20000, 32000, 50)
    ns, clients, rafts = base, [base + 10, base + 20, base + 30], [base + 40, base + 41, base + 42]
    need = [ns] + rafts + [c + d for c in clients for d in (-2, -1, 0, 1)]
    if all(free(p) for p in need):
        print(" ".join(map(str, [ns] + clients + rafts)))
        sys.exit(0)
sys.exit("no free block of loopback ports found in 20000-32000")
EOF
}

build_ledgermq() {
  if [ -n "${LEDGERMQ_BIN:-}" ]; then
    [ -x "$BIN" ] || die "LEDGERMQ_BIN=$BIN is not an executable"
    echo
    echo "==> using LEDGERMQ_BIN=$BIN (no build)"
    return 0
  fi
  step "cargo build --bin ledgermq (target dir $CARGO_TARGET_DIR)"
  cargo build --quiet --bin ledgermq || die "cargo build --bin ledgermq failed"
  [ -x "$BIN" ] || die "built, but $BIN is missing"
  step_done
}

start_daemon() {
  local name=$1
  shift
  NO_COLOR=1 "$@" >"$TMP/logs/$name.log" 2>&1 &
  DAEMON_PIDS+=("$!")
  DAEMON_NAMES+=("$name")
}

# restart_broker NAME (n0, n1, n2): starts a broker that was killed (kill -9) again with its own config
# and store, appending to its log; sets RESTARTED_PID and keeps the new pid for stop_all.
restart_broker() {
  local i
  for i in "${!DAEMON_NAMES[@]}"; do
    [ "${DAEMON_NAMES[$i]}" = "broker-$1" ] || continue
    wait "${DAEMON_PIDS[$i]}" 2>/dev/null || true
    echo "==== restarted at $(date -u +%T)" >>"$TMP/logs/broker-$1.log"
    NO_COLOR=1 "$BIN" broker -c "$TMP/broker-$1.conf" >>"$TMP/logs/broker-$1.log" 2>&1 &
    RESTARTED_PID=$!
    DAEMON_PIDS[$i]=$RESTARTED_PID
    return 0
  done
  return 1
}

tail_logs() {
  local f
  for f in "$TMP"/logs/*.log "$TMP"/cpp-home/logs/rocketmq-cpp/*.log*; do
    [ -e "$f" ] || continue
    echo "---- last lines of $(basename "$f")" >&2
    tail -n "${1:-20}" "$f" >&2
  done
}

# Fails (with logs) if a daemon has exited.
check_daemons() {
  local i pid rc
  for i in "${!DAEMON_PIDS[@]}"; do
    pid=${DAEMON_PIDS[$i]}
    if ! kill -0 "$pid" 2>/dev/null; then
      rc=0
      wait "$pid" 2>/dev/null || rc=$?
      tail_logs 20
      die "${DAEMON_NAMES[$i]} (pid $pid) exited with code $rc; its log is above"
    fi
  done
}

start_cluster() {
  step "start name server + 3-node broker group (RaftCluster/RaftNode00) on loopback"
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/ledgermq-compat.XXXXXX")
  mkdir -p "$TMP/logs"
  local ports
  ports=$(pick_ports) || die "could not pick free ports"
  read -r NS_PORT C0 C1 C2 R0 R1 R2 <<<"$ports"
  CLIENT_PORTS=("$C0" "$C1" "$C2")
  PORTS=("$NS_PORT" "$C0" "$C1" "$C2" "$R0" "$R1" "$R2")
  NS="127.0.0.1:$NS_PORT"
  local peers="n0-127.0.0.1:$R0;n1-127.0.0.1:$R1;n2-127.0.0.1:$R2"

  printf 'listenPort=%s\n' "$NS_PORT" >"$TMP/namesrv.conf"
  local i
  for i in 0 1 2; do
    cat >"$TMP/broker-n$i.conf" <<EOF
brokerClusterName=RaftCluster
brokerName=RaftNode00
listenPort=${CLIENT_PORTS[$i]}
brokerIP1=127.0.0.1
namesrvAddr=$NS
storePathRootDir=$TMP/n$i
enableDLegerCommitLog=true
dLegerGroup=RaftNode00
dLegerPeers=$peers
dLegerSelfId=n$i
autoCreateTopicEnable=true
transactionCheckInterval=2000
EOF
  done
  start_daemon namesrv "$BIN" namesrv -c "$TMP/namesrv.conf"
  # Brokers register at start and then only every 30 s: start them once the name server
  # listens, or a lost first registration costs 30 s of waiting.
  local ns_deadline=$((SECONDS + 10))
  until [ -n "$(ports_in_use "$NS_PORT")" ]; do
    check_daemons
    [ "$SECONDS" -lt "$ns_deadline" ] || { tail_logs 20; die "the name server did not listen on $NS within 10 s"; }
    sleep 0.1
  done
  for i in 0 1 2; do
    start_daemon "broker-n$i" "$BIN" broker -c "$TMP/broker-n$i.conf"
  done
  echo "    name server $NS; brokers 127.0.0.1:{$C0,$C1,$C2}; raft peers $peers"
  echo "    temp dir $TMP"

  # Ready = the name server lists a master (BID 0) for the group.
  local deadline=$((SECONDS + READY_SECS)) out=""
  while :; do
    check_daemons
    if out=$(timeout 5 "$BIN" mqadmin clusterList -n "$NS" 2>&1) &&
      awk '!/^#/ && $3 == "0" { found = 1 } END { exit !found }' <<<"$out"; then
      break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "---- last output of: ledgermq mqadmin clusterList -n $NS" >&2
      printf '%s\n' "$out" | tail -n 15 >&2
      tail_logs 20
      die "the cluster did not show a master (BID 0) in 'mqadmin clusterList' within ${READY_SECS} s"
    fi
    sleep 0.5
  done
  printf '%s\n' "$out" | sed 's/^/    /'
  step_done
}

# ---------------------------------------------------------------------------------------
# 4. The checks

count_sent_ok() {
  "$VENV/bin/python" - "$1" <<'EOF'
import json, sys
n = 0
for line in open(sys.argv[1], "rb"):
    try:
        r = json.loads(line)
    except ValueError:
        continue
    n += r.get("status") == "SEND_OK" and bool(r.get("msg_id"))
print(n)
EOF
}

# Shows why a client run failed: its summary and last stderr lines.
show_client_err() {
  echo "    ---- last lines of $(basename "$1")"
  grep -v '^\s*$' "$1" | tail -n 12 | sed 's/^/    /'
}

# judge KIND LABEL CLIENT_RC VERIFY_ARGS...: runs verify.py, records PASS/FAIL.
judge() {
  local kind=$1 label=$2 client_rc=$3
  shift 3
  local verdict vrc=0
  verdict=$("$VENV/bin/python" "$VERIFY" "$kind" --label "$label" "$@") || vrc=$?
  printf '%s\n' "$verdict" | sed 's/^/    /'
  local line
  line=$(printf '%s\n' "$verdict" | head -n 1)
  if [ "$vrc" -eq 0 ] && [ "$client_rc" -eq 0 ]; then
    record PASS "${line#PASS }"
  else
    [ "$client_rc" -eq 0 ] || line="$line (client exit code $client_rc)"
    record FAIL "${line#* }"
  fi
  return 0
}

# client_checks NAME CMD...: produce to a fresh topic, then two consumer groups in turn.
client_checks() {
  local name=$1
  shift
  local topic="Compat_${name}_${STAMP}" dir="$TMP/$name"
  mkdir -p "$dir"

  step "$name: produce $COUNT messages (tag TagA, keys) to $topic"
  local rc=0
  run_bounded $((PRODUCE_SECS + 60)) "$@" produce --namesrv "$NS" --topic "$topic" --count "$COUNT" \
    --tag TagA --key-prefix "${name}-key-" --timeout-secs "$PRODUCE_SECS" \
    >"$dir/produce.jsonl" 2>"$dir/produce.err" || rc=$?
  [ "$rc" -eq 0 ] || show_client_err "$dir/produce.err"
  judge produce "$name produce" "$rc" --produced "$dir/produce.jsonl" --count "$COUNT"
  step_done

  local sent
  sent=$(count_sent_ok "$dir/produce.jsonl")
  local g
  for g in 1 2; do
    local group="compat_${name}_g${g}_${STAMP}"
    step "$name: consumer group $g ($group) receives all $sent"
    if [ "$sent" -eq 0 ]; then
      echo "    skipped: nothing was sent OK"
      record FAIL "$name consume group $g: skipped, nothing was sent OK"
      step_done
      continue
    fi
    rc=0
    run_bounded $((CONSUME_SECS + SETTLE_SECS + 90)) "$@" consume --namesrv "$NS" --topic "$topic" \
      --group "$group" --expect "$sent" --timeout-secs "$CONSUME_SECS" --settle-secs "$SETTLE_SECS" \
      >"$dir/consume-g$g.jsonl" 2>"$dir/consume-g$g.err" || rc=$?
    [ "$rc" -eq 0 ] || show_client_err "$dir/consume-g$g.err"
    judge consume "$name consume group $g" "$rc" --produced "$dir/produce.jsonl" \
      --consumed "$dir/consume-g$g.jsonl"
    step_done
  done
}

print_report() {
  echo
  echo "==> timings"
  local t
  for t in "${TIMINGS[@]}"; do echo "  $t"; done
  printf '  %7ss  %s\n' "$(secs_since "$RUN_T0")" "total"
  echo
  echo "==> results"
  local r
  for r in "${RESULTS[@]}"; do echo "  $r"; done
  echo
  echo "compat: $PASSED passed, $FAILED failed"
}

# ---------------------------------------------------------------------------------------

install_clients
[ "$MODE" = install ] && exit 0
build_ledgermq
start_cluster
STAMP=$(date +%s)

if [ "$MODE" = up ]; then
  mkdir -p "$TMP/cpp-home"
  cat <<EOT

Cluster is up; Ctrl-C stops it and removes $TMP. By hand:
  $RUST_COMPAT produce --namesrv $NS --topic T1 --count 100
  $RUST_COMPAT consume --namesrv $NS --topic T1 --group G1 --expect 100 --timeout-secs 60
  HOME=$TMP/cpp-home $VENV/bin/python $CPP_COMPAT produce --namesrv $NS --topic T2 --count 100
  HOME=$TMP/cpp-home $VENV/bin/python $CPP_COMPAT consume --namesrv $NS --topic T2 --group G2 --expect 100 --timeout-secs 60
  $BIN mqadmin clusterList -n $NS
EOT
  while :; do
    check_daemons
    sleep 1
  done
fi

export RUST_LOG="${RUST_LOG:-warn}"
# shellcheck source=scripts/compat-delay.sh
. "$REPO/scripts/compat-delay.sh"
if [ "$ONLY" = all ] || [ "$ONLY" = rust ]; then
  client_checks rust "$RUST_COMPAT"
  step "rust: TransactionMQProducer commit / rollback / UNKNOW then COMMIT on check-back"
  trans_out=$(scripts/compat-trans.sh "$NS" "$RUST_COMPAT" "$TMP/rust-trans" "$VENV/bin/python" 2>&1) || true
  printf '%s\n' "$trans_out" | sed 's/^/    /'
  trans_line=$(printf '%s\n' "$trans_out" | tail -n 1)
  case "$trans_line" in PASS\ *) record PASS "${trans_line#PASS }" ;; *) record FAIL "${trans_line#FAIL }" ;; esac
  step_done
fi
if [ "$ONLY" = all ] || [ "$ONLY" = cpp ]; then
  # The C++ library logs (and keeps offset snapshots) under $HOME/logs/rocketmq-cpp.
  mkdir -p "$TMP/cpp-home"
  client_checks cpp env HOME="$TMP/cpp-home" "$VENV/bin/python" "$CPP_COMPAT"
  step "cpp: orderly consumer keeps each queue in order (also across a leader kill); broadcasting pair"
  order_brokers=()
  for i in "${!DAEMON_NAMES[@]}"; do
    case "${DAEMON_NAMES[$i]}" in
      broker-n*)
        n=${DAEMON_NAMES[$i]#broker-}
        order_brokers+=("$n:${DAEMON_PIDS[$i]}:${CLIENT_PORTS[${n#n}]}")
        ;;
    esac
  done
  # compat-order.sh kill -9s the master during its failover check and asks for the restart
  # through a file: the brokers are this script's children, which it must start and reap.
  scripts/compat-order.sh "$NS" "$VENV/bin/python" "$TMP/cpp-order" "$BIN" "${order_brokers[@]}" \
    >"$TMP/cpp-order.out" 2>&1 &
  CHILD=$!
  while kill -0 "$CHILD" 2>/dev/null; do
    if [ -e "$TMP/cpp-order/failover/restart-request" ]; then
      n=$(cat "$TMP/cpp-order/failover/restart-request")
      rm -f "$TMP/cpp-order/failover/restart-request"
      if restart_broker "$n"; then
        echo "$(now) $RESTARTED_PID" >"$TMP/cpp-order/failover/restarted"
      fi
    fi
    sleep 0.2
  done
  wait "$CHILD" 2>/dev/null || true
  CHILD=""
  order_out=$(cat "$TMP/cpp-order.out")
  printf '%s\n' "$order_out" | sed 's/^/    /'
  while read -r verdict rest; do
    case "$verdict" in PASS) record PASS "$rest" ;; FAIL) record FAIL "$rest" ;; esac
  done <<<"$(printf '%s\n' "$order_out" | grep -E '^(PASS|FAIL) ')"
  step_done
fi
delay_checks

for i in "${!DAEMON_PIDS[@]}"; do
  if ! kill -0 "${DAEMON_PIDS[$i]}" 2>/dev/null; then
    record FAIL "cluster: ${DAEMON_NAMES[$i]} (pid ${DAEMON_PIDS[$i]}) exited during the checks"
  fi
done
if [ "$FAILED" -gt 0 ]; then
  echo
  echo "==> cluster logs (some check failed)"
  tail_logs 25 2>&1
fi
print_report
# ACL (issue 15): its own cluster with aclEnable=true; COMPAT_ACL=0 skips it.
if [ "${COMPAT_ACL:-1}" = 1 ]; then
  stop_all
  echo
  echo "==> scripts/compat-acl.sh (ACL cluster, the same clients)"
  LEDGERMQ_BIN="$BIN" COMPAT_PROFILE="$COMPAT_PROFILE" scripts/compat-acl.sh || FAILED=$((FAILED + 1))
fi
[ "$FAILED" -eq 0 ]
