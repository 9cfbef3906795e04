"""Tests of the judge (verify.py) on hand-made client output.

Run: python3 -m unittest discover -s compat -p 'test_*.py'   (standard library only)
"""

import io
import json
import os
import tempfile
import unittest
from contextlib import redirect_stdout

import verify


def sent(i, msg_id=None, queue_id=None, queue_offset=None, offset_msg_id=None, status="SEND_OK"):
    return {
        "i": i,
        "msg_id": msg_id or "ID%04d" % i,
        "offset_msg_id": offset_msg_id,
        "status": status,
        "queue_id": queue_id,
        "queue_offset": i if queue_offset is None else queue_offset,
        "broker": "RaftNode00" if queue_id is not None else None,
        "tags": "TagA",
        "keys": "k%d k-all" % i,
    }


def got(p, **over):
    d = {
        "msg_id": p["msg_id"],
        "body": "Hello RocketMQ %d" % p["i"],
        "tags": p["tags"],
        "keys": p["keys"],
        "queue_id": p["queue_id"] if p["queue_id"] is not None else 0,
        "queue_offset": p["queue_offset"],
    }
    d.update(over)
    return d


class VerifyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)

    def write(self, name, rows):
        path = os.path.join(self.dir.name, name)
        with open(path, "w") as f:
            for r in rows:
                f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")
        return path

    def run_verify(self, argv):
        out = io.StringIO()
        with redirect_stdout(out):
            rc = verify.main(argv)
        return rc, out.getvalue()

    def produce(self, rows, count):
        p = self.write("p.jsonl", rows)
        return self.run_verify(["produce", "--produced", p, "--count", str(count), "--label", "t"])

    def consume(self, prod, cons):
        p = self.write("p.jsonl", prod)
        c = self.write("c.jsonl", cons)
        return self.run_verify(["consume", "--produced", p, "--consumed", c, "--label", "t"])

    # Rust-client shape: queue ids and offsetMsgIds; two queues, offsets 0,1,2 in each.
    def rust_rows(self, n=6):
        rows = []
        for i in range(n):
            rows.append(sent(i, queue_id=i % 2, queue_offset=i // 2,
                             offset_msg_id="7F000001%08X%016X" % (10911, i * 100)))
        return rows

    def test_produce_pass_rust_shape(self):
        rc, out = self.produce(self.rust_rows(), 6)
        self.assertEqual(rc, 0, out)
        self.assertIn("PASS t: 6/6 sent SEND_OK", out)
        self.assertIn("stored by 127.0.0.1:10911 (6)", out)

    def test_produce_pass_cpp_shape(self):
        rc, out = self.produce([sent(i, queue_offset=i // 4) for i in range(8)], 8)
        self.assertEqual(rc, 0, out)

    def test_produce_fails_on_gap_error_or_short_count(self):
        rows = self.rust_rows()
        rows[2]["queue_offset"] = 5  # queue 0: 0,5,2
        rc, out = self.produce(rows, 6)
        self.assertEqual(rc, 1)
        self.assertIn("queue RaftNode00/0", out)
        rc, out = self.produce(self.rust_rows()[:5] + [{"i": 5, "status": "ERROR", "error": "boom"}], 6)
        self.assertEqual(rc, 1)
        self.assertIn("5/6 sent SEND_OK, 1 failed", out)
        self.assertIn("boom", out)

    def test_produce_fails_on_repeated_msg_id_and_bad_offset_msg_id(self):
        rows = self.rust_rows()
        rows[1]["msg_id"] = rows[0]["msg_id"]
        rows[3]["offset_msg_id"] = "nothex"
        rc, out = self.produce(rows, 6)
        self.assertEqual(rc, 1)
        self.assertIn("returned twice", out)
        self.assertIn("not 32/56 uppercase hex", out)

    def test_consume_pass_any_order(self):
        prod = self.rust_rows()
        rc, out = self.consume(prod, [got(p) for p in reversed(prod)])
        self.assertEqual(rc, 0, out)
        self.assertIn("6 sent, 6 distinct received in 6 deliveries", out)

    def test_consume_fails_on_missing_duplicate_unexpected_or_changed(self):
        prod = self.rust_rows()
        cons = [got(p) for p in prod[1:]]  # i=0 missing
        cons.append(got(prod[1]))  # duplicate
        cons.append({"msg_id": "STRANGER", "body": "x"})  # unexpected
        cons[1]["body"] = "Hello RocketMQ 99"  # i=2 changed
        cons[2]["keys"] = "other"  # i=3 changed
        rc, out = self.consume(prod, cons)
        self.assertEqual(rc, 1)
        self.assertIn("missing 1, duplicated 1, unexpected 1, mismatched 2", out)
        self.assertIn("never delivered: i = [0]", out)

    def test_consume_checks_queue_offset_but_not_queue_id_for_cpp(self):
        prod = [sent(i, queue_offset=i // 2) for i in range(4)]
        cons = [got(p, queue_id=7) for p in prod]
        rc, out = self.consume(prod, cons)
        self.assertEqual(rc, 0, out)
        cons[0]["queue_offset"] = 3
        rc, out = self.consume(prod, cons)
        self.assertEqual(rc, 1)

    def test_consume_accepts_a_redelivery_through_the_retry_topic(self):
        prod = self.rust_rows(3)
        cons = [got(p) for p in prod]
        cons[1].update(queue_id=0, queue_offset=0, reconsume_times=1)  # %RETRY%<group> queue 0
        rc, out = self.consume(prod, cons)
        self.assertEqual(rc, 0, out)
        self.assertIn("1 came through the retry topic", out)
        cons[1]["body"] = "Hello RocketMQ 7"
        rc, out = self.consume(prod, cons)
        self.assertEqual(rc, 1)

    def test_nothing_sent_is_a_failure_and_garbage_lines_are_reported(self):
        rc, out = self.consume([{"i": 0, "status": "ERROR"}], [])
        self.assertEqual(rc, 1)
        self.assertIn("nothing was sent OK", out)
        prod = self.rust_rows(2)
        rc, out = self.consume(prod, [got(p) for p in prod] + ["not json"])
        self.assertEqual(rc, 1)
        self.assertIn("not JSON", out)


if __name__ == "__main__":
    unittest.main()
