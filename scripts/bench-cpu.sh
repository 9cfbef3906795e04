#!/usr/bin/env bash
# CPU per message of each broker process under `bench produce`, on a private three-node DLedger
# group and name server (fast-try's dledger layout on shifted ports, so it runs beside fast-try
# and other checkouts). Starts from empty stores, warms up with 20,000 sends, then runs RUNS
# measured runs and prints, per run, each node's CPU (user + system from /proc/PID/stat) per
# message, msgs/s and latency. Used for A/B runs of two binaries, interleaved (BENCHMARKS.md).
#   scripts/bench-cpu.sh [--consume] BIN BASE LABEL [RUNS] [INFLIGHT] [COUNT] [extra broker.conf line...]
#   scripts/bench-cpu.sh $B 53000 final 2 64 100000 "flushDiskType = SYNC_FLUSH"
# --consume measures the pull path instead: COUNT messages are produced first, then each run
# is `bench consume --count COUNT` (a fresh consumer group reading them all).
# BROKER_ARGS: extra `ledgermq broker` arguments for every node (e.g. "--single-thread").
# SETTLE: seconds the idle cluster waits after its leader is elected, before the warm-up (a
# broker that has run idle for a while: under SYNC_FLUSH its segments are zero-filled by then).
# BASE: name server port; brokers BASE+11..13 (client), BASE+21..23 (peer), BASE+31..33
# (metrics). Store and logs in /tmp/b3-BASE, removed at the end.
set -uo pipefail
MODE=produce; [ "${1:-}" = --consume ] && { MODE=consume; shift; }
BIN=$1 BASE=$2 LABEL=$3 RUNS=${4:-2} INFL=${5:-64} COUNT=${6:-100000}; shift 6 2>/dev/null || shift $#
EXTRA=("$@")
D=/tmp/b3-$BASE; pkill -f "$D/" 2>/dev/null; sleep 0.5; rm -rf "$D"; mkdir -p "$D"
printf 'listenPort=%s\n' "$BASE" > $D/namesrv.conf
PEERS="n0-127.0.0.1:$((BASE+21));n1-127.0.0.1:$((BASE+22));n2-127.0.0.1:$((BASE+23))"
$BIN namesrv -c $D/namesrv.conf > $D/namesrv.log 2>&1 & echo $! > $D/namesrv.pid
for n in 0 1 2; do
cat > $D/broker-n$n.conf <<C
brokerClusterName = RaftCluster
brokerName = RaftNode00
listenPort = $((BASE+11+n))
brokerIP1 = 127.0.0.1
namesrvAddr = 127.0.0.1:$BASE
storePathRootDir = $D/store/node0$n
storePathCommitLog = $D/store/node0$n/commitlog
enableDLegerCommitLog = true
dLegerGroup = RaftNode00
dLegerPeers = $PEERS
dLegerSelfId = n$n
metricsPort = $((BASE+31+n))
C
for l in "${EXTRA[@]}"; do echo "$l" >> $D/broker-n$n.conf; done
# shellcheck disable=SC2086 # BROKER_ARGS is a list of words
$BIN broker -c $D/broker-n$n.conf ${BROKER_ARGS:-} > $D/broker-n$n.log 2>&1 & echo $! > $D/broker-n$n.pid
done
NS=127.0.0.1:$BASE
for i in $(seq 1 100); do $BIN mqadmin clusterList -n $NS 2>/dev/null | grep -q "RaftNode00 *0 " && break; sleep 0.2; done
sleep "${SETTLE:-0}"
FILL=20000; [ $MODE = consume ] && FILL=$COUNT
$BIN bench produce -n $NS --inflight 64 --count $FILL >/dev/null 2>&1 || { echo "warmup failed"; tail $D/*.log; }
cpu() { for n in 0 1 2; do awk '{printf "%d ", $14+$15}' /proc/$(cat $D/broker-n$n.pid)/stat; done; }
for r in $(seq 1 $RUNS); do
  a=($(cpu))
  if [ $MODE = consume ]; then
    out=$($BIN bench consume -n $NS --count $COUNT 2>/dev/null | grep consume-bench)
  else
    out=$($BIN bench produce -n $NS --inflight $INFL --count $COUNT --warmup 0 2>/dev/null | grep produce-bench)
  fi
  b=($(cpu))
  us=""; for n in 0 1 2; do us="$us $(echo "scale=2; (${b[n]} - ${a[n]}) * 10000 / $COUNT" | bc)"; done
  echo "$LABEL run$r inflight=$INFL us/msg(n0 n1 n2):$us $(echo "$out" | grep -o 'msgs_per_s=[0-9]*[^ ]*\( .*p99_ms=[0-9.]*\)\?') load=$(cut -d' ' -f1 /proc/loadavg)"
done
for p in $D/*.pid; do kill $(cat $p) 2>/dev/null; done; sleep 1; pkill -9 -f "$D/" 2>/dev/null; rm -rf "$D"
