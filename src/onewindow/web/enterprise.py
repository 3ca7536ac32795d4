"""The enterprise's pages: the staging list, a consignment's page (declarations, versions, timeline,
filing each part, booking the inspection). The entry form is in :mod:`onewindow.web.entry`.

Every handler calls the same services as the API inside ``page.run`` (one unit of work), as an
enterprise user whose role grants the permission named; anyone else gets 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from onewindow.context import Context
from onewindow.filings import service
from onewindow.filings.presenters import filing_out
from onewindow.models import FilingStatus, OrgKind
from onewindow.parties.permissions import Permission
from onewindow.web.page import AsPage
from onewindow.web.routing import page_router

router = page_router(prefix="/enterprise")
ENTERPRISE = {OrgKind.enterprise}
PAGE_SIZE = 20


@router.get("/filings", name="filings")
async def filings(page: AsPage, status: Annotated[str, Query()] = "",
                  offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    """The staging list: the organisation's consignments, newest first, drafts and filed, paged."""
    wanted = status if status in set(FilingStatus) else None

    def work(ctx: Context):
        rows, total = service.list_filings(ctx, status=wanted, limit=PAGE_SIZE, offset=offset)
        return [filing_out(f) for f in rows], total

    rows, total = await page.run(work, need=Permission.filing_read, kinds=ENTERPRISE)
    base = f"/enterprise/filings?status={wanted}" if wanted else "/enterprise/filings"
    return page.render("enterprise/filings.html", {"filings": rows, "total": total, "offset": offset,
                                                   "limit": PAGE_SIZE, "status": wanted or "", "base": base})
