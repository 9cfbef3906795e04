#!/usr/bin/env python3
"""Delay levels through the C++ client (PyPI rocketmq==0.4.4): `set_delay_time_level` honoured.

A probe message creates the topic and proves a push consumer is pulling; then a message with
delay level 2 (5 s by RocketMQ's default levels) is sent with `Message.set_delay_time_level`,
and it must reach the consumer within --tolerance-ms of 5 s after the send. One JSON line per
delivery on stdout, a JSON summary on stderr; exit 0 only if the check held.

  delay.py --namesrv ADDR --topic T --group G [--tolerance-ms 500]
"""

import argparse
import os
import queue
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compat  # noqa: E402  (the harness's loader, watchdog and output helpers)


def send(producer, msg):
    """Sends msg; the time just before the send that succeeded. Retries the client's "No
    route info" race on a new topic, and a send the broker refused (e.g. while the group
    elects a new leader under load), which stored nothing; the produce checks already count
    refused sends."""
    last = None
    for _ in range(10):
        t = int(time.time() * 1000)
        try:
            result = producer.send_sync(msg)
        except Exception as e:  # the binding raises its own RocketMQException subclasses
            last = e
            time.sleep(0.3 if "No route info" in str(e) else 0.5)
            continue
        if result.status.name != "OK":
            raise RuntimeError("send status %s" % compat.status_name(result.status))
        return t
    raise RuntimeError("send failed 10 times, last: %s" % last)


def wait_for(inbox, key, secs):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            d = inbox.get(timeout=0.2)
        except queue.Empty:
            continue
        compat.emit(d)
        if d["keys"] == key:
            return d
    return None


def main(argv):
    ap = argparse.ArgumentParser(prog="delay.py", description=__doc__.splitlines()[0])
    ap.add_argument("--namesrv", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--tolerance-ms", type=int, default=500)
    args = ap.parse_args(argv)
    compat.start_watchdog(150)
    client = compat.load_client()

    producer = client.Producer("compat_cpp_delay_producer", timeout=3000)
    producer.set_namesrv_addr(args.namesrv)
    producer.start()

    def message(key, level=None):
        m = client.Message(args.topic)
        m.set_tags("TagD")
        m.set_keys(key)
        m.set_body("scheduled %s" % key)
        if level is not None:
            m.set_delay_time_level(level)
        return m

    checks = []
    try:
        send(producer, message("probe"))
    except Exception as e:
        compat.die("probe send failed: %s" % e, 1)

    inbox = queue.Queue()

    def on_message(msg):
        inbox.put({"keys": compat.text(msg.keys), "reconsume_times": msg.reconsume_times,
                   "t_ms": int(time.time() * 1000)})

    consumer = client.PushConsumer(args.group)
    consumer.set_namesrv_addr(args.namesrv)
    consumer.subscribe(args.topic, on_message, "*")
    consumer.start()
    if wait_for(inbox, "probe", 60) is None:
        checks.append({"check": "probe", "ok": False, "error": "the probe never arrived"})
    else:
        try:
            sent = send(producer, message("level2", 2))
        except Exception as e:
            checks.append({"check": "level2", "ok": False, "error": str(e)})
            sent = None
        if sent is not None:
            due = sent + 5000
            d = wait_for(inbox, "level2", 20)
            if d is None:
                checks.append({"check": "level2", "ok": False, "error": "never delivered"})
            else:
                off = d["t_ms"] - due
                checks.append({"check": "level2", "ok": abs(off) <= args.tolerance_ms,
                               "due_ms": due, "received_ms": d["t_ms"], "off_ms": off})
    ok = bool(checks) and all(c["ok"] for c in checks)
    compat.emit({"summary": "delay", "client": compat.CLIENT, "topic": args.topic, "ok": ok,
                 "tolerance_ms": args.tolerance_ms, "checks": checks}, sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1:])
