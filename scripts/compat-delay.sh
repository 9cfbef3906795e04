#!/usr/bin/env bash
# Scheduled-delivery checks of the client-compatibility harness (issue 14), sourced by
# scripts/compat-test.sh, which runs them after its produce/consume checks on the same cluster:
#
#   rust  delay   rocketmq-client-rust 1.0.0: a message with delay level 2 (5 s) and one with a
#                 delivery time 3 s ahead each reach a push consumer within ±0.5 s of due
#   rust  retry   a consumer answering RECONSUME_LATER (maxReconsumeTimes 2) sees the message
#                 again after 10 s and 30 s (levels 3, 4), then it is in %DLQ%<group>
#   cpp   delay   the C++ client (PyPI rocketmq 0.4.4): set_delay_time_level(2) honoured
#
# Run alone:   scripts/compat-delay.sh     (= COMPAT_DELAY_ONLY=1 scripts/compat-test.sh)
# Skip them:   COMPAT_DELAY=0 scripts/compat-test.sh
# COMPAT_ONLY=rust|cpp narrows these as it narrows the other checks.

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  COMPAT_DELAY_ONLY=1 exec "$(dirname "$0")/compat-test.sh" "$@"
fi

CPP_DELAY="$REPO/compat/cpp-client/delay.py"
DELAY_SECS=200 # cap on one delay run (the retry run takes about 45 s)

if [ "${COMPAT_DELAY_ONLY:-0}" = 1 ]; then
  client_checks() { echo; echo "==> $1: produce/consume checks skipped (COMPAT_DELAY_ONLY=1)"; }
fi

# delay_judge LABEL RC ERRFILE: PASS/FAIL from the client's exit code and its summary line.
delay_judge() {
  local label=$1 rc=$2 err=$3 summary
  summary=$(grep '"summary"' "$err" | tail -n 1)
  echo "    $summary"
  if [ "$rc" -eq 0 ]; then
    record PASS "$label: $summary"
  else
    show_client_err "$err"
    record FAIL "$label (exit $rc): ${summary:-no summary}"
  fi
}

delay_checks() {
  [ "${COMPAT_DELAY:-1}" = 1 ] || return 0
  local dir="$TMP/delay" rc
  mkdir -p "$dir"
  if [ "$ONLY" = all ] || [ "$ONLY" = rust ]; then
    step "rust: delay level 2 (5 s) and a delivery time 3 s ahead, each within ±0.5 s of due"
    rc=0
    run_bounded "$DELAY_SECS" "$RUST_COMPAT" delay --namesrv "$NS" --topic "Compat_delay_rust_$STAMP" \
      --group "compat_delay_rust_$STAMP" >"$dir/rust-delay.jsonl" 2>"$dir/rust-delay.err" || rc=$?
    delay_judge "rust delay level + delivery time" "$rc" "$dir/rust-delay.err"
    step_done

    step "rust: RECONSUME_LATER back-off (10 s, 30 s), then %DLQ% (maxReconsumeTimes 2)"
    rc=0
    run_bounded "$DELAY_SECS" "$RUST_COMPAT" retry --namesrv "$NS" --topic "Compat_retry_rust_$STAMP" \
      --group "compat_retry_rust_$STAMP" --max-reconsume-times 2 \
      >"$dir/rust-retry.jsonl" 2>"$dir/rust-retry.err" || rc=$?
    delay_judge "rust retry back-off + DLQ" "$rc" "$dir/rust-retry.err"
    step_done
  fi
  if [ "$ONLY" = all ] || [ "$ONLY" = cpp ]; then
    step "cpp: set_delay_time_level(2) delivered 5 s later, within ±0.5 s"
    mkdir -p "$TMP/cpp-home"
    rc=0
    run_bounded "$DELAY_SECS" env HOME="$TMP/cpp-home" "$VENV/bin/python" "$CPP_DELAY" --namesrv "$NS" \
      --topic "Compat_delay_cpp_$STAMP" --group "compat_delay_cpp_$STAMP" \
      >"$dir/cpp-delay.jsonl" 2>"$dir/cpp-delay.err" || rc=$?
    delay_judge "cpp delay level" "$rc" "$dir/cpp-delay.err"
    step_done
  fi
}
