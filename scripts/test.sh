#!/usr/bin/env bash
# The project's test command (README "Test"): installs what the tests need on a fresh Debian
# machine, then runs formatting, lints, unit, storage-suite, cluster and fault-injection tests,
# the Jepsen suite's smoke and unsafe scenarios, and the compatibility checks with two RocketMQ
# clients nobody here wrote.
# The cluster tests start real processes on loopback addresses and cut links with iptables, so
# this runs as root. Long soaks are not part of this tier.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

need_apt=()
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
# The Jepsen suite: ip netns / veth / bridge (iproute2, which also brings tc).
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: needs root to install ${need_apt[*]} and to run the partition tests" >&2
    exit 1
  fi
  echo "==> apt-get install ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
fi

step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, all features) -D warnings"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "cargo test (unit, openraft storage suite, cluster tests, jepsen checker)"
cargo test --workspace --all-targets

step "cargo test --features failpoints (I/O fault injection)"
cargo test --features failpoints --test failpoints

# The Jepsen suite against the debug broker built above (about 1.5 min together): the smoke
# scenario (partition the leader, kill -9 the leader) must come back valid, and the same kind
# of partition against unsafeAckBeforeCommit must come back invalid with lost writes.
step "jepsen: smoke scenario (must be valid) and unsafe-ack scenario (must be invalid)"
cargo build --bin ledgermq
cargo test -p jepsen --test suite -- --ignored --test-threads=1 --nocapture

# Longer scenarios are opt-in: JEPSEN_SCENARIOS="halves ring mixed-soak" scripts/test.sh
for scenario in ${JEPSEN_SCENARIOS:-}; do
  step "jepsen: scenario $scenario (opt-in)"
  cargo run -q -p jepsen --release -- test --scenario "$scenario"
done

step "client compatibility: rocketmq-client-rust 1.0.0 and rocketmq-client-cpp (PyPI rocketmq 0.4.4)"
scripts/compat-test.sh

echo
echo "All tests passed."
