#!/usr/bin/env python3
"""What an unmodified RocketMQ client saw across node kills: the report half of
scripts/client-failover-rto.sh.

Inputs (all JSON lines, as compat/rust-client and compat/cpp-client/compat.py print them):
  --sends FILE     the producer's per-send lines: {"i","status","t_ms","elapsed_ms","error"?...}
  --kills FILE     one line per fault: {"kill": k, "target", "mode", "t_ms", "returned_ms"?}
  --consumed FILE  a fresh push consumer's per-delivery lines after the run: {"body", ...}
  --live FILE      (optional) a push consumer that ran through the kills: {"body","t_ms","broker"?}

For each fault, over the window from the fault to the next one (or the end of the sends):
  errors      send calls that returned an error (or a non-SEND_OK status) to the application,
              split into those already in flight at the fault and those started after it
  longest gap the longest time between two successive SEND_OK completions, the last one
              before the fault included, and when it started relative to the fault
Then p50/p99/max of the longest gaps over all faults, and the loss check: every SEND_OK body
must have been delivered to the fresh consumer (duplicates are counted, never a failure).

Prints one line per fault and a summary; exits 1 if a SEND_OK message was not consumed.
"""

import argparse
import json
import math
import sys


def read_lines(path):
    out = []
    if not path:
        return out
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def quantile(sorted_values, q):
    """Nearest rank, as `ledgermq drill` reports."""
    if not sorted_values:
        return None
    rank = min(max(int(math.ceil(q * len(sorted_values))), 1), len(sorted_values))
    return sorted_values[rank - 1]


def body_index(body):
    prefix = "Hello RocketMQ "
    if isinstance(body, str) and body.startswith(prefix):
        try:
            return int(body[len(prefix):])
        except ValueError:
            return None
    return None


def windows(sends, kills):
    """Yields (kill, sends from the fault to the next fault, last SEND_OK before the fault)."""
    end = max((s.get("t_ms", 0) for s in sends), default=0) + 1
    for n, k in enumerate(kills):
        t0 = k["t_ms"]
        t1 = kills[n + 1]["t_ms"] if n + 1 < len(kills) else end
        inside = [s for s in sends if t0 <= s.get("t_ms", 0) < t1]
        before = [s for s in sends if s.get("t_ms", 0) < t0 and s.get("status") == "SEND_OK"]
        yield k, inside, (before[-1] if before else None), t1


def analyse_kill(k, inside, last_ok_before):
    t0 = k["t_ms"]
    errors = [s for s in inside if s.get("status") != "SEND_OK"]
    in_flight = [e for e in errors if e.get("t_ms", 0) - e.get("elapsed_ms", 0) < t0]
    oks = [s["t_ms"] for s in inside if s.get("status") == "SEND_OK"]
    points = ([last_ok_before["t_ms"]] if last_ok_before else []) + oks
    gap, gap_at = 0, None
    for a, b in zip(points, points[1:]):
        if b - a > gap:
            gap, gap_at = b - a, a - t0
    first_ok = (oks[0] - t0) if oks else None
    kinds = sorted({(e.get("error") or e.get("status") or "")[:90] for e in errors})
    return {
        "kill": k.get("kill"),
        "target": k.get("target"),
        "mode": k.get("mode", "kill"),
        "sends": len(inside),
        "errors": len(errors),
        "errors_in_flight": len(in_flight),
        "longest_gap_ms": gap if len(points) > 1 else None,
        "gap_starts_ms": gap_at,
        "first_ok_ms": first_ok,
        "returned_ms": (k["returned_ms"] - t0) if k.get("returned_ms") else None,
        "error_kinds": kinds,
    }


def live_delays(live, sends, kills):
    """Per fault: the longest acknowledged→delivered delay of messages acknowledged in the
    window, for the killed leader's group (when the sends name their broker) and the others."""
    acked = {}
    for s in sends:
        if s.get("status") == "SEND_OK":
            acked[s["i"]] = (s["t_ms"], s.get("broker"))
    delivered = {}
    for d in live:
        i = body_index(d.get("body"))
        if i is not None and "t_ms" in d and i not in delivered:
            delivered[i] = d["t_ms"]
    out = []
    end = max((a for a, _ in acked.values()), default=0) + 1
    for n, k in enumerate(kills):
        t0 = k["t_ms"]
        t1 = kills[n + 1]["t_ms"] if n + 1 < len(kills) else end
        # From a little before the fault: a message acked just before it and not yet pulled
        # is exactly what a stalled queue holds back.
        per_broker = {}
        undelivered = 0
        for i, (t_ack, broker) in acked.items():
            if not (t0 - 1000 <= t_ack < t1):
                continue
            if i not in delivered:
                undelivered += 1
                continue
            delay = delivered[i] - t_ack
            per_broker[broker] = max(per_broker.get(broker, 0), delay)
        out.append({"kill": k.get("kill"), "max_delay_ms_by_broker": per_broker,
                    "undelivered_live": undelivered})
    return out


def secs(ms):
    return "-" if ms is None else "%.3f s" % (ms / 1000.0)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sends", required=True)
    ap.add_argument("--kills", required=True)
    ap.add_argument("--consumed")
    ap.add_argument("--live")
    ap.add_argument("--label", default="")
    a = ap.parse_args(argv)

    sends = [s for s in read_lines(a.sends) if "i" in s and "t_ms" in s]
    sends.sort(key=lambda s: s["t_ms"])
    kills = sorted(read_lines(a.kills), key=lambda k: k["t_ms"])
    rows = [analyse_kill(k, inside, last) for k, inside, last, _ in windows(sends, kills)]
    for r in rows:
        print(
            "fault %s (%s %s): %d sends, %d returned an error (%d in flight at the fault); "
            "longest gap between SEND_OKs %s (starting %s after the fault); first SEND_OK after "
            "it %s; leadership back %s%s"
            % (r["kill"], r["mode"], r["target"], r["sends"], r["errors"], r["errors_in_flight"],
               secs(r["longest_gap_ms"]), secs(r["gap_starts_ms"]), secs(r["first_ok_ms"]),
               secs(r["returned_ms"]),
               ("; errors: %s" % r["error_kinds"]) if r["error_kinds"] else "")
        )
    gaps = sorted(r["longest_gap_ms"] for r in rows if r["longest_gap_ms"] is not None)
    total_ok = sum(1 for s in sends if s.get("status") == "SEND_OK")
    total_err = len(sends) - total_ok
    print(
        "%slongest gap over %d faults: p50 %s p99 %s max %s; sends %d, SEND_OK %d, errors returned %d "
        "(%d of them in flight at a fault)"
        % ((a.label + ": ") if a.label else "", len(rows), secs(quantile(gaps, 0.5)),
           secs(quantile(gaps, 0.99)), secs(gaps[-1] if gaps else None), len(sends), total_ok, total_err,
           sum(r["errors_in_flight"] for r in rows))
    )
    if a.live:
        for d in live_delays(read_lines(a.live), sends, kills):
            by = ", ".join("%s %s" % (b or "?", secs(ms)) for b, ms in sorted(d["max_delay_ms_by_broker"].items(),
                                                                           key=lambda x: str(x[0])))
            print("fault %s: live push consumer, longest acked->delivered delay per broker: %s; "
                  "%d acked in the window never delivered live" % (d["kill"], by or "-", d["undelivered_live"]))
    code = 0
    if a.consumed:
        ok_bodies = {s["i"] for s in sends if s.get("status") == "SEND_OK"}
        got = [body_index(d.get("body")) for d in read_lines(a.consumed) if "body" in d]
        got_set = {i for i in got if i is not None}
        lost = sorted(ok_bodies - got_set)
        dups = len(got) - len(set(got))
        failed_but_stored = len(got_set - ok_bodies)
        print("loss check: %d SEND_OK, %d consumed afterwards (%d duplicate deliveries, %d sends that "
              "returned an error were stored anyway); lost %d%s"
              % (len(ok_bodies), len(got_set & ok_bodies), dups, failed_but_stored, len(lost),
                 (" e.g. i=%s" % lost[:10]) if lost else ""))
        if lost:
            code = 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
