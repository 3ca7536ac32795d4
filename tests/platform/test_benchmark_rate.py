"""The committed match's benchmark with decisions arriving at a rate (``bench/committed_match.py --rate``): each
decision waits for its arrival, and its latency counts from that arrival, the wait for a late start
included."""

from __future__ import annotations

import time

from tests.bench import bench_module


def test_decisions_arriving_at_a_rate_wait_for_their_arrival_and_count_from_it():
    committed_match, common = bench_module("committed_match"), bench_module("common")
    url = common.fresh_database("sqlite", "onewindow_test_rate")
    parties = committed_match.Parties(url)
    try:
        pending = [committed_match.set_up(parties, seed) for seed in range(3)]

        arrived = time.perf_counter() - 0.3  # a decision that arrived while the one before still ran
        wall, cpu, _ = committed_match.last_decision(parties, *pending[0], due=arrived)
        assert wall >= 0.3 > cpu

        start = time.perf_counter()
        timed = committed_match.timed_decisions(parties, pending[1:], rate=4)
        assert time.perf_counter() - start >= 0.25  # the second arrives a quarter of a second after the first
        assert all(wall < 0.25 for wall, _, _ in timed)  # neither counts the time before its arrival
    finally:
        parties.engine.dispose()
        common.drop_database(url)
