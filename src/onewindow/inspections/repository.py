"""Scoped queries for inspections and relocation tasks (404 for what the caller may not see).

An agency sees the inspections it takes part in; an enterprise those serving
its filings' declarations; a terminal those at its port.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, false, select

from onewindow.context import Actor, Context
from onewindow.errors import NotFound, parse_id
from onewindow.models import (
    AGENCY_KINDS, Declaration, Filing, Inspection, InspectionDeclaration, InspectionParticipant, OrgKind,
    RelocationTask,
)


def inspections_visible_to(actor: Actor) -> Select[tuple[Inspection]]:
    query = select(Inspection)
    if actor.kind in AGENCY_KINDS:
        mine = select(InspectionParticipant.inspection_id).where(InspectionParticipant.organisation_id == actor.org_id)
        return query.where(Inspection.id.in_(mine))
    if actor.kind is OrgKind.enterprise:
        mine = (select(InspectionDeclaration.inspection_id)
                .join(Declaration, Declaration.id == InspectionDeclaration.declaration_id)
                .join(Filing, Filing.id == Declaration.filing_id).where(Filing.enterprise_id == actor.org_id))
        return query.where(Inspection.id.in_(mine))
    if actor.kind is OrgKind.terminal and actor.organisation.port:
        return query.where(Inspection.port == actor.organisation.port)
    return query.where(false())




def get_inspection(ctx: Context, inspection_id: str | uuid.UUID, *, for_update: bool = False) -> Inspection:
    query = inspections_visible_to(ctx.as_actor()).where(Inspection.id == parse_id(inspection_id, "inspection"))
    inspection = ctx.session.scalar(query.with_for_update(of=Inspection) if for_update else query)
    if inspection is None:
        raise NotFound.of("inspection", inspection_id)
    return inspection


def get_task(ctx: Context, task_id: str, *, for_update: bool = False) -> RelocationTask:
    actor = ctx.as_actor()
    query = select(RelocationTask).where(RelocationTask.id == parse_id(task_id, "task"))
    if actor.kind is not OrgKind.terminal or not actor.organisation.port:
        raise NotFound.of("task", task_id)
    query = query.where(RelocationTask.port == actor.organisation.port)
    task = ctx.session.scalar(query.with_for_update() if for_update else query)
    if task is None:
        raise NotFound.of("task", task_id)
    return task
