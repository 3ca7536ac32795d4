"""The public status query (通关状态查询): anyone, without signing in, by declaration number.

The page of ``onewindow.filings.public``, which says what it answers and keeps
back; ``GET /api/v1/public/status`` answers the same as JSON.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import Response

from onewindow.filings.public import find_public_status, normalised_number, well_formed
from onewindow.web.labels import N_
from onewindow.web.page import AsPage
from onewindow.web.routing import page_router

router = page_router()


@router.get("/status", name="public_status")
async def status_query(page: AsPage, number: Annotated[str, Query(max_length=40)] = "") -> Response:
    """The query form, and the answer when a number is given (400 for a malformed number, 404 unknown)."""
    number = normalised_number(number)
    if not number:
        await page.run_optional(lambda ctx: None)
        return page.render("public/status.html", {"number": "", "result": None, "problem": None})
    if not well_formed(number):
        await page.run_optional(lambda ctx: None)
        return page.render("public/status.html", {"number": number, "result": None, "problem": MALFORMED},
                           status=400)
    result = await page.run_optional(lambda ctx: find_public_status(ctx, number))
    return page.render("public/status.html", {"number": number, "result": result,
                                              "problem": None if result else UNKNOWN},
                       status=200 if result else 404)


MALFORMED = N_("A declaration number has 18 digits (customs) or 15 digits (inspection and quarantine).")
UNKNOWN = N_("No declaration with this number has been accepted.")
