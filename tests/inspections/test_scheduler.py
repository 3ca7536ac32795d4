"""Deadlines pass without anyone calling: the scheduler thread and `onewindow worker` close match windows."""

from __future__ import annotations

import time

from typer.testing import CliRunner

from onewindow.config import get_settings
from onewindow.db import make_session_factory
from onewindow.scheduler import Scheduler, tick
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
API = "/api/v1"


def _lone_decision(client, world, seed):
    entry = sample_entry(seed=seed, containers=2)
    filing = client.post(f"{API}/filings", json=entry, headers=world.headers(ENT)).json()
    client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT))
    ids = {d["agency"]: d["id"] for d in filing["declarations"]}
    client.post(f"{API}/declarations/{ids['customs']}/accept", headers=world.headers("0916"))
    client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=world.headers("210600"))
    first = entry["containers"][0]["number"]
    answer = client.post(f"{API}/declarations/{ids['customs']}/decision",
                         json={"inspect": True, "containers": [first], "kind": "physical"},
                         headers=world.headers("0916"))
    assert answer.status_code == 201, answer.text
    return filing["id"]


def _inspections(client, world, filing_id):
    return client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)).json()


def test_the_scheduler_thread_closes_the_match_window(client, world, db, clock, settings):
    filing_id = _lone_decision(client, world, seed=41)
    scheduler = Scheduler(make_session_factory(db), clock, settings.model_copy(update={
        "scheduler_interval_seconds": 0.05}))
    scheduler.start()
    try:
        time.sleep(0.3)
        assert _inspections(client, world, filing_id) == []  # the window is still open
        clock.advance(seconds=settings.match_window_seconds + 1)
        deadline = time.monotonic() + 10
        while not _inspections(client, world, filing_id) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.stop()
    [single] = _inspections(client, world, filing_id)
    assert single["agencies"] == ["customs"] and not single["joint"]


def test_two_ticks_at_once_match_a_decision_once(client, world, db, clock, settings):
    import threading

    filing_id = _lone_decision(client, world, seed=42)
    clock.advance(seconds=settings.match_window_seconds + 1)
    factory = make_session_factory(db)
    barrier = threading.Barrier(2)

    def round_():
        barrier.wait()
        tick(factory, clock, settings)

    threads = [threading.Thread(target=round_) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(_inspections(client, world, filing_id)) == 1


def _worker_once(monkeypatch, **env: str) -> str:
    """``onewindow worker --once`` with ``env`` (``ONEWINDOW_<NAME>``) set; its output, once it succeeded."""
    for name, value in env.items():
        monkeypatch.setenv(f"ONEWINDOW_{name.upper()}", value)
    get_settings.cache_clear()
    try:
        from onewindow.cli import app

        result = CliRunner().invoke(app, ["worker", "--once"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def test_the_worker_command_runs_one_round(client, world, database_url, monkeypatch):
    filing_id = _lone_decision(client, world, seed=43)  # decided at the frozen time, long before the real now
    output = _worker_once(monkeypatch, database_url=database_url)
    assert '"match_windows_closed": 1' in output  # by the real clock the window passed long ago
    assert len(_inspections(client, world, filing_id)) == 1


def test_the_worker_command_keeps_the_platforms_simulated_time(client, world, database_url, clock, monkeypatch):
    """``ONEWINDOW_CLOCK_START`` (as ``onewindow serve`` runs on it): by that clock the window has not passed."""
    filing_id = _lone_decision(client, world, seed=44)
    output = _worker_once(monkeypatch, database_url=database_url, clock_start=clock.now().isoformat())
    assert '"match_windows_closed": 0' in output
    assert _inspections(client, world, filing_id) == []
