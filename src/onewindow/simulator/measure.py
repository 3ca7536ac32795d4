"""The figures of a run, read from the platform's own records over the API.

For every consignment the enterprise's ``GET /filings/{id}`` (declarations and
receipts, inspections with check-ins, releases, gate-outs); the containers'
discharge times as the platform recorded them, from its answers to the
terminal's ``POST /terminal/arrivals``. (Not from the terminal's event feed:
on PostgreSQL the feed shows an event only once every older transaction of
the server has ended, which on a busy server can be much later.) The figures
are computed by :func:`figures`, a pure function of those records.

Clearance times per consignment, in simulated hours:
``arrival → gate-out`` from the first container discharged to the last one
gated out; ``filing → release`` from the filing (the one-time entry; the
simulator files it at once) to the last agency's release still standing.
"""

from __future__ import annotations

import asyncio
import statistics
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from onewindow.simulator.client import Api
from onewindow.simulator.driver import Outcome


@dataclass(frozen=True)
class Stat:
    """Mean, median and 90th percentile of ``count`` durations, in hours (None without any)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None

    @classmethod
    def of(cls, hours: list[float]) -> Stat:
        if not hours:
            return cls(0, None, None, None)
        p90 = hours[0] if len(hours) == 1 else statistics.quantiles(hours, n=10, method="inclusive")[8]
        return cls(len(hours), statistics.fmean(hours), statistics.median(hours), p90)


@dataclass(frozen=True)
class Figures:
    """What a run did, counted from the records."""

    consignments: int
    """Consignments filed."""
    gated_out: int
    """Consignments whose every container was gated out."""
    containers: int
    inspections: int
    """Inspections held (started: some agency checked in)."""
    joint_inspections: int
    containers_opened: int
    """Container openings: each container of each inspection held."""
    checkins: int
    """Agency staff check-ins (one per agency present at an inspection)."""
    arrival_to_gate_out: Stat
    filing_to_release: Stat
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Records:
    """The platform's records of a run: filing details, and discharge times by container."""

    details: list[dict[str, Any]]
    arrivals: dict[str, list[datetime]]


async def collect(api: Api, outcome: Outcome) -> Records:
    """Read every filing of the run (as its enterprise); the discharges as the platform answered them."""
    details = await asyncio.gather(*(api.call(outcome.enterprises[i], "GET", f"/filings/{filing_id}")
                                     for i, filing_id in sorted(outcome.filings.items())))
    return Records(details=list(details), arrivals={n: [at] for n, at in outcome.arrivals.items()})


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _arrival(detail: dict[str, Any], arrivals: dict[str, list[datetime]]) -> datetime | None:
    """The first discharge of the filing's containers (the latest visit before the filing)."""
    filed = _at(detail["created_at"])
    firsts = []
    for container in detail["data"].get("containers", []):
        before = [a for a in arrivals.get(container["number"], []) if a <= filed]
        if not before:
            return None
        firsts.append(max(before))
    return min(firsts) if firsts else None


def _released(detail: dict[str, Any]) -> datetime | None:
    """When the last declaration was released (its release not revoked); None unless every one is."""
    standing = {r["declaration_id"]: _at(r["released_at"]) for r in detail["releases"] if r["revoked_at"] is None}
    ids = [d["id"] for d in detail["declarations"]]
    if not ids or any(i not in standing for i in ids):
        return None
    return max(standing[i] for i in ids)


def figures(records: Records, failures: int = 0) -> Figures:
    """Count and time what the records show (see the module documentation)."""
    inspections: dict[str, dict[str, Any]] = {}
    to_gate_out, to_release, gated, containers = [], [], 0, 0
    for detail in records.details:
        numbers = {c["number"] for c in detail["data"].get("containers", [])}
        containers += len(numbers)
        for inspection in detail["inspections"]:
            inspections[inspection["id"]] = inspection
        gate_outs = {g["container"]: _at(g["gated_out_at"]) for g in detail["gate_outs"]}
        arrival = _arrival(detail, records.arrivals)
        if numbers and numbers <= set(gate_outs):
            gated += 1
            if arrival is not None:
                to_gate_out.append(_hours(arrival, max(gate_outs[n] for n in numbers)))
        released = _released(detail)
        if released is not None:
            to_release.append(_hours(_at(detail["created_at"]), released))
    held = [i for i in inspections.values() if i["started_at"] is not None]
    return Figures(
        consignments=len(records.details), gated_out=gated, containers=containers, inspections=len(held),
        joint_inspections=sum(1 for i in held if i["joint"]),
        containers_opened=sum(len(i["containers"]) for i in held),
        checkins=sum(1 for i in held for r in i["results"] if r["checked_in_at"] is not None),
        arrival_to_gate_out=Stat.of(to_gate_out), filing_to_release=Stat.of(to_release), failures=failures)
