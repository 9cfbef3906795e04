#!/usr/bin/env bash
# The failover drill against the cluster fast-try started: a producer at a steady rate and a
# consumer run while the leader is killed with SIGKILL (or --node nX, or --pause for SIGSTOP,
# or --graceful for SIGTERM),
# round after round; prints RTO and catch-up per round, p50/p99 at the end, and exits non-zero
# if any acknowledged message was lost. --majority stops two of three nodes instead.
#   scripts/failover-drill.sh --rounds 20
#   scripts/failover-drill.sh --pause --rounds 5
#   scripts/failover-drill.sh --graceful --rounds 6
#   scripts/failover-drill.sh --majority
# Options are `ledgermq drill`'s (see --help). The layout's config files are found from
# /tmp/ledgermq/layout (written by fast-try), default dledger.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${LEDGERMQ_RUN_DIR:-/tmp/ledgermq}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN="$CARGO_TARGET_DIR/release/ledgermq"
[ -x "$BIN" ] || cargo build --release --quiet --bin ledgermq
layout=$(cat "$RUN/layout" 2>/dev/null || echo dledger)
case "$layout" in
  dledger) confs=(cluster-conf/dledger/broker-n*.conf) ;;
  single) confs=(cluster-conf/broker.conf) ;;
  *) confs=(cluster-conf/"$layout"/*.properties) ;;
esac
exec "$BIN" drill --run-dir "$RUN" -c "${confs[@]}" "$@"
