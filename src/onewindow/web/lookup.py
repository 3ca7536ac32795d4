"""Code look-ups for the forms: ``GET /lookup/{table}?<any field>=<text>`` answers a ``<datalist>``.

The text is the value of the input that asks (htmx sends the input's own name
and value), searched with the reference-data look-up the API uses
(``refdata.api.search``: code prefix or part of a name, Chinese or English).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from onewindow.errors import NotFound
from onewindow.refdata.api import SOURCES, search
from onewindow.web.page import AsPage
from onewindow.web.routing import page_router

router = page_router()
LIMIT = 15


@router.get("/lookup/{table}", name="lookup")
async def lookup(page: AsPage, request: Request, table: str) -> Response:
    if table not in SOURCES:
        raise NotFound(f"unknown reference table '{table}'")
    q = next((v for v in request.query_params.values()), "")[:100]
    items = search(table, q, LIMIT)
    html = page.render("_datalist.html", {"table": table, "items": items}).body
    return HTMLResponse(html)
