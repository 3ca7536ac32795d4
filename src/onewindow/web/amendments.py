"""Amending a filed declaration (修改申报) on the pages, by its enterprise or its office.

The entry form again, limited to the fields the declaration carries and filled
with what its agency received; the enterprise changes what is wrong and gives
the reason (an officer of the declaration's office does the same from the
workbench). The form carries the declaration's version it was opened at; only
the fields typed differently from that version are sent to
``filings.declarations.amend`` (the same service as
``POST /api/v1/declarations/{id}/amendments``) with that version expected, so
the agency sees a new version with exactly those changes and the other agencies
a notice when a field they carry changed, and a form opened before another
amendment is refused (409) rather than undo it. A 422 lands on the fields, as on
the entry form.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from onewindow.context import Context
from onewindow.errors import Conflict, Text, ValidationFailed
from onewindow.filings import declarations as decl_service
from onewindow.filings.declarations import AMENDABLE
from onewindow.filings.split import PARTS, as_entry_fields
from onewindow.models import OrgKind
from onewindow.parties.permissions import Permission
from onewindow.web.entry import HEADER_PATHS, LOOKUPS, ROWS, SECTIONS, EntryForm, empty_row, entry_from_form, \
    form_from_data, form_version, place_refusal
from onewindow.web.page import AsPage, Page
from onewindow.web.routing import joined, page_router

FORM_FIELDS = frozenset({path.split(".")[0] for path in HEADER_PATHS} | set(ROWS))
"""The entry's top-level fields the form shows (only these can be changed here)."""


def amendable(ctx: Context, declaration_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the page says about the declaration, its data as entry fields the form shows).

    The data is the declaration's own (what its agency received): a field it was filed without stays empty,
    whatever another declaration's amendment gave the consignment since. 404 for a declaration the caller may
    not see; 409 when its status allows no amendment.
    """
    declaration = decl_service.get_declaration(ctx, declaration_id)
    if declaration.status not in AMENDABLE:
        raise Conflict(Text("only a filed declaration (submitted or accepted) can be amended"),
                       code="not_amendable")
    filing = declaration.filing
    about = {"id": str(declaration.id), "agency": declaration.agency, "number": declaration.number,
             "status": declaration.status, "version": declaration.version, "filing_id": str(filing.id),
             "bill_of_lading": filing.data.get("bill_of_lading")}
    return about, _form_view(declaration.agency, declaration.data)


def _form_view(agency: str, data: dict[str, Any]) -> dict[str, Any]:
    """A declaration's data as the entry fields its amendment form shows."""
    fields = PARTS[agency] & FORM_FIELDS
    return {k: v for k, v in as_entry_fields(agency, data).items() if k in fields}


def opened_view(ctx: Context, about: dict[str, Any], current: dict[str, Any], version: int) -> dict[str, Any]:
    """What the amendment form showed when opened at ``version`` of the declaration: that version's kept data
    (``current``, the declaration's data now, when no such version is kept: the amendment is refused then)."""
    if version == about["version"]:
        return current
    kept = next((v.data for v in decl_service.declaration_versions(ctx, about["id"]) if v.version == version), None)
    return current if kept is None else _form_view(about["agency"], kept)


def changes_between(current: dict[str, Any], typed: dict[str, Any], fields: set[str]) -> dict[str, Any]:
    """The fields whose typed value differs from the current one (an emptied field: ``None``)."""
    return {k: typed.get(k) for k in sorted(fields) if _normal(typed.get(k)) != _normal(current.get(k))}


def _normal(value: Any) -> Any:
    """Empty lists and missing values are the same; so are 3 and 3.0."""
    if value in (None, [], {}):
        return None
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items() if _normal(v) is not None}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def _sections(agency: str):
    return [(title, [f for f in fields if f.path.split(".")[0] in PARTS[agency]]) for title, fields in SECTIONS]


def amendment_routes(kind: OrgKind, done: Callable[[dict[str, Any]], str]) -> APIRouter:
    """The amendment form of ``kind``'s users under ``/<kind>/declarations/{id}/amend`` (and the rows it adds
    under ``/<kind>/amend/rows``); after filing, a redirect to ``done(about)``."""
    router = page_router(prefix=f"/{kind.value}")
    kinds, rows_url = {kind}, f"/{kind.value}/amend/rows"

    def render(page: Page, state: EntryForm, about: dict[str, Any], *, status: int = 200,
               stale: bool = False) -> Response:
        return page.render("enterprise/amend.html", {
            "form": state, "about": about, "sections": _sections(about["agency"]), "row_groups": ROWS,
            "lookups": LOOKUPS, "rows_url": rows_url, "action": f"/{kind.value}/declarations/{about['id']}/amend",
            "back": done(about) if kind is not OrgKind.enterprise else None, "stale": stale}, status=status)

    @router.get("/declarations/{declaration_id}/amend", name=f"{kind.value}_amend_declaration")
    async def amend_form(page: AsPage, declaration_id: str) -> Response:
        """The declaration's data in the entry form, with a field for the reason."""
        about, view = await page.run(lambda ctx: amendable(ctx, declaration_id), need=Permission.declaration_amend,
                                     kinds=kinds)
        return render(page, form_from_data(view), about)

    @router.post("/declarations/{declaration_id}/amend")
    async def amend(page: AsPage, declaration_id: str) -> Response:
        """Send the fields typed differently from the version the form was opened at, with the reason and that
        version expected; refused, the form again with what was typed: 422 (fields marked, ``version`` when the
        form carries no whole number) or 409 (the reason; the declaration amended since the form was opened)."""
        form = dict(await page.request.form())
        reason = str(form.pop("reason", "")).strip()
        typed, state = entry_from_form({k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"})
        state.values["reason"] = reason

        def work(ctx: Context) -> dict[str, Any]:
            about, current = amendable(ctx, declaration_id)  # a blank reason: the service names it with the rest
            version = form_version(form)
            changes = changes_between(opened_view(ctx, about, current, version), typed,
                                      PARTS[about["agency"]] & FORM_FIELDS)
            decl_service.amend(ctx, declaration_id, changes, reason, expected_version=version)
            return about

        try:
            about = await page.run(work, need=Permission.declaration_amend, kinds=kinds)
        except (ValidationFailed, Conflict) as error:
            about, _view = await page.run(lambda ctx: amendable(ctx, declaration_id),
                                          need=Permission.declaration_amend, kinds=kinds)
            error.details = [{**d, "loc": _without_changes(d.get("loc") or [])} for d in error.details
                             if isinstance(d, dict)]
            stale = place_refusal(state, error, form)
            return render(page, state, about, status=error.status, stale=stale)
        return page.redirect(done(about))

    @router.get("/amend/rows/{group}", name=f"{kind.value}_amend_row")
    async def amend_row(page: AsPage, group: str, index: int = Query(ge=0, le=9999)) -> Response:
        await page.run(lambda ctx: None, need=Permission.declaration_amend, kinds=kinds)
        return empty_row(page, group, index, rows_url)

    return router


def _without_changes(loc: list[Any]) -> list[Any]:
    return loc[1:] if loc[:1] == ["changes"] else loc


router = joined(
    amendment_routes(OrgKind.enterprise,
                     lambda about: f"/enterprise/filings/{about['filing_id']}?amended={about['agency']}"),
    *(amendment_routes(kind, lambda about, k=kind: f"/{k.value}/declarations/{about['id']}?done=amended")
      for kind in (OrgKind.customs, OrgKind.ciq)))
