"""Public routes of the clearance-time study: no login, aggregate figures only (see ``timing.service``),
served as published (``timing.publication``)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from onewindow.errors import Text, ValidationFailed, field_error
from onewindow.http import Anyone
from onewindow.timing import publication, service
from onewindow.timing.filters import GROUPS, parse_query

router = APIRouter(tags=["public"])
CACHE = {"Cache-Control": "public, max-age=300"}

Param = Annotated[str | None, Query()]


def _params(request: Request) -> dict[str, str]:
    """The query parameters, each given once (a repeated one is a 422 naming it)."""
    seen: dict[str, str] = {}
    errors = []
    for name, value in request.query_params.multi_items():
        if name in seen:
            errors.append(field_error(["query", name], Text("give this parameter once")))
        seen[name] = value
    if errors:
        raise ValidationFailed(errors)
    return seen


async def _answer(caller: Anyone, request: Request, fmt: str) -> Response:
    if fmt not in ("json", "csv"):
        raise ValidationFailed([field_error(["query", "format"], "must be json or csv")])
    query = parse_query(_params(request), also=("format",))  # format is read above: listed as known
    answer = await caller.run_public(
        lambda ctx: publication.served(ctx, "figures", query, ctx.settings.clearance_min_group), read_only=True)
    headers = {**CACHE, "Last-Modified": format_datetime(datetime.fromisoformat(answer["as_of"]), usegmt=True)}
    if fmt == "csv":
        return Response(service.figures_csv(answer), media_type="text/csv; charset=utf-8",
                        headers={**headers, "Content-Disposition": 'attachment; filename="clearance-times.csv"'})
    return JSONResponse(answer, headers=headers)


DOC = ("Published clearance times (no login): per group, the number of consignments and, for each stage "
       "and each agency, count, mean, median and 90th percentile in hours. Filters: the period "
       "(`from`, `to`: days of the consignments' first milestone, both included) and "
       "direction, port, customs_office, ciq_office, transport_mode, trade_mode, inspection (none, single, "
       f"joint), credit_level, inspection_place, destination; `group_by`: one or two of {', '.join(GROUPS)}. "
       "Groups of fewer consignments than the minimum are suppressed. The figures are published: computed by the "
       "scheduler and refreshed every few minutes while the study changes; `as_of` (and `Last-Modified`) says "
       "when they were computed. See docs/clearance-times.md.")


@router.get("/public/clearance-times", description=DOC)
async def clearance_times(caller: Anyone, request: Request, from_: Annotated[str | None, Query(alias="from")] = None,
                          to: Param = None, direction: Param = None, port: Param = None, customs_office: Param = None,
                          ciq_office: Param = None, transport_mode: Param = None, trade_mode: Param = None,
                          inspection: Param = None, credit_level: Param = None, inspection_place: Param = None,
                          destination: Param = None, group_by: Param = None,
                          format: Annotated[str, Query(description="json or csv")] = "json") -> Response:
    return await _answer(caller, request, format)


@router.get("/public/clearance-times.csv", description="The same figures as CSV (same parameters).")
async def clearance_times_csv(caller: Anyone, request: Request,
                              from_: Annotated[str | None, Query(alias="from")] = None, to: Param = None,
                              direction: Param = None, port: Param = None, customs_office: Param = None,
                              ciq_office: Param = None, transport_mode: Param = None, trade_mode: Param = None,
                              inspection: Param = None, credit_level: Param = None, inspection_place: Param = None,
                              destination: Param = None, group_by: Param = None) -> Response:
    if "format" in request.query_params and request.query_params["format"] != "csv":
        raise ValidationFailed([field_error(["query", "format"], "this address answers CSV only")])
    return await _answer(caller, request, "csv")
