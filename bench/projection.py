"""The clearance-time projection: events applied per second and CPU per consignment projected.

Builds a realistic event log through the services in-process (each call its own
unit of work, on a frozen clock moved a few minutes between the steps), then
applies it to the study exactly as the scheduler does (steps of
``PROJECTION_STEP`` events, each in its own transaction) after every round of
traffic, so a consignment is projected again each time its story moves on:

* ``filings``: consignments created and submitted (2 containers, 5 goods lines,
  one needing CIQ: two declarations), the study brought up to date after every
  ``--round`` of them;
* ``lifecycles``: full lifecycles (discharge, filing, both acceptances, both
  decisions matched into one joint inspection, relocation, booking, check-ins,
  results, both releases, gate-out of both containers), ``--round`` consignments
  at a time moved one step, the study brought up to date after each step.

Only the projection is measured: its CPU time (``time.process_time``), its wall
time, the events it applied and the consignment refreshes they caused; with
``--profile``, the Python function calls per consignment refresh (cProfile),
a count that does not move with the machine's load.

    python bench/projection.py [--db sqlite postgresql] [--filings 1000] [--lifecycles 200] [--round 25] [--profile]

``--idle-log N [N ...]`` measures instead what the scheduler pays each round when
nothing is new, after a log of ``N`` events already applied: the median time of
one ``project_in_steps`` (the projection finds no event after its cursor), a
figure that must not grow with the log.

    python bench/projection.py --db sqlite --idle-log 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).parent))
from common import drop_database, fresh_database, machine  # noqa: E402

from onewindow.clock import FrozenClock  # noqa: E402
from onewindow.config import Settings  # noqa: E402
from onewindow.context import Context  # noqa: E402
from onewindow.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from onewindow.filings.declarations import accept  # noqa: E402
from onewindow.filings.service import create_filing, submit_filing  # noqa: E402
from onewindow.inspections import attendance, terminal  # noqa: E402
from onewindow.inspections.service import decide  # noqa: E402
from onewindow.migrate import upgrade  # noqa: E402
from onewindow.models import ClearanceRecord, Event, InspectionDeclaration, RelocationTask, SinkCursor  # noqa: E402
from onewindow.parties.service import actor_for, add_organisation, ensure_user  # noqa: E402
from onewindow.releases import service as releases  # noqa: E402
from onewindow.samples import sample_entry  # noqa: E402
from onewindow.scheduler import project_in_steps  # noqa: E402
from onewindow.timing import projection  # noqa: E402

ENT, CUSTOMS, CIQ, TERMINAL = "91210200MA0QK1P3AF", "0916", "210600", "DCT"
PARTIES = [("enterprise", ENT, None), ("customs", CUSTOMS, None), ("ciq", CIQ, None), ("terminal", TERMINAL, "CNDAG")]


class Platform:
    """The services of one database on a frozen clock; :meth:`act` runs one call as a party, in its own unit of
    work; :meth:`project` brings the study up to date and adds what it cost to the tallies."""

    def __init__(self, url: str, profile: bool) -> None:
        self.engine = make_engine(url, pool_size=2)
        upgrade(self.engine)
        self.factory = make_session_factory(self.engine)
        self.clock = FrozenClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
        self.settings = Settings(database_url=url)
        self.cpu = self.wall = 0.0
        self.events = self.refreshes = 0
        self.profiler = cProfile.Profile() if profile else None
        with unit_of_work(self.factory) as session:
            ctx = self.context(session)
            for kind, code, port in PARTIES:
                ensure_user(ctx, add_organisation(ctx, kind=kind, code=code, name=code, port=port), "bench")

    def context(self, session, code: str | None = None) -> Context:
        ctx = Context(session=session, clock=self.clock, settings=self.settings)
        return ctx if code is None else Context(session=session, clock=self.clock, settings=self.settings,
                                               actor=actor_for(ctx, code))

    def act(self, code: str, fn, *args):
        with unit_of_work(self.factory) as session:
            return fn(self.context(session, code), *args)

    def read(self, fn):
        with unit_of_work(self.factory) as session:
            return fn(session)

    def project(self) -> None:
        refreshed = []
        original = projection.affected_filings

        def counting(ctx, events):
            found = original(ctx, events)
            refreshed.append(len(found))
            return found

        projection.affected_filings = counting
        try:
            cpu, wall = time.process_time(), time.perf_counter()
            if self.profiler:
                self.profiler.enable()
            self.events += project_in_steps(self.factory, self.clock, self.settings)
            if self.profiler:
                self.profiler.disable()
            self.cpu += time.process_time() - cpu
            self.wall += time.perf_counter() - wall
        finally:
            projection.affected_filings = original
        self.refreshes += sum(refreshed)

    def figures(self, consignments: int) -> dict:
        out = {"events": self.events, "consignment_refreshes": self.refreshes,
               "events_per_s_cpu": round(self.events / self.cpu) if self.cpu else None,
               "events_per_s_wall": round(self.events / self.wall) if self.wall else None,
               "cpu_ms_per_consignment": round(1000 * self.cpu / consignments, 3),
               "cpu_ms_per_refresh": round(1000 * self.cpu / max(1, self.refreshes), 3),
               "cpu_ms_per_event": round(1000 * self.cpu / max(1, self.events), 3)}
        if self.profiler:
            calls = pstats.Stats(self.profiler).total_calls  # type: ignore[attr-defined]
            out["calls_per_consignment"] = round(calls / consignments)
        out["records"] = self.read(lambda s: len(s.scalars(select(ClearanceRecord.filing_id)).all()))
        return out


def file(p: Platform, entry: dict) -> tuple[str, dict[str, str]]:
    """Create and submit a filing as the enterprise: (filing id, declaration ids by agency)."""
    return p.act(ENT, lambda ctx: _filed(ctx, entry))


def _filed(ctx: Context, entry: dict) -> tuple[str, dict[str, str]]:
    filing = create_filing(ctx, entry)
    submit_filing(ctx, str(filing.id))
    return str(filing.id), {d.agency: str(d.id) for d in filing.declarations}


def _measured(kind: str, scenario: str, n: int, size: int, profile: bool, fill) -> dict:
    """``fill(platform)`` on a fresh database, then the projection's figures per consignment."""
    url = fresh_database(kind, "onewindow_bench_projection")
    p = None
    try:
        p = Platform(url, profile)
        fill(p)
        return {"scenario": scenario, "database": kind, "consignments": n, "round": size, **p.figures(n)}
    finally:
        if p is not None:
            p.engine.dispose()
        drop_database(url)


def run_filings(kind: str, n: int, size: int, profile: bool) -> dict:
    def fill(p: Platform) -> None:
        entries = [sample_entry(seed=i, containers=2, items=5) for i in range(n)]
        for start in range(0, n, size):
            for entry in entries[start:start + size]:
                file(p, entry)
                p.clock.advance(seconds=20)
            p.project()

    return _measured(kind, "filings", n, size, profile, fill)


def lifecycle_steps(p: Platform, entry: dict):
    """One consignment's lifecycle as a generator: each ``next`` does one step (one or two service calls)."""
    numbers = [c["number"] for c in entry["containers"]]
    p.act(TERMINAL, terminal.record_arrival, {"containers": numbers, "conveyance": entry["conveyance"]})
    yield
    filing_id, ids = file(p, entry)
    yield
    p.act(CUSTOMS, accept, ids["customs"])
    p.act(CIQ, accept, ids["ciq"])
    yield
    p.act(CUSTOMS, decide, ids["customs"], {"inspect": True, "containers": numbers[:1], "kind": "physical",
                                            "reason": "bench"})
    p.act(CIQ, decide, ids["ciq"], {"inspect": True, "containers": numbers[:1], "kind": "sampling"})
    yield
    found = p.read(lambda s: s.scalar(select(InspectionDeclaration.inspection_id).where(
        InspectionDeclaration.declaration_id == uuid.UUID(ids["customs"]))))
    task = p.read(lambda s: s.scalar(select(RelocationTask.id).where(RelocationTask.inspection_id == found)))
    inspection = str(found)
    p.act(TERMINAL, attendance.complete_task, str(task), "B3")
    yield
    p.act(ENT, attendance.book, inspection, p.clock.now() + timedelta(minutes=1))
    yield
    for office in (CUSTOMS, CIQ):
        p.act(office, attendance.check_in, inspection)
    yield
    for office in (CUSTOMS, CIQ):
        p.act(office, attendance.record_result, inspection, {"outcome": "conforming"})
    yield
    p.act(CUSTOMS, releases.release, ids["customs"])
    p.act(CIQ, releases.release, ids["ciq"])
    yield
    for number in numbers:
        p.act(TERMINAL, releases.gate_out, number)


def run_lifecycles(kind: str, n: int, size: int, profile: bool) -> dict:
    def fill(p: Platform) -> None:
        entries = [sample_entry(seed=100_000 + i, containers=2, items=5) for i in range(n)]
        for start in range(0, n, size):
            stories = [lifecycle_steps(p, entry) for entry in entries[start:start + size]]
            while stories:
                for story in list(stories):
                    if next(story, StopIteration) is StopIteration:
                        stories.remove(story)
                p.clock.advance(minutes=7)
                p.project()

    return _measured(kind, "lifecycles", n, size, profile, fill)


def run_idle(kind: str, events: int, rounds: int = 50) -> dict:
    """Median wall time of a scheduler round of the projection with nothing new, after ``events`` events."""
    url = fresh_database(kind, "onewindow_bench_projection_idle")
    engine = make_engine(url, pool_size=1)
    try:
        upgrade(engine)
        table, at = Event.__table__, datetime(2026, 12, 1, tzinfo=UTC)
        with engine.begin() as conn:
            for first in range(1, events + 1, 10_000):
                conn.execute(insert(table), [
                    {"seq": seq, "tx": 0, "id": uuid.uuid4(), "type": "bench.event", "occurred_at": at,
                     "subject_type": "bench", "subject_id": uuid.uuid4(), "data": {}}
                    for seq in range(first, min(first + 10_000, events + 1))])
            conn.execute(insert(SinkCursor.__table__).values(name=projection.CURSOR, tx=0, seq=events,
                                                             published=events, updated_at=at))
        factory, clock, settings = make_session_factory(engine), FrozenClock(at), Settings(database_url=url)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            assert project_in_steps(factory, clock, settings) == 0
            times.append(time.perf_counter() - start)
        return {"database": kind, "events": events, "idle_round_ms": round(1000 * sorted(times)[rounds // 2], 3)}
    finally:
        engine.dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--filings", type=int, default=1000)
    parser.add_argument("--lifecycles", type=int, default=200)
    parser.add_argument("--round", type=int, default=25, help="consignments moved between two projections")
    parser.add_argument("--profile", action="store_true", help="Python calls per consignment (cProfile)")
    parser.add_argument("--idle-log", type=int, nargs="+", metavar="EVENTS",
                        help="instead: a scheduler round with nothing new after that many events")
    args = parser.parse_args()
    print(json.dumps({"machine": machine()}))
    if args.idle_log:
        for kind in args.db:
            for events in args.idle_log:
                print(json.dumps(run_idle(kind, events)), flush=True)
        return
    for kind in args.db:
        if args.filings:
            print(json.dumps(run_filings(kind, args.filings, args.round, args.profile)), flush=True)
        if args.lifecycles:
            print(json.dumps(run_lifecycles(kind, args.lifecycles, args.round, args.profile)), flush=True)


if __name__ == "__main__":
    main()
