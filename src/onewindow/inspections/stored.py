"""Reading and changing stored rows with plain statements instead of the ORM's machinery.

:func:`read` runs a statement of columns (no ORM entities) on the session's
connection: the rows are the same, without the ORM's per-statement work
(compile state, loader options, execution events), about half what a small
query costs through ``Session.execute``; a :class:`onewindow.sql.Prepared`
statement (fixed parameters, no ``IN`` list) skips the Core execution too, and so does a
:class:`PreparedIn` statement (one ``IN`` list, prepared per length). :func:`objects` turns rows of a
model's columns into the ORM objects a query of the model would have returned.

Changing stored rows: one plain ``UPDATE`` by primary key (prepared) instead of the unit of work.

A step that changes a few columns of rows it has just read (an inspection's
status, a participant's check-in, a task's completion) would otherwise pay
for the unit of work's flush: change tracking, dependency sorting and one
statement per object. :func:`write` sends the ``UPDATE`` at once and sets the
values on the object as stored, so the flush finds nothing left to write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Column, Select, bindparam, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.elements import BindParameter, ClauseList, Grouping
from sqlalchemy.sql.visitors import replacement_traverse

from onewindow.rows import loaded, place
from onewindow.sql import Prepared

_KEY = "_key_"


class PreparedIn:
    """A statement with one expanding ``IN`` parameter, prepared (:class:`Prepared`) per length of its list.

    For each length the list becomes that many plain parameters. Lengths are
    rounded up to a power of two and a shorter list is padded with its last
    value (an ``IN`` list is a set: the rows are the same), so a few
    statements serve every call. The list must not be empty.
    """

    def __init__(self, statement: Select, name: str) -> None:
        self.statement, self.name = statement, name
        self._by_length: dict[int, Prepared] = {}

    def _prepared(self, length: int) -> Prepared:
        prepared = self._by_length.get(length)
        if prepared is None:
            def plain(element):
                if isinstance(element, BindParameter) and element.key == self.name:
                    return Grouping(ClauseList(*(bindparam(f"{self.name}_{i}", type_=element.type)
                                                 for i in range(length))))
                return None

            prepared = self._by_length[length] = Prepared(replacement_traverse(self.statement, {}, plain))
        return prepared

    def all(self, session: Session, parameters: Mapping[str, Any]) -> list[tuple]:
        """The rows of the statement with ``parameters`` (the ``IN`` list under the parameter's name)."""
        values = list(parameters[self.name])
        if not values:
            raise ValueError(f"the IN list {self.name} is empty")
        length = 1 << (len(values) - 1).bit_length()
        values += values[-1:] * (length - len(values))
        bound = {key: value for key, value in parameters.items() if key != self.name}
        bound.update((f"{self.name}_{i}", value) for i, value in enumerate(values))
        return self._prepared(length).all(session, bound)


def read(session: Session, statement: Select | Prepared | PreparedIn, parameters: dict[str, Any] | None = None
         ) -> Sequence[tuple]:
    """The rows of ``statement``, a select of columns (prepared or not), run on the session's connection.

    What the unit of work holds is written first (as ``Session.execute`` would
    autoflush it), so the rows include this transaction's changes.
    """
    session.flush()
    if isinstance(statement, (Prepared, PreparedIn)):
        return statement.all(session, parameters or {})
    return session.connection().execute(statement, parameters or {}).all()


@cache
def columns(model: type) -> tuple[Column, ...]:
    """The columns of ``model``'s attributes, in the order :func:`objects` takes a row's values."""
    return tuple(attr.columns[0] for attr in inspect(model).column_attrs)


@cache
def _shape(model: type) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The attribute keys of :func:`columns` and the positions of the primary key among them."""
    mapper = inspect(model)
    keys = tuple(attr.key for attr in mapper.column_attrs)
    return keys, tuple(keys.index(mapper.get_property_by_column(c).key) for c in mapper.primary_key)


def objects(session: Session, model: type, rows: Iterable[Sequence[Any]], *, refresh: bool = False) -> list[Any]:
    """The ``model`` object of each of ``rows`` (the values of :func:`columns` of ``model``, in that order), as
    a query of the model run in ``session`` would return them.

    A row whose object the session holds gives that object, as held (its
    expired or unloaded columns set from the row, as the query does), or
    updated to the row when ``refresh`` (the query's ``populate_existing``:
    each column is set as stored); any other row gives a new object put in
    the session as the ORM would have loaded it. Rows of one key give one
    object. For rows just read with :func:`read` (which first writes what the
    unit of work holds, so no held object has changes pending).
    """
    mapper = inspect(model)
    keys, pk = _shape(model)
    held = session.identity_map
    found: dict[tuple, Any] = {}
    out = []
    for row in rows:
        identity = mapper.identity_key_from_primary_key([row[i] for i in pk])
        obj = found.get(identity)
        if obj is None:
            obj = held.get(identity)
            if obj is None:
                obj = loaded(model, **dict(zip(keys, row, strict=True)))
                place(session, obj)
            else:
                stored = obj.__dict__
                for key, value in zip(keys, row, strict=True):
                    if key not in stored or (refresh and stored[key] != value):
                        set_committed_value(obj, key, value)
            found[identity] = obj
        out.append(obj)
    return out


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
    for name, value in values.items():
        set_committed_value(obj, name, value)
