"""The agencies' workbench: the same pages for customs (``/customs``) and CIQ (``/ciq``).

Queues of the office's declarations by status, a declaration with its data, receipts and the
notices of the other agencies' amendments; accept / reject (with a reason); the inspection decision
(which containers, what kind, a confidential reason; or none); the day's inspections with check-in,
results, and for an absent agency adopting the others' results or asking a new inspection; release
and hold.

Each handler calls the API's services inside ``page.run`` as a user of that kind of office: an
officer acts, a viewer reads; anyone else (another kind of organisation) gets 404, and a declaration
routed to another office is 404 through the services' scoped queries.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from fastapi import APIRouter, Query
from fastapi.responses import Response
from sqlalchemy import Select, func, or_, select

from onewindow.context import Actor, Context
from onewindow.errors import Conflict, ValidationFailed
from onewindow.filings import declarations as decl_service
from onewindow.filings.presenters import declaration_out
from onewindow.filings.repository import declarations_visible_to
from onewindow.inspections import attendance, service as inspection_service
from onewindow.inspections.presenters import decision_out, inspection_out
from onewindow.inspections.repository import inspections_visible_to
from onewindow.inspections.visits import declaration_numbers
from onewindow.models import (
    OPEN_INSPECTION, Declaration, Inspection, InspectionDecision, InspectionDeclaration, InspectionParticipant,
    InspectionStatus, OrgKind, Release,
)
from onewindow.parties.permissions import Permission
from onewindow.releases import service as release_service
from onewindow.web import i18n
from onewindow.http import Offset
from onewindow.web.page import AsPage, Page
from onewindow.web.routing import joined, page_router

AGENCIES = (OrgKind.customs, OrgKind.ciq)
QUEUE_STATUSES = ("submitted", "accepted", "inspecting", "released", "rejected")
INSPECTION_KINDS = ("physical", "machine_scan", "sampling", "quarantine_treatment")
OUTCOMES = ("conforming", "nonconforming")
PAGE_SIZE = 20


def field_errors(error: ValidationFailed) -> dict[str, str]:
    """Each 422 detail under the form field it names (``["containers", 2]`` → ``containers``); first wins."""
    found: dict[str, str] = {}
    for detail in error.details:
        loc = [str(part) for part in detail.get("loc") or []]
        found.setdefault(loc[0] if loc else "", detail.get("msg", ""))
    return found


def problem(error: ValidationFailed | Conflict) -> dict[str, Any]:
    """What a refused form shows: the message and, for a 422, the errors by field."""
    if isinstance(error, ValidationFailed):
        return {"message": error.message, "fields": field_errors(error)}
    return {"message": error.message, "fields": {}}


# --- what the pages show (plain data, built inside the unit of work) ---

def queue_data(ctx: Context, status: str, offset: int) -> dict[str, Any]:
    """One page of the office's declarations in ``status`` (oldest filed first) and the count of each status."""
    rows = decl_service.list_declarations(ctx, status=status, limit=PAGE_SIZE + 1, offset=offset)
    counted = declarations_visible_to(ctx.as_actor()).with_only_columns(
        Declaration.status, func.count()).group_by(Declaration.status)
    counts = {s: n for s, n in ctx.session.execute(counted)}
    return {"rows": [declaration_out(ctx, d) for d in rows[:PAGE_SIZE]], "more": len(rows) > PAGE_SIZE,
            "counts": counts}


def declaration_data(ctx: Context, declaration_id: str) -> dict[str, Any]:
    """The declaration as its office sees it: data, notices, decision, inspections, releases, containers."""
    declaration = decl_service.get_declaration(ctx, declaration_id)
    decision = ctx.session.scalar(select(InspectionDecision).where(
        InspectionDecision.declaration_id == declaration.id))
    inspections = ctx.session.scalars(inspections_visible_to(ctx.as_actor()).where(Inspection.id.in_(
        select(InspectionDeclaration.inspection_id).where(InspectionDeclaration.declaration_id == declaration.id)))
        .order_by(Inspection.matched_at, Inspection.id))
    releases = ctx.session.scalars(select(Release).where(Release.declaration_id == declaration.id)
                                   .order_by(Release.released_at, Release.id))
    containers = []
    for number in declaration_numbers(declaration):
        released, pending = release_service.container_status(ctx, number)
        containers.append({"number": number, "released": released, "pending": pending})
    return {"declaration": declaration_out(ctx, declaration),
            "decision": decision_out(decision) if decision else None,
            "inspections": [inspection_out(ctx, i) for i in inspections],
            "releases": [{"released_at": r.released_at, "revoked_at": r.revoked_at, "reason": r.revoke_reason}
                         for r in releases],
            "containers": containers}


def day_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The start and end of ``now``'s day in ``zone``."""
    start = datetime.combine(now.astimezone(zone).date(), time(), zone)
    return start, start + timedelta(days=1)


def office_inspections(actor: Actor, start: datetime) -> Select[tuple[Inspection]]:
    """The office's inspections still open, completed since ``start``, or with its absence still to settle,
    in appointment order. Each of the three is found through an index of its own (the inspection's status,
    its completion time, the office's part in it), so the page reads what it shows, not every inspection."""
    unsettled = select(InspectionParticipant.inspection_id).where(
        InspectionParticipant.organisation_id == actor.org_id, InspectionParticipant.absent.is_(True),
        InspectionParticipant.adopted_at.is_(None), InspectionParticipant.reinspected_at.is_(None))
    return inspections_visible_to(actor).where(or_(
        Inspection.status.in_(sorted(OPEN_INSPECTION)), Inspection.completed_at >= start,
        Inspection.id.in_(unsettled))).order_by(Inspection.appointment_at, Inspection.matched_at, Inspection.id)


def inspections_data(ctx: Context, zone: ZoneInfo) -> dict[str, Any]:
    """The office's inspections of today (booked today, under way, completed today, absences to settle),
    and those still waiting for a move or a booking."""
    actor = ctx.as_actor()
    actor.require(Permission.inspection_read)
    start, end = day_bounds(ctx.now(), zone)
    today, waiting = [], []
    for inspection in ctx.session.scalars(office_inspections(actor, start)):
        booked_today = inspection.appointment_at is not None and start <= inspection.appointment_at < end
        later = inspection.status in (InspectionStatus.awaiting_relocation.value, InspectionStatus.ready.value) or (
            inspection.status == InspectionStatus.scheduled.value and not booked_today)
        (waiting if later else today).append(inspection_out(ctx, inspection))
    ids = [i.id for i in [*today, *waiting]]
    mine = ctx.session.execute(
        select(InspectionDeclaration.inspection_id, Declaration.id, Declaration.number)
        .join(Declaration, Declaration.id == InspectionDeclaration.declaration_id)
        .where(InspectionDeclaration.inspection_id.in_(ids), Declaration.organisation_id == actor.org_id))
    declarations: dict[Any, list[dict[str, Any]]] = {}
    for inspection_id, declaration_id, number in mine:
        declarations.setdefault(inspection_id, []).append({"id": declaration_id, "number": number})
    return {"today": today, "waiting": waiting, "declarations": declarations, "day": start}


def decision_body(form: Any) -> dict[str, Any]:
    """The decision document from the form: ``inspect=yes`` with containers, kind and reason, or no inspection."""
    if form.get("inspect") != "yes":
        return {"inspect": False}
    containers = [c for c in form.getlist("containers") if isinstance(c, str)]
    return {"inspect": True, "containers": containers, "kind": str(form.get("kind") or "") or None,
            "reason": str(form.get("reason") or "").strip() or None}


def result_body(form: Any) -> dict[str, Any]:
    return {"outcome": str(form.get("outcome") or "") or None,
            "findings": str(form.get("findings") or "").strip() or None,
            "disposal": str(form.get("disposal") or "").strip() or None}


# --- the routes, once per kind of agency office ---

def workbench(kind: OrgKind) -> APIRouter:
    """The workbench routes of ``kind`` (customs or CIQ) under ``/<kind>``, named ``<kind>_<page>``."""
    router = page_router(prefix=f"/{kind.value}")
    kinds = {kind}
    base = f"/{kind.value}"
    context = {"agency": kind.value, "base": base, "kinds_of_inspection": INSPECTION_KINDS, "outcomes": OUTCOMES}

    async def show(page: Page, declaration_id: str, *, status: int = 200, **extra: Any) -> Response:
        data = await page.run(lambda ctx: declaration_data(ctx, declaration_id),
                              need=Permission.declaration_read, kinds=kinds)
        return page.render("agency/declaration.html", {**context, **data, "flash": dict(page.request.query_params),
                                                        **extra}, status=status)

    async def act(page: Page, declaration_id: str, fn: Callable[[Context, Any], Any], need: Permission,
                  form_name: str, done: str) -> Response:
        """Run ``fn(ctx, form)`` on the declaration; a refusal re-renders the page with the form's errors."""
        form = await page.request.form()
        try:
            await page.run(lambda ctx: fn(ctx, form), need=need, kinds=kinds)
        except (ValidationFailed, Conflict) as error:
            return await show(page, declaration_id, status=error.status,
                              refused={"form": form_name, **problem(error)}, typed=dict(form))
        return page.redirect(f"{base}/declarations/{declaration_id}?done={done}")

    @router.get("/declarations", name=f"{kind.value}_queue")
    async def queue(page: AsPage, status: Annotated[str, Query()] = "submitted",
                    offset: Offset = 0) -> Response:
        """The office's declarations in one status (submitted by default), oldest filed first."""
        wanted = status if status in QUEUE_STATUSES else "submitted"
        data = await page.run(lambda ctx: queue_data(ctx, wanted, offset), need=Permission.declaration_read,
                              kinds=kinds)
        return page.render("agency/queue.html", {**context, **data, "status": wanted, "statuses": QUEUE_STATUSES,
                                                 "offset": offset, "limit": PAGE_SIZE})

    @router.get("/declarations/{declaration_id}", name=f"{kind.value}_declaration")
    async def declaration(page: AsPage, declaration_id: str) -> Response:
        return await show(page, declaration_id)

    @router.post("/declarations/{declaration_id}/accept", name=f"{kind.value}_accept")
    async def accept(page: AsPage, declaration_id: str) -> Response:
        """Accept (受理): the declaration gets the office's receipt number."""
        return await act(page, declaration_id, lambda ctx, form: decl_service.accept(ctx, declaration_id),
                         Permission.declaration_review, "receipt", "accepted")

    @router.post("/declarations/{declaration_id}/reject", name=f"{kind.value}_reject")
    async def reject(page: AsPage, declaration_id: str) -> Response:
        """Reject (退单) with the reason the enterprise reads."""
        return await act(page, declaration_id,
                         lambda ctx, form: decl_service.reject(ctx, declaration_id, str(form.get("reason") or "")),
                         Permission.declaration_review, "receipt", "rejected")

    @router.post("/declarations/{declaration_id}/decision", name=f"{kind.value}_decide")
    async def decide(page: AsPage, declaration_id: str) -> Response:
        """Inspect which containers, how and why (confidential), or no inspection; matched at once when complete."""
        return await act(page, declaration_id,
                         lambda ctx, form: inspection_service.decide(ctx, declaration_id, decision_body(form)),
                         Permission.inspection_decide, "decision", "decided")

    @router.post("/declarations/{declaration_id}/release", name=f"{kind.value}_release")
    async def release(page: AsPage, declaration_id: str) -> Response:
        """Release (核放) the declaration; refused while an inspection of this office is open."""
        return await act(page, declaration_id, lambda ctx, form: release_service.release(ctx, declaration_id),
                         Permission.release_grant, "release", "released")

    @router.post("/declarations/{declaration_id}/revoke", name=f"{kind.value}_revoke")
    async def revoke(page: AsPage, declaration_id: str) -> Response:
        """Hold a released declaration before gate-out, with a reason."""
        return await act(page, declaration_id,
                         lambda ctx, form: release_service.revoke(ctx, declaration_id, str(form.get("reason") or "")),
                         Permission.release_grant, "hold", "held")

    async def day(page: Page, *, status: int = 200, **extra: Any) -> Response:
        data = await page.run(lambda ctx: inspections_data(ctx, page.zone), need=Permission.inspection_read,
                              kinds=kinds)
        day_text = format_date(data["day"], "full", locale=i18n.babel_locale(page.language))
        return page.render("agency/inspections.html", {**context, **data, "day_text": day_text,
                                                        "flash": dict(page.request.query_params), **extra},
                           status=status)

    @router.get("/inspections", name=f"{kind.value}_inspections")
    async def inspections(page: AsPage) -> Response:
        """Today's inspections of the office, and those waiting for the move or the booking."""
        return await day(page)

    def attend(action: str, fn: Callable[[Context, str, Any], Any]
               ) -> Callable[[Page, str], Coroutine[Any, Any, Response]]:
        async def handler(page: AsPage, inspection_id: str) -> Response:
            form = await page.request.form()
            try:
                await page.run(lambda ctx: fn(ctx, inspection_id, form), need=Permission.inspection_attend,
                               kinds=kinds)
            except (ValidationFailed, Conflict) as error:
                return await day(page, status=error.status, typed=dict(form),
                                 refused={"inspection": inspection_id, "form": action, **problem(error)})
            return page.redirect(f"{base}/inspections?done={action}#inspection-{inspection_id}")

        handler.__name__ = f"{kind.value}_{action.replace('-', '_')}"
        return handler

    for action, fn in (("check-in", lambda ctx, i, form: attendance.check_in(ctx, i)),
                       ("results", lambda ctx, i, form: attendance.record_result(ctx, i, result_body(form))),
                       ("adopt", lambda ctx, i, form: attendance.adopt(ctx, i)),
                       ("reinspect", lambda ctx, i, form: attendance.reinspect(ctx, i))):
        router.add_api_route(f"/inspections/{{inspection_id}}/{action}", attend(action, fn), methods=["POST"],
                             name=f"{kind.value}_{action.replace('-', '_')}")
    return router


router = joined(*(workbench(kind) for kind in AGENCIES))
