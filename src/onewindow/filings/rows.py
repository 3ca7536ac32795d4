"""Writing new rows with plain inserts instead of the ORM's unit of work.

A filing's new rows (the filing, its declarations, their versions, the
containers they cover) are written once and mostly never changed again.
Handing them to the unit of work costs several times what the inserts
themselves cost (change tracking, dependency sorting, one statement per
object); an ``INSERT`` with many rows at once (``executemany``, batched by
SQLAlchemy's insertmanyvalues on PostgreSQL) writes them directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from functools import cache

from sqlalchemy import bindparam
from sqlalchemy import insert as sql_insert
from sqlalchemy import inspect
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value


@cache
def _insert_into(table):
    return sql_insert(table)


@cache
def _update_by_id(table, columns: tuple[str, ...]):
    return sql_update(table).where(table.c.id == bindparam("_id")).values(
        {name: bindparam(name) for name in columns})


def insert(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (column → value) into ``model``'s table in one statement; nothing when empty."""
    if rows:
        session.connection().execute(_insert_into(model.__table__), list(rows))


def update(session: Session, objects: Sequence[Any], **values: Any) -> None:
    """Set the same ``values`` on stored objects of one class (with an ``id`` key): one ``UPDATE`` by id.

    The objects take the values as stored, so the unit of work has nothing
    more to write for them.
    """
    if not objects:
        return
    columns = tuple(sorted(values))
    statement = _update_by_id(type(objects[0]).__table__, columns)
    session.connection().execute(statement, [{"_id": obj.id, **values} for obj in objects])
    for obj in objects:
        for name, value in values.items():
            set_committed_value(obj, name, value)


def insert_new(session: Session, objects: Sequence[Any]) -> None:
    """Insert new ORM objects of one class as they are (every column set on the object is written).

    Columns never set are written as NULL and set to None on the object, so
    that once :func:`attach`-ed nothing is loaded again.
    """
    if not objects:
        return
    columns = inspect(type(objects[0])).column_attrs
    rows = []
    for obj in objects:
        values = obj.__dict__
        for attr in columns:
            if attr.key not in values:
                setattr(obj, attr.key, None)
        rows.append({attr.columns[0].key: values[attr.key] for attr in columns})
    insert(session, type(objects[0]), rows)


def attach(session: Session, *objects: Any) -> None:
    """Attach objects already written by :func:`insert_new` to the session as stored, unchanged rows.

    Related objects reached through cascades must have been written too.
    """
    for obj in _with_cascade(objects):
        make_transient_to_detached(obj)
    session.add_all(objects)


def _with_cascade(objects: Iterable[Any]) -> list[Any]:
    seen: dict[int, Any] = {}
    for obj in objects:
        seen[id(obj)] = obj
        for child, _, _, _ in inspect(type(obj)).cascade_iterator("save-update", inspect(obj)):
            seen.setdefault(id(child), child)
    return list(seen.values())
