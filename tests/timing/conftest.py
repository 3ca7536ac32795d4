"""Consignments driven through the real HTTP API with the frozen clock, and the study brought up to date."""

from __future__ import annotations

import threading
import time

import pytest

from onewindow.inspections import attendance
from onewindow.samples import sample_entry
from onewindow.timing import projection
from tests.flows import API, ENT, ok


class Flow:
    """One party acting over HTTP after the clock has moved ``minutes`` (each step says how long it took)."""

    def __init__(self, client, world, run, clock) -> None:
        self.client, self.world, self.run, self.clock = client, world, run, clock

    def at(self, minutes: float = 0) -> None:
        self.clock.advance(minutes=minutes)

    def post(self, path: str, who: str, json=None, status=200):
        return ok(self.client.post(f"{API}{path}", json=json, headers=self.world.headers(who)), status)

    def arrive(self, numbers: list[str]) -> None:
        self.post("/terminal/arrivals", "DCT", {"containers": numbers, "conveyance": {"name": "COSCO AFRICA"}}, 201)

    @staticmethod
    def entry(seed: int, containers: int = 2, enterprise: str = ENT, **kw) -> tuple[dict, list[str]]:
        """A realistic import entry and its container numbers."""
        entry = sample_entry(seed=seed, containers=containers, consignee_uscc=enterprise, **kw)
        return entry, [c["number"] for c in entry["containers"]]

    def file(self, entry: dict, enterprise: str = ENT) -> tuple[str, dict]:
        """Create and submit a filing: (filing id, declaration ids by agency)."""
        filing = self.post("/filings", enterprise, entry, 201)
        self.post(f"/filings/{filing['id']}/submit", enterprise)
        return filing["id"], {d["agency"]: d["id"] for d in filing["declarations"]}

    def accept(self, declaration: str, office: str) -> None:
        self.post(f"/declarations/{declaration}/accept", office)

    def decide(self, declaration: str, office: str, containers: list[str] | None = None) -> None:
        body = ({"inspect": True, "containers": containers, "kind": "physical", "reason": "risk rule R-17"}
                if containers else {"inspect": False})
        self.post(f"/declarations/{declaration}/decision", office, body, 201)

    def release(self, declaration: str, office: str) -> None:
        self.post(f"/declarations/{declaration}/release", office)

    def gate_out(self, number: str) -> None:
        self.post(f"/containers/{number}/gate-out", "DCT")

    def inspections(self, filing_id: str) -> list[dict]:
        return ok(self.client.get(f"{API}/inspections?filing={filing_id}", headers=self.world.headers(ENT)))

    def relocate_all(self) -> None:
        for task in ok(self.client.get(f"{API}/terminal/tasks?status=open", headers=self.world.headers("DCT"))):
            self.post(f"/terminal/tasks/{task['id']}/complete", "DCT", {"location": "inspection area B3"})

    def book(self, inspection: str, minutes_ahead: float = 0) -> None:
        at = self.clock.now().timestamp() + minutes_ahead * 60
        from datetime import UTC, datetime

        self.post(f"/inspections/{inspection}/appointment", ENT,
                  {"at": datetime.fromtimestamp(at, UTC).isoformat()})

    def check_in(self, inspection: str, office: str) -> None:
        self.post(f"/inspections/{inspection}/check-in", office)

    def result(self, inspection: str, office: str) -> None:
        self.post(f"/inspections/{inspection}/results", office, {"outcome": "conforming"})

    def absences(self) -> int:
        return self.run(attendance.run_due)

    def project(self) -> None:
        """Apply the whole event log to the study (on PostgreSQL, waiting out other databases' transactions)."""
        deadline = time.monotonic() + 120  # a long transaction elsewhere on the server holds events back
        while True:
            self.run(projection.project)
            if self.run(projection.pending) == 0:
                return
            assert time.monotonic() < deadline, "the study did not catch up with the event log"
            time.sleep(0.05)

    def record(self, filing_id: str):
        import uuid

        from onewindow.models import ClearanceAgencyRecord, ClearanceRecord

        def load(ctx):
            record = ctx.session.get(ClearanceRecord, uuid.UUID(filing_id))
            agencies = {a.agency: a for a in ctx.session.query(ClearanceAgencyRecord).filter_by(
                filing_id=uuid.UUID(filing_id))}
            return record, agencies

        return self.run(load)


    def stages(self, filing_id: str) -> dict[str, float | None]:
        """The consignment's five stage durations in hours."""
        from onewindow.models import STAGES

        record, _ = self.record(filing_id)
        return {s: None if getattr(record, f"{s}_seconds") is None else getattr(record, f"{s}_seconds") / 3600
                for s in STAGES}


@pytest.fixture
def flow(client, world, run, clock) -> Flow:
    return Flow(client, world, run, clock)


class WritesMeanwhile:
    """Wraps a computation so that, each time it runs, a request writes (and commits) from another thread
    first; a request still waiting after 10 s fails the test. ``writes`` counts the requests committed."""

    def __init__(self, db, clock) -> None:
        from onewindow.db import make_session_factory

        self.factory, self.clock, self.writes = make_session_factory(db), clock, 0

    def around(self, compute):
        def computing_while_a_request_writes(*args, **kwargs):
            writer = threading.Thread(target=self._request)
            writer.start()
            writer.join(10)
            assert not writer.is_alive(), f"a request waited for {compute.__name__}"
            return compute(*args, **kwargs)

        return computing_while_a_request_writes

    def _request(self) -> None:
        from onewindow.db import unit_of_work
        from onewindow.models import Organisation

        with unit_of_work(self.factory) as session:
            session.add(Organisation(kind="customs", code=f"{9000 + self.writes:04d}", name="meanwhile",
                                     created_at=self.clock.now()))
        self.writes += 1


@pytest.fixture
def writes_meanwhile(db, clock) -> WritesMeanwhile:
    """See :class:`WritesMeanwhile`."""
    return WritesMeanwhile(db, clock)
