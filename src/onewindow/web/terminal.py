"""The terminal's pages: arrivals (discharge), relocation tasks, and the gate screen.

The gate screen answers one question for a tablet at the quay, "may this container leave?", with
the agencies still pending, and gates the container out; a refused gate-out names the pending
agencies. Every handler calls the API's services inside ``page.run`` as a user of a terminal
(an operator acts; a viewer may look at the gate screen); anyone else gets 404.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Query
from fastapi.responses import Response
from sqlalchemy import Select, select

from onewindow.context import Context
from onewindow.errors import Conflict, NotFound, Text, ValidationFailed, field_error
from onewindow.inspections import attendance, terminal
from onewindow.inspections.presenters import task_out
from onewindow.models import ContainerVisit, OrgKind
from onewindow.parties.permissions import Permission
from onewindow.refdata.validators import check_container_number
from onewindow.releases import service as release_service
from onewindow.web import i18n
from onewindow.web.agency import problem
from onewindow.web.page import AsPage, Page
from onewindow.web.routing import page_router

router = page_router(prefix="/terminal")
TERMINAL = {OrgKind.terminal}
YARD_LIMIT = 50


def container_numbers(text: str) -> list[str]:
    """The numbers typed in a box, one per line or separated by commas or spaces, in capitals."""
    return [n.upper() for n in re.split(r"[\s,;，；]+", text) if n]


def yard(ctx: Context) -> list[dict[str, Any]]:
    """Containers discharged at the terminal's port and not yet gone, newest first."""
    rows = ctx.session.scalars(yard_query(ctx.as_actor().organisation.port))
    return [{"number": v.number, "arrived_at": v.arrived_at, "conveyance": v.conveyance, "voyage": v.voyage,
             "released_at": v.released_at} for v in rows]


def yard_query(port: str | None) -> Select[tuple[ContainerVisit]]:
    """The newest :data:`YARD_LIMIT` visits of ``port`` that arrived and have not gone out: read through the
    index of the visits not yet over (``ix_container_visits_yard``), not through every visit ever recorded."""
    return (select(ContainerVisit).where(ContainerVisit.port == port, ContainerVisit.arrived_at.is_not(None),
                                         ContainerVisit.gated_out_at.is_(None))
            .order_by(ContainerVisit.arrived_at.desc(), ContainerVisit.number).limit(YARD_LIMIT))


async def _arrivals(page: Page, *, status: int = 200, **extra: Any) -> Response:
    rows = await page.run(yard, need=Permission.terminal_operate, kinds=TERMINAL)
    return page.render("terminal/arrivals.html", {"yard": rows, "flash": dict(page.request.query_params),
                                                  "typed": {}, "errors": {}, **extra}, status=status)


@router.get("/arrivals", name="terminal_arrivals")
async def arrivals(page: AsPage) -> Response:
    """The discharge form and the containers in the yard."""
    return await _arrivals(page)


@router.post("/arrivals")
async def record_arrival(page: AsPage) -> Response:
    """Record the discharge of the containers typed (``inspections.terminal.record_arrival``)."""
    form = await page.request.form()
    typed = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    numbers = container_numbers(typed.get("containers", ""))
    body = {"containers": numbers, "conveyance": {"name": typed.get("vessel", "").strip() or None,
                                                  "voyage": typed.get("voyage", "").strip() or None}}
    try:
        visits = await page.run(lambda ctx: [v.number for v in terminal.record_arrival(ctx, body)],
                                need=Permission.terminal_operate, kinds=TERMINAL)
    except (ValidationFailed, Conflict) as error:
        return await _arrivals(page, status=error.status, typed=typed, refused=problem(error),
                               errors=_arrival_errors(error, numbers))
    return page.redirect(f"/terminal/arrivals?arrived={len(visits)}")


def _arrival_errors(error: ValidationFailed | Conflict, numbers: list[str]) -> list[str]:
    """One line per bad container number (``CSQU3054384: ISO 6346 check digit is wrong``) or field."""
    if not isinstance(error, ValidationFailed):
        return []
    lines = []
    for detail in error.details:
        loc = list(detail.get("loc") or [])
        if len(loc) >= 2 and loc[0] == "containers" and isinstance(loc[1], int) and loc[1] < len(numbers):
            lines.append(f"{numbers[loc[1]]}: {detail.get('msg', '')}")
        else:
            lines.append(f"{'.'.join(str(p) for p in loc)}: {detail.get('msg', '')}")
    return lines


def _tasks(ctx: Context) -> dict[str, Any]:
    open_tasks = [task_out(ctx, t) for t in terminal.list_tasks(ctx, "open")]
    done = [task_out(ctx, t) for t in terminal.list_tasks(ctx, "done")][-20:]
    return {"open": open_tasks, "done": list(reversed(done))}


async def _show_tasks(page: Page, *, status: int = 200, **extra: Any) -> Response:
    data = await page.run(_tasks, need=Permission.terminal_operate, kinds=TERMINAL)
    return page.render("terminal/tasks.html", {**data, "flash": dict(page.request.query_params), **extra},
                       status=status)


@router.get("/tasks", name="terminal_tasks")
async def tasks(page: AsPage) -> Response:
    """Relocation tasks (移柜) to complete, and the latest done."""
    return await _show_tasks(page)


@router.post("/tasks/{task_id}/complete", name="terminal_complete_task")
async def complete_task(page: AsPage, task_id: str) -> Response:
    """The containers are at ``location``: the inspection becomes ready to book."""
    form = await page.request.form()
    location = str(form.get("location") or "")
    try:
        await page.run(lambda ctx: attendance.complete_task(ctx, task_id, location),
                       need=Permission.terminal_operate, kinds=TERMINAL)
    except (ValidationFailed, Conflict) as error:
        return await _show_tasks(page, status=error.status, refused={"task": task_id, "location": location,
                                                                     **problem(error)})
    return page.redirect("/terminal/tasks?done=1")


def gate_answer(ctx: Context, number: str) -> dict[str, Any]:
    """May ``number`` leave: released, the agencies released and pending; or why there is no answer."""
    if message := check_container_number(number):
        return {"container": number, "state": "invalid", "message": message}
    try:
        status = release_service.release_status(ctx, number)
    except NotFound:
        return {"container": number, "state": "unknown"}
    return {**status, "state": "released" if status["released"] else "held"}


async def _gate(page: Page, number: str, *, status: int = 200, **extra: Any) -> Response:
    number = number.strip().upper()
    answer = await page.run(lambda ctx: gate_answer(ctx, number) if number else None,
                            need=Permission.container_read, kinds=TERMINAL)
    if answer and answer.get("message"):
        answer["message"] = i18n.message_text(answer["message"], page.language)
    return page.render("terminal/gate.html", {"container": number, "answer": answer,
                                              "left": page.request.query_params.get("left"), **extra}, status=status)


@router.get("/gate", name="terminal_gate")
async def gate(page: AsPage, container: Annotated[str, Query(max_length=20)] = "") -> Response:
    """The gate screen: type a container number, read the answer."""
    return await _gate(page, container)


@router.post("/gate", name="terminal_gate_out")
async def gate_out(page: AsPage) -> Response:
    """Let the container leave (``releases.service.gate_out``); refused with the pending agencies, and with
    422 naming the field when no container number is given."""
    form = await page.request.form()
    number = str(form.get("container") or "").strip().upper()

    def work(ctx: Context) -> None:
        if not number:
            raise ValidationFailed([field_error(["container"], Text("give a container number"))])
        release_service.gate_out(ctx, number)

    try:
        await page.run(work, need=Permission.terminal_operate, kinds=TERMINAL)
    except ValidationFailed as error:
        return await _gate(page, number, status=error.status,
                           refused={"message": error.details[0]["msg"], "pending": None, "code": error.code})
    except Conflict as error:
        pending = next((d["pending"] for d in error.details if isinstance(d, dict) and "pending" in d), None)
        return await _gate(page, number, status=error.status,
                           refused={"message": error.message, "pending": pending, "code": error.code})
    except NotFound:
        return await _gate(page, number, status=404)
    return page.redirect(f"/terminal/gate?left={number}")
