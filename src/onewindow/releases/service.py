"""Releases by each agency, the combined release of each container, and gate-out.

A container is released when every agency with a covering declaration
(accepted, inspecting or released) has an unrevoked release of it. The
container's visit row is locked while that is decided, so two agencies
releasing at the same moment publish ``container.released`` exactly once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select

from onewindow.context import Context
from onewindow.errors import Conflict, NotFound, Text, ValidationFailed, field_error, joined, text_errors
from onewindow.events.service import record_event
from onewindow.filings import repository as filings_repository
from onewindow import rows
from onewindow.filings.service import AGENCY_NAMES, STATUS_NAMES, declaration_event_data
from onewindow.inspections.recipients import port_terminals
from onewindow.inspections.service import inspection_status_name, match_containers, match_reach
from onewindow.inspections.stored import read
from onewindow.sql import Prepared
from onewindow.inspections.visits import (
    Cover, FilingPlace, coverage, declaration_numbers, departed, left_with, open_visit, open_visits,
)
from onewindow.models import (
    ContainerVisit, DecisionStatus, Declaration, DeclarationStatus, Filing, Inspection, InspectionDecision,
    InspectionDeclaration, InspectionParticipant, InspectionStatus, OrgKind, Release,
)
from onewindow.parties.permissions import Permission

RELEASABLE = frozenset({DeclarationStatus.accepted.value, DeclarationStatus.inspecting.value})
HOLD_REASON_MOST = 1000
"""The longest reason of a hold (:func:`revoke`), in characters: the API's schema and this service refuse a
longer one alike."""
_RELEASED = DeclarationStatus.released.value
"""The released status as stored (the enum member's ``value`` read once, not for each declaration compared)."""

_PARTS = Prepared(
    select(Inspection.id, Inspection.status, InspectionParticipant.absent, InspectionParticipant.adopted_at,
           InspectionParticipant.reinspected_at, InspectionParticipant.outcome, InspectionParticipant.disposal)
    .join(InspectionDeclaration, InspectionDeclaration.inspection_id == Inspection.id)
    .join(InspectionParticipant, InspectionParticipant.inspection_id == Inspection.id)
    .where(InspectionDeclaration.declaration_id == bindparam("declaration_id"),
           InspectionParticipant.agency == bindparam("agency")))
_DECISION = Prepared(select(InspectionDecision.status, InspectionDecision.inspect).where(
    InspectionDecision.declaration_id == bindparam("declaration_id")).limit(1))
"""The declaration's inspection decision (there is at most one): its status and whether it asks to inspect."""
_GATED_OUT_AT_PORT = Prepared(select(ContainerVisit.id).where(
    ContainerVisit.number == bindparam("number"), ContainerVisit.gated_out_at.is_not(None),
    ContainerVisit.port == bindparam("port")).limit(1))
_FILING = Prepared(select(Filing.port, Filing.enterprise_id, Filing.created_at)
                   .where(Filing.id == bindparam("filing_id")))


class FilingParties(NamedTuple):
    """What a release needs of the declaration's filing: its port, its enterprise and when it was made."""

    port: str | None
    enterprise_id: uuid.UUID
    created_at: datetime

    @property
    def place(self) -> FilingPlace:
        return FilingPlace(self.port, self.created_at)


def _own_declaration(ctx: Context, declaration_id: str) -> tuple[Declaration, FilingParties]:
    """The caller's office's declaration, locked, and its filing's port and enterprise; 404, 403 or 409."""
    actor = ctx.as_actor()
    declaration = filings_repository.get_declaration(ctx, declaration_id, for_update=True)
    actor.require(Permission.release_grant)
    if declaration.organisation_id != actor.org_id:
        raise Conflict(Text("only the office the declaration is routed to may release it"), code="not_routed_here")
    (found,) = read(ctx.session, _FILING, {"filing_id": declaration.filing_id})
    return declaration, FilingParties(*found)


def _blocking_inspections(ctx: Context, declaration: Declaration) -> list[str]:
    """Why this agency may not release yet: its inspections not completed, or results it must still act on."""
    found = read(ctx.session, _PARTS, {"declaration_id": declaration.id, "agency": declaration.agency})
    reasons = []
    for inspection_id, status, absent, adopted_at, reinspected_at, outcome, disposal in found:
        if absent and reinspected_at is not None:
            continue  # its part moved to the inspection of its own, which is among ``found``
        if absent and adopted_at is None:
            reasons.append(Text("inspection {inspection}: absent; adopt the results or ask for a new inspection",
                                inspection=inspection_id))
        elif not absent and status != InspectionStatus.completed.value:
            reasons.append(Text("inspection {inspection} is {status}", inspection=inspection_id,
                                status=inspection_status_name(status)))
        elif outcome == "nonconforming" and not disposal:
            reasons.append(Text("inspection {inspection}: nonconforming without a disposal", inspection=inspection_id))
    return reasons


def release(ctx: Context, declaration_id: str) -> Declaration:
    """The agency releases its declaration (核放); then each of its containers' combined release is decided.

    409 while the declaration is not accepted, while an inspection of the agency is open or its decision to
    inspect still waits to be matched. A release without a decision settles the agency for the match: other
    agencies' decisions on these containers that waited only for it are matched at once.
    """
    declaration, filing = _own_declaration(ctx, declaration_id)
    if declaration.status not in RELEASABLE:
        raise Conflict(Text("a {status} declaration cannot be released",
                            status=STATUS_NAMES.get(declaration.status, declaration.status)), code="not_releasable")
    if reasons := _blocking_inspections(ctx, declaration):
        raise Conflict(Text("not yet: {reasons}", reasons=joined(reasons, "; ")), code="inspection_open")
    decided = read(ctx.session, _DECISION, {"declaration_id": declaration.id})
    status, inspect = decided[0] if decided else (None, False)
    if status == DecisionStatus.pending.value and inspect:
        raise Conflict(Text("the inspection decision is still waiting to be matched"), code="decision_pending")
    numbers = declaration_numbers(declaration)
    # not those gone since the filing; without a decision, with those the match below will reach, at once
    locked = open_visits(ctx, numbers, filing=filing.place, also=() if decided else match_reach(ctx, numbers))
    visits = {n: locked[n] for n in numbers if n in locked}
    rows.insert(ctx.session, Release, [{
        "id": uuid.uuid4(), "declaration_id": declaration.id, "agency": declaration.agency,
        "organisation_id": declaration.organisation_id, "released_at": ctx.now(),
        "released_by": ctx.as_actor().user_id, "revoked_at": None, "revoke_reason": None}])
    rows.update(ctx.session, [declaration], status=DeclarationStatus.released.value, updated_at=ctx.now())
    _event(ctx, declaration, filing, "declaration.released")
    if not decided:  # released without a decision: the agency no longer keeps other agencies' decisions waiting
        match_containers(ctx, numbers, locked=locked)
    covering = coverage(ctx, visits)
    _decide_containers(ctx, [(visit, covering.get(visit.number, {})) for visit in visits.values()])
    return declaration


def revoke(ctx: Context, declaration_id: str, reason: str) -> Declaration:
    """Hold a released declaration before gate-out: its containers are no longer released.

    422 naming ``reason`` when it is blank, longer than :data:`HOLD_REASON_MOST` characters once stripped, or
    holds a NUL character. 409 once the goods have left: a container of the declaration gated out at the
    filing's port since the filing was made and not back, or one the consignment has left in
    (:func:`left_with`), back or not.
    """
    if not reason or not reason.strip():
        raise ValidationFailed([field_error(["reason"], Text("a hold needs a reason"))])
    if errors := text_errors(["reason"], reason.strip(), HOLD_REASON_MOST):
        raise ValidationFailed(errors)
    declaration, filing = _own_declaration(ctx, declaration_id)
    current = _current_release(ctx, declaration)
    if current is None:
        raise Conflict(Text("the declaration is not released"), code="not_released")
    numbers = declaration_numbers(declaration)
    if departed(ctx, numbers, filing.place) or left_with(ctx, declaration.filing_id, numbers):
        raise Conflict(Text("the goods have left the port"), code="gated_out")
    visits = open_visits(ctx, numbers)
    current.revoked_at, current.revoke_reason = ctx.now(), reason.strip()
    declaration.status, declaration.updated_at = DeclarationStatus.accepted.value, ctx.now()
    _event(ctx, declaration, filing, "declaration.release_revoked", reason=current.revoke_reason)
    recheck_containers(ctx, visits, reason=current.revoke_reason)  # each released one now waits for this agency
    return declaration


def _current_release(ctx: Context, declaration: Declaration) -> Release | None:
    return ctx.session.scalar(select(Release).where(Release.declaration_id == declaration.id,
                                                    Release.revoked_at.is_(None)))


def _event(ctx: Context, declaration: Declaration, filing: FilingParties, type_: str, **extra) -> None:
    record_event(ctx, type_, subject_type="declaration", subject_id=declaration.id, filing_id=declaration.filing_id,
                 recipients=[filing.enterprise_id, declaration.organisation_id, *port_terminals(ctx, filing.port)],
                 data={**declaration_event_data(declaration), **extra})


def container_status(ctx: Context, number: str) -> tuple[list[str], list[str]]:
    """(agencies whose covering declaration is released, agencies still pending) for ``number``."""
    return _status(coverage(ctx, [number]).get(number, {}))


def _status(by_agency: dict[str, list[Cover]]) -> tuple[list[str], list[str]]:
    """(released agencies, pending agencies) of one container's coverage."""
    released = {a for a, ds in by_agency.items()
                if all(d.status == _RELEASED for d in ds)}
    return sorted(released), sorted(set(by_agency) - released)


def _decide_containers(ctx: Context, containers: list[tuple[ContainerVisit, dict[str, list[Cover]]]]) -> None:
    """Publish ``container.released`` for each container whose last covering agency has released (once per
    visit); ``containers``: each visit with its coverage as it now stands. The visits released are written
    with one ``UPDATE``, then their events in container order."""
    now = ctx.now()
    decided = []
    for visit, by_agency in containers:
        released, pending = _status(by_agency)
        if not pending and released and visit.released_at is None:
            decided.append((visit, released, by_agency))
    rows.update(ctx.session, [visit for visit, _, _ in decided], released_at=now)
    for visit, released, by_agency in decided:
        _container_event(ctx, visit, "container.released", released, by_agency)


def recheck_containers(ctx: Context, visits: dict[str, ContainerVisit], reason: str) -> None:
    """Decide again the combined release of these containers (number → open visit, locked) after what covers
    them changed: a declaration accepted, amended to name other containers, or its release held.

    A container every covering agency has now released is released (``container.released``, once per visit,
    as after a release); a released one that now waits for an agency is released no longer
    (``container.release_revoked``, naming the agencies it waits for, with ``reason``). A container no
    declaration covers any more keeps its state.
    """
    covering = coverage(ctx, visits)
    _decide_containers(ctx, [(visit, covering.get(number, {})) for number, visit in visits.items()])
    for number, visit in visits.items():
        by_agency = covering.get(number, {})
        if visit.released_at is not None and (pending := _status(by_agency)[1]):
            visit.released_at = None
            _container_event(ctx, visit, "container.release_revoked", pending, by_agency, reason=reason)


def _container_event(ctx: Context, visit: ContainerVisit, type_: str, agencies: list[str],
                     by_agency: dict[str, list[Cover]] | None = None, **extra: Any) -> None:
    """An event about a container to the enterprises and offices of its covering declarations and the
    terminals of its port (``by_agency``: its coverage when already read; ``extra``: more data)."""
    if by_agency is None:
        by_agency = coverage(ctx, [visit.number]).get(visit.number, {})
    declarations = [d for ds in by_agency.values() for d in ds]
    enterprises = {d.enterprise_id for d in declarations}
    offices = {d.organisation_id for d in declarations}
    record_event(ctx, type_, subject_type="container", subject_id=visit.id,
                 recipients=[*enterprises, *offices, *port_terminals(ctx, visit.port)],
                 data={"container": visit.number, "port": visit.port, "agencies": agencies,
                       "released_at": visit.released_at.isoformat() if visit.released_at else None, **extra})


def _visible_container(ctx: Context, number: str, visit: ContainerVisit | None
                       ) -> tuple[ContainerVisit, dict[str, list[Cover]]]:
    """``visit`` (the open visit of ``number``) and the container's coverage if the caller may see it
    (terminal of its port, enterprise of a filing, office of a declaration covering it), else 404."""
    actor = ctx.as_actor()
    actor.require(Permission.container_read)
    if visit is None:
        raise NotFound.of("container", number)
    by_agency = coverage(ctx, [number]).get(number, {})
    if actor.kind is OrgKind.terminal and actor.organisation.port and visit.port == actor.organisation.port:
        return visit, by_agency
    declarations = [d for ds in by_agency.values() for d in ds]
    if actor.kind is OrgKind.enterprise and any(d.enterprise_id == actor.org_id for d in declarations):
        return visit, by_agency
    if any(d.organisation_id == actor.org_id for d in declarations):
        return visit, by_agency
    raise NotFound.of("container", number)


def _gated_out(ctx: Context, number: str, port: str | None) -> bool:
    """Whether ``number`` has left ``port`` (that port only, so nobody learns of other ports)."""
    return bool(read(ctx.session, _GATED_OUT_AT_PORT, {"number": number, "port": port}))


def release_status(ctx: Context, number: str) -> dict:
    visit, by_agency = _visible_container(ctx, number, open_visit(ctx, number, lock=False))
    released, pending = _status(by_agency)
    return {"container": number, "released": visit.released_at is not None and not pending,
            "released_at": visit.released_at, "agencies": released, "pending": pending}


def gate_out(ctx: Context, number: str) -> dict:
    """The terminal lets the container leave: 409 ``not_arrived`` before its discharge is recorded (a visit a
    decision or release opened before it came), 409 naming the pending agencies before release; once only."""
    actor = ctx.as_actor()
    actor.require(Permission.terminal_operate)
    if actor.kind is not OrgKind.terminal:
        raise NotFound.of("container", number)
    visit = open_visit(ctx, number)
    if visit is None and _gated_out(ctx, number, port=actor.organisation.port):
        raise Conflict(Text("container {number} has already left the port", number=number), code="already_gated_out")
    visit, by_agency = _visible_container(ctx, number, visit)
    if visit.arrived_at is None:
        raise Conflict(Text("container {number} has not been discharged at the port; it leaves once it has "
                            "arrived", number=number), code="not_arrived")
    released, pending = _status(by_agency)
    if visit.released_at is None or pending:
        if pending:
            message = Text("container {number} is not released; pending: {agencies}", number=number,
                           agencies=joined([AGENCY_NAMES.get(a, a) for a in pending], ", "))
        else:
            message = Text("container {number} is not released; pending: no declaration", number=number)
        raise Conflict(message, code="not_released", details=[{"pending": pending}])
    rows.update(ctx.session, [visit], gated_out_at=ctx.now())
    _container_event(ctx, visit, "container.gated_out", released, by_agency)
    return {"container": number, "gated_out_at": visit.gated_out_at}


