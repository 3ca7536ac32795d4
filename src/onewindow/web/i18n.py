"""Languages of the pages: Chinese by default, English by choice; dates in the reader's time zone.

Templates mark text with ``{{ _("...") }}`` (English message ids). The Chinese
catalogue is ``translations/zh/LC_MESSAGES/messages.po``; it is compiled in
memory when the application starts (no ``.mo`` file to build or commit), so a
fresh checkout serves Chinese at once. ``make messages`` re-extracts the ids
and updates the catalogue (see docs/user-guide/enterprise.md, "Translating").
"""

from __future__ import annotations

import gettext
from datetime import datetime
from functools import cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from typing import Any

from babel import Locale
from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from onewindow.errors import AppError, Text, fill

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
TRANSLATIONS = Path(__file__).parent / "translations"
LANG_COOKIE = "ow_lang"
ZONE_COOKIE = "ow_tz"
ZONE_CHOICES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Tokyo", "Asia/Singapore", "Europe/London",
                "Europe/Berlin", "America/New_York", "America/Los_Angeles", "UTC")
_BABEL_LOCALE = {"zh": "zh_Hans_CN", "en": "en_GB"}


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English is the message ids themselves)."""
    po = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def message_text(value: Any, language: str) -> str:
    """A message in ``language``: a :class:`~onewindow.errors.Text` through the catalogue (its template, and
    every parameter that is a ``Text`` too); any other value as it is."""
    if not isinstance(value, Text):
        return "" if value is None else str(value)
    if language == "en":
        return str(value)
    params = {name: message_text(p, language) if isinstance(p, Text) else p for name, p in value.params.items()}
    return fill(translations(language).gettext(value.template), params)


def localise(error: AppError, language: str) -> AppError:
    """``error`` with its message and each detail's ``msg`` in ``language`` (changed in place; returned)."""
    error.message = message_text(error.message, language)
    for detail in error.details:
        if isinstance(detail, dict) and "msg" in detail:
            detail["msg"] = message_text(detail["msg"], language)
    return error


def language_of(value: str | None) -> str:
    """A supported language from a cookie or query value; the default otherwise."""
    return value if value in LANGUAGES else DEFAULT_LANGUAGE


def zone_of(value: str | None, default: str) -> ZoneInfo:
    """The time zone named by a cookie value when it is a real IANA zone; ``default`` otherwise."""
    if value and value in _zone_names():
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def babel_locale(language: str) -> Locale:
    return Locale.parse(_BABEL_LOCALE[language])


def datetime_text(value: datetime | str | None, language: str, zone: ZoneInfo) -> str:
    """A timestamp in the reader's zone and language (``""`` for none), e.g. ``2026年3月2日 09:00 CST``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(zone)
    pattern = "yyyy-MM-dd HH:mm" if language == "zh" else "d MMM yyyy HH:mm"
    return f"{format_datetime(local, pattern, locale=babel_locale(language))} {local.tzname()}"


def number_text(value: float | int | None, language: str) -> str:
    if value is None:
        return ""
    return format_decimal(value, locale=babel_locale(language))
