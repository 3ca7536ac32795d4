"""The enterprise's pages: the staging list, a consignment's page (declarations, versions, timeline,
filing each part, booking the inspection). The entry form is in :mod:`onewindow.web.entry`.

Every handler calls the same services as the API inside ``page.run`` (one unit of work), as an
enterprise user whose role grants the permission named; anyone else gets 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query
from fastapi.responses import Response
from sqlalchemy import select

from onewindow.context import Context
from onewindow.errors import AppError, Conflict, NotFound, Text, ValidationFailed, field_error
from onewindow.filings import service
from onewindow.filings.declarations import AMENDABLE
from onewindow.filings.presenters import filing_detail, filing_out, filing_version_out
from onewindow.inspections.attendance import book
from onewindow.inspections.repository import get_inspection
from onewindow.models import STAGED_STATUSES, Declaration, Filing, FilingStatus, InspectionDeclaration, OrgKind
from onewindow.parties.permissions import Permission
from onewindow.http import Offset
from onewindow.web.page import AsPage, Page
from onewindow.web.routing import page_router
from onewindow.web.timeline import consignment_timeline

router = page_router(prefix="/enterprise")
ENTERPRISE = {OrgKind.enterprise}
PAGE_SIZE = 20
STAGED = {str(s) for s in STAGED_STATUSES}


@router.get("/filings", name="filings")
async def filings(page: AsPage, status: Annotated[str, Query()] = "",
                  offset: Offset = 0) -> Response:
    """The staging list: the organisation's consignments, newest first, drafts and filed, paged."""
    wanted = status if status in set(FilingStatus) else None

    def work(ctx: Context):
        rows, total = service.list_filings(ctx, status=wanted, limit=PAGE_SIZE, offset=offset)
        return [filing_out(f) for f in rows], total

    rows, total = await page.run(work, need=Permission.filing_read, kinds=ENTERPRISE)
    base = f"/enterprise/filings?status={wanted}" if wanted else "/enterprise/filings"
    return page.render("enterprise/filings.html", {"filings": rows, "total": total, "offset": offset,
                                                   "limit": PAGE_SIZE, "status": wanted or "", "base": base})


def _consignment(ctx: Context, filing_id: str) -> dict[str, Any]:
    filing = service.get_filing(ctx, filing_id)
    return {"filing": filing_detail(ctx, filing),
            "versions": [filing_version_out(v) for v in service.filing_versions(ctx, filing_id)],
            "timeline": consignment_timeline(ctx, filing)}


async def _show(page: Page, filing_id: str, *, status: int = 200, **extra: Any) -> Response:
    data = await page.run(lambda ctx: _consignment(ctx, filing_id), need=Permission.filing_read, kinds=ENTERPRISE)
    staged = [d.agency for d in data["filing"].declarations if d.status in STAGED]
    return page.render("enterprise/consignment.html", {**data, "staged": staged, "amendable": AMENDABLE,
                                                       "flash": dict(page.request.query_params), **extra},
                       status=status)


@router.get("/filings/{filing_id}", name="consignment")
async def consignment(page: AsPage, filing_id: str) -> Response:
    """A consignment: its declarations and receipts, versions, inspections, releases and its timeline."""
    return await _show(page, filing_id)


@router.post("/filings/{filing_id}/submit", name="file_parts")
async def file_parts(page: AsPage, filing_id: str) -> Response:
    """File the ticked staged declarations (``filings.service.submit_filing``)."""
    agencies = [a for a in (await page.request.form()).getlist("agencies") if isinstance(a, str)]
    try:
        await page.run(lambda ctx: service.submit_filing(ctx, filing_id, agencies or None),
                       need=Permission.filing_submit, kinds=ENTERPRISE)
    except (ValidationFailed, Conflict) as error:
        return await _show(page, filing_id, status=error.status, submit_error=refusal(error))
    return page.redirect(f"/enterprise/filings/{filing_id}?filed={','.join(agencies) or 'all'}")


def refusal(error: AppError) -> dict[str, Any]:
    """What a refused form shows: its message, and for a 422 each refused field as ``{"name", "msg"}`` (the
    name is the field's first path segment: ``agencies`` of ``["agencies", 0]``), in the error's order."""
    if not isinstance(error, ValidationFailed):
        return {"message": error.message, "fields": []}
    return {"message": error.message, "fields": [{"name": str((d.get("loc") or [""])[0]), "msg": d.get("msg", "")}
                                                 for d in error.details if isinstance(d, dict) and "msg" in d]}


def served_filing(ctx: Context, inspection_id: str, wanted: str = "") -> str:
    """The id of the caller's consignment that the inspection serves: ``wanted`` when it is one of them (an
    inspection of a container shared by two consignments serves both), else the first entered. 404 for an
    inspection the caller may not see."""
    inspection = get_inspection(ctx, inspection_id)
    rows = ctx.session.execute(
        select(Filing.id).join(Declaration, Declaration.filing_id == Filing.id)
        .join(InspectionDeclaration, InspectionDeclaration.declaration_id == Declaration.id)
        .where(InspectionDeclaration.inspection_id == inspection.id, Filing.enterprise_id == ctx.as_actor().org_id)
        .order_by(Filing.created_at, Filing.id))
    served = list(dict.fromkeys(str(filing_id) for (filing_id,) in rows))
    if not served:
        raise NotFound.of("inspection", inspection_id)
    return wanted if wanted in served else served[0]


@router.post("/inspections/{inspection_id}/appointment", name="book_inspection")
async def book_inspection(page: AsPage, inspection_id: str) -> Response:
    """Book the inspection at a local time of the reader's zone (``inspections.attendance.book``), then back to
    the consignment the inspection serves (see :func:`served_filing`; the form's ``filing`` only chooses among
    the caller's consignments it serves). A refusal is shown on that consignment's page (beside the booking
    form, or at the top of the page when the inspection is no longer open to booking); an inspection the
    caller may not see is 404."""
    form = await page.request.form()
    wanted, raw = str(form.get("filing", "")), str(form.get("at", ""))
    at = _local_time(raw, page.zone)

    def work(ctx: Context) -> str:
        filing_id = served_filing(ctx, inspection_id, wanted)
        if at is None:
            raise ValidationFailed([field_error(["at"], Text("give a date and time"))])
        book(ctx, inspection_id, at)
        return filing_id

    try:
        filing_id = await page.run(work, need=Permission.inspection_book, kinds=ENTERPRISE)
    except (ValidationFailed, Conflict) as error:
        message = error.details[0]["msg"] if isinstance(error, ValidationFailed) and error.details else error.message
        filing_id = await page.run(lambda ctx: served_filing(ctx, inspection_id, wanted),
                                   need=Permission.inspection_book, kinds=ENTERPRISE)
        return await _show(page, filing_id, status=error.status,
                           booking_error={"inspection": inspection_id, "message": message, "at": raw})
    return page.redirect(f"/enterprise/filings/{filing_id}?booked=1")


def _local_time(raw: str, zone: ZoneInfo) -> datetime | None:
    """``2026-03-02T14:00`` (a datetime-local input) read in ``zone``; None when it is no date and time."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return value.replace(tzinfo=zone) if value.tzinfo is None else value
