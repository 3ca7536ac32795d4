"""The reference tables shipped with the package, loaded once into memory.

All tables are CSV files in ``onewindow/refdata/data`` (see the README there
for where each file comes from and its licence). :func:`get_refdata` parses
them on first use and returns the same immutable :class:`RefData` afterwards.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

#: The customs parameter tables held in ``cn_customs_params.csv``.
PARAM_TABLES = (
    "unit",
    "country",
    "levy_kind",
    "trade_mode",
    "transaction_mode",
    "transport_mode",
    "package_type",
    "currency",
    "container_kind",
)

# One record of the China 8-digit tariff files: code, "name", year, first unit
# code, "first unit name", second unit code, "second unit name", and a trailing
# comma. Names may span lines and contain unescaped quotes, which the csv
# module cannot read; the fixed tail of each record makes a regex reliable.
_CN8_RECORD = re.compile(
    r'^(\d{8}),"(.*?)",(\d{4}),([^,\n]*),"([^"\n]*)",([^,\n]*),"([^"\n]*)",\r?$',
    re.MULTILINE | re.DOTALL,
)
_CN8_LINE_START = re.compile(r"^\d{8},", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class CnCommodity:
    """One 8-digit commodity code of China's customs tariff (2023 edition).

    The unit codes are those of the customs statistics system (``09`` =
    kilogram), not the declaration unit codes of the ``unit`` parameter table
    (``035`` = kilogram). The second unit is ``None`` when the code has none.
    """

    code: str
    name_zh: str
    name_en: str
    unit1_code: str
    unit1_name_zh: str
    unit1_name_en: str
    unit2_code: str | None
    unit2_name_zh: str | None
    unit2_name_en: str | None

    @property
    def hs6(self) -> str:
        """The 6-digit HS subheading the code belongs to."""
        return self.code[:6]


@dataclass(frozen=True, slots=True)
class Location:
    """One UN/LOCODE entry, e.g. ``CNDAG`` (Dalian port).

    ``function`` is the 8-character UN/LOCODE function classifier: ``1`` in
    it marks a seaport, ``4`` an airport, ``3`` a road terminal and so on.
    """

    code: str
    name: str
    name_ascii: str
    subdivision: str
    function: str
    status: str
    iata: str

    @property
    def is_seaport(self) -> bool:
        """True when the location has the port (function ``1``) classifier."""
        return "1" in self.function


@dataclass(frozen=True, slots=True)
class Param:
    """One code of a customs parameter table; ``name_en`` may be empty."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True, slots=True)
class RefData:
    """Every reference table, keyed by code.

    Treat the dictionaries as read-only: the instance is shared process-wide.
    """

    hs_sections: dict[str, str]
    hs_chapters: dict[str, str]
    hs_headings: dict[str, str]
    hs6: dict[str, str]
    cn8: dict[str, CnCommodity]
    locations: dict[str, Location]
    params: dict[str, dict[str, Param]]

    def param(self, table: str) -> dict[str, Param]:
        """One customs parameter table by name; KeyError for an unknown table."""
        return self.params[table]


def _read_text(data_dir: Path | None, name: str) -> str:
    """The text of one data file; a byte-order mark, if any, is dropped."""
    if data_dir is None:
        raw = resources.files(__package__).joinpath("data", name).read_bytes()
    else:
        raw = (data_dir / name).read_bytes()
    return raw.decode("utf-8-sig")


def _rows(text: str) -> list[dict[str, str]]:
    """The rows of a well-formed CSV text with a header line."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _clean(text: str) -> str:
    """Collapse runs of whitespace (line breaks inside names) to one space."""
    return " ".join(text.split())


def _load_hs(text: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Chapters, headings and subheadings of ``hs2022.csv`` (the TOTAL row is skipped)."""
    levels: dict[str, dict[str, str]] = {"2": {}, "4": {}, "6": {}}
    for row in _rows(text):
        table = levels.get(row["level"])
        if table is not None:
            table[row["hscode"]] = row["description"]
    return levels["2"], levels["4"], levels["6"]


def _load_cn8_file(text: str, name: str) -> dict[str, tuple[str, ...]]:
    """Code -> (name, unit1 code, unit1 name, unit2 code, unit2 name) of one tariff file.

    Raises ValueError when a record cannot be read, so that a damaged file
    never yields a silently shorter table.
    """
    records = {m.group(1): m.groups()[1:] for m in _CN8_RECORD.finditer(text)}
    expected = len(_CN8_LINE_START.findall(text))
    if len(records) != expected:
        raise ValueError(f"{name}: read {len(records)} records out of {expected} code lines")
    return {code: (_clean(g[0]), *g[2:]) for code, g in records.items()}


def _unit(code: str, name: str) -> tuple[str | None, str | None]:
    """A second unit as (code, name), or (None, None) where the file has '?'."""
    if code.strip() in ("", "?"):
        return None, None
    return code.strip(), name.strip()


def _load_cn8(zh_text: str, en_text: str) -> dict[str, CnCommodity]:
    """Merge the Chinese and English tariff files; unit codes come from the Chinese one."""
    zh = _load_cn8_file(zh_text, "cn_hs8_2023_zh.csv")
    en = _load_cn8_file(en_text, "cn_hs8_2023_en.csv")
    table: dict[str, CnCommodity] = {}
    for code, (name_zh, u1c, u1zh, u2c, u2zh) in zh.items():
        name_en, _, u1en, _, u2en = en.get(code, ("", "", "", "?", "?"))
        u2_code, u2_name_zh = _unit(u2c, u2zh)
        table[code] = CnCommodity(
            code=code,
            name_zh=name_zh,
            name_en=name_en,
            unit1_code=u1c.strip(),
            unit1_name_zh=u1zh.strip(),
            unit1_name_en=u1en.strip(),
            unit2_code=u2_code,
            unit2_name_zh=u2_name_zh,
            unit2_name_en=_unit(u2c, u2en)[1] if u2_code else None,
        )
    return table


def _load_locations(text: str) -> dict[str, Location]:
    """UN/LOCODE rows keyed by the 5-character code (country + location)."""
    table: dict[str, Location] = {}
    for row in _rows(text):
        code = row["country"] + row["location"]
        table[code] = Location(
            code=code,
            name=row["name"],
            name_ascii=row["nameWoDiacritics"],
            subdivision=row["subdivision"],
            function=row["function"],
            status=row["status"],
            iata=row["iata"],
        )
    return table


def _load_params(text: str) -> dict[str, dict[str, Param]]:
    """The customs parameter tables, one dictionary per table name."""
    tables: dict[str, dict[str, Param]] = {name: {} for name in PARAM_TABLES}
    for row in _rows(text):
        code = row["code"].strip()
        param = Param(code=code, name_zh=row["name_zh"].strip(), name_en=row["name_en"].strip())
        tables.setdefault(row["table"], {})[code] = param
    return tables


def load_refdata(data_dir: Path | None = None) -> RefData:
    """Parse every table from ``data_dir`` (default: the files shipped in the package).

    Raises OSError when a file is missing and ValueError when a tariff file
    is damaged.
    """
    chapters, headings, hs6 = _load_hs(_read_text(data_dir, "hs2022.csv"))
    sections = {r["section"]: r["name"] for r in _rows(_read_text(data_dir, "hs2022_sections.csv"))}
    return RefData(
        hs_sections=sections,
        hs_chapters=chapters,
        hs_headings=headings,
        hs6=hs6,
        cn8=_load_cn8(_read_text(data_dir, "cn_hs8_2023_zh.csv"), _read_text(data_dir, "cn_hs8_2023_en.csv")),
        locations=_load_locations(_read_text(data_dir, "unlocode_cn.csv")),
        params=_load_params(_read_text(data_dir, "cn_customs_params.csv")),
    )


@cache
def get_refdata() -> RefData:
    """The shipped reference tables, parsed on the first call and shared afterwards."""
    return load_refdata()
