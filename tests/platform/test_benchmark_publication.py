"""The HTTP benchmarks measure after the server's first publication of the clearance figures
(``bench/common.first_publication_made``): work a server does once at start, left out of a measured part of a
few seconds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from onewindow.clock import SystemClock
from onewindow.config import Settings
from onewindow.db import make_session_factory
from onewindow.timing import publication
from onewindow.timing.projection import local_day
from tests.bench import bench_module


def test_the_benchmarks_wait_for_the_servers_first_publication_of_the_standard_set(db, database_url, monkeypatch):
    common = bench_module("common")
    monkeypatch.setenv("ONEWINDOW_EMBEDDED_SCHEDULER", "false")
    assert common.first_publication_made(database_url, timeout=0) == 0  # a server without a scheduler: no wait
    monkeypatch.setenv("ONEWINDOW_EMBEDDED_SCHEDULER", "true")
    with pytest.raises(TimeoutError, match="published 0 of the"):
        common.first_publication_made(database_url, timeout=0.2)

    settings = Settings(database_url=database_url)
    scheduler_round = threading.Timer(0.3, publication.refresh, (make_session_factory(db), SystemClock(), settings))
    scheduler_round.start()
    try:
        made = common.first_publication_made(database_url, timeout=60)
    finally:
        scheduler_round.join()
    wanted = publication.standard_set(local_day(datetime.now(UTC), settings.clearance_timezone),
                                      settings.clearance_min_group)
    assert made == len(wanted) > 0
