#!/usr/bin/env bash
# The scale-out figure: `ledgermq bench produce` through 1, 2 and 3 Raft groups on the same
# three nodes (cluster-conf/dledger-3g: node k is ONE process hosting its members of groups
# 0..N-1), with each process's CPU per acknowledged message read from /proc/<pid>/stat around
# every run. Starts its own name server and nodes on the layout's ports (stop fast-try first),
# from empty stores under $RUN (default /tmp/ledgermq-bench-groups), each configuration's
# removed when it is done (every member preallocates a 1 GiB CommitLog segment: the three
# configurations together would hold 18 GiB).
#   scripts/bench-groups.sh [--groups "1 2 3"] [--runs 3] [--count 100000] [--inflight 64]
#                           [--inflight-per-group]   (64 in flight per group instead of in all)
# Prints one parseable line per run:
#   groups-bench groups=N run=R inflight=I msgs_per_s=... msgs_per_entry=...
#                cpu_us_per_msg_n0=... n1=... n2=...
# Environment: LEDGERMQ_BIN (default the release build); BROKER_ARGS, extra `ledgermq broker`
# arguments for every node (e.g. "--single-thread", fast-try's choice on a two-CPU machine).
set -euo pipefail
cd "$(dirname "$0")/.."
GROUPS_LIST="1 2 3" RUNS=3 COUNT=100000 INFLIGHT=64 PER_GROUP=0
while [ $# -gt 0 ]; do
  case "$1" in
    --groups) GROUPS_LIST=${2:?}; shift 2 ;;
    --runs) RUNS=${2:?}; shift 2 ;;
    --count) COUNT=${2:?}; shift 2 ;;
    --inflight) INFLIGHT=${2:?}; shift 2 ;;
    --inflight-per-group) PER_GROUP=1; shift ;;
    *) echo "bench-groups: unknown option $1" >&2; exit 2 ;;
  esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN=${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/release/ledgermq}
RUN=${RUN:-/tmp/ledgermq-bench-groups}
NAMESRV=127.0.0.1:9876
[ -x "$BIN" ] || { echo "bench-groups: no $BIN (cargo build --release, or LEDGERMQ_BIN)" >&2; exit 2; }
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$RUN"
}
trap cleanup EXIT
# CPU seconds (user + system) of a process, from /proc/<pid>/stat fields 14 and 15.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"; }
# Raft log entries over every group: the sum of each group leader's last index (`status`'s
# #Last column on MASTER rows). Messages per entry is how full the group-commit entries were,
# which sets what each message pays of the per-entry cost (a replication round, wake-ups).
log_entries() {
  "$BIN" status -n "$NAMESRV" -c "${confs[@]}" 2>/dev/null \
    | awk 'NR > 1 && $3 == "MASTER" {sum += $7} END {print sum + 0}'
}

rm -rf "$RUN" && mkdir -p "$RUN"
"$BIN" namesrv -c cluster-conf/namesrv.conf >"$RUN/namesrv.log" 2>&1 &
pids+=($!)
echo "load before: $(uptime)"
for n in $GROUPS_LIST; do
  nodes=()
  confs=()
  for k in 0 1 2; do
    args=()
    for g in $(seq 0 $((n - 1))); do
      f="$RUN/broker-n$k-g$g.conf"
      sed "s#/tmp/ledgermq/dledger-3g#$RUN/g$n#" "cluster-conf/dledger-3g/broker-n$k-g$g.conf" >"$f"
      args+=(-c "$f")
      confs+=("$f")
    done
    # shellcheck disable=SC2206 # BROKER_ARGS is a list of words
    args+=(${BROKER_ARGS:-})
    "$BIN" broker "${args[@]}" >"$RUN/n$k-g$n.log" 2>&1 &
    nodes+=($!)
    pids+=($!)
  done
  "$BIN" status -n "$NAMESRV" --wait 60 -c "${confs[@]}" >/dev/null
  inflight=$INFLIGHT
  [ "$PER_GROUP" = 1 ] && inflight=$((INFLIGHT * n))
  topic="GroupsBench$n"
  for r in $(seq 1 "$RUNS"); do
    before=()
    for p in "${nodes[@]}"; do before+=("$(cpu "$p")"); done
    entries_before=$(log_entries)
    line=$("$BIN" bench produce -n "$NAMESRV" -t "$topic" --inflight "$inflight" --count "$COUNT" 2>/dev/null | tail -1)
    rate=$(sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
    entries=$(($(log_entries) - entries_before))
    per_entry=$(awk -v c="$COUNT" -v e="$entries" 'BEGIN {printf "%.1f", (e > 0 ? c / e : 0)}')
    out="groups-bench groups=$n run=$r inflight=$inflight msgs_per_s=$rate msgs_per_entry=$per_entry"
    for i in 0 1 2; do
      after=$(cpu "${nodes[$i]}")
      us=$(awk -v a="$after" -v b="${before[$i]}" -v c="$COUNT" 'BEGIN {printf "%.1f", (a - b) * 1e6 / c}')
      out="$out cpu_us_per_msg_n$i=$us"
    done
    echo "$out"
  done
  for p in "${nodes[@]}"; do kill "$p"; done
  for p in "${nodes[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$RUN/g$n"
done
echo "load after: $(uptime)"
