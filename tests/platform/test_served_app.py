"""The application as `onewindow serve` builds it: start-up objects frozen, collector thresholds raised, its
background threads."""

from __future__ import annotations

import gc
import threading

import pytest
from fastapi.testclient import TestClient

from onewindow.app import COLLECTOR_THRESHOLDS, create_app, served_app
from onewindow.config import Settings, get_settings


def test_the_served_application_tunes_the_collector(monkeypatch, tmp_path):
    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", f"sqlite:///{tmp_path / 'ow.db'}")
    get_settings.cache_clear()
    before = gc.get_threshold()
    try:
        app = served_app()
        assert app.title == "OneWindow"
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
        get_settings.cache_clear()


@pytest.mark.parametrize(("scheduler_thread", "expected"), [
    (True, {"onewindow-relay", "onewindow-scheduler"}),
    (False, {"onewindow-relay"}),  # a worker of `onewindow serve --workers N`: the scheduler runs beside it
])
def test_a_server_process_runs_the_relay_and_the_scheduler_unless_it_runs_in_its_own(db, database_url, clock,
                                                                                     scheduler_thread, expected):
    app = create_app(Settings(database_url=database_url, scheduler_thread=scheduler_thread), clock=clock, engine=db)
    before = set(threading.enumerate())
    with TestClient(app):
        started = {t.name for t in threading.enumerate() if t not in before}
    assert started & {"onewindow-relay", "onewindow-scheduler"} == expected
