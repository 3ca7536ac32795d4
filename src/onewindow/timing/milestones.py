"""The milestones of one consignment and its stage durations: pure functions, no database, no clock.

A consignment's declarations are followed through their events in log order
(:func:`fold_declarations`); the stage boundaries are then the consignment's
arrival ``a`` (first container discharged), filing ``f`` (first lodgement of a
declaration), release ``r`` (combined release) and gate-out ``g`` (last container
out). Stages are measured on one time line, so they add up to the whole:

* ``arrival_to_filing`` (the trader) = ``f − a``; 0 for a declaration lodged before arrival
  (pre-arrival filing);
* ``filing_to_release`` (the agencies) = ``r − max(f, a)``, at least 0: agencies are only
  counted from the moment the goods and the declaration are both there;
* ``release_to_gate_out`` (the port) = ``g − max(r, a)``;
* ``arrival_to_release`` = ``max(0, r − a)``, and ``arrival_to_gate_out`` = ``g − a`` (the whole).

Without an arrival (not reported by the terminal, or goods not yet there) the
agencies' stage is ``r − f`` and the stages from arrival are unknown (None).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass
class AgencyTimeline:
    """One declaration followed through its events.

    ``filed_at`` is its first lodgement (a rejection and re-filing keep it: the time lost
    counts in the agencies' stage and in ``rejections``); ``released_at`` is its release in
    force (a revoked release is not one; a later release is); ``withdrawn`` declarations
    (rejected and no longer made) take no part.
    """

    agency: str
    office: str
    filed_at: datetime | None = None
    submissions: int = 0
    rejections: int = 0
    accepted_at: datetime | None = None
    decided_at: datetime | None = None
    released_at: datetime | None = None
    withdrawn: bool = False

    @property
    def active(self) -> bool:
        return self.filed_at is not None and not self.withdrawn


def fold_declarations(events: list[tuple[str, Hashable, datetime, dict[str, Any]]]) -> dict[Any, AgencyTimeline]:
    """Declaration → its timeline, from ``(type, declaration, occurred_at, data)`` in log order; a declaration
    is named by anything that tells it from the others (its id, or the id's ``.int``)."""
    timelines: dict[Any, AgencyTimeline] = {}
    for type_, subject, at, data in events:
        office = data.get("office")
        if subject in timelines:
            t = timelines[subject]
            if office:
                t.office = office
        else:
            t = timelines[subject] = AgencyTimeline(agency=data.get("agency", ""), office=office or "")
        # each event's effect (written out here rather than called per event: the fold runs for every event)
        if type_ == "declaration.submitted":
            t.filed_at = t.filed_at or at
            t.submissions += 1
            t.withdrawn = False
        elif type_ == "declaration.rejected":
            t.rejections += 1
            t.accepted_at = t.decided_at = None
        elif type_ == "declaration.accepted":
            t.accepted_at = at
        elif type_ == "inspection.decided":
            t.decided_at = at
        elif type_ == "declaration.released":
            t.released_at = at
        elif type_ == "declaration.release_revoked":
            t.released_at = None
        elif type_ == "declaration.withdrawn":
            t.withdrawn = True
    return timelines


def seconds(start: datetime | None, end: datetime | None) -> int | None:
    """Whole seconds from ``start`` to ``end`` (None when either is unknown)."""
    if start is None or end is None:
        return None
    return round((end - start) / _SECOND)  # what total_seconds() gives, without its call


_SECOND = timedelta(seconds=1)


def stages(arrived: datetime | None, filed: datetime, released: datetime | None,
           gated_out: datetime | None) -> dict[str, int | None]:
    """The five stage durations in seconds (see the module's docstring for the rules)."""
    start = max(filed, arrived) if arrived else filed
    after_release = max(released, arrived) if released and arrived else released
    return {
        "arrival_to_filing": max(0, seconds(arrived, filed)) if arrived else None,
        "filing_to_release": max(0, seconds(start, released)) if released else None,
        "release_to_gate_out": max(0, seconds(after_release, gated_out)) if released and gated_out else None,
        "arrival_to_release": max(0, seconds(arrived, released)) if arrived and released else None,
        "arrival_to_gate_out": seconds(arrived, gated_out) if arrived and gated_out else None,
    }


def latest_if_all(values: list[datetime | None]) -> datetime | None:
    """The last of ``values`` when every one is known (the moment all were done), else None."""
    if not values or None in values:  # a datetime is never equal to None
        return None
    return max(values)  # type: ignore[type-var]
