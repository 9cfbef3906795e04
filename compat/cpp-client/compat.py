#!/usr/bin/env python3
"""Drive Apache rocketmq-client-cpp (as bundled in PyPI `rocketmq==0.4.4`) against a
RocketMQ-compatible name server and broker; print one JSON line per message.

The wheel ships the C++ client itself (`rocketmq/librocketmq.so`, with its own zlib under
`rocketmq/.libs/`) and the Python package only wraps its C API through ctypes, so what
talks to the broker here is the C++ client, unmodified. Subcommands and output match
`compat/rust-client` (see compat/README.md):

  produce --namesrv ADDR --topic T --count N [--tag TagA] [--key-prefix K] [--interval-ms MS]
  consume --namesrv ADDR --topic T --group G --expect N --timeout-secs S [--settle-secs S]

stdout carries only JSON lines; a JSON summary and diagnostics go to stderr. The C++
library writes its own log under $HOME/logs/rocketmq-cpp/. Every run is bounded: a
watchdog ends the process if the library hangs (exit 124).
"""

import argparse
import json
import os
import queue
import re
import sys
import threading
import time

CLIENT = "rocketmq-client-cpp via PyPI rocketmq 0.4.4"
EXIT_SETUP = 2
EXIT_WATCHDOG = 124
BODY_RE = re.compile(rb"^Hello RocketMQ ([0-9]{1,19})$")

# The C++ client cannot be told to start a new group at the first offset: the C API
# (CreatePushConsumer) fixes CONSUME_FROM_LAST_OFFSET and the binding has no setter. A new
# group still reads from offset 0 when the broker answers QUERY_CONSUMER_OFFSET with 0 for
# a young queue, as the Java broker does (protocol reference, section 3.3).
CPP_CONSUME_FROM = "CONSUME_FROM_LAST_OFFSET (fixed by the C API)"


def emit(obj, stream=sys.stdout):
    stream.write(json.dumps(obj, sort_keys=True) + "\n")
    stream.flush()


def die(msg, code=EXIT_SETUP):
    sys.stderr.write("cpp-compat: %s\n" % msg)
    sys.stderr.flush()
    os._exit(code)


# Summary of the run so far; the watchdog prints it if it has to end the process.
PROGRESS = {}


def start_watchdog(limit_secs):
    """End the process after limit_secs even if a blocking C call never returns."""

    def fire():
        sys.stderr.write(
            "cpp-compat: watchdog: still running after %d s; the client library is stuck "
            "(a send or shutdown call never returned), exiting\n" % limit_secs
        )
        if PROGRESS:
            PROGRESS["aborted"] = "watchdog after %d s" % limit_secs
            emit(PROGRESS, sys.stderr)
        sys.stderr.flush()
        os._exit(EXIT_WATCHDOG)

    t = threading.Timer(limit_secs, fire)
    t.daemon = True
    t.start()


def load_client():
    try:
        from rocketmq import client  # noqa: WPS433 (import here so --help works without it)
    except (ImportError, OSError) as e:
        die(
            "cannot load the C++ client (pip install rocketmq==0.4.4 into this Python; "
            "librocketmq.so needs libstdc++6): %s" % e
        )
    return client


def text(value):
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def status_name(status):
    # rocketmq.client.SendStatus: OK, FLUSH_DISK_TIMEOUT, FLUSH_SLAVE_TIMEOUT, SLAVE_NOT_AVAILABLE;
    # printed with the Java/Rust names so both clients' output reads the same.
    return "SEND_OK" if status.name == "OK" else status.name


def body_of(i):
    return "Hello RocketMQ %d" % i


def apply_credentials(client_obj, args):
    """ACL: sign every request with --access-key/--secret-key (the binding's
    set_session_credentials, i.e. the C++ client's SessionCredentials; channel "ALIYUN"
    is the binding's default and only names the signature scheme, HmacSHA1)."""
    if args.access_key is None and args.secret_key is None:
        return
    if not args.access_key or not args.secret_key:
        die("--access-key and --secret-key go together")
    client_obj.set_session_credentials(args.access_key, args.secret_key, "ALIYUN")


def produce(args):
    client = load_client()
    started = time.monotonic()
    deadline = started + args.timeout_secs
    producer = client.Producer(args.group, timeout=args.send_timeout_ms)
    producer.set_namesrv_addr(args.namesrv)
    apply_credentials(producer, args)
    try:
        producer.start()
    except Exception as e:  # the binding raises its own RocketMQException subclasses
        die("producer start failed: %s" % e)

    ok = failed = consecutive = 0
    aborted = None
    PROGRESS.update({"summary": "produce", "client": CLIENT, "topic": args.topic, "requested": args.count})
    for i in range(args.count):
        PROGRESS.update({"sent_ok": ok, "failed": failed, "in_flight": i})
        if time.monotonic() >= deadline:
            aborted = "deadline of %d s reached" % args.timeout_secs
            break
        keys = "%s%d %s-all" % (args.key_prefix, i, args.key_prefix)
        msg = client.Message(args.topic)
        msg.set_tags(args.tag)
        msg.set_keys(keys)
        msg.set_body(body_of(i))
        attempts = 0
        t0 = time.monotonic()
        while True:
            attempts += 1
            t_attempt = time.monotonic()
            try:
                result = producer.send_sync(msg)
                error = None
            except Exception as e:
                result, error = None, str(e)
            # "No route info" is raised before anything is sent (known client-side race on a
            # brand-new topic, protocol reference section 12), so retrying it cannot duplicate.
            # Only a fast failure is that race; a slow one means the name server did not answer
            # (the client waits 5 s per GET_ROUTEINFO_BY_TOPIC) and retrying would only stall.
            fast = time.monotonic() - t_attempt < 1.0
            if (
                error is not None
                and "No route info" in error
                and fast
                and attempts <= args.route_retries
                and time.monotonic() < deadline
            ):
                time.sleep(0.2)
                continue
            break
        elapsed_ms = int((time.monotonic() - t0) * 1000)
        if result is not None and result.status.name == "OK":
            ok += 1
            consecutive = 0
        else:
            failed += 1
            consecutive += 1
        # Wall-clock completion time, to line sends up against faults injected from outside
        # (scripts/client-failover-rto.sh), as the Rust program's lines carry it too.
        t_ms = int(time.time() * 1000)
        if result is not None:
            emit(
                {
                    "t_ms": t_ms,
                    "i": i,
                    "msg_id": result.msg_id,
                    # The C API's send result carries neither offsetMsgId nor queueId.
                    "offset_msg_id": None,
                    "status": status_name(result.status),
                    "queue_id": None,
                    "queue_offset": result.offset,
                    "broker": None,
                    "tags": args.tag,
                    "keys": keys,
                    "attempts": attempts,
                    "elapsed_ms": elapsed_ms,
                }
            )
        else:
            emit({"t_ms": t_ms, "i": i, "status": "ERROR", "error": error, "attempts": attempts,
                  "elapsed_ms": elapsed_ms})
        if consecutive >= args.max_consecutive_failures:
            aborted = "%d sends failed in a row" % consecutive
            break
        if args.interval_ms > 0:
            time.sleep(args.interval_ms / 1000.0)

    emit(
        {
            "summary": "produce",
            "client": CLIENT,
            "topic": args.topic,
            "requested": args.count,
            "sent_ok": ok,
            "failed": failed,
            "not_attempted": args.count - ok - failed,
            "aborted": aborted,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        },
        sys.stderr,
    )
    try:
        producer.shutdown()
    except Exception as e:
        sys.stderr.write("cpp-compat produce: producer shutdown failed: %s\n" % e)
    return 0 if ok == args.count else 1


class Tally(object):
    """Distinct msgIds with intact bodies; duplicates never count as progress."""

    def __init__(self, expect):
        self.expect = expect
        self.deliveries = {}  # msg_id -> [count, intact_seen]
        self.intact = 0
        self.bodies = set()
        self.duplicates = 0
        self.corrupt = 0
        self.total = 0

    def record(self, msg_id, body):
        self.total += 1
        entry = self.deliveries.setdefault(msg_id, [0, False])
        entry[0] += 1
        if entry[0] > 1:
            self.duplicates += 1
        m = BODY_RE.match(body or b"")
        if m is None:
            self.corrupt += 1
            return False
        if not entry[1]:
            entry[1] = True
            self.intact += 1
        self.bodies.add(int(m.group(1)))
        return True

    def complete(self):
        return self.intact >= self.expect

    def missing(self):
        ranges, start = [], None
        for i in range(self.expect + 1):
            gap = i < self.expect and i not in self.bodies
            if gap and start is None:
                start = i
            elif not gap and start is not None:
                ranges.append(str(start) if start == i - 1 else "%d-%d" % (start, i - 1))
                start = None
        count = sum(1 for i in range(self.expect) if i not in self.bodies)
        return count, ",".join(ranges)


def consume(args):
    client = load_client()
    started = time.monotonic()
    inbox = queue.Queue()

    def on_message(msg):
        # Runs on a C++ consume thread; the message handle is valid only during this call,
        # so copy everything out now. Returning normally answers CONSUME_SUCCESS.
        inbox.put(
            {
                "msg_id": text(msg.id),
                "body": msg.body,
                "tags": text(msg.tags),
                "keys": text(msg.keys),
                "queue_id": msg.queue_id,
                "queue_offset": msg.queue_offset,
                "reconsume_times": msg.reconsume_times,
                # When the client handed it to the application (wall clock), for the
                # consumer-side failover measurement.
                "t_ms": int(time.time() * 1000),
            }
        )

    consumer = client.PushConsumer(args.group)  # CLUSTERING is the binding's default
    consumer.set_namesrv_addr(args.namesrv)
    apply_credentials(consumer, args)
    try:
        consumer.subscribe(args.topic, on_message, args.subscription)
        consumer.start()
    except Exception as e:
        die("consumer start failed: %s" % e)

    tally = Tally(args.expect)
    deadline = started + args.timeout_secs
    settle_until = None
    first_ms = complete_ms = None
    if tally.complete():
        complete_ms = 0
        settle_until = time.monotonic() + args.settle_secs
    while True:
        until = settle_until if settle_until is not None else deadline
        remaining = until - time.monotonic()
        if remaining <= 0:
            break
        try:
            d = inbox.get(timeout=min(remaining, 1.0))
        except queue.Empty:
            continue
        intact = tally.record(d["msg_id"], d["body"])
        if first_ms is None:
            first_ms = int((time.monotonic() - started) * 1000)
        d["body"] = text(d["body"])
        d["intact"] = intact
        emit(d)
        if settle_until is None and tally.complete():
            complete_ms = int((time.monotonic() - started) * 1000)
            settle_until = time.monotonic() + args.settle_secs

    missing_count, missing_ranges = tally.missing()
    complete = tally.complete()
    emit(
        {
            "summary": "consume",
            "client": CLIENT,
            "topic": args.topic,
            "group": args.group,
            "consume_from_where": CPP_CONSUME_FROM,
            "expected": args.expect,
            "distinct_intact": tally.intact,
            "deliveries": tally.total,
            "duplicates": tally.duplicates,
            "corrupt": tally.corrupt,
            "missing_count": missing_count,
            "missing_bodies": missing_ranges,
            "timed_out": not complete,
            "first_message_ms": first_ms,
            "complete_ms": complete_ms,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        },
        sys.stderr,
    )
    if not complete:
        sys.stderr.write(
            "cpp-compat consume: timed out after %d s: %d of %d distinct messages received intact; "
            "missing bodies (by i): %s\n" % (args.timeout_secs, tally.intact, args.expect, missing_ranges[:400])
        )
        if tally.total == 0:
            sys.stderr.write(
                "cpp-compat consume: nothing at all arrived; check that the name server at %s answers, "
                "knows a route for topic %s, and that QUERY_CONSUMER_OFFSET gives a new group offset 0 "
                "(the C++ client starts a new group at the max offset otherwise); client log: "
                "$HOME/logs/rocketmq-cpp/\n" % (args.namesrv, args.topic)
            )
    sys.stderr.flush()
    # Shut down last (it persists offsets and unregisters the client): against a server that
    # does not answer it can take many seconds, and the verdict must be out before that.
    try:
        consumer.shutdown()
    except Exception as e:
        sys.stderr.write("cpp-compat consume: consumer shutdown failed: %s\n" % e)
    return 0 if complete else 1


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="compat.py",
        description="Produce and push-consume with rocketmq-client-cpp (PyPI rocketmq 0.4.4); "
        "one JSON line per message.",
    )
    sub = ap.add_subparsers(dest="command")
    sub.required = True

    p = sub.add_parser("produce", help='sync-send COUNT messages with body "Hello RocketMQ <i>", a tag and keys')
    p.add_argument("--namesrv", required=True, help="name server address host:port (several separated by ';')")
    p.add_argument("--access-key", help="ACL access key (set_session_credentials)")
    p.add_argument("--secret-key", help="ACL secret key")
    p.add_argument("--topic", required=True)
    p.add_argument("--count", required=True, type=int, help="how many messages (i = 0..COUNT-1)")
    p.add_argument("--tag", default="TagA")
    p.add_argument("--key-prefix", default="KEY", help='keys of message i are "<K><i>" and "<K>-all"')
    p.add_argument("--group", default="compat_cpp_producer")
    p.add_argument("--send-timeout-ms", type=int, default=3000, help="the client's sendMsgTimeout")
    p.add_argument("--route-retries", type=int, default=5,
                   help='retries of a send that failed with "No route info" (nothing was sent)')
    p.add_argument("--max-consecutive-failures", type=int, default=5,
                   help="give up after this many failed sends in a row")
    p.add_argument("--timeout-secs", type=int, default=120, help="deadline for the whole run")
    p.add_argument("--interval-ms", type=int, default=0,
                   help="pause between sends (0: back to back); a paced run shows when sends resume "
                   "after a node is killed (scripts/client-failover-rto.sh)")

    c = sub.add_parser("consume", help="push-consume until EXPECT distinct messages arrived intact")
    c.add_argument("--namesrv", required=True)
    c.add_argument("--access-key", help="ACL access key (set_session_credentials)")
    c.add_argument("--secret-key", help="ACL secret key")
    c.add_argument("--topic", required=True)
    c.add_argument("--group", required=True)
    c.add_argument("--expect", required=True, type=int)
    c.add_argument("--timeout-secs", required=True, type=int)
    c.add_argument("--settle-secs", type=int, default=0,
                   help="after the last expected message, keep listening this long for redeliveries")
    c.add_argument("--subscription", default="*", help='"*" or "TagA || TagB"')
    return ap.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    if args.command == "produce":
        start_watchdog(args.timeout_secs + 30)
        code = produce(args)
    else:
        start_watchdog(args.timeout_secs + args.settle_secs + 60)
        code = consume(args)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the binding's __del__ methods call into the C++ library
    # again (shutdown/destroy) in an order that is not ours to control.
    os._exit(code)


if __name__ == "__main__":
    main(sys.argv[1:])
