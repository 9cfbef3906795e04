#!/usr/bin/env bash
# Builds and runs LedgerMQ's libFuzzer targets (fuzz/) on the STABLE toolchain: libfuzzer-sys
# links libFuzzer, and the SanitizerCoverage instrumentation it feeds on comes from stable
# codegen flags (-Cpasses=sancov-module + -Cllvm-args), so neither nightly nor cargo-fuzz is
# needed. No AddressSanitizer (that needs nightly's -Zsanitizer): Rust's bounds and overflow
# checks (on in the `fuzz` profile) turn memory and arithmetic slips into crashes instead.
#
#   scripts/fuzz.sh build                    # every target
#   scripts/fuzz.sh run TARGET SECONDS [libFuzzer flags...]
#   scripts/fuzz.sh smoke [SECONDS]          # every target for SECONDS each (default 8)
#   scripts/fuzz.sh list
#
# Each run reads the committed seeds in fuzz/corpus/TARGET (never written) and grows
# fuzz/work/TARGET; a crash is saved under fuzz/artifacts/TARGET/ and makes the run fail.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/ledgermq-target}"
TRIPLE="$(rustc -vV | sed -n 's/^host: //p')"
BIN_DIR="$CARGO_TARGET_DIR/$TRIPLE/fuzz"
TARGETS=(frame header_json header_binary stored_message batch_body properties fastjson_body
  raft_rpc raft_entry commitlog_recovery store_files)
# RSS cap per run: an input that makes a decoder allocate far beyond the frame limit fails.
RSS_LIMIT_MB="${FUZZ_RSS_LIMIT_MB:-512}"

build() {
  # --target keeps the flags off build scripts and proc macros (only the fuzzed code is
  # instrumented), as cargo-fuzz does.
  (cd "$REPO/fuzz" && RUSTFLAGS="-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing" cargo build --quiet --profile fuzz --target "$TRIPLE" --bins)
}

run() {
  local target=$1 secs=$2
  shift 2
  local seeds="$REPO/fuzz/corpus/$target" work="$REPO/fuzz/work/$target"
  local artifacts="$REPO/fuzz/artifacts/$target/"
  mkdir -p "$work" "$artifacts" "$seeds"
  "$BIN_DIR/$target" -max_total_time="$secs" -rss_limit_mb="$RSS_LIMIT_MB" -timeout=10 \
    -max_len=65536 -artifact_prefix="$artifacts" -print_final_stats=1 "$@" "$work" "$seeds"
}

case "${1:-}" in
  build) build ;;
  list) printf '%s\n' "${TARGETS[@]}" ;;
  run)
    [ $# -ge 3 ] || { echo "usage: $0 run TARGET SECONDS [flags]" >&2; exit 2; }
    build
    run "${@:2}" ;;
  smoke)
    secs="${2:-8}"
    build
    for t in "${TARGETS[@]}"; do
      echo "--- fuzz smoke: $t (${secs}s)"
      if ! run "$t" "$secs" >"$CARGO_TARGET_DIR/fuzz-smoke-$t.log" 2>&1; then
        tail -n 40 "$CARGO_TARGET_DIR/fuzz-smoke-$t.log" >&2
        echo "fuzz target $t FAILED (log: $CARGO_TARGET_DIR/fuzz-smoke-$t.log, input in fuzz/artifacts/$t/)" >&2
        exit 1
      fi
      grep -E '^stat::number_of_executed_units|^Done' "$CARGO_TARGET_DIR/fuzz-smoke-$t.log" | tr '\n' ' '
      echo
    done ;;
  *)
    sed -n '2,14p' "$0" >&2
    exit 2 ;;
esac
