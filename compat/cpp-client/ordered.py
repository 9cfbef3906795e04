#!/usr/bin/env python3
"""Ordered and broadcast consumption with Apache rocketmq-client-cpp (PyPI rocketmq==0.4.4),
unmodified, against a RocketMQ-compatible cluster. Reuses compat.py's loading and output.

  ordered   --namesrv ADDR --topic T --group G --count N [--timeout-secs S]
      Sends N messages with send_orderly, message i to queue i % queues (body
      "Hello RocketMQ i"), then an orderly push consumer (LOCK_BATCH_MQ, one queue at a
      time) must receive, on every queue, exactly that queue's messages in send order with
      no gap; a redelivery is reported and must not break the order of first deliveries.
  broadcast --namesrv ADDR --topic T --group G --count N [--consumers 2] [--timeout-secs S]
      Starts CONSUMERS push consumers of one BROADCASTING group (distinct instance names,
      offsets kept locally by each), then sends N messages; each consumer must receive all N.
  failover  --namesrv ADDR --topic T --group G --count N --signal-dir D [--rate R]
      Ordered consumption across a leader kill: an orderly push consumer runs while messages
      are sent with send_orderly at R per second (message i to queue i % queues); after N/3
      sends it creates D/kill-now, and whoever watches D (scripts/compat-order.sh) kills the
      leader and writes the kill's epoch time to D/killed. Sends that fail meanwhile are
      counted, not errors. Passes if every SEND_OK message is delivered on its queue, each
      queue's deliveries are in send order with no SEND_OK message skipped, and the only
      repeats are redeliveries after the kill (counted); see failover_verdict.

Prints one JSON line per delivery and, last, a summary with "pass": true/false; exits 0 on
a pass. scripts/compat-order.sh runs both.
"""

import argparse
import ctypes
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compat import BODY_RE, CLIENT, body_of, die, emit, load_client, start_watchdog  # noqa: E402


def index_of(body):
    m = BODY_RE.match(body or b"")
    return int(m.group(1)) if m else None


def producer_for(client, args):
    p = client.Producer(args.group + "_producer", timeout=3000)
    p.set_namesrv_addr(args.namesrv)
    try:
        p.start()
    except Exception as e:
        die("producer start failed: %s" % e)
    return p


def send_all(client, args, orderly, p=None):
    """Sends COUNT messages; returns {i: queue or None} of those sent OK."""
    p = p or producer_for(client, args)
    sent = {}
    chosen = {}

    def by_index(mq_size, msg, arg):
        # The binding hands the selector the C API's void* argument: a pointer to the int.
        i = ctypes.cast(arg, ctypes.POINTER(ctypes.c_int))[0]
        chosen[i] = i % mq_size
        return i % mq_size

    for i in range(args.count):
        msg = client.Message(args.topic)
        msg.set_tags("TagO")
        msg.set_keys("order-%d" % i)
        msg.set_body(body_of(i))
        result = None
        for _ in range(20):  # "No route info" on a brand-new topic is raised before sending
            try:
                if orderly:
                    result = p.send_orderly(msg, i, queue_selector=by_index)
                else:
                    result = p.send_sync(msg)
                break
            except Exception as e:
                if "No route info" not in str(e):
                    emit({"i": i, "status": "ERROR", "error": str(e)})
                    break
                time.sleep(0.3)
        if result is not None and result.status.name == "OK":
            sent[i] = chosen.get(i)
    return sent


def ordered(args):
    client = load_client()
    sent = send_all(client, args, orderly=True)
    inbox = queue.Queue()

    def on_message(msg):
        inbox.put((msg.queue_id, index_of(msg.body), msg.reconsume_times))

    consumer = client.PushConsumer(args.group, orderly=True)
    consumer.set_namesrv_addr(args.namesrv)
    try:
        consumer.subscribe(args.topic, on_message)
        consumer.start()
    except Exception as e:
        die("orderly consumer start failed: %s" % e)
    firsts = {}  # queue -> [i in first-delivery order]
    seen, duplicates, misplaced = set(), 0, 0
    deadline = time.monotonic() + args.timeout_secs
    while len(seen) < len(sent) and time.monotonic() < deadline:
        try:
            q, i, reconsume = inbox.get(timeout=0.5)
        except queue.Empty:
            continue
        emit({"queue_id": q, "i": i, "reconsume_times": reconsume})
        if i is None:
            continue
        if sent.get(i) is not None and sent[i] != q:
            misplaced += 1
        if i in seen:
            duplicates += 1
            continue
        seen.add(i)
        firsts.setdefault(q, []).append(i)
    time.sleep(args.settle_secs)
    while not inbox.empty():
        q, i, _ = inbox.get()
        if i in seen:
            duplicates += 1
    out_of_order = {q: v for q, v in firsts.items() if v != sorted(v)}
    # No gap: each queue delivered exactly the messages sent to it.
    want = {}
    for i, q in sent.items():
        want.setdefault(q, []).append(i)
    gaps = {q: sorted(set(v) - set(firsts.get(q, []))) for q, v in want.items()
            if sorted(v) != sorted(firsts.get(q, []))}
    ok = (len(sent) == args.count and len(seen) == len(sent) and not out_of_order
          and not gaps and misplaced == 0)
    emit({"summary": "ordered", "client": CLIENT, "pass": ok, "sent": len(sent),
          "received": len(seen), "queues": len(firsts), "duplicates": duplicates,
          "out_of_order_queues": sorted(out_of_order), "queues_with_gaps": sorted(gaps),
          "misplaced": misplaced})
    return 0 if ok else 1


def failover_verdict(sent_ok, deliveries, kill_t):
    """Judges deliveries [(t, queue, i)] against sent_ok {i: queue}.

    Per queue, the deliveries in arrival order must rise; a step back is a redelivery (an
    orderly consumer resumes a queue from its last committed offset), allowed only after the
    kill, and what follows it must rise again. Between two consecutive deliveries a < b of a
    queue no message sent OK to that queue may lie (a gap), and every message sent OK must
    arrive. Messages whose send failed may arrive (a timed-out send can still be stored) and
    must respect the order like the others."""
    by_queue = {}
    for t, q, i in deliveries:
        by_queue.setdefault(q, []).append((t, i))
    ok_by_queue = {}
    for i, q in sent_ok.items():
        ok_by_queue.setdefault(q, []).append(i)
    gaps, rewinds_before_kill, misplaced = [], [], []
    duplicates = 0
    for q, seq in by_queue.items():
        oks = sorted(ok_by_queue.get(q, []))
        seen = set()
        prev = None
        for t, i in seq:
            if i in sent_ok and sent_ok[i] != q:
                misplaced.append(i)
            if i in seen:
                duplicates += 1
            seen.add(i)
            if prev is not None and i <= prev and (kill_t is None or t < kill_t):
                rewinds_before_kill.append((q, prev, i))
            if prev is not None and i > prev:
                skipped = [j for j in oks if prev < j < i]
                if skipped:
                    gaps.append({"queue": q, "after": prev, "before": i, "skipped": skipped[:10]})
            prev = i
    received = {i for _, _, i in deliveries}
    missing = sorted(set(sent_ok) - received)
    return {
        "gaps": gaps,
        "rewinds_before_kill": rewinds_before_kill,
        "misplaced": sorted(set(misplaced)),
        "missing": missing[:20],
        "missing_count": len(missing),
        "duplicates": duplicates,
    }


def failover(args):
    client = load_client()
    kill_now = os.path.join(args.signal_dir, "kill-now")
    killed = os.path.join(args.signal_dir, "killed")
    inbox = queue.Queue()

    def on_message(msg):
        inbox.put((time.time(), msg.queue_id, index_of(msg.body)))

    p = client.Producer(args.group + "_producer", timeout=3000)
    p.set_namesrv_addr(args.namesrv)
    try:
        p.start()
    except Exception as e:
        die("producer start failed: %s" % e)
    chosen = {}

    def by_index(mq_size, msg, arg):
        i = ctypes.cast(arg, ctypes.POINTER(ctypes.c_int))[0]
        chosen[i] = i % mq_size
        return i % mq_size

    def kill_time():
        try:
            with open(killed) as f:
                return float(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    sent_ok, failed, ok_started = {}, {}, {}
    deliveries = []
    consumer = None
    kill_at = max(1, args.count // 3)
    ok_after_kill = 0
    t0 = time.monotonic()
    interval = 1.0 / args.rate
    i = 0

    def drain():
        while True:
            try:
                deliveries.append(inbox.get_nowait())
            except queue.Empty:
                return

    # Sends at RATE until COUNT are sent and at least --min-after-kill were sent OK after the
    # kill (the client learns the new master only at its 30 s route poll), or at the cap.
    while True:
        elapsed = time.monotonic() - t0
        if i >= args.count and (ok_after_kill >= args.min_after_kill or kill_time() is None):
            break
        if elapsed > args.max_send_secs:
            break
        if i == kill_at:
            open(kill_now, "w").close()
        msg = client.Message(args.topic)
        msg.set_tags("TagF")
        msg.set_keys("failover-%d" % i)
        msg.set_body(body_of(i))
        started = time.time()
        status = None
        for _ in range(20 if not sent_ok else 1):  # "No route info" on a brand-new topic
            try:
                status = p.send_orderly(msg, i, queue_selector=by_index).status.name
                break
            except Exception as e:
                status = "ERROR: %s" % str(e).splitlines()[0][:200]
                if sent_ok or "No route info" not in str(e):
                    break
                time.sleep(0.3)
        took = time.time() - started
        if status == "OK":
            sent_ok[i] = chosen.get(i)
            ok_started[i] = started
            kt = kill_time()
            if kt is not None and started > kt:
                ok_after_kill += 1
        else:
            failed[i] = status
        emit({"i": i, "status": "SEND_OK" if status == "OK" else status, "queue_id": chosen.get(i),
              "t": round(started, 3), "took_ms": int(took * 1000)})
        if consumer is None and sent_ok:
            # The topic exists now; a new group starts at offset 0 of a young queue.
            consumer = client.PushConsumer(args.group, orderly=True)
            consumer.set_namesrv_addr(args.namesrv)
            try:
                consumer.subscribe(args.topic, on_message)
                consumer.start()
            except Exception as e:
                die("orderly consumer start failed: %s" % e)
        drain()
        i += 1
        wait = t0 + i * interval - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    sending_secs = time.monotonic() - t0
    deadline = time.monotonic() + args.timeout_secs
    while time.monotonic() < deadline:
        drain()
        if set(sent_ok) <= {d[2] for d in deliveries}:
            break
        time.sleep(0.2)
    time.sleep(args.settle_secs)
    drain()
    for t, q, i in deliveries:
        emit({"delivered": i, "queue_id": q, "t": round(t, 3)})
    deliveries = [d for d in deliveries if d[2] is not None]
    kt = kill_time()
    v = failover_verdict(sent_ok, deliveries, kt)
    after = sorted(t for t, _, _ in deliveries if kt is not None and t > kt)
    ok_after = sorted(t for t in ok_started.values() if kt is not None and t > kt)
    queues = sorted({q for q in sent_ok.values() if q is not None})
    ok = (kt is not None and ok_after_kill > 0 and not v["gaps"] and not v["rewinds_before_kill"]
          and not v["misplaced"] and v["missing_count"] == 0 and len(sent_ok) > 0)
    received = {d[2] for d in deliveries}
    summary = {"summary": "failover", "client": CLIENT, "pass": ok, "sent": i,
               "send_ok": len(sent_ok), "send_failed": len(failed),
               "send_ok_after_kill": ok_after_kill,
               "failed_but_delivered": len(set(failed) & received),
               "received": len(received), "deliveries": len(deliveries),
               "duplicates": v["duplicates"], "queues": len(queues), "kill_at": kill_at,
               "kill_to_first_delivery_s": round(after[0] - kt, 1) if after else None,
               "kill_to_first_send_ok_s": round(ok_after[0] - kt, 1) if ok_after else None,
               "sending_s": round(sending_secs, 1), "gaps": v["gaps"][:5],
               "rewinds_before_kill": v["rewinds_before_kill"][:5], "misplaced": v["misplaced"][:10],
               "missing": v["missing"], "missing_count": v["missing_count"],
               "failures": sorted(set(failed.values()))[:4]}
    if kt is None:
        summary["error"] = "no leader was killed (no %s)" % killed
    elif ok_after_kill == 0:
        summary["error"] = "no send succeeded after the kill within %d s" % args.max_send_secs
    emit(summary)
    emit(summary, sys.stderr)
    return 0 if ok else 1


def broadcast(args):
    client = load_client()
    # The topic must exist before the consumers start: the C++ client looks a missing topic
    # up again only every 30 s, and then (no local offset, CONSUME_FROM_LAST_OFFSET fixed by
    # the C API) starts at the queues' end. One message, not counted, creates it.
    primer = producer_for(client, args)
    for _ in range(20):
        try:
            m = client.Message(args.topic)
            m.set_body("primer")
            primer.send_sync(m)
            break
        except Exception as e:
            if "No route info" not in str(e):
                die("could not create the topic: %s" % e)
            time.sleep(0.3)
    inboxes, consumers = [], []
    for n in range(args.consumers):
        inbox = queue.Queue()
        inboxes.append(inbox)

        def on_message(msg, inbox=inbox):
            inbox.put(index_of(msg.body))

        c = client.PushConsumer(args.group, message_model=client.MessageModel.BROADCASTING)
        c.set_namesrv_addr(args.namesrv)
        c.set_instance_name("broadcast-%d-%d" % (os.getpid(), n))
        try:
            c.subscribe(args.topic, on_message)
            c.start()
        except Exception as e:
            die("broadcasting consumer %d start failed: %s" % (n, e))
        consumers.append(c)
    # A broadcasting consumer without a local offset starts at the queue's end (the C API
    # fixes CONSUME_FROM_LAST_OFFSET): let each take its queues before anything is sent.
    time.sleep(args.warmup_secs)
    sent = send_all(client, args, orderly=False, p=primer)
    got = [set() for _ in consumers]
    deliveries = [0 for _ in consumers]
    deadline = time.monotonic() + args.timeout_secs
    while time.monotonic() < deadline and any(len(g) < len(sent) for g in got):
        for n, inbox in enumerate(inboxes):
            try:
                while True:
                    i = inbox.get_nowait()
                    deliveries[n] += 1
                    if i is not None:
                        got[n].add(i)
                        emit({"consumer": n, "i": i})
            except queue.Empty:
                pass
        time.sleep(0.2)
    ok = len(sent) == args.count and all(g == set(sent) for g in got)
    emit({"summary": "broadcast", "client": CLIENT, "pass": ok, "sent": len(sent),
          "received_per_consumer": [len(g) for g in got], "deliveries": deliveries})
    return 0 if ok else 1


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("ordered", "broadcast", "failover"):
        p = sub.add_parser(name)
        p.add_argument("--namesrv", required=True)
        p.add_argument("--topic", required=True)
        p.add_argument("--group", required=True)
        p.add_argument("--count", type=int, default=200)
        p.add_argument("--timeout-secs", type=int, default=90)
        p.add_argument("--settle-secs", type=int, default=3)
        if name == "broadcast":
            p.add_argument("--consumers", type=int, default=2)
            p.add_argument("--warmup-secs", type=int, default=8)
        if name == "failover":
            p.add_argument("--signal-dir", required=True)
            p.add_argument("--rate", type=float, default=10.0)
            p.add_argument("--min-after-kill", type=int, default=30)
            p.add_argument("--max-send-secs", type=int, default=85)
    args = ap.parse_args(argv)
    start_watchdog(args.timeout_secs + 180)
    code = {"ordered": ordered, "broadcast": broadcast, "failover": failover}[args.command](args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
