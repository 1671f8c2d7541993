#!/usr/bin/python3
"""Tests of tools/ab_env.py's interval for a median of paired ratios."""

import os
import random
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ab_env  # noqa: E402


class MedianIntervalTest(unittest.TestCase):
    def test_too_few_rounds_give_none(self):
        self.assertIsNone(ab_env.median_interval([1.0, 1.1, 0.9, 1.2, 1.05]))

    def test_order_statistics_by_the_binomial_tails(self):
        # 6 values: the extremes (each tail 1/64 <= 2.5 %); 10: the second
        # smallest and second largest (11/1024); 16: the fourth (697/65536).
        self.assertEqual(ab_env.median_interval([6, 1, 5, 2, 4, 3]), (1, 6))
        self.assertEqual(ab_env.median_interval(list(range(10, 0, -1))), (2, 9))
        self.assertEqual(ab_env.median_interval(list(range(1, 17))), (4, 13))

    def test_covers_the_median_at_least_as_often_as_it_says(self):
        rng = random.Random(1)
        misses = 0
        trials = 4000
        for _ in range(trials):
            values = [rng.gauss(1.0, 0.1) for _ in range(10)]
            low, high = ab_env.median_interval(values)
            misses += not low <= 1.0 <= high
        self.assertLess(misses / trials, 0.05)
        self.assertGreater(misses / trials, 0.005)  # an interval, not everything

    def test_verdict(self):
        self.assertEqual(ab_env.verdict((1.01, 1.2)), ">")
        self.assertEqual(ab_env.verdict((0.8, 0.99)), "<")
        self.assertEqual(ab_env.verdict((0.98, 1.05)), "~")
        self.assertEqual(ab_env.verdict(None), "")


if __name__ == "__main__":
    unittest.main()
