"""The one-time entry form (一次录入): new entries and edits of staged ones.

The form's fields are named by the entry's paths (``consignee.uscc``,
``items.3.hs_code``), so a 422 from the filings validation, whose details name
paths (``["items", 1, "hs_code"]``), lands on the field that caused it. Rows of
containers, goods and documents are added (``GET /enterprise/entry/rows/...``)
and removed in place with htmx; their indexes may have gaps, and
:func:`entry_from_form` keeps the map from the entry's positions back to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import Query
from fastapi.responses import Response

from onewindow.context import Context
from onewindow.errors import AppError, Conflict, Text, ValidationFailed, field_error
from onewindow.filings import service
from onewindow.filings.presenters import filing_out
from onewindow.models import FilingStatus, OrgKind
from onewindow.parties.permissions import Permission
from onewindow.web.labels import DOCUMENT_KIND, N_
from onewindow.web.page import AsPage, Page
from onewindow.web.routing import page_router

router = page_router(prefix="/enterprise")
ENTERPRISE = {OrgKind.enterprise}


@dataclass(frozen=True)
class Field:
    """One input: its entry path, label, look-up table (``/lookup/<table>``), input type and choices."""

    path: str
    label: str
    lookup: str | None = None
    type: str = "text"
    choices: tuple[tuple[str, str], ...] = ()
    wide: bool = False


DIRECTIONS = (("import", N_("import")), ("export", N_("export")))
DOCUMENT_KINDS = tuple(DOCUMENT_KIND.items())

SECTIONS: tuple[tuple[str, tuple[Field, ...]], ...] = (
    (N_("Declaration"), (
        Field("direction", N_("Import or export"), type="select", choices=DIRECTIONS),
        Field("trade_mode", N_("Trade mode"), "trade_modes"),
        Field("transport_mode", N_("Transport mode"), "transport_modes"),
        Field("transaction_mode", N_("Transaction mode"), "transaction_modes"),
        Field("customs_office", N_("Customs office")),
        Field("ciq_office", N_("Inspection & quarantine office")),
        Field("port", N_("Port"), "ports"),
    )),
    (N_("Parties"), (
        Field("consignee.uscc", N_("Consignee USCC")), Field("consignee.name", N_("Consignee name"), wide=True),
        Field("consignor.uscc", N_("Consignor USCC")), Field("consignor.name", N_("Consignor name"), wide=True),
        Field("overseas_party.name", N_("Overseas party"), wide=True),
        Field("overseas_party.country", N_("Overseas party's country"), "countries"),
    )),
    (N_("Transport"), (
        Field("conveyance.name", N_("Vessel or vehicle")), Field("conveyance.voyage", N_("Voyage")),
        Field("bill_of_lading", N_("Bill of lading")),
        Field("trade_country", N_("Trading country"), "countries"),
        Field("departure_country", N_("Country of departure"), "countries"),
        Field("destination_country", N_("Country of destination"), "countries"),
    )),
    (N_("Packages and value"), (
        Field("currency", N_("Currency"), "currencies"),
        Field("packages", N_("Packages"), type="number"),
        Field("package_type", N_("Package type"), "package_types"),
        Field("gross_weight_kg", N_("Gross weight (kg)"), type="number"),
        Field("net_weight_kg", N_("Net weight (kg)"), type="number"),
        Field("remarks", N_("Remarks"), type="textarea", wide=True),
    )),
)

ROWS: dict[str, tuple[str, tuple[Field, ...]]] = {
    "containers": (N_("Containers"), (
        Field("number", N_("Container number")), Field("size_type", N_("Size and type")))),
    "items": (N_("Goods"), (
        Field("hs_code", N_("HS code"), "hs"), Field("name", N_("Description"), wide=True),
        Field("spec", N_("Specification")), Field("quantity", N_("Quantity"), type="number"),
        Field("unit", N_("Unit"), "units"), Field("unit_price", N_("Unit price"), type="number"),
        Field("total_price", N_("Total price"), type="number"),
        Field("origin_country", N_("Country of origin"), "countries"))),
    "documents": (N_("Documents"), (
        Field("kind", N_("Document"), type="select", choices=DOCUMENT_KINDS), Field("number", N_("Number")))),
}
INTEGERS = {"packages"}
NUMBERS = {"gross_weight_kg", "net_weight_kg", "quantity", "unit_price", "total_price"}
LOOKUPS = sorted({f.lookup for _t, fields in SECTIONS for f in fields if f.lookup}
                 | {f.lookup for _t, fields in ROWS.values() for f in fields if f.lookup})
_ROW_NAME = re.compile(r"^(containers|items|documents)\.(\d{1,4})\.(\w+)$")
HEADER_PATHS = [f.path for _t, fields in SECTIONS for f in fields]


@dataclass
class EntryForm:
    """What the form shows: raw values by field name, row indexes by group, errors by field name."""

    values: dict[str, str] = field(default_factory=dict)
    rows: dict[str, list[int]] = field(default_factory=lambda: {group: [] for group in ROWS})
    errors: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    kept: dict[str, list[int]] = field(default_factory=dict)
    """For each group, the on-page index of each row that went into the entry (empty rows are dropped)."""

    def next_index(self, group: str) -> int:
        return max(self.rows[group], default=-1) + 1


def _typed(name: str, raw: str) -> Any:
    """Numbers for numeric fields when they parse (otherwise the text, which validation names as wrong)."""
    if name in INTEGERS and re.fullmatch(r"[+-]?\d+", raw):
        return int(raw)
    if name in NUMBERS | INTEGERS:
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


def _put(target: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def entry_from_form(form: dict[str, str]) -> tuple[dict[str, Any], EntryForm]:
    """The entry document typed into ``form`` and the form's state (rows by their on-page index).

    Empty fields are left out (so a required one is reported missing); empty rows are dropped. Line breaks
    come as a browser sends a text area's (CR LF) and are kept as the entry keeps them (LF).
    """
    state = EntryForm(values={k: v.replace("\r\n", "\n").strip() for k, v in form.items() if isinstance(v, str)})
    entry: dict[str, Any] = {}
    for path in HEADER_PATHS:
        if raw := state.values.get(path):
            _put(entry, path, _typed(path.rsplit(".", 1)[-1], raw))
    found: dict[str, dict[int, dict[str, Any]]] = {group: {} for group in ROWS}
    for name, raw in state.values.items():
        if match := _ROW_NAME.fullmatch(name):
            group, index, leaf = match.group(1), int(match.group(2)), match.group(3)
            row = found[group].setdefault(index, {})
            if raw:
                row[leaf] = _typed(leaf, raw)
    for group, rows in found.items():
        state.rows[group] = sorted(rows)
        kept = [i for i in sorted(rows) if rows[i]]
        entry[group] = [rows[i] for i in kept]
        state.kept[group] = kept
    return entry, state


def form_from_data(data: dict[str, Any]) -> EntryForm:
    """The form showing a stored entry (editing a staged filing)."""
    state = EntryForm()

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                flatten(f"{prefix}.{key}" if prefix else key, sub)
        elif isinstance(value, float) and value.is_integer():
            state.values[prefix] = str(int(value))
        elif value is not None and not isinstance(value, list):
            state.values[prefix] = str(value)

    for key, value in data.items():
        if key in ROWS:
            for i, row in enumerate(value or []):
                flatten(f"{key}.{i}", row)
            state.rows[key] = list(range(len(value or [])))
        else:
            flatten(key, value)
    return state


def place_errors(state: EntryForm, details: list[dict[str, Any]]) -> None:
    """Put each 422 detail on the field it names; what names no field is kept as a general message."""
    for detail in details:
        loc = list(detail.get("loc") or [])
        if len(loc) >= 2 and loc[0] in ROWS and isinstance(loc[1], int):
            kept = state.kept.get(loc[0], [])
            loc[1] = kept[loc[1]] if loc[1] < len(kept) else loc[1]
        name = ".".join(str(part) for part in loc)
        target = name if name in state.values or name in HEADER_PATHS else next(
            (n for n in [*HEADER_PATHS, *state.values] if n.startswith(name + ".")), None) if name else None
        if target and target not in state.errors:
            state.errors[target] = detail.get("msg", "")
        else:
            state.general.append(f"{name or '—'}: {detail.get('msg', '')}")


def form_version(form: dict[str, Any]) -> int:
    """The version of the record the form was opened at (its hidden ``version`` field).

    422 naming ``version`` when it is missing or not a whole number: a form that does not say what it was
    opened at is never saved, as it could undo a change made since without anyone seeing it.
    """
    raw = form.get("version")
    if isinstance(raw, str) and re.fullmatch(r"[0-9]{1,9}", raw.strip()):
        return int(raw)
    raise ValidationFailed([field_error(["version"], Text(
        "the form does not say which version it was opened at; open the form again"))])


def place_refusal(state: EntryForm, error: AppError, form: dict[str, Any]) -> bool:
    """Show a refused save on the form: a 422's details and a 409's (each on the field it names), a 409's
    message; the posted ``version`` is kept as it was, so that a form opened before a change stays refused
    until opened again. True when the refusal is that the record changed since the form was opened (its
    message is then the page's own)."""
    raw = form.get("version")
    state.values["version"] = raw.strip() if isinstance(raw, str) else ""
    stale = error.code == "version_conflict"
    if isinstance(error, Conflict) and not stale:
        state.general.append(error.message)
    place_errors(state, [d for d in error.details if isinstance(d, dict) and "loc" in d])
    return stale


def _render(page: Page, state: EntryForm, *, filing=None, status: int = 200, stale: bool = False) -> Response:
    for group in ROWS:  # a new entry starts with one empty row of containers and goods
        if not state.rows[group] and filing is None and group != "documents":
            state.rows[group] = [0]
    return page.render("enterprise/entry.html", {"form": state, "sections": SECTIONS, "row_groups": ROWS,
                                                 "lookups": LOOKUPS, "filing": filing, "stale": stale},
                       status=status)


@router.get("/filings/new", name="new_entry")
async def new_entry(page: AsPage) -> Response:
    await page.run(lambda ctx: None, need=Permission.filing_create, kinds=ENTERPRISE)
    return _render(page, EntryForm(values={"direction": "import"}))


@router.post("/filings/new")
async def create(page: AsPage) -> Response:
    """Stage the entry (``filings.service.create_filing``); a 422 re-renders the form with inline errors."""
    entry, state = entry_from_form(dict(await page.request.form()))
    try:
        filing = await page.run(lambda ctx: filing_out(service.create_filing(ctx, entry)),
                                need=Permission.filing_create, kinds=ENTERPRISE)
    except ValidationFailed as error:
        place_errors(state, error.details)
        return _render(page, state, status=422)
    return page.redirect(f"/enterprise/filings/{filing.id}?created=1")


def _editable(ctx: Context, filing_id: str):
    """The staged filing to edit; 409 ``filed`` once every declaration is filed (nothing could be saved: each
    declaration is amended instead), as :func:`onewindow.filings.service.update_filing` answers."""
    filing = service.get_filing(ctx, filing_id)
    if filing.status == FilingStatus.filed.value:
        raise Conflict(Text("every declaration of this filing is filed; amend a declaration instead"), code="filed")
    return filing_out(filing)


@router.get("/filings/{filing_id}/edit", name="edit_entry")
async def edit_entry(page: AsPage, filing_id: str) -> Response:
    """The staged entry in the form, with the version it is at (a 409 page once every declaration is filed)."""
    filing = await page.run(lambda ctx: _editable(ctx, filing_id), need=Permission.filing_update, kinds=ENTERPRISE)
    state = form_from_data(filing.data)
    return _render(page, state, filing=filing)


@router.post("/filings/{filing_id}/edit")
async def update(page: AsPage, filing_id: str) -> Response:
    """Save a staged filing as its next version, against the version the form was opened at.

    Refused, the form comes back with what was typed: 422 with the fields marked (``version`` when the form
    does not carry a whole number), 409 with the reason (the fields a filed declaration carries marked; the
    entry saved since the form was opened; every part filed)."""
    form = dict(await page.request.form())
    entry, state = entry_from_form(form)

    cleared = {path.split(".")[0]: None for path in HEADER_PATHS} | {group: [] for group in ROWS}
    patch = cleared | entry  # a field emptied on the form is removed from the entry

    def work(ctx: Context):
        version = form_version(form)
        return filing_out(service.update_filing(ctx, filing_id, patch, expected_version=version))

    try:
        filing = await page.run(work, need=Permission.filing_update, kinds=ENTERPRISE)
    except (ValidationFailed, Conflict) as error:
        stale = place_refusal(state, error, form)
        current = await page.run(lambda ctx: filing_out(service.get_filing(ctx, filing_id)),
                                 need=Permission.filing_update, kinds=ENTERPRISE)
        return _render(page, state, filing=current, status=error.status, stale=stale)
    return page.redirect(f"/enterprise/filings/{filing.id}?saved={filing.version}")


@router.get("/entry/rows/{group}", name="entry_row")
async def entry_row(page: AsPage, group: str, index: int = Query(ge=0, le=9999)) -> Response:
    """One empty row of ``group`` (containers, items, documents) and the button that adds the next one."""
    await page.run(lambda ctx: None, need=Permission.filing_create, kinds=ENTERPRISE)
    return empty_row(page, group, index)


def empty_row(page: Page, group: str, index: int, rows_url: str = "/enterprise/entry/rows") -> Response:
    """One empty row of ``group`` at ``index`` and the button adding the next (from ``rows_url``)."""
    if group not in ROWS:
        from onewindow.errors import NotFound

        raise NotFound(f"no rows named {group}")
    return page.render("enterprise/_row.html", {"group": group, "index": index, "row_groups": ROWS,
                                                "form": EntryForm(), "with_adder": True, "rows_url": rows_url})
