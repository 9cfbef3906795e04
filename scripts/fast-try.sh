#!/usr/bin/env bash
# Start a name server and a LedgerMQ cluster on this machine, like RocketMQ's DLedger fast-try,
# and show it working.
#   scripts/fast-try.sh start [--layout L] [--no-dashboard]
#                                            build (release) if needed, start the name server,
#                                            every broker of layout L and the dashboard
#                                            (http://127.0.0.1:8080) in the background, wait
#                                            until each broker group has a master registered,
#                                            print the status table, send and consume 5 messages
#   scripts/fast-try.sh status               the status table and mqadmin clusterList
#   scripts/fast-try.sh stop                 graceful shutdown (SIGTERM), waits for every process
#   scripts/fast-try.sh clean                stop, then delete logs, pids and data
# Layouts (cluster-conf/README.md): dledger (default: three Raft nodes, RaftNode00, client ports
# 30911/30921/30931), dledger-3g (three groups RaftNode00..02 on three nodes, one process per
# node hosting its three members), dledger-acl (dledger with aclEnable=true, raftPeerSecret and
# RocketMQ's sample plain_acl.yml: the tools sign as RocketMQ/12345678 and use topicB/groupB,
# which the sample allows), single, 2m-noslave, 2m-2s-async, 2m-2s-sync. Name server
# 127.0.0.1:9876.
# Logs, pids and data: /tmp/ledgermq/ (LEDGERMQ_RUN_DIR). LEDGERMQ_BIN=PATH runs that binary
# instead of building one. Each broker process runs on one thread (`ledgermq broker
# --single-thread`) when this machine has fewer than two CPUs per broker process of the layout
# (three nodes on two CPUs); LEDGERMQ_SINGLE_THREAD=1 or 0 decides it instead. Running `start` again starts only what is down, so it also restarts
# a node killed in a drill.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
RUN=${LEDGERMQ_RUN_DIR:-/tmp/ledgermq}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
# LEDGERMQ_BIN=/path/to/ledgermq runs that binary instead (and builds nothing).
BIN="${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/release/ledgermq}"
NAMESRV=127.0.0.1:9876
DASHBOARD=127.0.0.1:8080
export NAMESRV_ADDR=$NAMESRV

pid_of() { cat "$RUN/pids/$1.pid" 2>/dev/null || true; }
alive() { local p; p=$(pid_of "$1"); [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# Taken on 127.0.0.1 or on every address (other loopback addresses do not collide).
port_taken() {
  ss -ltnH 2>/dev/null | awk '{print $4}' |
    grep -Eq "^(127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]|\[::ffff:127\.0\.0\.1\]):$1\$"
}

# layout_files LAYOUT: the broker config files of a layout, one per line.
layout_files() {
  case "$1" in
    dledger) ls "$REPO"/cluster-conf/dledger/broker-n*.conf ;;
    dledger-3g) ls "$REPO"/cluster-conf/dledger-3g/broker-n*-g*.conf ;;
    dledger-acl) ls "$REPO"/cluster-conf/dledger-acl/broker-n*.conf ;;
    single) echo "$REPO/cluster-conf/broker.conf" ;;
    2m-noslave | 2m-2s-async | 2m-2s-sync) ls "$REPO/cluster-conf/$1"/*.properties ;;
    *)
      echo "fast-try: unknown layout '$1' (dledger, dledger-3g, dledger-acl, single, 2m-noslave, 2m-2s-async, 2m-2s-sync)" >&2
      exit 2
      ;;
  esac
}

# layout_processes LAYOUT: one line per broker process, "NAME CONF...". A file named
# broker-<node>-g<k>.conf is node <node>'s member of group k, and all of a node's members run
# in one process named broker-<node> (multi-Raft); any other file is a process of its own.
layout_processes() {
  local conf stem
  declare -A members=()
  local order=()
  while read -r conf; do
    stem=$(basename "${conf%.*}")
    if [[ $stem =~ ^(broker-[^-]+)-g[0-9]+$ ]]; then stem=${BASH_REMATCH[1]}; fi
    [ -n "${members[$stem]:-}" ] || order+=("$stem")
    members[$stem]="${members[$stem]:-} $conf"
  done < <(layout_files "$1")
  for stem in "${order[@]}"; do echo "$stem${members[$stem]}"; done
}

# The layout of the running (or last) cluster, remembered so status/stop need no flag.
current_layout() { cat "$RUN/layout" 2>/dev/null || echo dledger; }

# With the dledger-acl layout every request is signed: the tools get the sample's permitted
# account (LEDGERMQ_ACCESS_KEY/LEDGERMQ_SECRET_KEY), the dashboard its admin account.
acl_env() {
  if [ "$1" = dledger-acl ]; then
    export LEDGERMQ_ACCESS_KEY=RocketMQ LEDGERMQ_SECRET_KEY=12345678
    TRY_TOPIC=topicB TRY_GROUP=groupB
  else
    TRY_TOPIC=FastTry TRY_GROUP=fast_try_group
  fi
}

build() {
  if [ -n "${LEDGERMQ_BIN:-}" ]; then
    [ -x "$BIN" ] || { echo "fast-try: LEDGERMQ_BIN=$BIN is not an executable" >&2; exit 2; }
    return
  fi
  if [ ! -x "$BIN" ] || [ -n "$(find src Cargo.toml Cargo.lock -newer "$BIN" 2>/dev/null | head -1)" ]; then
    echo "==> cargo build --release (target dir $CARGO_TARGET_DIR)"
    cargo build --release --quiet --bin ledgermq
  fi
}

# start_one NAME PORT -- COMMAND...: starts COMMAND in the background unless NAME runs.
start_one() {
  local name=$1 port=$2
  shift 3
  if alive "$name"; then
    echo "$name already running (pid $(pid_of "$name"))"
    return
  fi
  if port_taken "$port"; then
    echo "fast-try: port $port (needed by $name) is taken by another process:" >&2
    ss -ltnp "sport = :$port" | grep -E "127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]" >&2 || true
    echo "fast-try: stop it, or run 'scripts/fast-try.sh stop' if it is an earlier fast-try" >&2
    exit 1
  fi
  nohup "$@" >>"$RUN/logs/$name.log" 2>&1 &
  echo $! >"$RUN/pids/$name.pid"
  echo "started $name (pid $!, log $RUN/logs/$name.log)"
}

# `--single-thread` when the layout's broker processes cannot have two CPUs each on this
# machine: a broker's Raft thread and client worker hand each message's group-commit entry to
# each other, and with fewer CPUs than threads every hand-off waits for a CPU another process
# holds (BENCHMARKS.md, "One thread per broker process"). $1 = the layout's process count.
broker_thread_args() {
  case "${LEDGERMQ_SINGLE_THREAD:-auto}" in
    1) echo --single-thread ;;
    0) ;;
    auto) [ "$(nproc)" -ge $((2 * $1)) ] || echo --single-thread ;;
    *) echo "fast-try: LEDGERMQ_SINGLE_THREAD must be 1, 0 or unset" >&2; exit 2 ;;
  esac
}

conf_value() { sed -n "s/^[[:space:]]*$2[[:space:]]*=[[:space:]]*//p" "$1" | tail -1; }

status_table() {
  local wait_args=("$@")
  mapfile -t confs < <(layout_files "$(current_layout)")
  "$BIN" status -n "$NAMESRV" "${wait_args[@]}" -c "${confs[@]}"
}

status() {
  [ -x "$BIN" ] || build
  acl_env "$(current_layout)"
  echo "==> ledgermq status ($(current_layout))"
  status_table || true
  echo
  echo "==> mqadmin clusterList -n $NAMESRV"
  "$BIN" mqadmin clusterList -n "$NAMESRV" || true
  if alive dashboard; then echo; echo "dashboard: http://$DASHBOARD"; fi
}

start() {
  local layout=dledger dashboard=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --layout) layout=${2:?--layout needs a name}; shift 2 ;;
      --layout=*) layout=${1#--layout=}; shift ;;
      --no-dashboard) dashboard=0; shift ;;
      *) echo "fast-try: unknown option $1" >&2; exit 2 ;;
    esac
  done
  mapfile -t confs < <(layout_files "$layout")
  if [ -f "$RUN/layout" ] && [ "$(current_layout)" != "$layout" ]; then
    for f in "$RUN"/pids/*.pid; do
      [ -e "$f" ] || continue
      if alive "$(basename "$f" .pid)"; then
        echo "fast-try: layout $(current_layout) is running; 'scripts/fast-try.sh stop' first" >&2
        exit 1
      fi
    done
  fi
  build
  mkdir -p "$RUN/logs" "$RUN/pids"
  echo "$layout" >"$RUN/layout"
  acl_env "$layout"
  local namesrv_conf="$REPO/cluster-conf/namesrv.conf"
  [ "$layout" != dledger-acl ] || namesrv_conf="$REPO/cluster-conf/dledger-acl/namesrv.conf"
  start_one namesrv 9876 -- "$BIN" namesrv -c "$namesrv_conf"
  local names=(namesrv) line processes thread_args
  processes=$(layout_processes "$layout" | wc -l)
  thread_args=$(broker_thread_args "$processes")
  [ -z "$thread_args" ] || echo "$processes broker processes on $(nproc) CPUs: each on one thread ($thread_args)"
  while read -r line; do
    local name members_str members=() args=()
    read -r name members_str <<<"$line"
    read -ra members <<<"$members_str"
    for conf in "${members[@]}"; do args+=(-c "$conf"); done
    [ -z "$thread_args" ] || args+=("$thread_args")
    names+=("$name")
    start_one "$name" "$(conf_value "${members[0]}" listenPort)" -- "$BIN" broker "${args[@]}"
  done < <(layout_processes "$layout")
  if [ "$dashboard" = 1 ]; then
    if [ "$layout" = dledger-acl ]; then
      # The dashboard reads and administers: the sample's admin account, and the peer secret
      # of the layout's broker.conf for the Raft page.
      LEDGERMQ_ACCESS_KEY=rocketmq2 LEDGERMQ_SECRET_KEY=12345678 \
        LEDGERMQ_RAFT_PEER_SECRET="$(conf_value "${confs[0]}" raftPeerSecret)" \
        start_one dashboard 8080 -- "$BIN" dashboard --namesrv "$NAMESRV" --listen "$DASHBOARD"
    else
      start_one dashboard 8080 -- "$BIN" dashboard --namesrv "$NAMESRV" --listen "$DASHBOARD"
    fi
    names+=(dashboard)
  fi
  sleep 0.3
  for name in "${names[@]}"; do
    if ! alive "$name"; then
      echo "fast-try: $name exited during start-up; last lines of its log:" >&2
      tail -n 20 "$RUN/logs/$name.log" >&2
      exit 1
    fi
  done
  echo
  echo "==> waiting for every broker group to elect and register a master"
  if ! status_table --wait 20; then
    echo "fast-try: no master registered within 20 s; last lines of the logs:" >&2
    for name in "${names[@]}"; do echo "--- $name" >&2; tail -n 10 "$RUN/logs/$name.log" >&2; done
    exit 1
  fi
  echo
  echo "==> mqadmin clusterList -n $NAMESRV"
  "$BIN" mqadmin clusterList -n "$NAMESRV"
  echo
  echo "==> ledgermq producer -n $NAMESRV -t $TRY_TOPIC -c 5"
  "$BIN" producer -n "$NAMESRV" -t "$TRY_TOPIC" -c 5
  echo
  echo "==> ledgermq consumer -n $NAMESRV -t $TRY_TOPIC -g $TRY_GROUP --count 5 --from-first"
  "$BIN" consumer -n "$NAMESRV" -t "$TRY_TOPIC" -g "$TRY_GROUP" --count 5 --from-first
  if [ "$layout" = dledger-acl ]; then
    echo
    echo "==> ACL: the same account may not send to topicA (topicA=DENY in plain_acl.yml)"
    if "$BIN" producer -n "$NAMESRV" -t topicA -c 1; then
      echo "fast-try: a send to the DENY topic succeeded" >&2
      exit 1
    fi
  fi
  cat <<EOT

Next:
  open http://$DASHBOARD                  # dashboard: cockpit, cluster, Raft, topics, consumers, messages
  export NAMESRV_ADDR=$NAMESRV; alias ledgermq=$BIN
  ledgermq mqadmin clusterList                # the cluster as RocketMQ's tools see it
  ledgermq producer                           # 1000 x "Hello RocketMQ i" to TopicTest
  ledgermq consumer                           # Ctrl-C to stop
  scripts/failover-drill.sh --rounds 5        # kill -9 the leader under load: RTO, no loss
  scripts/fast-try.sh status
  scripts/fast-try.sh stop                    # or clean, to also delete the data
EOT
}

stop() {
  local names=()
  for f in "$RUN"/pids/*.pid; do
    [ -e "$f" ] || continue
    names+=("$(basename "$f" .pid)")
  done
  # Brokers first, so they unregister from a name server that is still up. SIGCONT first:
  # a node a pause drill left stopped would not act on SIGTERM.
  for name in "${names[@]}"; do
    if [ "$name" != namesrv ] && alive "$name"; then
      kill -CONT "$(pid_of "$name")"
      kill -TERM "$(pid_of "$name")"
    fi
  done
  for name in "${names[@]}" namesrv; do
    if [ "$name" = namesrv ] && alive namesrv; then kill -TERM "$(pid_of namesrv)"; fi
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

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  start) start "$@" ;;
  status) status ;;
  stop) stop ;;
  clean) clean ;;
  *) echo "usage: $0 start [--layout dledger|dledger-3g|dledger-acl|single|2m-noslave|2m-2s-async|2m-2s-sync] [--no-dashboard]|status|stop|clean" >&2; exit 2 ;;
esac
