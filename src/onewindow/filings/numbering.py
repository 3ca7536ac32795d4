"""Receipt numbers in the agencies' real formats, unique, in sequence per office and year.

* Customs declaration number (报关单号), 18 digits: office code (4) + year (4)
  + import/export flag (1: ``1`` import, ``0`` export) + sequence (9).
* CIQ inspection declaration number (报检号), 15 digits: direction flag (1:
  ``1`` inbound, ``2`` outbound) + office code (6) + year (2) + sequence (6).

The sequence row is created if missing and incremented with one ``UPDATE ...
RETURNING``, which holds the row lock until commit on PostgreSQL (and the
database lock on SQLite), so concurrent acceptances never share a number.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onewindow.context import Context
from onewindow.errors import Conflict
from onewindow.models import NumberSequence

SEQUENCE_DIGITS = {"customs": 9, "ciq": 6}
OFFICE_TIMEZONE = ZoneInfo("Asia/Shanghai")


def next_sequence(ctx: Context, agency: str, office_code: str, year: int) -> int:
    """The next value of the (agency, office, year) sequence, starting at 1."""
    insert = pg_insert if ctx.session.bind.dialect.name == "postgresql" else sqlite_insert
    ctx.session.execute(insert(NumberSequence).values(agency=agency, office_code=office_code, year=year,
                                                      last_value=0).on_conflict_do_nothing())
    return ctx.session.execute(
        update(NumberSequence)
        .where(NumberSequence.agency == agency, NumberSequence.office_code == office_code,
               NumberSequence.year == year)
        .values(last_value=NumberSequence.last_value + 1)
        .returning(NumberSequence.last_value)
    ).scalar_one()


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
