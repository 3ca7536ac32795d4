"""HTTP routes of one inspection: decisions, inspections, the terminal's arrivals and tasks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query
from pydantic import BaseModel, Field

from onewindow.context import Context
from onewindow.http import AsCaller
from onewindow.inspections import attendance, service, terminal
from onewindow.inspections.presenters import decision_out, inspection_out, task_out, tasks_out
from onewindow.inspections import repository
from onewindow.inspections.schemas import DecisionOut, InspectionOut, TaskOut
from onewindow.models import Inspection, InspectionStatus, RelocationTask
from onewindow.parties.permissions import Permission

router = APIRouter(tags=["one inspection"])


class Appointment(BaseModel):
    at: datetime


class TaskCompletion(BaseModel):
    location: str = Field(min_length=1, max_length=attendance.LOCATION_MOST)


@router.post("/declarations/{declaration_id}/decision", status_code=201, response_model=DecisionOut)
async def decide(caller: AsCaller, declaration_id: str, body: Annotated[dict[str, Any], Body()]) -> DecisionOut:
    """The agency's decision: ``{"inspect": true, "containers": [...], "kind": ..., "reason": ...}`` or
    ``{"inspect": false}``; matched with the other agencies' as soon as they have all decided."""
    return await caller.run(lambda ctx: service.decide(ctx, declaration_id, body), then=decision_out)


def _inspection_answer(done: tuple[Context, Inspection]) -> InspectionOut:
    """The inspection as the caller may see it, from the unit of work's context and the inspection it
    answered (with its containers and participants: made after the unit of work's commit, it reads nothing
    more from the database)."""
    return inspection_out(*done)


@router.get("/inspections", response_model=list[InspectionOut])
async def list_inspections(caller: AsCaller, filing: uuid.UUID | None = None,
                           status: InspectionStatus | None = None, limit: Annotated[int, Query(ge=1, le=500)] = 100
                           ) -> list[InspectionOut]:
    """Inspections the caller may see (``filing``: of one filing), newest first."""

    def work(ctx: Context) -> list[InspectionOut]:
        ctx.as_actor().require(Permission.inspection_read)
        found = repository.list_inspections(ctx, filing=filing, status=status.value if status else None, limit=limit)
        return [inspection_out(ctx, i) for i in found]

    return await caller.run(work)


@router.get("/inspections/{inspection_id}", response_model=InspectionOut)
async def get_inspection(caller: AsCaller, inspection_id: str) -> InspectionOut:
    def work(ctx: Context) -> InspectionOut:
        ctx.as_actor().require(Permission.inspection_read)
        return inspection_out(ctx, repository.get_inspection(ctx, inspection_id))

    return await caller.run(work)


@router.post("/inspections/{inspection_id}/appointment", response_model=InspectionOut)
async def book(caller: AsCaller, inspection_id: str, body: Appointment) -> InspectionOut:
    """The enterprise books the (joint) inspection: ``scheduled``."""
    return await caller.run(lambda ctx: (ctx, attendance.book(ctx, inspection_id, body.at)), then=_inspection_answer)


@router.post("/inspections/{inspection_id}/check-in", response_model=InspectionOut)
async def check_in(caller: AsCaller, inspection_id: str) -> InspectionOut:
    return await caller.run(lambda ctx: (ctx, attendance.check_in(ctx, inspection_id)), then=_inspection_answer)


@router.post("/inspections/{inspection_id}/results", response_model=InspectionOut)
async def results(caller: AsCaller, inspection_id: str, body: Annotated[dict[str, Any], Body()]) -> InspectionOut:
    """``{"outcome": "conforming"|"nonconforming", "findings": ..., "disposal": ...}`` by a present agency."""
    return await caller.run(lambda ctx: (ctx, attendance.record_result(ctx, inspection_id, body)),
                            then=_inspection_answer)


@router.post("/inspections/{inspection_id}/adopt", response_model=InspectionOut)
async def adopt(caller: AsCaller, inspection_id: str) -> InspectionOut:
    """An absent agency relies on the present agencies' results."""
    return await caller.run(lambda ctx: (ctx, attendance.adopt(ctx, inspection_id)), then=_inspection_answer)


@router.post("/inspections/{inspection_id}/reinspect", status_code=201, response_model=InspectionOut)
async def reinspect(caller: AsCaller, inspection_id: str) -> InspectionOut:
    """An absent agency asks for its own new single inspection of the same containers."""
    return await caller.run(lambda ctx: inspection_out(ctx, attendance.reinspect(ctx, inspection_id)))


@router.post("/terminal/arrivals", status_code=201)
async def arrivals(caller: AsCaller, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """Discharge of containers at the terminal's port: ``{"containers": [...], "conveyance": {...}}``."""

    return await caller.run(lambda ctx: terminal.record_arrival(ctx, body), then=_arrivals_answer)


def _arrivals_answer(visits: list) -> dict[str, Any]:
    """The containers arrived, from their visits (loaded: made after the unit of work's commit)."""
    return {"containers": [{"number": v.number, "port": v.port, "arrived_at": v.arrived_at} for v in visits]}


@router.get("/terminal/tasks", response_model=list[TaskOut])
async def tasks(caller: AsCaller, status: Literal["open", "done"] | None = None) -> list[TaskOut]:
    """Relocation tasks (移柜) of the terminal's port."""
    return await caller.run(lambda ctx: tasks_out(ctx, terminal.list_tasks(ctx, status)))


@router.post("/terminal/tasks/{task_id}/complete", response_model=TaskOut)
async def complete(caller: AsCaller, task_id: str, body: TaskCompletion) -> TaskOut:
    """The containers are at the inspection site: the inspection becomes ``ready``."""

    return await caller.run(lambda ctx: (ctx, *attendance.relocate(ctx, task_id, body.location)),
                            then=_task_answer)


def _task_answer(done: tuple[Context, RelocationTask, Inspection]) -> TaskOut:
    """The completed task with its inspection's containers (loaded: made after the unit of work's commit)."""
    ctx, task, inspection = done
    return task_out(ctx, task, inspection.container_numbers)
