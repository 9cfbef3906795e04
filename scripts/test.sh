#!/usr/bin/env bash
# The project's test command (README "Test"): installs what the tests need on a fresh Debian
# machine, then runs formatting, lints, unit, storage-suite, cluster and fault-injection tests,
# the dashboard in a real browser, a short fuzz of every decoder, the Jepsen suite's smoke and
# unsafe scenarios, and the compatibility checks with two RocketMQ clients nobody here wrote.
# The cluster tests start real processes on loopback addresses and cut links with iptables, so
# this runs as root. Long soaks are not part of this tier.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# LEDGERMQ_PROFILE=NAME builds with a cargo profile of that name (inheriting `dev` unless
# CARGO_PROFILE_<NAME>_INHERITS says otherwise), into $CARGO_TARGET_DIR/NAME: several
# checkouts can then share one target dir without overwriting each other's binaries.
PROFILE="${LEDGERMQ_PROFILE:-dev}"
case "$PROFILE" in
  dev) PROFILE_DIR=debug ;;
  release) PROFILE_DIR=release ;;
  *)
    PROFILE_DIR=$PROFILE
    inherits_var="CARGO_PROFILE_$(printf '%s' "$PROFILE" | tr '[:lower:]-' '[:upper:]_')_INHERITS"
    export "$inherits_var=${!inherits_var:-dev}"
    ;;
esac
export COMPAT_PROFILE="${COMPAT_PROFILE:-$PROFILE}"
export LEDGERMQ_BIN="${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/$PROFILE_DIR/ledgermq}"

need_apt=()
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
# The Jepsen suite: ip netns / veth / bridge (iproute2, which also brings tc).
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# The dashboard's browser test drives Debian's headless Chromium over WebDriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: needs root to install ${need_apt[*]} and to run the partition tests" >&2
    exit 1
  fi
  echo "==> apt-get install ${need_apt[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null; then
    # A fresh machine may have no package lists yet.
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need_apt[@]}" >/dev/null
  fi
fi

# promtool (from Debian's prometheus package) checks every node's /metrics in the dashboard
# API test. Only its binary is needed, so it is unpacked from the .deb rather than installed
# (installing would also set up a Prometheus server).
if command -v promtool >/dev/null 2>&1; then
  export PROMTOOL="${PROMTOOL:-$(command -v promtool)}"
else
  PROMTOOL_DIR=/var/tmp/ledgermq-promtool
  if [ ! -x "$PROMTOOL_DIR/usr/bin/promtool" ]; then
    echo "==> unpacking promtool from Debian's prometheus package into $PROMTOOL_DIR"
    mkdir -p "$PROMTOOL_DIR"
    (cd "$PROMTOOL_DIR" && { apt-get download -q prometheus >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get download -q prometheus >/dev/null; }; } &&
      dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb usr/bin/prometheus)
  fi
  export PROMTOOL="$PROMTOOL_DIR/usr/bin/promtool"
fi

step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, all features) -D warnings"
cargo clippy --profile "$PROFILE" --workspace --all-targets --all-features -- -D warnings

step "cargo test (unit, openraft storage suite, cluster tests, jepsen checker)"
cargo test --profile "$PROFILE" --workspace --all-targets

step "dashboard in a real browser: headless Chromium over WebDriver (screenshots in $CARGO_TARGET_DIR/tmp/dashboard-browser)"
cargo test --profile "$PROFILE" --test dashboard_browser -- --ignored

step "cargo test --features failpoints (I/O fault injection)"
cargo test --profile "$PROFILE" --features failpoints --test failpoints

# Every decoder that reads bytes from a socket or a disk, under libFuzzer for a few seconds
# each (stable toolchain; FUZZING.md): about 1.5 min plus the instrumented build.
step "fuzz smoke: every decoder target for ${FUZZ_SMOKE_SECONDS:-8} s (scripts/fuzz.sh smoke)"
scripts/fuzz.sh smoke "${FUZZ_SMOKE_SECONDS:-8}"

# The Jepsen suite against the debug broker built above (about 1.5 min together): the smoke
# scenario (partition the leader, kill -9 the leader) must come back valid, and the same kind
# of partition against unsafeAckBeforeCommit must come back invalid with lost writes.
step "jepsen: smoke (must be valid), unsafe-ack (must be invalid), a fault that cannot be applied (must be UNKNOWN)"
cargo build --profile "$PROFILE" --bin ledgermq
cargo test --profile "$PROFILE" -p jepsen --test suite -- --ignored --test-threads=1 --nocapture

# Longer scenarios are opt-in: JEPSEN_SCENARIOS="halves ring mixed-soak" scripts/test.sh
for scenario in ${JEPSEN_SCENARIOS:-}; do
  step "jepsen: scenario $scenario (opt-in)"
  cargo run -q -p jepsen --release -- test --scenario "$scenario"
done

step "client compatibility: rocketmq-client-rust 1.0.0 and rocketmq-client-cpp (PyPI rocketmq 0.4.4)"
scripts/compat-test.sh

echo
echo "All tests passed."
