"""The published clearance times (放行时间) as a page: anyone, without signing in.

``GET /clearance-times`` takes the parameters of ``GET /api/v1/public/clearance-times``
(``from``, ``to``, ``direction``, ``port``, ``customs_office``, ``ciq_office``,
``transport_mode``, ``trade_mode``, ``inspection``...) and shows what
:func:`onewindow.timing.service.chart_series` draws: the headline figures per stage
and agency, the distribution, the stage breakdown, the weekly trend and the figures
by port. Only aggregates are shown; small groups appear as suppressed.

Contract: the same validation as the API (:func:`onewindow.timing.filters.parse_query`);
a bad value re-renders the form with the message next to the field, status 422, and no
figures. A field left empty in the form is no filter (the form sends empty values).
Like the public API, the page reads the study as the scheduler keeps it up to date
(``timing.service.project`` runs in the scheduler, not in the request), and serves its
figures as published (:func:`onewindow.timing.publication.served`); the page says when
they were computed (``as_of``, the oldest of the parts shown).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi.responses import Response

from onewindow.errors import Text, ValidationFailed, field_error
from onewindow.models import AGENCIES, STAGES
from onewindow.timing import publication, service
from onewindow.timing.filters import INSPECTION_CLASSES, parse_query
from onewindow.web.labels import N_
from onewindow.web.page import AsPage
from onewindow.web.routing import page_router

router = page_router()

FIELDS = ("from", "to", "direction", "port", "customs_office", "ciq_office", "inspection", "transport_mode",
          "trade_mode")
STAGE_TEXT = {
    "arrival_to_filing": N_("arrival → filing (trader)"),
    "filing_to_release": N_("filing → release (agencies)"),
    "release_to_gate_out": N_("release → gate-out (port)"),
    "arrival_to_release": N_("arrival → release"),
    "arrival_to_gate_out": N_("arrival → gate-out (whole)"),
}
INSPECTION_TEXT = {"none": N_("no inspection"), "single": N_("one agency inspected"),
                   "joint": N_("joint inspection")}


def page_params(multi_items: list[tuple[str, str]]) -> dict[str, str]:
    """The non-empty parameters, each given once (a repeated one is a 422 naming it, as in the API)."""
    seen: dict[str, str] = {}
    errors = []
    for name, value in multi_items:
        if not value.strip():
            continue
        if name in seen:
            errors.append(field_error(["query", name], Text("give this parameter once")))
        seen[name] = value
    if errors:
        raise ValidationFailed(errors)
    return seen


def errors_by_field(error: ValidationFailed) -> dict[str, str]:
    """``details[*].loc`` ``["query", name]`` -> ``{name: message}`` (the first message of each field)."""
    out: dict[str, str] = {}
    for detail in error.details or []:
        loc = detail.get("loc") or []
        name = str(loc[-1]) if loc else "form"
        out.setdefault(name, detail.get("msg", ""))
    return out


@router.get("/clearance-times", name="public_clearance_times")
async def clearance_times(page: AsPage) -> Response:
    """The filter form and the figures of the query (422 with inline errors for bad parameters)."""
    raw = {k: v for k, v in page.request.query_params.items()}
    try:
        query = parse_query(page_params(page.request.query_params.multi_items()))
    except ValidationFailed as error:
        await page.run_optional(lambda ctx: None)
        errors = errors_by_field(page.localise(error))
        return page.render("public/clearance_times.html", _context(raw, errors, None, None), status=422)
    await page.run_optional(lambda ctx: None)  # the reader, when signed in (the page's header)
    charts = await page.run_reading(lambda ctx: service.chart_series(ctx, query, answer=publication.served))
    csv_url = "/api/v1/public/clearance-times?" + urlencode({**query.as_params(), "format": "csv"})
    return page.render("public/clearance_times.html", _context(raw, {}, charts, csv_url))


def _context(values: dict[str, str], errors: dict[str, str], charts: dict[str, Any] | None,
             csv_url: str | None) -> dict[str, Any]:
    known = set(FIELDS)
    as_of = datetime.fromisoformat(charts["as_of"]) if charts else None
    return {"values": values, "errors": errors, "charts": charts, "csv_url": csv_url, "as_of": as_of,
            "other_errors": {k: v for k, v in errors.items() if k not in known},
            "charts_json": json.dumps(charts, ensure_ascii=False).replace("</", "<\\/") if charts else "null",
            "stages": STAGES, "agencies": sorted(AGENCIES), "stage_text": STAGE_TEXT,
            "inspections": INSPECTION_CLASSES, "inspection_text": INSPECTION_TEXT}
