#!/usr/bin/env bash
# Start a name server and a three-node LedgerMQ Raft group on this machine, like RocketMQ's
# DLedger fast-try, and show it working.
#   scripts/fast-try.sh start    build (release) if needed, start the name server and n0 n1 n2,
#                                wait until a leader is elected and registered as master,
#                                print the status, send and consume a few messages
#   scripts/fast-try.sh status   the group's status (Raft view and mqadmin clusterList)
#   scripts/fast-try.sh stop     graceful shutdown (SIGTERM)
#   scripts/fast-try.sh clean    stop and delete logs and data
# Configs: cluster-conf/dledger/broker-n{0,1,2}.conf (name server 127.0.0.1:9876, client ports
# 30911/30921/30931, Raft ports 40911-40913). Logs, pids, data: /tmp/ledgermq/.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
RUN=/tmp/ledgermq
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN="$CARGO_TARGET_DIR/release/ledgermq"
NAMESRV=127.0.0.1:9876
PEERS="n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"
NODES=(0 1 2)

pid_of() { cat "$RUN/pids/$1.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
port_taken() { ss -ltnH "sport = :$1" 2>/dev/null | grep . >/dev/null; }

build() {
  echo "==> cargo build --release (target dir $CARGO_TARGET_DIR)"
  cargo build --release --quiet --bin ledgermq
}

# start_one NAME PORT... -- COMMAND...: starts COMMAND in the background unless NAME runs.
start_one() {
  local name=$1; shift
  local ports=()
  while [ "$1" != "--" ]; do ports+=("$1"); shift; done
  shift
  if alive "$name"; then
    echo "$name already running (pid $(pid_of "$name"))"
    return
  fi
  for p in "${ports[@]}"; do
    if port_taken "$p"; then
      echo "fast-try: port $p (needed by $name) is taken by another process:" >&2
      ss -ltnp "sport = :$p" >&2 || true
      exit 1
    fi
  done
  nohup "$@" >>"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/pids/$name.pid"
  echo "started $name (pid $!, log $RUN/logs/$name.log)"
}

status() {
  [ -x "$BIN" ] || build
  echo "==> Raft group RaftNode00"
  "$BIN" raft status --peers "$PEERS"
  echo
  echo "==> mqadmin clusterList -n $NAMESRV"
  "$BIN" mqadmin clusterList -n "$NAMESRV" || true
}

start() {
  build
  mkdir -p "$RUN/logs" "$RUN/pids"
  start_one namesrv 9876 -- "$BIN" namesrv
  for i in "${NODES[@]}"; do
    start_one "n$i" "$((30911 + 10 * i))" "$((40911 + i))" -- \
      "$BIN" broker -c "$REPO/cluster-conf/dledger/broker-n$i.conf"
  done
  sleep 0.3
  for name in namesrv n0 n1 n2; do
    if ! alive "$name"; then
      echo "fast-try: $name exited during start-up; last lines of its log:" >&2
      tail -n 20 "$RUN/logs/$name.log" >&2
      exit 1
    fi
  done
  echo "==> waiting for a leader to register as master (BID 0)"
  local ok=""
  for _ in $(seq 1 150); do
    if "$BIN" mqadmin clusterList -n "$NAMESRV" 2>/dev/null | awk '$3 == "0"' | grep . >/dev/null; then
      ok=1
      break
    fi
    sleep 0.1
  done
  if [ -z "$ok" ]; then
    echo "fast-try: no master registered within 15 s; last lines of the logs:" >&2
    for name in namesrv n0 n1 n2; do echo "--- $name" >&2; tail -n 10 "$RUN/logs/$name.log" >&2; done
    exit 1
  fi
  status
  echo
  echo "==> ledgermq producer -n $NAMESRV -t FastTry -c 5"
  "$BIN" producer -n "$NAMESRV" -t FastTry -c 5
  echo
  echo "==> ledgermq consumer -n $NAMESRV -t FastTry --count 5 --from-first"
  "$BIN" consumer -n "$NAMESRV" -t FastTry -g fast_try_group --count 5 --from-first
  cat <<EOT

Next (NAMESRV_ADDR=$NAMESRV):
  $BIN mqadmin clusterList -n $NAMESRV
  $BIN producer -n $NAMESRV                 # 1000 x "Hello RocketMQ i" to TopicTest
  $BIN consumer -n $NAMESRV                 # Ctrl-C to stop
  kill -9 \$(cat $RUN/pids/n<leader>.pid)     # then clusterList again: a new BID 0 within ~1 s
  scripts/fast-try.sh start                  # restarts what is down; it catches up
  scripts/fast-try.sh stop
EOT
}

stop() {
  for name in n0 n1 n2 namesrv; do
    if alive "$name"; then
      kill -TERM "$(pid_of "$name")"
    fi
  done
  for name in n0 n1 n2 namesrv; do
    for _ in $(seq 1 100); do alive "$name" || break; sleep 0.1; done
    if alive "$name"; then
      echo "$name did not stop within 10 s; killing it"
      kill -KILL "$(pid_of "$name")" || true
    fi
    rm -f "$RUN/pids/$name.pid"
  done
  echo "stopped"
}

clean() {
  stop
  rm -rf "$RUN"
  echo "removed $RUN"
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  stop) stop ;;
  clean) clean ;;
  *) echo "usage: $0 start|status|stop|clean" >&2; exit 2 ;;
esac
