"""Changing stored rows with one plain ``UPDATE`` by primary key instead of the unit of work.

A step that changes a few columns of rows it has just read (an inspection's
status, a participant's check-in, a task's completion) would otherwise pay
for the unit of work's flush: change tracking, dependency sorting and one
statement per object. :func:`write` sends the ``UPDATE`` at once and sets the
values on the object as stored, so the flush finds nothing left to write.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

_KEY = "_key_"


@cache
def _update_by_key(model: type, columns: tuple[str, ...]):
    mapper = inspect(model)
    table = mapper.local_table
    where = [column == bindparam(_KEY + column.key) for column in table.primary_key.columns]
    return update(table).where(*where).values({mapper.get_property(name).columns[0].key: bindparam(name)
                                               for name in columns})


@cache
def _key_attributes(model: type) -> tuple[tuple[str, str], ...]:
    mapper = inspect(model)
    return tuple((_KEY + column.key, mapper.get_property_by_column(column).key)
                 for column in mapper.local_table.primary_key.columns)


def write(session: Session, obj: Any, **values: Any) -> None:
    """Set ``values`` (attribute → value) on the stored object ``obj`` and write them now (one ``UPDATE``).

    The object keeps any other change it has for the unit of work; these
    values are recorded on it as already stored.
    """
    model = type(obj)
    parameters = {name: getattr(obj, attribute) for name, attribute in _key_attributes(model)}
    session.connection().execute(_update_by_key(model, tuple(sorted(values))), {**parameters, **values})
    for name, value in values.items():
        set_committed_value(obj, name, value)
