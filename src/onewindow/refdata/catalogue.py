"""The inspection catalogue: which goods need inspection or quarantine (检验检疫).

Goods whose HS code falls under an entry of the catalogue need a CIQ
declaration (报检单) besides the customs declaration. The catalogue is a CSV
file with the columns ``hs_prefix,category,name_zh,name_en``; each prefix is
an HS chapter (2 digits), heading (4), subheading (6) or China tariff code
(8). A code matches the entry with the longest prefix of the code.

The package ships a default catalogue (``data/inspection_catalogue.csv``,
described in docs/reference-data.md); a deployment can replace it with its
own file through :func:`get_catalogue`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from .tables import get_refdata

#: Category -> what the goods are checked for.
CATEGORIES: dict[str, str] = {
    "animal_quarantine": "animal and animal product quarantine (动物检疫)",
    "plant_quarantine": "plant and plant product quarantine (植物检疫)",
    "food_safety": "imported and exported food safety (食品安全)",
    "feed_safety": "animal feed safety (饲料安全)",
    "commodity_inspection": "statutory commodity inspection (法定商品检验)",
    "wood_packaging": "wooden packaging and pallets quarantine (木质包装检疫)",
}

COLUMNS = ("hs_prefix", "category", "name_zh", "name_en")
PREFIX_LENGTHS = (8, 6, 4, 2)


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    """One catalogue line: goods under ``hs_prefix`` need ``category`` checks."""

    hs_prefix: str
    category: str
    name_zh: str
    name_en: str


def _default_source() -> str:
    """The path (for messages) of the shipped catalogue file."""
    return str(resources.files(__package__).joinpath("data", "inspection_catalogue.csv"))


def _prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot be a catalogue prefix, or None when it can."""
    if not (prefix.isascii() and prefix.isdigit()) or len(prefix) not in PREFIX_LENGTHS:
        return f"hs_prefix '{prefix}' must have 2, 4, 6 or 8 digits"
    data = get_refdata()
    known = {2: data.hs_chapters, 4: data.hs_headings, 6: data.hs6, 8: data.cn8}[len(prefix)]
    if prefix not in known:
        what = {2: "an HS 2022 chapter", 4: "an HS 2022 heading", 6: "an HS 2022 subheading",
                8: "a code of China's 2023 customs tariff"}[len(prefix)]
        return f"hs_prefix '{prefix}' is not {what}"
    return None


def _row_problem(row: dict[str, str | None], seen: dict[str, int]) -> str | None:
    """Why a catalogue row is invalid (bad prefix, category, duplicate), or None."""
    if any(row.get(col) is None for col in COLUMNS) or None in row:
        return f"expected {len(COLUMNS)} columns ({','.join(COLUMNS)})"
    prefix, category = (row["hs_prefix"] or "").strip(), (row["category"] or "").strip()
    problem = _prefix_problem(prefix)
    if problem:
        return problem
    if category not in CATEGORIES:
        return f"unknown category '{category}' (expected one of {', '.join(CATEGORIES)})"
    if prefix in seen:
        return f"duplicate hs_prefix '{prefix}' (first on line {seen[prefix]})"
    return None


def _parse(lines: Iterable[str], source: str) -> list[CatalogueEntry]:
    """Entries of a catalogue file; ValueError naming ``source``, the line and the problem."""
    reader = csv.DictReader(lines)
    header = reader.fieldnames or []
    if [h.strip() for h in header] != list(COLUMNS):
        raise ValueError(f"{source}, line 1: header must be {','.join(COLUMNS)}")
    entries: list[CatalogueEntry] = []
    seen: dict[str, int] = {}
    for row in reader:
        problem = _row_problem(row, seen)
        if problem:
            raise ValueError(f"{source}, line {reader.line_num}: {problem}")
        prefix = row["hs_prefix"].strip()
        seen[prefix] = reader.line_num
        entries.append(CatalogueEntry(prefix, row["category"].strip(),
                                      row["name_zh"].strip(), row["name_en"].strip()))
    return entries


class InspectionCatalogue:
    """An immutable set of catalogue entries answering "does this code need inspection?"."""

    def __init__(self, entries: Iterable[CatalogueEntry], source: str = "<memory>") -> None:
        """Build from entries (prefixes must be unique; last one wins otherwise)."""
        self._by_prefix = {entry.hs_prefix: entry for entry in entries}
        self.source = source

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> InspectionCatalogue:
        """Read a catalogue file (default: the shipped one).

        Raises OSError when the file cannot be read and ValueError, naming
        the file, line and problem, when it is malformed.
        """
        if path is None:
            text = resources.files(__package__).joinpath("data", "inspection_catalogue.csv").read_bytes()
            source = _default_source()
        else:
            text = Path(path).read_bytes()
            source = os.fspath(path)
        try:
            decoded = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{source}: not UTF-8 text ({exc.reason})") from None
        return cls(_parse(decoded.splitlines(keepends=True), source), source)

    @property
    def entries(self) -> tuple[CatalogueEntry, ...]:
        """All entries, ordered by prefix."""
        return tuple(self._by_prefix[p] for p in sorted(self._by_prefix))

    def __len__(self) -> int:
        return len(self._by_prefix)

    def lookup(self, hs_code: str) -> CatalogueEntry | None:
        """The entry with the longest prefix of ``hs_code``, or None when none matches.

        ``hs_code`` is any code of 2 to 10 digits (surrounding whitespace is
        ignored); a code matching nothing, or not made of digits, gives None.
        """
        code = hs_code.strip()
        size = len(code)
        for length in PREFIX_LENGTHS:
            if size >= length:
                entry = self._by_prefix.get(code[:length])
                if entry is not None:
                    return entry
        return None

    def needs_inspection(self, hs_code: str) -> bool:
        """True when goods under ``hs_code`` need inspection or quarantine."""
        return self.lookup(hs_code) is not None


@cache
def _cached_catalogue(path: str | None) -> InspectionCatalogue:
    """One loaded catalogue per path (None = the shipped file)."""
    return InspectionCatalogue.load(path)


def get_catalogue(path: str | os.PathLike[str] | None = None) -> InspectionCatalogue:
    """The catalogue at ``path`` (default: the shipped one), loaded once per path.

    The application passes its ``ONEWINDOW_INSPECTION_CATALOGUE`` setting
    here. Errors are those of :meth:`InspectionCatalogue.load`; a failed load
    is not cached.
    """
    return _cached_catalogue(None if path is None else os.fspath(path))
