"""Tests of the failover judge in cpp-client/ordered.py (python3 -m unittest discover -s compat
-p 'test_*.py'); it needs no client library."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "cpp-client"))
from ordered import failover_verdict  # noqa: E402

KILL = 100.0


def deliveries(*items):
    """items: (t, queue, i)."""
    return list(items)


class FailoverVerdict(unittest.TestCase):
    def test_in_order_passes(self):
        sent = {0: 0, 1: 1, 4: 0, 5: 1, 8: 0}
        v = failover_verdict(sent, deliveries((1, 0, 0), (2, 1, 1), (3, 0, 4), (4, 1, 5), (101, 0, 8)), KILL)
        self.assertEqual(v["gaps"], [])
        self.assertEqual(v["missing_count"], 0)
        self.assertEqual(v["duplicates"], 0)

    def test_skipped_send_ok_message_is_a_gap(self):
        sent = {0: 0, 4: 0, 8: 0}
        v = failover_verdict(sent, deliveries((1, 0, 0), (101, 0, 8), (102, 0, 4)), KILL)
        self.assertEqual(v["gaps"], [{"queue": 0, "after": 0, "before": 8, "skipped": [4]}])

    def test_failed_send_may_be_skipped_or_delivered(self):
        sent = {0: 0, 8: 0}  # 4 failed
        self.assertEqual(failover_verdict(sent, deliveries((1, 0, 0), (101, 0, 8)), KILL)["gaps"], [])
        v = failover_verdict(sent, deliveries((1, 0, 0), (101, 0, 4), (102, 0, 8)), KILL)
        self.assertEqual(v["gaps"], [])

    def test_missing_message_fails(self):
        v = failover_verdict({0: 0, 4: 0}, deliveries((1, 0, 0)), KILL)
        self.assertEqual(v["missing"], [4])

    def test_redelivery_after_kill_is_counted_and_must_not_skip(self):
        sent = {0: 0, 4: 0, 8: 0, 12: 0}
        ok = deliveries((1, 0, 0), (2, 0, 4), (101, 0, 4), (102, 0, 8), (103, 0, 12))
        v = failover_verdict(sent, ok, KILL)
        self.assertEqual((v["duplicates"], v["gaps"], v["rewinds_before_kill"]), (1, [], []))
        bad = deliveries((1, 0, 0), (2, 0, 4), (101, 0, 0), (102, 0, 8), (103, 0, 12))
        self.assertEqual(failover_verdict(sent, bad, KILL)["gaps"],
                         [{"queue": 0, "after": 0, "before": 8, "skipped": [4]}])

    def test_step_back_before_the_kill_fails(self):
        v = failover_verdict({0: 0, 4: 0}, deliveries((1, 0, 4), (2, 0, 0)), KILL)
        self.assertEqual(v["rewinds_before_kill"], [(0, 4, 0)])

    def test_message_on_the_wrong_queue_fails(self):
        v = failover_verdict({0: 0, 1: 1}, deliveries((1, 0, 0), (2, 0, 1)), KILL)
        self.assertEqual(v["misplaced"], [1])


if __name__ == "__main__":
    unittest.main()
