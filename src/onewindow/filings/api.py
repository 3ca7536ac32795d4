"""HTTP routes of one declaration: thin wrappers over ``filings.service`` and ``filings.declarations``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from onewindow.filings import declarations as decl_service
from onewindow.filings import public, service
from onewindow.filings.presenters import (
    declaration_answer, declaration_out, declaration_read, declaration_version_out, filing_detail, filing_out,
    filing_version_out,
)
from onewindow.filings.schemas import (
    AmendmentRequest, DeclarationOut, DeclarationVersionOut, FilingDetail, FilingEntry, FilingOut,
    FilingVersionOut, RejectRequest, SubmitRequest,
)
from onewindow.context import Context
from onewindow.errors import parse_id
from onewindow.http import Anyone, AsCaller, Caller, FastJSONResponse, Offset
from onewindow.idempotency import run_once
from onewindow.models import DeclarationStatus, FilingStatus
from onewindow.parties.permissions import Permission

router = APIRouter(tags=["one declaration"])

_ENTRY_SCHEMA = FilingEntry.model_json_schema(ref_template="#/components/schemas/{model}")
ENTRY_DEFS: dict[str, Any] = _ENTRY_SCHEMA.pop("$defs", {})
"""The entry's nested schemas; ``create_app`` adds them to the OpenAPI components."""
ENTRY_DOC = {"requestBody": {"content": {"application/json": {"schema": _ENTRY_SCHEMA}}, "required": True}}
IDEMPOTENCY_DOC = {"parameters": [{"name": "idempotency-key", "in": "header", "required": False, "schema": {
    "anyOf": [{"type": "string"}, {"type": "null"}], "title": "Idempotency-Key"}}]}
"""The ``Idempotency-Key`` header as the OpenAPI document gives it: a route reads it from the caller's headers
(:func:`idempotency_key`), where a header parameter made FastAPI spend some 130 calls a request on it,
sent or not."""
Limit = Annotated[int, Query(ge=1, le=500)]
IfMatch = Annotated[str | None, Header(pattern=r"^[0-9]{1,9}$")]
"""``If-Match: <version>``: the version a change was made against, digits only (``4.0``, ``+4`` or ``4_0``
are 422 at ``["header", "if-match"]``, not read as numbers); :func:`version_of` reads it."""


def version_of(if_match: str | None) -> int | None:
    """The version an ``If-Match`` header (:data:`IfMatch`, digits only) names."""
    return None if if_match is None else int(if_match)


class FilingPage(BaseModel):
    items: list[FilingOut]
    total: int


def idempotency_key(caller: Caller) -> str | None:
    """The request's ``Idempotency-Key`` (:data:`IDEMPOTENCY_DOC`), None when it has none."""
    return caller.headers.get("idempotency-key")


@router.post("/filings", status_code=201, response_model=FilingOut, openapi_extra={**ENTRY_DOC, **IDEMPOTENCY_DOC})
async def create_filing(caller: AsCaller, entry: Annotated[dict[str, Any], Body()]):
    """The one-time entry: validated field by field, split and staged as draft declarations.

    With ``Idempotency-Key`` a retry returns the first answer instead of a second filing.
    """
    key = idempotency_key(caller)
    if key is None:
        return _answer(201, await caller.run(lambda ctx: service.create_filing(ctx, entry), then=_filing_json))

    def work(ctx: Context):
        return run_once(ctx, key, {"op": "create", "entry": entry},
                        lambda: (201, _filing_json(service.create_filing(ctx, entry))), need=Permission.filing_create)

    return _answer(*await caller.run(work))


def _filing_json(filing) -> dict[str, Any]:
    return filing_out(filing).model_dump(mode="json")


def _answer(status: int, body: dict[str, Any], replayed: bool = False) -> JSONResponse:
    return FastJSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"} if replayed else None)


@router.get("/filings", response_model=FilingPage)
async def list_filings(caller: AsCaller, status: FilingStatus | None = None, limit: Limit = 50,
                       offset: Offset = 0) -> FilingPage:
    """The caller's filings (the staging list), newest first."""

    def work(ctx: Context) -> FilingPage:
        rows, total = service.list_filings(ctx, status=status, limit=limit, offset=offset)
        return FilingPage(items=[filing_out(f) for f in rows], total=total)

    return await caller.run(work)


@router.get("/filings/{filing_id}", response_model=FilingDetail)
async def get_filing(caller: AsCaller, filing_id: str) -> FilingDetail:
    """The filing with its declarations and receipts, inspections (no confidential reasons), releases, gate-outs."""
    return await caller.run(lambda ctx: filing_detail(ctx, service.get_filing(ctx, filing_id)))


@router.patch("/filings/{filing_id}", response_model=FilingOut)
async def update_filing(caller: AsCaller, filing_id: str, patch: Annotated[dict[str, Any], Body()],
                        if_match: IfMatch = None) -> FilingOut:
    """Edit a staged filing; ``If-Match: <version>`` refuses a stale edit (409)."""
    return await caller.run(
        lambda ctx: filing_out(service.update_filing(ctx, filing_id, patch, expected_version=version_of(if_match))))


@router.get("/filings/{filing_id}/versions", response_model=list[FilingVersionOut])
async def filing_versions(caller: AsCaller, filing_id: str) -> list[FilingVersionOut]:
    return await caller.run(lambda ctx: [filing_version_out(v) for v in service.filing_versions(ctx, filing_id)])


@router.post("/filings/{filing_id}/submit", response_model=FilingOut, openapi_extra=IDEMPOTENCY_DOC)
async def submit_filing(caller: AsCaller, filing_id: str, body: SubmitRequest | None = None):
    """File staged declarations; with ``Idempotency-Key`` a retry returns the first answer."""
    agencies = body.agencies if body else None
    key = idempotency_key(caller)
    if key is None:
        return _answer(200, await caller.run(lambda ctx: service.submit_filing(ctx, filing_id, agencies),
                                             then=_filing_json))

    def work(ctx: Context):
        same = {"op": "submit", "filing": str(parse_id(filing_id, "filing")),
                "agencies": sorted(set(agencies)) if agencies is not None else None}
        return run_once(ctx, key, same, lambda: (200, _filing_json(service.submit_filing(ctx, filing_id, agencies))),
                        need=Permission.filing_submit)

    return _answer(*await caller.run(work))


@router.get("/declarations", response_model=list[DeclarationOut])
async def list_declarations(caller: AsCaller, status: DeclarationStatus | None = None, limit: Limit = 50,
                            offset: Offset = 0) -> list[DeclarationOut]:
    """The caller's queue: declarations routed to its office, oldest filed first."""
    return await caller.run(lambda ctx: [declaration_out(ctx, d) for d in decl_service.list_declarations(
        ctx, status=status, limit=limit, offset=offset)])


@router.get("/declarations/{declaration_id}", response_model=DeclarationOut)
async def get_declaration(caller: AsCaller, declaration_id: str) -> DeclarationOut:
    return await caller.run(lambda ctx: declaration_out(ctx, decl_service.get_declaration(ctx, declaration_id)))


@router.get("/declarations/{declaration_id}/versions", response_model=list[DeclarationVersionOut])
async def declaration_versions(caller: AsCaller, declaration_id: str) -> list[DeclarationVersionOut]:
    return await caller.run(lambda ctx: [declaration_version_out(v)
                                         for v in decl_service.declaration_versions(ctx, declaration_id)])


@router.post("/declarations/{declaration_id}/accept", response_model=DeclarationOut)
async def accept(caller: AsCaller, declaration_id: str) -> DeclarationOut:
    """Accept (受理): the declaration gets its office's next receipt number."""
    return await caller.run(lambda ctx: declaration_read(ctx, decl_service.accept(ctx, declaration_id)),
                            then=declaration_answer)


@router.post("/declarations/{declaration_id}/reject", response_model=DeclarationOut)
async def reject(caller: AsCaller, declaration_id: str, body: RejectRequest) -> DeclarationOut:
    return await caller.run(lambda ctx: declaration_read(ctx, decl_service.reject(ctx, declaration_id, body.reason)),
                            then=declaration_answer)


@router.post("/declarations/{declaration_id}/amendments", status_code=201, response_model=DeclarationOut)
async def amend(caller: AsCaller, declaration_id: str, body: AmendmentRequest,
                if_match: IfMatch = None) -> DeclarationOut:
    """Amend a filed declaration; the filing's other agencies see a notice. ``If-Match: <version>`` refuses an
    amendment made against a version that has been amended since (409 ``version_conflict``)."""
    return await caller.run(lambda ctx: declaration_out(ctx, decl_service.amend(
        ctx, declaration_id, body.changes, body.reason, expected_version=version_of(if_match))))


StatusNumber = Annotated[str, Query(max_length=40, description="the declaration's number: 18 digits (customs) "
                                    "or 15 (CIQ); blanks ignored")]


@router.get("/public/status", response_model=public.PublicStatus, tags=["public"])
async def public_declaration_status(caller: Anyone, number: StatusNumber = "") -> public.PublicStatus:
    """The public status query (通关状态查询), no login: the agency, status and dates of the accepted declaration
    with this number, nothing else (422 naming `query.number` when malformed, 404 when none has it)."""
    checked = public.checked_number(number)
    return await caller.run_public(lambda ctx: public.public_status(ctx, checked), read_only=True)


__all__ = ["router", "ENTRY_DOC", "ENTRY_DEFS"]
