"""Container visits (a container's stay at the port) and which declarations cover a container."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from onewindow.context import Context
from onewindow.db import RunAgain
from onewindow import rows
from onewindow.inspections.stored import read
from onewindow.rows import columns, objects
from onewindow.sql import Prepared, PreparedIn, for_change
from onewindow.models import (
    ContainerVisit, DecisionStatus, Declaration, DeclarationContainer, DeclarationStatus, Filing, InspectionDecision,
)

COVERING = (DeclarationStatus.accepted.value, DeclarationStatus.inspecting.value, DeclarationStatus.released.value)
"""Statuses in which an agency's declaration counts for a container's inspection and release."""


def declaration_numbers(declaration: Declaration) -> list[str]:
    return sorted({c["number"] for c in declaration.data.get("containers", [])})


def sync_declaration_containers(ctx: Context, declaration: Declaration) -> None:
    """Record the containers a filed declaration covers (replacing what an earlier version covered)."""
    ctx.session.execute(delete(DeclarationContainer).where(DeclarationContainer.declaration_id == declaration.id))
    ctx.session.add_all(DeclarationContainer(declaration_id=declaration.id, number=n)
                        for n in declaration_numbers(declaration))


_OPEN_VISITS = (select(*columns(ContainerVisit))
                .where(ContainerVisit.number.in_(bindparam("numbers", expanding=True)),
                       ContainerVisit.gated_out_at.is_(None))
                .order_by(ContainerVisit.number, ContainerVisit.created_at, ContainerVisit.id))
_OPEN_VISITS = {False: PreparedIn(_OPEN_VISITS, "numbers"), True: PreparedIn(for_change(_OPEN_VISITS), "numbers")}
"""The open visits of ``numbers`` (locked with ``True``), in number order."""
_OPEN_VISIT = (select(*columns(ContainerVisit))
               .where(ContainerVisit.number == bindparam("number"), ContainerVisit.gated_out_at.is_(None))
               .order_by(ContainerVisit.created_at, ContainerVisit.id).limit(1))
_OPEN_VISIT = {False: Prepared(_OPEN_VISIT), True: Prepared(for_change(_OPEN_VISIT))}
"""The open visit of ``:number`` (locked with ``True``)."""
_DECIDED = (select(InspectionDecision.id).where(InspectionDecision.declaration_id == Declaration.id,
                                                 InspectionDecision.status != DecisionStatus.pending.value)
            .exists())
_OUT = aliased(ContainerVisit)
_LEFT = (select(_OUT.id).where(_OUT.number == DeclarationContainer.number, _OUT.port == Filing.port,
                               _OUT.gated_out_at >= Declaration.decided_at)
         .exists())
"""The container has gated out at the filing's port since this (covering) declaration was accepted: whatever
held it then, this declaration among them, had released it, and the consignment left in it."""
_AWAY = aliased(ContainerVisit)
_ELSEWHERE = (select(_AWAY.id).where(_AWAY.number == DeclarationContainer.number, _AWAY.gated_out_at.is_(None),
                                     _AWAY.port != Filing.port)
              .exists())
"""The container is at another port than the filing's (its open visit is there): its stay there carries
another port's goods, and this declaration covers its stay at the filing's port, to come."""
_COVERING = [bindparam(f"covering_{i}", s) for i, s in enumerate(COVERING)]
_COVERAGE = PreparedIn(
    select(DeclarationContainer.number, Declaration.id, Declaration.agency, Declaration.status,
           Declaration.organisation_id, Filing.enterprise_id, _DECIDED, Declaration.filing_id, _LEFT)
    .join(Declaration, Declaration.id == DeclarationContainer.declaration_id)
    .join(Filing, Filing.id == Declaration.filing_id)
    .where(DeclarationContainer.number.in_(bindparam("numbers", expanding=True)), Declaration.status.in_(_COVERING),
           ~_ELSEWHERE),
    "numbers")
_LEFT_WITH = PreparedIn(
    select(DeclarationContainer.number).distinct()
    .join(Declaration, Declaration.id == DeclarationContainer.declaration_id)
    .join(Filing, Filing.id == Declaration.filing_id)
    .where(Declaration.filing_id == bindparam("filing_id"),
           DeclarationContainer.number.in_(bindparam("numbers", expanding=True)), Declaration.status.in_(_COVERING),
           _LEFT),
    "numbers")
_FILING_PLACE = Prepared(select(Filing.port, Filing.created_at).where(Filing.id == bindparam("filing_id")))
_BACK = aliased(ContainerVisit)
_DEPARTED = PreparedIn(select(ContainerVisit.number).distinct().where(
    ContainerVisit.number.in_(bindparam("numbers", expanding=True)), ContainerVisit.port == bindparam("port"),
    ContainerVisit.gated_out_at >= bindparam("since"),
    ~select(_BACK.id).where(_BACK.number == ContainerVisit.number, _BACK.gated_out_at.is_(None)).exists()),
    "numbers")


class FilingPlace(NamedTuple):
    """Where a filing's containers are and since when they are its: the filing's port and when it was made."""

    port: str | None
    since: datetime

    @classmethod
    def of(cls, filing: Filing) -> FilingPlace:
        return cls(filing.port, filing.created_at)


def filing_place(ctx: Context, declaration: Declaration) -> FilingPlace:
    """The port of the declaration's filing and when the filing was made (without loading the filing)."""
    return FilingPlace(*read(ctx.session, _FILING_PLACE, {"filing_id": declaration.filing_id})[0])


def departed(ctx: Context, numbers: Iterable[str], filing: FilingPlace) -> set[str]:
    """Of ``numbers``, those gone with the filing's goods: gated out at the filing's port since the filing was
    made, and not back (no open visit anywhere)."""
    numbers = sorted(set(numbers))
    if not numbers:
        return set()
    return {number for (number,) in read(ctx.session, _DEPARTED,
                                         {"numbers": numbers, "port": filing.port, "since": filing.since})}


def open_visits(ctx: Context, numbers: Iterable[str], *,
                filing: FilingPlace | Callable[[], FilingPlace] | None = None,
                lock: bool = True, also: Iterable[str] = ()) -> dict[str, ContainerVisit]:
    """The open visit of each container found, locked in number order when ``lock``; with ``also``, those of
    these containers too, read (and locked) by the same statement, none made for them.

    Locking the visits serialises everything that decides a container's fate
    (matching, releases, gate-out) without blocking other containers. One
    query reads (and locks) them all. With ``filing`` (the declaration's
    filing's place, or a function answering it, asked only when a visit is
    missing) a container of that filing not at the port yet gets its visit
    there, the missing ones written with one insert, so that what decides its
    fate has a row to lock before it arrives; a container that has left the
    filing's port since the filing was made gets none and is left out of the
    answer: gone with its goods, it is not inspected or released there again.
    With ``filing``, a container whose open visit is at another port (it has not left there yet) is left out
    of the answer too: that stay carries another port's goods; the filing's is its next, at the filing's
    port, which the arrival there opens (its lock is still taken).
    The visits the session holds are returned as held, as the ORM's query would.
    """
    own = set(numbers)
    wanted = sorted(own.union(also))
    if not wanted:
        return {}
    visits: dict[str, ContainerVisit] = {}
    found = read(ctx.session, _OPEN_VISITS[lock], {"numbers": wanted})
    for visit in objects(ctx.session, ContainerVisit, found):
        visits.setdefault(visit.number, visit)
    if filing is None:
        return {n: visits[n] for n in wanted if n in visits}
    placed = {n for n in own if n in visits and visits[n].port is not None}
    missing = [n for n in wanted if n not in visits and n in own]
    if not placed and not missing:
        return {n: visits[n] for n in wanted if n in visits}
    place = filing if isinstance(filing, FilingPlace) else filing()  # asked for once, only when needed
    elsewhere = {n for n in placed if visits[n].port != place.port}
    if arriving := [n for n in missing if n not in departed(ctx, missing, place)]:
        visits.update((v.number, v) for v in new_visits(ctx, arriving, port=place.port))
    return {n: visits[n] for n in wanted if n in visits and n not in elsewhere}


def new_visits(ctx: Context, numbers: Iterable[str], **values: Any) -> list[ContainerVisit]:
    """New open visits of ``numbers`` holding ``values`` (column → value; every other column empty), written
    with one plain insert and placed in the session as stored rows.

    A container has at most one open visit (a unique index): when a concurrent transaction has written one
    of these since this one looked (found none to lock), the insert waits for it and is refused, and the
    unit of work is run again from the start (:class:`~onewindow.db.RunAgain`), where it finds that visit.
    """
    now = ctx.now()
    try:
        new = rows.new_rows(ctx.session, ContainerVisit,
                            *({"created_at": now, **values, "id": uuid.uuid4(), "number": n} for n in numbers))
    except IntegrityError as exc:
        raise RunAgain("a concurrent transaction opened a visit of one of these containers") from exc
    for visit in new:
        rows.place(ctx.session, visit)
    return new


def open_visit(ctx: Context, number: str, *, lock: bool = True) -> ContainerVisit | None:
    """The open visit of ``number`` (locked when ``lock``), or None when the container is not at a port; the
    visit the session holds is returned as held, as the ORM's query would."""
    found = read(ctx.session, _OPEN_VISIT[lock], {"number": number})
    return objects(ctx.session, ContainerVisit, found)[0] if found else None


class Cover(NamedTuple):
    """A declaration covering a container, with the parties that follow it."""

    id: uuid.UUID
    agency: str
    status: str
    organisation_id: uuid.UUID
    enterprise_id: uuid.UUID
    decided: bool
    """Its agency's inspection decision on it is matched or cleared (no longer waiting)."""


def coverage(ctx: Context, numbers: Iterable[str]) -> dict[str, dict[str, list[Cover]]]:
    """Container → agency → its declarations in a covering status that cover the container during its
    current visit (one query).

    A consignment that has left in the container (:func:`left_with`) belongs to an earlier visit: none of its
    declarations covers the container any more, whatever came back in it since, so the container's release
    does not wait for them, does not count their releases, and their parties neither see it nor are told of it.
    """
    numbers = sorted(set(numbers))
    if not numbers:
        return {}
    found_rows = read(ctx.session, _COVERAGE, {"numbers": numbers})
    left = {(number, filing_id) for number, *_, filing_id, gone in found_rows if gone}
    found: dict[str, dict[str, list[Cover]]] = defaultdict(lambda: defaultdict(list))
    for number, *cover, filing_id, _gone in found_rows:
        if (number, filing_id) not in left:
            found[number][cover[1]].append(Cover(*cover[:5], decided=bool(cover[5])))
    return {n: dict(by_agency) for n, by_agency in found.items()}


def left_with(ctx: Context, filing_id: uuid.UUID, numbers: Iterable[str]) -> set[str]:
    """Of ``numbers``, the containers the filing's consignment has left in: gated out at the filing's port
    after one of its declarations covering the container was accepted (the container then waited for that
    declaration, so it left released by it). Unlike :func:`departed`, a container that has come back since is
    still one of these: what it holds now is another visit's."""
    numbers = sorted(set(numbers))
    if not numbers:
        return set()
    return {number for (number,) in read(ctx.session, _LEFT_WITH, {"numbers": numbers, "filing_id": filing_id})}
