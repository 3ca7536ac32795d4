"""Inspections as each party may see them: reasons only for agencies, findings for agencies and the enterprise."""

from __future__ import annotations

from sqlalchemy import select

from onewindow.context import Context
from onewindow.inspections.schemas import DecisionOut, InspectionOut, ParticipantOut, TaskOut
from onewindow.models import (
    AGENCY_KINDS, Inspection, InspectionContainer, InspectionDecision, OrgKind, RelocationTask,
)


def decision_out(d: InspectionDecision) -> DecisionOut:
    return DecisionOut(id=d.id, declaration_id=d.declaration_id, agency=d.agency, inspect=d.inspect,
                       containers=d.containers, kind=d.kind, reason=d.reason, status=d.status, decided_at=d.decided_at)


def inspection_out(ctx: Context, inspection: Inspection) -> InspectionOut:
    kind = ctx.as_actor().kind
    agency, enterprise = kind in AGENCY_KINDS, kind is OrgKind.enterprise
    results = [ParticipantOut(agency=p.agency, kinds=p.kinds, reasons=p.reasons if agency else None,
                              checked_in_at=p.checked_in_at, absent=p.absent, adopted_at=p.adopted_at,
                              outcome=p.outcome, findings=p.findings if agency or enterprise else None,
                              disposal=p.disposal if agency or enterprise else None, result_at=p.result_at)
               for p in inspection.participants]
    return InspectionOut(id=inspection.id, containers=inspection.container_numbers, agencies=inspection.agencies,
                         joint=inspection.joint, late=inspection.late, status=inspection.status,
                         port=inspection.port, location=inspection.location, appointment=inspection.appointment_at,
                         matched_at=inspection.matched_at, started_at=inspection.started_at,
                         completed_at=inspection.completed_at, results=results)


def task_out(ctx: Context, task: RelocationTask) -> TaskOut:
    return tasks_out(ctx, [task])[0]


def tasks_out(ctx: Context, tasks: list[RelocationTask]) -> list[TaskOut]:
    """The tasks with the containers of their inspections (one query for all of them)."""
    numbers: dict = {t.inspection_id: [] for t in tasks}
    if numbers:
        for inspection_id, number in ctx.session.execute(
                select(InspectionContainer.inspection_id, InspectionContainer.number)
                .where(InspectionContainer.inspection_id.in_(list(numbers)))
                .order_by(InspectionContainer.inspection_id, InspectionContainer.number)):
            numbers[inspection_id].append(number)
    return [TaskOut(id=t.id, inspection_id=t.inspection_id, containers=numbers[t.inspection_id], status=t.status,
                    location=t.location, created_at=t.created_at, completed_at=t.completed_at) for t in tasks]
