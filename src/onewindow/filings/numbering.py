"""Receipt numbers in the agencies' real formats, unique, in sequence per office and year.

* Customs declaration number (报关单号), 18 digits: office code (4) + year (4)
  + import/export flag (1: ``1`` import, ``0`` export) + sequence (9).
* CIQ inspection declaration number (报检号), 15 digits: direction flag (1:
  ``1`` inbound, ``2`` outbound) + office code (6) + year (2) + sequence (6).

The sequence row is created at 1 or incremented by one statement (``INSERT ...
ON CONFLICT DO UPDATE ... RETURNING``), which holds the row lock until commit
on PostgreSQL (and the database lock on SQLite), so concurrent acceptances
never share a number.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onewindow.context import Context
from onewindow.errors import Conflict
from onewindow.models import NumberSequence
from onewindow.sql import Prepared

SEQUENCE_DIGITS = {"customs": 9, "ciq": 6}
OFFICE_TIMEZONE = ZoneInfo("Asia/Shanghai")


def _next_value(insert):
    statement = insert(NumberSequence).values(agency=bindparam("agency"), office_code=bindparam("office_code"),
                                              year=bindparam("year"), last_value=1)
    return statement.on_conflict_do_update(
        index_elements=[NumberSequence.agency, NumberSequence.office_code, NumberSequence.year],
        set_={"last_value": NumberSequence.last_value + 1}).returning(NumberSequence.last_value)


_NEXT_VALUE = {"postgresql": Prepared(_next_value(pg_insert)), "sqlite": Prepared(_next_value(sqlite_insert))}
"""The sequence's next value, by dialect: one statement, prepared once (:class:`onewindow.sql.Prepared`)."""


def next_sequence(ctx: Context, agency: str, office_code: str, year: int) -> int:
    """The next value of the (agency, office, year) sequence, starting at 1."""
    session = ctx.session
    [value] = _NEXT_VALUE[session.get_bind().dialect.name].first(
        session, {"agency": agency, "office_code": office_code, "year": year})
    return value


def format_number(agency: str, office_code: str, direction: str, year: int, sequence: int) -> str:
    """A receipt number; :class:`Conflict` when the office's yearly range is used up."""
    digits = SEQUENCE_DIGITS[agency]
    if sequence >= 10**digits:
        raise Conflict(f"office {office_code} has used every {agency} number of {year}", code="numbers_exhausted")
    if agency == "customs":
        return f"{office_code}{year:04d}{1 if direction == 'import' else 0}{sequence:0{digits}d}"
    return f"{1 if direction == 'import' else 2}{office_code}{year % 100:02d}{sequence:0{digits}d}"


def issue_number(ctx: Context, agency: str, office_code: str, direction: str, when: datetime) -> str:
    """Allocate and format the next receipt number of ``office_code`` for the year of ``when`` (China time)."""
    if agency not in SEQUENCE_DIGITS:
        raise Conflict(f"no number format is defined for {agency} declarations", code="no_number_format")
    year = when.astimezone(OFFICE_TIMEZONE).year
    return format_number(agency, office_code, direction, year, next_sequence(ctx, agency, office_code, year))
