"""Pieces of the driver that do not need a platform: running parties side by side, booking slots."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from onewindow.simulator.client import PlatformError
from onewindow.simulator.driver import Driver, together


def test_the_first_failure_stops_the_other_parties():
    seen = []

    async def fails():
        await asyncio.sleep(0.01)
        raise PlatformError("409 not_accepted")

    async def waits():
        try:
            await asyncio.sleep(30)
            seen.append("finished")
        except asyncio.CancelledError:
            seen.append("stopped")
            raise

    with pytest.raises(PlatformError, match="not_accepted"):
        asyncio.run(together(fails(), waits()))
    assert seen == ["stopped"]


def test_every_party_runs_when_none_fails():
    seen = []

    async def party(name):
        await asyncio.sleep(0)
        seen.append(name)

    asyncio.run(together(party("customs"), party("ciq")))
    assert sorted(seen) == ["ciq", "customs"]


@pytest.mark.parametrize("when, slot", [
    ("2026-03-02T09:10:00+08:00", "2026-03-02T09:30:00+08:00"),
    ("2026-03-02T09:30:00+08:00", "2026-03-02T09:30:00+08:00"),
    ("2026-03-02T23:45:01+08:00", "2026-03-03T00:00:00+08:00")])
def test_appointments_on_the_half_hour(when, slot):
    assert Driver._slot(datetime.fromisoformat(when)) == datetime.fromisoformat(slot)
