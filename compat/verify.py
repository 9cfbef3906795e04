#!/usr/bin/env python3
"""Judge one compatibility check from the JSON lines the client programs printed.

  verify.py produce --produced P.jsonl --count N --label L
  verify.py consume --produced P.jsonl --consumed C.jsonl --label L

Both client programs (compat/rust-client, compat/cpp-client/compat.py) print the same
shape, so one judge serves both. Prints one line `PASS <label>: ...` or `FAIL <label>: ...`
with the counts, then up to a few example problems, and exits 0 on PASS, 1 on FAIL.
Standard library only: it runs under any python3.

What PASS means:
* produce: N sends answered SEND_OK, every msgId present and distinct; where the client
  reports queue ids (the Rust client), each queue's offsets are exactly 0, 1, 2, ... in send
  order (a fresh topic and one producer leave no room for gaps or repeats); where it reports
  an offsetMsgId, it has the 16- or 28-byte hex shape of section 6 of the protocol reference.
* consume: every msgId that was sent SEND_OK was delivered exactly once, with the body,
  tag and keys it was sent with, at the queue offset (and queue) the send result named;
  nothing else was delivered. A delivery with reconsume_times > 0 came back through the
  group's retry topic after the client sent it back, so its queue position is not compared
  (it is counted in the summary).
"""

import argparse
import collections
import json
import re
import sys

OFFSET_MSG_ID = re.compile(r"^(?:[0-9A-F]{32}|[0-9A-F]{56})$")
EXAMPLES = 5


def read_jsonl(path):
    rows, bad = [], 0
    try:
        with open(path, "rb") as f:
            for raw in f:
                raw = raw.strip()
                if not raw:
                    continue
                try:
                    rows.append(json.loads(raw.decode("utf-8", "replace")))
                except ValueError:
                    bad += 1
    except OSError as e:
        return None, str(e)
    return rows, bad


def decode_offset_msg_id(s):
    """host:port of the store that wrote the message (IPv4 form only)."""
    if len(s) != 32:
        return None
    ip = ".".join(str(int(s[k:k + 2], 16)) for k in range(0, 8, 2))
    return "%s:%d" % (ip, int(s[8:16], 16))


def report(ok, label, summary, problems):
    print("%s %s: %s" % ("PASS" if ok else "FAIL", label, summary))
    for p in problems[:EXAMPLES]:
        print("    - %s" % p)
    if len(problems) > EXAMPLES:
        print("    - ... and %d more" % (len(problems) - EXAMPLES))
    return 0 if ok else 1


def sent_ok(rows):
    return [r for r in rows if r.get("status") == "SEND_OK" and "i" in r]


def check_produce(args):
    rows, bad = read_jsonl(args.produced)
    if rows is None:
        return report(False, args.label, "cannot read %s: %s" % (args.produced, bad), [])
    problems = []
    ok_rows = sent_ok(rows)
    failed = [r for r in rows if r.get("status") != "SEND_OK" and "i" in r]
    for r in failed[:EXAMPLES]:
        problems.append("send %s: %s %s" % (r.get("i"), r.get("status"), r.get("error", "")))
    ids = collections.Counter(r.get("msg_id") for r in ok_rows)
    no_id = ids.pop(None, 0) + ids.pop("", 0)
    if no_id:
        problems.append("%d SEND_OK results without a msgId" % no_id)
    dup_ids = [m for m, c in ids.items() if c > 1]
    if dup_ids:
        problems.append("msgIds returned twice: %s" % ", ".join(dup_ids[:3]))

    per_queue = collections.defaultdict(list)
    for r in ok_rows:
        if r.get("queue_id") is not None:
            per_queue[(r.get("broker"), r["queue_id"])].append(r.get("queue_offset"))
    for (broker, qid), offsets in sorted(per_queue.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        if offsets != list(range(len(offsets))):
            problems.append(
                "queue %s/%s: send results gave offsets %s..., expected 0,1,2,..."
                % (broker, qid, offsets[:8])
            )
    if not per_queue:
        negative = [r for r in ok_rows if not isinstance(r.get("queue_offset"), int) or r["queue_offset"] < 0]
        if negative:
            problems.append("%d results without a valid queue offset" % len(negative))

    stores = collections.Counter()
    for r in ok_rows:
        om = r.get("offset_msg_id")
        if om is None:
            continue
        if not OFFSET_MSG_ID.match(om):
            problems.append("send %s: offsetMsgId %r is not 32/56 uppercase hex" % (r.get("i"), om))
        else:
            stores[decode_offset_msg_id(om)] += 1
    if bad:
        problems.append("%d output lines were not JSON" % bad)

    ok = len(ok_rows) == args.count and not problems
    summary = "%d/%d sent SEND_OK, %d failed" % (len(ok_rows), args.count, len(failed))
    if per_queue:
        summary += ", %d queues" % len(per_queue)
    if stores:
        summary += ", stored by %s" % ", ".join("%s (%d)" % (k, v) for k, v in sorted(stores.items(), key=str))
    return report(ok, args.label, summary, problems)


def check_consume(args):
    produced, pbad = read_jsonl(args.produced)
    consumed, cbad = read_jsonl(args.consumed)
    if produced is None or consumed is None:
        return report(False, args.label, "cannot read the client output (%s / %s)" % (pbad, cbad), [])
    sent = {}
    for r in sent_ok(produced):
        if r.get("msg_id"):
            sent[r["msg_id"]] = r
    deliveries = [r for r in consumed if "msg_id" in r and "summary" not in r]
    by_id = collections.defaultdict(list)
    for d in deliveries:
        by_id[d.get("msg_id")].append(d)

    missing = [m for m in sent if m not in by_id]
    duplicated = {m: len(v) for m, v in by_id.items() if m in sent and len(v) > 1}
    unexpected = [m for m in by_id if m not in sent]
    problems, mismatched, retried = [], 0, 0
    for m, p in sent.items():
        for d in by_id.get(m, [])[:1]:
            want = {"body": "Hello RocketMQ %d" % p["i"], "tags": p.get("tags"), "keys": p.get("keys")}
            if d.get("reconsume_times"):
                # Redelivered after the client sent it back (CONSUMER_SEND_MSG_BACK): it comes from
                # %RETRY%<group>, at that queue's position, so only the content is comparable.
                retried += 1
            else:
                want["queue_offset"] = p.get("queue_offset")
                if p.get("queue_id") is not None:
                    want["queue_id"] = p["queue_id"]
            diffs = ["%s %r != sent %r" % (k, d.get(k), v) for k, v in want.items() if v is not None and d.get(k) != v]
            if diffs:
                mismatched += 1
                problems.append("msgId %s (i=%s): %s" % (m, p["i"], "; ".join(diffs)))
    if missing:
        idx = sorted(sent[m]["i"] for m in missing)
        problems.insert(0, "never delivered: i = %s%s" % (idx[:20], " ..." if len(idx) > 20 else ""))
    for m, c in list(duplicated.items())[:3]:
        problems.append("msgId %s delivered %d times" % (m, c))
    for m in unexpected[:3]:
        d = by_id[m][0]
        problems.append("delivered but never sent OK: msgId %s body %r" % (m, d.get("body")))
    if pbad or cbad:
        problems.append("%d output lines were not JSON" % (pbad + cbad))

    ok = bool(sent) and not missing and not duplicated and not unexpected and mismatched == 0 and not (pbad or cbad)
    summary = (
        "%d sent, %d distinct received in %d deliveries; missing %d, duplicated %d, unexpected %d, mismatched %d"
        % (len(sent), len([m for m in by_id if m in sent]), len(deliveries), len(missing), len(duplicated),
           len(unexpected), mismatched)
    )
    if retried:
        summary += "; %d came through the retry topic (reconsume_times > 0)" % retried
    if not sent:
        problems.insert(0, "nothing was sent OK, so there is nothing to check")
    return report(ok, args.label, summary, problems)


def main(argv):
    ap = argparse.ArgumentParser(prog="verify.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command")
    sub.required = True
    p = sub.add_parser("produce")
    p.add_argument("--produced", required=True)
    p.add_argument("--count", required=True, type=int)
    p.add_argument("--label", required=True)
    c = sub.add_parser("consume")
    c.add_argument("--produced", required=True)
    c.add_argument("--consumed", required=True)
    c.add_argument("--label", required=True)
    args = ap.parse_args(argv)
    return check_produce(args) if args.command == "produce" else check_consume(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
