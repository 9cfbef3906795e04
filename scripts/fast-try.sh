#!/usr/bin/env bash
# Start a three-node LedgerMQ Raft group on this machine, like RocketMQ's DLedger fast-try.
#   scripts/fast-try.sh start    build (release) if needed, start n0 n1 n2, wait for a leader, show it working
#   scripts/fast-try.sh status   the group's status table
#   scripts/fast-try.sh stop     graceful shutdown (SIGTERM)
#   scripts/fast-try.sh clean    stop and delete logs and data
# Configs: cluster-conf/dledger/broker-n{0,1,2}.conf. Logs and pids: /tmp/ledgermq/{logs,pids}.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
RUN=/tmp/ledgermq
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN="$CARGO_TARGET_DIR/release/ledgermq"
PEERS="n0-127.0.0.1:40911;n1-127.0.0.1:40912;n2-127.0.0.1:40913"
NODES=(0 1 2)

pid_of() { cat "$RUN/pids/n$1.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

build() {
  echo "==> cargo build --release (target dir $CARGO_TARGET_DIR)"
  cargo build --release --quiet --bin ledgermq
}

port_taken() { ss -ltnH "sport = :$1" 2>/dev/null | grep -q .; }

start() {
  build
  mkdir -p "$RUN/logs" "$RUN/pids"
  for i in "${NODES[@]}"; do
    if alive "$i"; then
      echo "n$i already running (pid $(pid_of "$i"))"
      continue
    fi
    port=$((40911 + i))
    if port_taken "$port"; then
      echo "fast-try: port $port (n$i's Raft port) is taken by another process:" >&2
      ss -ltnp "sport = :$port" >&2 || true
      exit 1
    fi
    nohup "$BIN" broker -c "$REPO/cluster-conf/dledger/broker-n$i.conf" >>"$RUN/logs/n$i.log" 2>&1 &
    echo $! >"$RUN/pids/n$i.pid"
    echo "started n$i (pid $!, log $RUN/logs/n$i.log)"
  done
  sleep 0.3
  for i in "${NODES[@]}"; do
    if ! alive "$i"; then
      echo "fast-try: n$i exited during start-up; last lines of its log:" >&2
      tail -n 20 "$RUN/logs/n$i.log" >&2
      exit 1
    fi
  done
  echo "==> waiting for a leader"
  for _ in $(seq 1 150); do
    if "$BIN" raft status --peers "$PEERS" | grep " Leader " >/dev/null; then
      break
    fi
    sleep 0.1
  done
  status
  echo
  echo "==> three writes through the leader, read back from every node"
  "$BIN" raft append --peers "$PEERS" --count 3 --prefix "hello-$(date +%s)"
  sleep 0.2
  for i in "${NODES[@]}"; do
    last=$("$BIN" raft read --peer "127.0.0.1:$((40911 + i))" --from 0 --max 100000 | tail -n 1)
    echo "n$i last committed entry: $last"
  done
  cat <<EOT

Next:
  $BIN raft status --peers "$PEERS"
  $BIN raft append --peers "$PEERS" --count 1000 --inflight 16 --quiet
  kill -9 \$(cat $RUN/pids/n<leader>.pid)   # then status again: a new leader within ~1 s
  $BIN bench raft --nodes 3 --size 1024 --inflight 64 --count 100000
  scripts/fast-try.sh stop
EOT
}

status() {
  if [ ! -x "$BIN" ]; then build; fi
  "$BIN" raft status --peers "$PEERS"
}

stop() {
  for i in "${NODES[@]}"; do
    if alive "$i"; then
      kill -TERM "$(pid_of "$i")"
    fi
  done
  for i in "${NODES[@]}"; do
    for _ in $(seq 1 100); do alive "$i" || break; sleep 0.1; done
    if alive "$i"; then
      echo "n$i did not stop within 10 s; killing it"
      kill -KILL "$(pid_of "$i")" || true
    fi
    rm -f "$RUN/pids/n$i.pid"
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
