"""The terminal's side: discharges (arrivals) and the relocation tasks of its port."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from onewindow.context import Context
from onewindow.errors import Conflict, ValidationFailed, field_error
from onewindow.events.service import record_event
from onewindow.inspections.visits import open_visits
from onewindow.models import ContainerVisit, OrgKind, RelocationTask
from onewindow.parties.permissions import Permission
from onewindow.refdata.validators import check_container_number


def _terminal(ctx: Context):
    actor = ctx.as_actor()
    actor.require(Permission.terminal_operate)
    if actor.kind is not OrgKind.terminal or not actor.organisation.port:
        raise Conflict("only a terminal serving a port does this", code="not_a_terminal")
    return actor


def record_arrival(ctx: Context, body: dict[str, Any]) -> list[ContainerVisit]:
    """Record the discharge of containers at the terminal's port (卸船); each gets its open visit."""
    actor = _terminal(ctx)
    numbers = body.get("containers")
    if not isinstance(numbers, list) or not numbers:
        raise ValidationFailed([field_error(["containers"], "name at least one container")])
    errors = [field_error(["containers", i], msg) for i, n in enumerate(numbers)
              if (msg := check_container_number(n) if isinstance(n, str) else "must be a container number")]
    conveyance = body.get("conveyance") or {}
    if not isinstance(conveyance, dict):
        errors.append(field_error(["conveyance"], "must be an object with name and voyage"))
    if errors:
        raise ValidationFailed(errors)
    visits = open_visits(ctx, numbers, port=actor.organisation.port)
    for visit in visits.values():
        if visit.arrived_at is not None:
            raise Conflict(f"container {visit.number} has already arrived and not left", code="already_arrived")
        visit.arrived_at, visit.port, visit.terminal_id = ctx.now(), actor.organisation.port, actor.org_id
        visit.conveyance, visit.voyage = conveyance.get("name"), conveyance.get("voyage")
    record_event(ctx, "container.arrived", subject_type="terminal", subject_id=actor.org_id,
                 recipients=[actor.org_id], data={"containers": sorted(visits), "port": actor.organisation.port,
                                                  "conveyance": conveyance})
    return list(visits.values())


def list_tasks(ctx: Context, status: str | None = None) -> list[RelocationTask]:
    """The relocation tasks of the terminal's port, oldest first."""
    actor = _terminal(ctx)
    query = select(RelocationTask).where(RelocationTask.port == actor.organisation.port)
    if status:
        query = query.where(RelocationTask.status == status)
    return list(ctx.session.scalars(query.order_by(RelocationTask.created_at, RelocationTask.id)))
