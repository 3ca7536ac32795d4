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

from onewindow.context import Context
from onewindow.errors import Conflict, ValidationFailed, field_error
from onewindow.filings import service
from onewindow.filings.declarations import AMENDABLE
from onewindow.filings.presenters import filing_detail, filing_out, filing_version_out
from onewindow.inspections.attendance import book
from onewindow.models import STAGED_STATUSES, FilingStatus, OrgKind
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
        return await _show(page, filing_id, status=error.status, submit_error=error.message)
    return page.redirect(f"/enterprise/filings/{filing_id}?filed={','.join(agencies) or 'all'}")


@router.post("/inspections/{inspection_id}/appointment", name="book_inspection")
async def book_inspection(page: AsPage, inspection_id: str) -> Response:
    """Book the inspection at a local time of the reader's zone (``inspections.attendance.book``)."""
    form = await page.request.form()
    filing_id, raw = str(form.get("filing", "")), str(form.get("at", ""))
    at = _local_time(raw, page.zone)

    def work(ctx: Context) -> None:
        if at is None:
            raise ValidationFailed([field_error(["at"], "give a date and time")])
        book(ctx, inspection_id, at)

    try:
        await page.run(work, need=Permission.inspection_book, kinds=ENTERPRISE)
    except (ValidationFailed, Conflict) as error:
        message = error.details[0]["msg"] if isinstance(error, ValidationFailed) and error.details else error.message
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
