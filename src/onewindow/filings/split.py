"""Splitting one entry into each agency's declaration (一次录入、分别申报).

Which fields each declaration carries is data, not code: ``PARTS`` below. The
customs declaration (报关单) carries the whole entry but the CIQ office; the CIQ
declaration (报检单) exists only when the inspection catalogue names some line's
HS code, and carries the goods and transport data inspection needs, each line
marked with its catalogue category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from onewindow.filings.schemas import FilingEntry
from onewindow.refdata.catalogue import InspectionCatalogue

CUSTOMS, CIQ = "customs", "ciq"

_COMMON = ("direction", "consignee", "consignor", "declarant", "overseas_party", "trade_mode", "transport_mode",
           "port", "conveyance", "bill_of_lading", "trade_country", "departure_country", "destination_country",
           "currency", "packages", "package_type", "gross_weight_kg", "net_weight_kg", "containers", "items",
           "documents", "remarks")

PARTS: dict[str, frozenset[str]] = {
    CUSTOMS: frozenset((*_COMMON, "customs_office", "transaction_mode")),
    CIQ: frozenset((*_COMMON, "ciq_office")),
}

OFFICE_FIELD = {CUSTOMS: "customs_office", CIQ: "ciq_office"}


@dataclass(frozen=True)
class Part:
    """One agency's declaration data and the office it goes to."""

    agency: str
    office_code: str
    data: dict[str, Any]


def inspection_lines(entry: FilingEntry, catalogue: InspectionCatalogue) -> dict[int, Any]:
    """Index → catalogue entry of each goods line that needs inspection or quarantine."""
    found = {i: catalogue.lookup(item.hs_code) for i, item in enumerate(entry.items)}
    return {i: hit for i, hit in found.items() if hit is not None}


def split(entry: FilingEntry, catalogue: InspectionCatalogue,
          lines: dict[int, Any] | None = None) -> dict[str, Part]:
    """The declarations this entry makes, by agency (customs always; CIQ when the catalogue says so).

    ``lines``: the entry's :func:`inspection_lines`, when the caller already has them.
    """
    lines = inspection_lines(entry, catalogue) if lines is None else lines
    data = _stored(entry)
    parts = {CUSTOMS: _part(entry, CUSTOMS, data, lines)}
    if entry.ciq_office and lines:
        parts[CIQ] = _part(entry, CIQ, data, lines)
    return parts


def part_for(entry: FilingEntry, agency: str, catalogue: InspectionCatalogue) -> Part:
    """``agency``'s declaration data from the entry (CIQ lines carry their catalogue category)."""
    return _part(entry, agency, _stored(entry), inspection_lines(entry, catalogue) if agency == CIQ else {})


def _stored(entry: FilingEntry) -> dict[str, Any]:
    """The entry's fields as declarations store them (JSON values, no empty field)."""
    return entry.model_dump(mode="json", exclude_none=True)


def _part(entry: FilingEntry, agency: str, stored: dict[str, Any], lines: dict[int, Any]) -> Part:
    """:func:`part_for` from the entry's :func:`_stored` fields and its :func:`inspection_lines` (the parts of
    one entry share the values of the fields they both carry: stored data is replaced, never changed in
    place)."""
    data = {k: v for k, v in stored.items() if k in PARTS[agency]}
    if agency == CIQ:
        data["items"] = [{**item, "ciq_category": lines[i].category if i in lines else None}
                         for i, item in enumerate(data["items"])]
    return Part(agency, getattr(entry, OFFICE_FIELD[agency]) or "", data)


def as_entry_fields(agency: str, data: dict[str, Any]) -> dict[str, Any]:
    """A declaration's data back as entry fields (without what the split added)."""
    if agency != CIQ or "items" not in data:
        return dict(data)
    return {**data, "items": [{k: v for k, v in item.items() if k != "ciq_category"} for item in data["items"]]}


def owners(field: str) -> set[str]:
    """The agencies whose declaration carries ``field``."""
    return {agency for agency, fields in PARTS.items() if field in fields}
