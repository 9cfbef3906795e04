#!/usr/bin/env bash
# Pull-path CPU per message: scripts/bench-cpu.sh's private group, COUNT messages produced, then
# `bench consume` RUNS times, reading every broker process's CPU from /proc/PID/stat around it.
#   scripts/bench-cpu-pull.sh BIN BASE LABEL [RUNS] [COUNT] [extra broker.conf line...]
# BASE: namesrv port; brokers BASE+11..13 client, BASE+21..23 peer, BASE+31..33 metrics.
# Store/run dir /tmp/b3p-BASE. Processes are stopped by their own pids only.
set -uo pipefail
BIN=$1 BASE=$2 LABEL=$3 RUNS=${4:-2} COUNT=${5:-300000}; shift 5 2>/dev/null || shift $#
EXTRA=("$@")
D=/tmp/b3p-$BASE
stop() { for p in $D/*.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done; sleep 1
         for p in $D/*.pid; do [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null; done; }
[ -d "$D" ] && stop; rm -rf "$D"; mkdir -p "$D"
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
$BIN broker -c $D/broker-n$n.conf > $D/broker-n$n.log 2>&1 & echo $! > $D/broker-n$n.pid
done
NS=127.0.0.1:$BASE
for i in $(seq 1 100); do $BIN mqadmin clusterList -n $NS 2>/dev/null | grep -q "RaftNode00 *0 " && break; sleep 0.2; done
$BIN bench produce -n $NS --inflight 64 --count $COUNT >/dev/null 2>&1 || { echo "produce failed"; tail $D/*.log; }
cpu() { for n in 0 1 2; do awk '{printf "%d ", $14+$15}' /proc/$(cat $D/broker-n$n.pid)/stat; done; }
for r in $(seq 1 $RUNS); do
  a=($(cpu)); out=$($BIN bench consume -n $NS --count $COUNT 2>/dev/null | tail -1); b=($(cpu))
  us=""; for n in 0 1 2; do us="$us $(echo "scale=3; (${b[n]} - ${a[n]}) * 10000 / $COUNT" | bc)"; done
  echo "$LABEL run$r us/msg(n0 n1 n2):$us | $out | load=$(cut -d' ' -f1 /proc/loadavg)"
done
stop; rm -rf "$D"
