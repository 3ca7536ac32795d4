"""Inspections as each party may see them: reasons only for agencies, findings for agencies and the enterprise."""

from __future__ import annotations

from sqlalchemy import bindparam, select

from onewindow.context import Context
from onewindow.inspections.stored import read
from onewindow.inspections.schemas import DecisionOut, InspectionOut, ParticipantOut, TaskOut
from onewindow.sql import PreparedIn
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
                              reinspected_at=p.reinspected_at, reinspection_id=p.reinspection_id,
                              outcome=p.outcome, findings=p.findings if agency or enterprise else None,
                              disposal=p.disposal if agency or enterprise else None, result_at=p.result_at)
               for p in inspection.participants]
    return InspectionOut(id=inspection.id, containers=inspection.container_numbers, agencies=inspection.agencies,
                         joint=inspection.joint, late=inspection.late, status=inspection.status,
                         port=inspection.port, location=inspection.location, appointment=inspection.appointment_at,
                         matched_at=inspection.matched_at, started_at=inspection.started_at,
                         completed_at=inspection.completed_at, results=results)


def task_out(ctx: Context, task: RelocationTask, containers: list[str] | None = None) -> TaskOut:
    """The task with its inspection's containers (``containers``: those numbers, in order, when in hand)."""
    if containers is None:
        return tasks_out(ctx, [task])[0]
    return _task_out(task, containers)


_CONTAINERS = PreparedIn(select(InspectionContainer.inspection_id, InspectionContainer.number)
                         .where(InspectionContainer.inspection_id.in_(bindparam("ids", expanding=True)))
                         .order_by(InspectionContainer.inspection_id, InspectionContainer.number), "ids")


def tasks_out(ctx: Context, tasks: list[RelocationTask]) -> list[TaskOut]:
    """The tasks with the containers of their inspections (one query for all of them)."""
    numbers: dict = {t.inspection_id: [] for t in tasks}
    if numbers:
        for inspection_id, number in read(ctx.session, _CONTAINERS, {"ids": list(numbers)}):
            numbers[inspection_id].append(number)
    return [_task_out(t, numbers[t.inspection_id]) for t in tasks]


def _task_out(task: RelocationTask, containers: list[str]) -> TaskOut:
    return TaskOut(id=task.id, inspection_id=task.inspection_id, containers=containers, status=task.status,
                   location=task.location, created_at=task.created_at, completed_at=task.completed_at)
