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
    for name in ("ordered", "broadcast"):
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
    args = ap.parse_args(argv)
    start_watchdog(args.timeout_secs + 180)
    code = ordered(args) if args.command == "ordered" else broadcast(args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
