"""Reading and changing stored rows with plain statements instead of the ORM's machinery.

:func:`read` runs a statement of columns (no ORM entities) on the session's
connection: the rows are the same, without the ORM's per-statement work
(compile state, loader options, execution events), about half what a small
query costs through ``Session.execute``; a :class:`onewindow.sql.Prepared`
statement (fixed parameters, no ``IN`` list) skips the Core execution too, and so does a
:class:`onewindow.sql.PreparedIn` statement (one ``IN`` list, prepared per length);
:func:`onewindow.rows.objects` turns rows of a model's columns into the ORM objects a query of the model
would have returned.

Changing stored rows: one plain ``UPDATE`` by primary key (prepared) instead of the unit of work.

A step that changes a few columns of rows it has just read (an inspection's
status, a participant's check-in, a task's completion) would otherwise pay
for the unit of work's flush: change tracking, dependency sorting and one
statement per object. :func:`write` sends the ``UPDATE`` at once and sets the
values on the object as stored, so the flush finds nothing left to write.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, inspect, update
from sqlalchemy.orm import Session

from onewindow.db import flush
from onewindow.rows import committed
from onewindow.sql import Prepared, PreparedIn

_KEY = "_key_"


def read(session: Session, statement: Select | Prepared | PreparedIn, parameters: dict[str, Any] | None = None
         ) -> Sequence[tuple]:
    """The rows of ``statement``, a select of columns (prepared or not), run on the session's connection.

    What the unit of work holds is written first (as ``Session.execute`` would
    autoflush it), so the rows include this transaction's changes.
    """
    flush(session)
    if isinstance(statement, (Prepared, PreparedIn)):
        return statement.all(session, parameters or {})
    return session.connection().execute(statement, parameters or {}).all()


@cache
def _update_by_key(model: type, names: tuple[str, ...]):
    mapper = inspect(model)
    table = mapper.local_table
    where = [column == bindparam(_KEY + column.key) for column in table.primary_key.columns]
    return Prepared(update(table).where(*where).values({mapper.get_property(name).columns[0].key: bindparam(name)
                                                        for name in names}))


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
    _update_by_key(model, tuple(sorted(values))).execute(session, {**parameters, **values})
    committed(obj, **values)
