"""The filters and groupings of the clearance-time figures, parsed from query parameters (or CLI options).

Every parameter is a single value; bad values, unknown parameters and a period
that ends before it begins are one 422 naming each parameter (``["query", name]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from onewindow.errors import Text, ValidationFailed, field_error
from onewindow.models import CreditLevel
from onewindow.refdata import validators as v

INSPECTION_CLASSES = ("none", "single", "joint")
DIMENSIONS = ("direction", "port", "customs_office", "ciq_office", "transport_mode", "trade_mode", "inspection",
              "credit_level", "inspection_place", "destination")
"""Columns of the study that filter and group; ``week`` groups too (the trend)."""
GROUPS = (*DIMENSIONS, "week")
MAX_GROUPS = 2


def _direction(value: str) -> str | None:
    return None if value in ("import", "export") else Text("must be import or export")


def _inspection(value: str) -> str | None:
    return None if value in INSPECTION_CLASSES else Text("must be one of {kinds}", kinds=", ".join(INSPECTION_CLASSES))


def _credit(value: str) -> str | None:
    return None if value in set(CreditLevel) else Text("must be one of {kinds}", kinds=", ".join(CreditLevel))


def _destination(value: str) -> str | None:
    if re.fullmatch(r"[0-9]{6}", value):
        return None
    if re.fullmatch(r"[A-Z]{3}", value):
        return v.check_country(value)
    return Text("must be a 6-digit administrative division (imports) or an ISO 3166 alpha-3 country (exports)")


CHECKS = {
    "direction": _direction,
    "port": v.check_port,
    "customs_office": v.check_customs_office,
    "ciq_office": v.check_ciq_office,
    "transport_mode": lambda value: v.check_param("transport_mode", value),
    "trade_mode": lambda value: v.check_param("trade_mode", value),
    "inspection": _inspection,
    "credit_level": _credit,
    "inspection_place": v.check_port,
    "destination": _destination,
}


@dataclass(frozen=True)
class FigureQuery:
    """What to count: a period of days (both included), equality filters, and up to two groupings."""

    date_from: date | None = None
    date_to: date | None = None
    filters: dict[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()

    def as_params(self) -> dict[str, str]:
        """The query as parameters again (echoed in answers and exports)."""
        out = {}
        if self.date_from:
            out["from"] = self.date_from.isoformat()
        if self.date_to:
            out["to"] = self.date_to.isoformat()
        out.update(self.filters)
        if self.group_by:
            out["group_by"] = ",".join(self.group_by)
        return out


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _day(name: str, raw: str, errors: list) -> date | None:
    """A day written ``YYYY-MM-DD`` (the only form: not the basic ``YYYYMMDD`` nor a week date, which
    :meth:`date.fromisoformat` would also read)."""
    value = raw.strip()
    if _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.append(field_error(["query", name], Text("must be a date, YYYY-MM-DD")))
    return None


def _groups(raw: str, errors: list) -> tuple[str, ...]:
    names = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [n for n in names if n not in GROUPS]
    if bad:
        errors.append(field_error(["query", "group_by"], Text("unknown grouping {names}; one or two of {groups}",
                                                               names=", ".join(bad), groups=", ".join(GROUPS))))
    elif len(names) > MAX_GROUPS or len(set(names)) != len(names):
        errors.append(field_error(["query", "group_by"], Text("one or two different groupings, e.g. {example}",
                                                               example="customs_office,inspection_place")))
    return names


def parse_query(params: Mapping[str, str], *, also: tuple[str, ...] = ()) -> FigureQuery:
    """A :class:`FigureQuery` from raw parameters, or one 422 naming every bad parameter.

    ``also``: parameters the caller reads itself (the API's ``format``): accepted here, not part of the query,
    and listed with the others when a parameter is unknown."""
    errors: list[dict] = []
    known = {"from", "to", "group_by", *DIMENSIONS, *also}
    for name in params:
        if name not in known:
            errors.append(field_error(["query", name], Text("unknown parameter; known: {known}",
                                                            known=", ".join(sorted(known)))))
    filters = {}
    for name in DIMENSIONS:
        raw = params.get(name)
        if raw is None:
            continue
        value = raw.strip()
        if msg := CHECKS[name](value):
            errors.append(field_error(["query", name], msg))
        filters[name] = value
    date_from = _day("from", params["from"], errors) if params.get("from") is not None else None
    date_to = _day("to", params["to"], errors) if params.get("to") is not None else None
    if date_from and date_to and date_to < date_from:
        errors.append(field_error(["query", "to"], Text("the period ends before it begins")))
    group_by = _groups(params["group_by"], errors) if params.get("group_by") else ()
    if errors:
        raise ValidationFailed(errors)
    return FigureQuery(date_from=date_from, date_to=date_to, filters=filters, group_by=group_by)
