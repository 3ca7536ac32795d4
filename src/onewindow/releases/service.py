"""Releases by each agency, the combined release of each container, and gate-out.

A container is released when every agency with a covering declaration
(accepted, inspecting or released) has an unrevoked release of it. The
container's visit row is locked while that is decided, so two agencies
releasing at the same moment publish ``container.released`` exactly once.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from onewindow.context import Context
from onewindow.errors import Conflict, NotFound, ValidationFailed, field_error
from onewindow.events.service import record_event
from onewindow.filings import repository as filings_repository
from onewindow.filings.service import declaration_event_data
from onewindow.inspections.visits import coverage, declaration_numbers, open_visits
from onewindow.models import (
    ContainerVisit, Declaration, DeclarationStatus, Inspection, InspectionDecision, InspectionDeclaration,
    InspectionParticipant, InspectionStatus, Organisation, OrgKind, Release,
)
from onewindow.parties.permissions import Permission

RELEASABLE = frozenset({DeclarationStatus.accepted.value, DeclarationStatus.inspecting.value})


def _own_declaration(ctx: Context, declaration_id: str) -> Declaration:
    actor = ctx.as_actor()
    declaration = filings_repository.get_declaration(ctx, declaration_id, for_update=True)
    actor.require(Permission.release_grant)
    if declaration.organisation_id != actor.org_id:
        raise Conflict("only the office the declaration is routed to may release it", code="not_routed_here")
    return declaration


def _blocking_inspections(ctx: Context, declaration: Declaration) -> list[str]:
    """Why this agency may not release yet: its inspections not completed, or results it must still act on."""
    rows = ctx.session.execute(
        select(Inspection, InspectionParticipant)
        .join(InspectionDeclaration, InspectionDeclaration.inspection_id == Inspection.id)
        .join(InspectionParticipant, InspectionParticipant.inspection_id == Inspection.id)
        .where(InspectionDeclaration.declaration_id == declaration.id,
               InspectionParticipant.agency == declaration.agency))
    reasons = []
    for inspection, p in rows:
        if p.absent and p.adopted_at is None:
            reasons.append(f"inspection {inspection.id}: absent; adopt the results or ask for a new inspection")
        elif not p.absent and inspection.status != InspectionStatus.completed.value:
            reasons.append(f"inspection {inspection.id} is {inspection.status}")
        elif p.outcome == "nonconforming" and not p.disposal:
            reasons.append(f"inspection {inspection.id}: nonconforming without a disposal")
    return reasons


def release(ctx: Context, declaration_id: str) -> Declaration:
    """The agency releases its declaration (核放); then each of its containers' combined release is decided."""
    declaration = _own_declaration(ctx, declaration_id)
    if declaration.status not in RELEASABLE:
        raise Conflict(f"a {declaration.status} declaration cannot be released", code="not_releasable")
    if reasons := _blocking_inspections(ctx, declaration):
        raise Conflict("not yet: " + "; ".join(reasons), code="inspection_open")
    pending = ctx.session.scalar(select(InspectionDecision.id).where(
        InspectionDecision.declaration_id == declaration.id, InspectionDecision.status == "pending",
        InspectionDecision.inspect.is_(True)))
    if pending:
        raise Conflict("the inspection decision is still waiting to be matched", code="decision_pending")
    visits = open_visits(ctx, declaration_numbers(declaration), port=declaration.filing.port)
    ctx.session.add(Release(declaration_id=declaration.id, agency=declaration.agency,
                            organisation_id=declaration.organisation_id, released_at=ctx.now(),
                            released_by=ctx.as_actor().user_id))
    declaration.status, declaration.updated_at = DeclarationStatus.released.value, ctx.now()
    ctx.session.flush()
    _event(ctx, declaration, "declaration.released")
    for visit in visits.values():
        _decide_container(ctx, visit)
    return declaration


def revoke(ctx: Context, declaration_id: str, reason: str) -> Declaration:
    """Hold a released declaration before gate-out: its containers are no longer released."""
    if not reason or not reason.strip():
        raise ValidationFailed([field_error(["reason"], "a hold needs a reason")])
    declaration = _own_declaration(ctx, declaration_id)
    current = _current_release(ctx, declaration)
    if current is None:
        raise Conflict("the declaration is not released", code="not_released")
    numbers = declaration_numbers(declaration)
    if any(not _known(ctx, n) and _gated_out(ctx, n) for n in numbers):
        raise Conflict("the goods have left the port", code="gated_out")
    visits = open_visits(ctx, numbers)
    current.revoked_at, current.revoke_reason = ctx.now(), reason.strip()
    declaration.status, declaration.updated_at = DeclarationStatus.accepted.value, ctx.now()
    _event(ctx, declaration, "declaration.release_revoked", reason=current.revoke_reason)
    for visit in visits.values():
        if visit.released_at is not None:
            visit.released_at = None
            _container_event(ctx, visit, "container.release_revoked", [declaration.agency])
    return declaration


def _current_release(ctx: Context, declaration: Declaration) -> Release | None:
    return ctx.session.scalar(select(Release).where(Release.declaration_id == declaration.id,
                                                    Release.revoked_at.is_(None)))


def _event(ctx: Context, declaration: Declaration, type_: str, **extra) -> None:
    record_event(ctx, type_, subject_type="declaration", subject_id=declaration.id, filing_id=declaration.filing_id,
                 recipients=[declaration.filing.enterprise_id, declaration.organisation_id,
                             *_terminals(ctx, declaration.filing.port)],
                 data={**declaration_event_data(declaration), **extra})


def _terminals(ctx: Context, port: str | None) -> list[uuid.UUID]:
    return list(ctx.session.scalars(select(Organisation.id).where(Organisation.kind == OrgKind.terminal.value,
                                                                  Organisation.port == port)))


def container_status(ctx: Context, number: str) -> tuple[list[str], list[str]]:
    """(agencies whose covering declaration is released, agencies still pending) for ``number``."""
    by_agency = coverage(ctx, [number]).get(number, {})
    released = {a for a, ds in by_agency.items()
                if all(d.status == DeclarationStatus.released.value for d in ds)}
    return sorted(released), sorted(set(by_agency) - released)


def _decide_container(ctx: Context, visit) -> None:
    """Publish ``container.released`` when the last covering agency has released (once per visit)."""
    released, pending = container_status(ctx, visit.number)
    if pending or not released or visit.released_at is not None:
        return
    visit.released_at = ctx.now()
    _container_event(ctx, visit, "container.released", released)


def _container_event(ctx: Context, visit, type_: str, agencies: list[str]) -> None:
    declarations = [d for ds in coverage(ctx, [visit.number]).get(visit.number, {}).values() for d in ds]
    enterprises = {d.filing.enterprise_id for d in declarations}
    offices = {d.organisation_id for d in declarations}
    record_event(ctx, type_, subject_type="container", subject_id=visit.id,
                 recipients=[*enterprises, *offices, *_terminals(ctx, visit.port)],
                 data={"container": visit.number, "port": visit.port, "agencies": agencies,
                       "released_at": visit.released_at.isoformat() if visit.released_at else None})


def _visible_container(ctx: Context, number: str):
    """The open visit of ``number`` if the caller may see it (terminal of its port, enterprise of a filing)."""
    actor = ctx.as_actor()
    actor.require(Permission.container_read)
    visits = open_visits(ctx, [number], lock=False) if _known(ctx, number) else {}
    visit = visits.get(number)
    if visit is None:
        raise NotFound.of("container", number)
    if actor.kind is OrgKind.terminal and actor.organisation.port and visit.port == actor.organisation.port:
        return visit
    declarations = [d for ds in coverage(ctx, [number]).get(number, {}).values() for d in ds]
    if actor.kind is OrgKind.enterprise and any(d.filing.enterprise_id == actor.org_id for d in declarations):
        return visit
    if any(d.organisation_id == actor.org_id for d in declarations):
        return visit
    raise NotFound.of("container", number)


def _known(ctx: Context, number: str) -> bool:
    """Whether ``number`` has an open visit (it is at the port)."""
    return ctx.session.scalar(select(ContainerVisit.id).where(ContainerVisit.number == number,
                                                              ContainerVisit.gated_out_at.is_(None))) is not None


def _gated_out(ctx: Context, number: str, port: str | None = None) -> bool:
    """Whether ``number`` has left the port (``port``: that port only, so nobody learns of other ports)."""
    query = select(ContainerVisit.id).where(ContainerVisit.number == number, ContainerVisit.gated_out_at.is_not(None))
    if port is not None:
        query = query.where(ContainerVisit.port == port)
    return ctx.session.scalar(query.limit(1)) is not None


def release_status(ctx: Context, number: str) -> dict:
    visit = _visible_container(ctx, number)
    released, pending = container_status(ctx, number)
    return {"container": number, "released": visit.released_at is not None and not pending,
            "released_at": visit.released_at, "agencies": released, "pending": pending}


def gate_out(ctx: Context, number: str) -> dict:
    """The terminal lets the container leave: 409 naming the pending agencies before release; once only."""
    actor = ctx.as_actor()
    actor.require(Permission.terminal_operate)
    if actor.kind is not OrgKind.terminal:
        raise NotFound.of("container", number)
    if not _known(ctx, number) and _gated_out(ctx, number, port=actor.organisation.port):
        raise Conflict(f"container {number} has already left the port", code="already_gated_out")
    _visible_container(ctx, number)
    visit = open_visits(ctx, [number])[number]
    released, pending = container_status(ctx, number)
    if visit.released_at is None or pending:
        raise Conflict(f"container {number} is not released; pending: {', '.join(pending) or 'no declaration'}",
                       code="not_released", details=[{"pending": pending}])
    visit.gated_out_at = ctx.now()
    _container_event(ctx, visit, "container.gated_out", released)
    return {"container": number, "gated_out_at": visit.gated_out_at}


