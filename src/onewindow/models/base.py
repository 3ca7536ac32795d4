"""Declarative base, portable column types and naming conventions."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator, Uuid
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC timestamp on every database (SQLite keeps no offset, so we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use the platform clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def prepared_conversions(self, dialect) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
        """The parameter and result conversions of this type in one function each, for statements prepared by
        :class:`onewindow.sql.Prepared`: on SQLite, where SQLAlchemy's take three and two functions, the same
        text written (:data:`SQLITE_TEXT`, which SQLite's ``DATETIME`` writes by default) and the same aware
        datetime read (SQLite's own reading of the text, in UTC). None elsewhere, or for a ``DATETIME`` that
        writes another text: SQLAlchemy's conversions are used."""
        if dialect.name != "sqlite":
            return None
        impl = self.impl_instance.dialect_impl(dialect)
        if getattr(impl, "_storage_format", None) != SQLITE_STORED:
            return None
        read_text = impl.result_processor(dialect, None)

        def write(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not UTC:  # the platform's own (the clock's) need no conversion
                if value.tzinfo is None:
                    raise ValueError("naive datetimes are not stored; use the platform clock")
                value = value.astimezone(UTC)
            return SQLITE_TEXT % (value.year, value.month, value.day, value.hour, value.minute, value.second,
                                  value.microsecond)

        def read(value: str | None) -> datetime | None:
            return None if value is None else read_text(value).replace(tzinfo=UTC)

        return write, read


SQLITE_STORED = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
"""The text SQLite's ``DATETIME`` writes by default (its storage format)."""
SQLITE_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
"""The same text, from the parts in order."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON, uuid.UUID: Uuid,
    }


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class IdMixin:
    """A random UUID primary key (unguessable ids; nothing to learn from them)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
