"""HTTP lookup of the reference tables, for forms and client-side pickers.

The router has no prefix and needs no authentication; the application mounts
it (under ``/api/v1``). Endpoints:

* ``GET /refdata/{table}?q=&limit=20``: codes and names of one table,
  filtered by code prefix or name substring (any language);
* ``GET /refdata/inspection-catalogue/{hs_code}``: whether goods need
  inspection or quarantine, and under which catalogue entry.

The inspection catalogue is read from the file at
``app.state.inspection_catalogue`` or, when that is unset, at
``app.state.settings.inspection_catalogue`` (the ``ONEWINDOW_INSPECTION_CATALOGUE``
setting); with neither, the shipped catalogue is used. An application may
also override the :func:`inspection_catalogue` dependency.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel

from .catalogue import InspectionCatalogue, get_catalogue
from .tables import get_refdata

router = APIRouter(tags=["reference data"])

# URL table name -> customs parameter table name.
PARAM_ENDPOINTS: dict[str, str] = {
    "countries": "country",
    "currencies": "currency",
    "units": "unit",
    "trade_modes": "trade_mode",
    "transport_modes": "transport_mode",
    "transaction_modes": "transaction_mode",
    "package_types": "package_type",
    "levy_kinds": "levy_kind",
    "container_kinds": "container_kind",
}


class RefItem(BaseModel):
    """One code of a table; a name is null when the table has none in that language."""

    code: str
    name_zh: str | None = None
    name_en: str | None = None


class RefTable(BaseModel):
    """The matching items of one table, ordered by code."""

    table: str
    items: list[RefItem]


def _item(code: str, name_zh: str | None, name_en: str | None) -> tuple[str, str | None, str | None]:
    """An item as a tuple, empty names turned into None."""
    return code, name_zh or None, name_en or None


def _hs_items() -> Iterator[tuple[str, str | None, str | None]]:
    data = get_refdata()
    return (_item(c.code, c.name_zh, c.name_en) for c in data.cn8.values())


def _hs6_items() -> Iterator[tuple[str, str | None, str | None]]:
    return (_item(code, None, text) for code, text in get_refdata().hs6.items())


def _port_items() -> Iterator[tuple[str, str | None, str | None]]:
    return (_item(loc.code, None, loc.name) for loc in get_refdata().locations.values())


def _param_items(table: str) -> Callable[[], Iterator[tuple[str, str | None, str | None]]]:
    def items() -> Iterator[tuple[str, str | None, str | None]]:
        return (_item(p.code, p.name_zh, p.name_en) for p in get_refdata().params[table].values())

    return items


SOURCES: dict[str, Callable[[], Iterator[tuple[str, str | None, str | None]]]] = {
    "hs": _hs_items,
    "hs6": _hs6_items,
    "ports": _port_items,
    **{name: _param_items(table) for name, table in PARAM_ENDPOINTS.items()},
}


@cache
def _table_rows(table: str) -> tuple[tuple[str, str | None, str | None, str], ...]:
    """(code, name_zh, name_en, folded search text) of a table, ordered by code."""
    rows = sorted(SOURCES[table]())
    return tuple((c, zh, en, f"{zh or ''}\n{en or ''}".casefold()) for c, zh, en in rows)


def search(table: str, q: str, limit: int) -> list[RefItem]:
    """Up to ``limit`` items of ``table`` whose code starts with ``q`` or whose name contains it.

    For ``ports`` the prefix may also omit the country (``SHG`` finds
    ``CNSHG``). An empty ``q`` lists the table from its first code.
    """
    needle = q.strip()
    code_prefix, folded = needle.upper(), needle.casefold()
    found: list[RefItem] = []
    for code, zh, en, text in _table_rows(table):
        if (code.startswith(code_prefix) or folded in text
                or (table == "ports" and code[2:].startswith(code_prefix))):
            found.append(RefItem(code=code, name_zh=zh, name_en=en))
            if len(found) >= limit:
                break
    return found


def inspection_catalogue(request: Request) -> InspectionCatalogue:
    """The catalogue configured on the application (see the module docstring)."""
    state = request.app.state
    path = getattr(state, "inspection_catalogue", None)
    if path is None:
        path = getattr(getattr(state, "settings", None), "inspection_catalogue", None)
    return get_catalogue(path)


@router.get("/refdata/inspection-catalogue/{hs_code}")
def inspection_lookup(
    hs_code: Annotated[str, Path(pattern=r"^[0-9]{2,10}$", description="HS code, 2 to 10 digits")],
    catalogue: Annotated[InspectionCatalogue, Depends(inspection_catalogue)],
) -> dict[str, Any]:
    """Whether goods under ``hs_code`` need inspection or quarantine (检验检疫)."""
    entry = catalogue.lookup(hs_code)
    if entry is None:
        return {"hs_code": hs_code, "needs_inspection": False}
    return {
        "hs_code": hs_code,
        "needs_inspection": True,
        "hs_prefix": entry.hs_prefix,
        "category": entry.category,
        "name_zh": entry.name_zh,
        "name_en": entry.name_en,
    }


@router.get("/refdata/{table}", response_model=RefTable)
def lookup(
    table: str,
    q: Annotated[str, Query(max_length=100, description="code prefix or part of a name")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> RefTable:
    """Codes and names of one reference table, filtered by ``q``; 404 for an unknown table."""
    if table not in SOURCES:
        raise HTTPException(404, f"unknown reference table '{table}'; known tables: {', '.join(SOURCES)}")
    return RefTable(table=table, items=search(table, q, limit))
