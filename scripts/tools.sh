#!/usr/bin/env bash
# RocketMQ's bin/tools.sh for the quickstart examples:
#   scripts/tools.sh org.apache.rocketmq.example.quickstart.Producer [-n ADDR] [-t TopicTest] [-c 1000]
#   scripts/tools.sh org.apache.rocketmq.example.quickstart.Consumer [-n ADDR] [-t TopicTest] [--count N]
# The Java class name picks `ledgermq producer` or `ledgermq consumer`; the other arguments are
# passed on. The name server comes from -n or NAMESRV_ADDR (default 127.0.0.1:9876).
# The release binary is built first when it is missing or older than the sources;
# LEDGERMQ_BIN=/path/to/ledgermq uses another one.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
BIN="${LEDGERMQ_BIN:-$CARGO_TARGET_DIR/release/ledgermq}"
# Build when the binary is missing, or older than the sources it would be built from.
if [ ! -x "$BIN" ] || { [ -f "$REPO/Cargo.toml" ] &&
  [ -n "$(find "$REPO/src" "$REPO/Cargo.toml" -newer "$BIN" -print -quit 2>/dev/null)" ]; }; then
  echo "$(basename "$0"): building $BIN (cargo build --release)" >&2
  (cd "$REPO" && cargo build --release --quiet --bin ledgermq)
fi
if [ $# -eq 0 ]; then
  echo "usage: $(basename "$0") org.apache.rocketmq.example.quickstart.Producer|Consumer [args...]" >&2
  exit 1
fi
case "$1" in
  org.apache.rocketmq.example.quickstart.Producer|Producer|producer) sub=producer ;;
  org.apache.rocketmq.example.quickstart.Consumer|Consumer|consumer) sub=consumer ;;
  *)
    echo "$(basename "$0"): $1 is not available; use org.apache.rocketmq.example.quickstart.Producer or ...Consumer" >&2
    exit 1 ;;
esac
shift
exec "$BIN" "$sub" "$@"
