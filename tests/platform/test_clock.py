"""The accelerated clock and the choice of clock from the settings."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from onewindow.app import create_app
from onewindow.clock import AcceleratedClock, SystemClock, clock_for, clock_from_settings
from onewindow.config import Settings

START = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class FakeMonotonic:
    """A monotonic source the test moves by hand (and may move backwards, which a real one never does)."""

    def __init__(self) -> None:
        self.value = 1000.0

    def __call__(self) -> float:
        return self.value


def test_starts_at_start_and_runs_at_speed():
    source = FakeMonotonic()
    clock = AcceleratedClock(START, 60, monotonic=source)
    assert clock.now() == START
    assert clock.now().tzinfo == UTC
    source.value += 2.5
    assert clock.now() == START + timedelta(minutes=2.5)
    source.value += 120  # two real minutes: a two-hour match window
    assert clock.now() - START == timedelta(hours=2, minutes=2.5)
    assert clock.real_seconds(7200) == 120


def test_never_goes_back():
    source = FakeMonotonic()
    clock = AcceleratedClock(START, 10, monotonic=source)
    source.value += 5
    ahead = clock.now()
    source.value -= 3
    assert clock.now() == ahead


def test_monotonic_across_threads():
    clock = AcceleratedClock(START, 1000)
    seen: dict[int, list[datetime]] = {}

    def read(i: int) -> None:
        seen[i] = [clock.now() for _ in range(2000)]

    threads = [threading.Thread(target=read, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for times in seen.values():
        assert times == sorted(times)
        assert times[0] >= START
    assert max(t for times in seen.values() for t in times) > START


@pytest.mark.parametrize("start, speed, message", [
    (START.replace(tzinfo=None), 60, "aware"), (START, 0, "greater than 0"), (START, -2, "greater than 0")])
def test_refuses_bad_arguments(start, speed, message):
    with pytest.raises(ValueError, match=message):
        AcceleratedClock(start, speed)


def test_clock_from_settings():
    assert isinstance(clock_from_settings(Settings()), SystemClock)
    assert isinstance(clock_for(), SystemClock)
    fast = clock_from_settings(Settings(clock_speed=120, clock_start=START))
    assert isinstance(fast, AcceleratedClock) and fast.speed == 120
    assert START <= fast.now() < START + timedelta(hours=1)
    started_now = clock_from_settings(Settings(clock_speed=5))
    assert abs(started_now.now() - datetime.now(UTC)) < timedelta(minutes=5)
    assert isinstance(clock_from_settings(Settings(clock_start=START)), AcceleratedClock)  # simulated, speed 1


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("ONEWINDOW_CLOCK_SPEED", "600")
    monkeypatch.setenv("ONEWINDOW_CLOCK_START", "2026-03-02T08:00:00+08:00")
    monkeypatch.setenv("ONEWINDOW_JOINT_INSPECTION", "false")
    settings = Settings()
    assert (settings.clock_speed, settings.clock_start, settings.joint_inspection) == (600, START, False)


@pytest.mark.parametrize("env, field", [
    ({"ONEWINDOW_CLOCK_SPEED": "0"}, "clock_speed"), ({"ONEWINDOW_CLOCK_SPEED": "fast"}, "clock_speed"),
    ({"ONEWINDOW_CLOCK_START": "2026-03-02T08:00:00"}, "clock_start"),
    ({"ONEWINDOW_CLOCK_START": "yesterday"}, "clock_start")])
def test_bad_clock_settings_are_named(monkeypatch, env, field):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


def test_the_server_runs_on_the_clock_of_its_settings(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'clock.db'}", embedded_scheduler=False,
                        clock_speed=3600, clock_start=START)
    with TestClient(create_app(settings)) as client:
        health = client.get("/healthz").json()
    assert health["clock_speed"] == 3600
    assert START <= datetime.fromisoformat(health["time"]) < START + timedelta(days=1)
