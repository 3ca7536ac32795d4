"""The terminal's side: discharges (arrivals) and the relocation tasks of its port."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import bindparam, delete, select

from onewindow.context import Context
from onewindow.errors import Conflict, Text, ValidationFailed, field_error, pydantic_details, text_errors
from onewindow.events.service import record_event
from onewindow import rows
from onewindow.inspections.stored import read
from onewindow.rows import columns, from_row
from onewindow.sql import Prepared
from onewindow.inspections.visits import new_visits, open_visits
from onewindow.models import ContainerVisit, OrgKind, RelocationTask
from onewindow.parties.permissions import Permission
from onewindow.refdata.validators import check_container_number


def _terminal(ctx: Context):
    actor = ctx.as_actor()
    actor.require(Permission.terminal_operate)
    if actor.kind is not OrgKind.terminal or not actor.organisation.port:
        raise Conflict(Text("only a terminal serving a port does this"), code="not_a_terminal")
    return actor


CONVEYANCE_MOST = {"name": 100, "voyage": 32}
"""The longest vessel name and voyage of an arrival, in characters (the visit's columns hold as many)."""


class ArrivalConveyance(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str | None = Field(default=None, max_length=CONVEYANCE_MOST["name"])
    voyage: str | None = Field(default=None, max_length=CONVEYANCE_MOST["voyage"])


class ArrivalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    containers: list[str] = Field(min_length=1, max_length=2000)
    conveyance: ArrivalConveyance = Field(default_factory=ArrivalConveyance)


def _parse_arrival(body: Any) -> ArrivalRequest:
    """The arrival, or 422 naming every bad field (types, container check digits, a NUL character in the
    conveyance, together)."""
    request, errors = None, []
    try:
        request = ArrivalRequest.model_validate(body)
    except PydanticValidationError as exc:
        errors = pydantic_details(exc.errors(include_url=False))
    if request is not None:  # a NUL character in the vessel or voyage
        errors += [e for field, most in CONVEYANCE_MOST.items()
                   for e in text_errors(["conveyance", field], getattr(request.conveyance, field), most)]
    numbers = body.get("containers") if isinstance(body, dict) else None
    errors += [field_error(["containers", i], msg) for i, n in enumerate(numbers if isinstance(numbers, list) else [])
               if isinstance(n, str) and (msg := check_container_number(n))]
    if errors or request is None:
        raise ValidationFailed(sorted(errors, key=lambda e: [str(part) for part in e["loc"]]))
    return request


def record_arrival(ctx: Context, body: Any) -> list[ContainerVisit]:
    """Record the discharge of containers at the terminal's port (卸船); each gets its open visit.

    A container whose visit was opened at this port by an agency's decision or release gets its arrival
    recorded on that visit; one whose visit was so opened at another port, where it has not arrived, gets a new
    one here instead (that visit is withdrawn: :func:`_withdraw`). A container coming from another port gets a
    new one, released at once when every declaration covering it here has been released
    (``container.released``: its consignment, declared here while it was at the other port, was released
    before it came). 409 ``already_arrived``, and nothing recorded, when a container has arrived (here or at
    another port) and not left.
    """
    actor = _terminal(ctx)
    request = _parse_arrival(body)
    found = open_visits(ctx, request.containers)
    for visit in found.values():
        _check_arriving(visit)
    if expected_elsewhere := [v for v in found.values() if v.port != actor.organisation.port]:
        _withdraw(ctx, expected_elsewhere)
        found = {n: v for n, v in found.items() if v.port == actor.organisation.port}
    arrival = dict(arrived_at=ctx.now(), port=actor.organisation.port, terminal_id=actor.org_id,
                   conveyance=request.conveyance.name, voyage=request.conveyance.voyage)
    rows.update(ctx.session, list(found.values()), **arrival)
    # a container not yet at the port gets its visit written as arrived (one insert, no update after it)
    new = new_visits(ctx, sorted(set(request.containers) - set(found)), **arrival)
    if new:  # released here before it came (its consignment declared here while it was at another port)
        from onewindow.releases.service import recheck_containers

        recheck_containers(ctx, {visit.number: visit for visit in new}, reason="")
    visits = {**found, **{visit.number: visit for visit in new}}
    record_event(ctx, "container.arrived", subject_type="terminal", subject_id=actor.org_id,
                 recipients=[actor.org_id], data={"containers": sorted(visits), "port": actor.organisation.port,
                                                  "conveyance": request.conveyance.model_dump()})
    return [visits[number] for number in sorted(visits)]


def _check_arriving(visit: ContainerVisit) -> None:
    """409 ``already_arrived`` when the open ``visit`` has arrived (at this port or another): a container is
    discharged once per stay, and leaves a port before it arrives at another."""
    if visit.arrived_at is not None:
        raise Conflict(Text("container {number} has already arrived and not left", number=visit.number),
                       code="already_arrived")


def _withdraw(ctx: Context, expected: list[ContainerVisit]) -> None:
    """Delete the visits a decision or release opened at another port for a container that has not arrived
    there and now arrives here: nothing happened at that port (no discharge, no gate-out), and what covers the
    container there covers its stay there when it comes (its arrival there opens it, released at once when
    that port's declarations have been released)."""
    ctx.session.execute(delete(ContainerVisit).where(ContainerVisit.id.in_([visit.id for visit in expected])))
    for visit in expected:
        ctx.session.expunge(visit)


_TASKS = {by_status: Prepared(select(*columns(RelocationTask)).where(
    RelocationTask.port == bindparam("port"), *([RelocationTask.status == bindparam("status")] if by_status else []))
    .order_by(RelocationTask.created_at, RelocationTask.id)) for by_status in (False, True)}


def list_tasks(ctx: Context, status: str | None = None) -> list[RelocationTask]:
    """The relocation tasks of the terminal's port, oldest first, to be shown: read as stored (this
    transaction's changes included), as objects outside the session."""
    actor = _terminal(ctx)
    found = read(ctx.session, _TASKS[bool(status)], {"port": actor.organisation.port, "status": status})
    return [from_row(RelocationTask, row) for row in found]
