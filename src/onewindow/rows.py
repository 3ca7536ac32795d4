"""Writing new rows with plain inserts instead of the ORM's unit of work.

New rows of filings, inspections and releases (a filing and its
declarations, their versions, the containers they cover, a decision, an
inspection and its parts, a release) are written once and mostly never
changed again.
Handing them to the unit of work costs several times what the inserts
themselves cost (change tracking, dependency sorting, one statement per
object); one ``INSERT`` run for all the rows (``executemany``) writes them
directly, as a statement prepared once per table and set of columns
(:class:`onewindow.sql.Prepared`). Columns left out take their model defaults,
as the ORM would give them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from functools import cache

from sqlalchemy import Column, bindparam
from sqlalchemy import insert as sql_insert
from sqlalchemy import inspect
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from onewindow.sql import Prepared, loaded


@cache
def _insert_into(table, keys: frozenset[str]) -> tuple[Prepared, dict[str, Any], dict[str, Any]]:
    """The insert of ``keys`` into ``table``, and the defaults of the other columns: fixed values, and
    functions called per row."""
    fixed, per_row = {}, {}
    for column in table.columns:
        if column.key in keys or column.default is None:
            continue
        if column.default.is_scalar:
            fixed[column.key] = column.default.arg
        elif column.default.is_callable:
            per_row[column.key] = column.default.arg
    return Prepared(sql_insert(table), keys=[*keys, *fixed, *per_row]), fixed, per_row


@cache
def _update_by_id(table, columns: tuple[str, ...]) -> Prepared:
    return Prepared(sql_update(table).where(table.c.id == bindparam("_id")).values(
        {name: bindparam(name) for name in columns}))


def insert(session: Session, model: type, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (column → value, the same columns in every row) into ``model``'s table in one
    statement; nothing when empty. Columns left out get their defaults."""
    if not rows:
        return
    statement, fixed, per_row = _insert_into(model.__table__, frozenset(rows[0]))
    if fixed or per_row:
        rows = [{**fixed, **{key: make(None) for key, make in per_row.items()}, **row} for row in rows]
    statement.executemany(session, rows)


def update(session: Session, objects: Sequence[Any], **values: Any) -> None:
    """Set the same ``values`` on stored objects of one class (with an ``id`` key): one ``UPDATE`` by id.

    The objects take the values as stored, so the unit of work has nothing
    more to write for them.
    """
    if not objects:
        return
    columns = tuple(sorted(values))
    statement = _update_by_id(type(objects[0]).__table__, columns)
    statement.executemany(session, [{"_id": obj.id, **values} for obj in objects])
    for obj in objects:
        for name, value in values.items():
            set_committed_value(obj, name, value)


def new_rows(session: Session, model: type, *values: dict[str, Any]) -> list[Any]:
    """New ``model`` rows holding ``values`` (column → value) and None in every other column, written with one
    plain insert (:func:`insert`); returned as objects made without the ORM's change events (:func:`loaded`),
    in no session: to be placed in it as stored (:func:`place`) or made stored, detached objects."""
    empty = _empty_row(model)
    full = []
    for given in values:
        if not given.keys() <= empty.keys():
            raise TypeError(f"{model.__name__} has no column {', '.join(sorted(given.keys() - empty.keys()))}")
        full.append({**empty, **given})
    insert(session, model, full)
    return [loaded(model, **row) for row in full]


@cache
def _empty_row(model: type) -> dict[str, None]:
    """The column keys of ``model`` (each its attribute's key too), in order, each with None."""
    if any(key != column for key, column in _keys_and_columns(model)):
        raise TypeError(f"{model.__name__} names an attribute unlike its column")
    return dict.fromkeys(keys(model))


def insert_new(session: Session, objects: Sequence[Any]) -> None:
    """Insert new ORM objects of one class as they are (every column set on the object is written).

    Columns never set are written as NULL and set to None on the object, so
    that once :func:`attach`-ed nothing is loaded again.
    """
    if not objects:
        return
    model = type(objects[0])
    names = _keys_and_columns(model)
    rows = []
    for obj in objects:
        values = obj.__dict__
        for key, _ in names:
            if key not in values:
                setattr(obj, key, None)
        rows.append({column: values[key] for key, column in names})
    insert(session, model, rows)


def place(session: Session, root: Any, *parts: Any) -> None:
    """Put objects made with :func:`loaded` from stored rows into the session as the ORM would have loaded
    them: ``root`` and the ``parts`` its relationships hold (set with ``set_committed_value``).

    Each is attached as ``session.add`` attaches a stored object, without the cascade ``session.add(root)``
    would walk (every property of every object, to find the very parts given here): half of what placing a
    filing and its declarations cost.
    """
    for obj in (root, *parts):
        make_transient_to_detached(obj)
        session._update_impl(instance_state(obj))  # the ORM's own step for one stored object


def holds_any(session: Session, *models: type) -> bool:
    """Whether the session already holds an object of one of ``models`` (a caller about to :func:`place`
    fresh copies uses the ORM's query instead, which returns the objects the session holds)."""
    return any(isinstance(obj, models) for obj in session.identity_map.values())


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


@cache
def columns(model: type) -> tuple[Column, ...]:
    """The columns of ``model``'s attributes, in the order :func:`objects` takes a row's values."""
    return tuple(attr.columns[0] for attr in inspect(model).column_attrs)


@cache
def keys(model: type) -> tuple[str, ...]:
    """The attribute keys of ``model``'s columns, in the order of :func:`columns`."""
    return tuple(attr.key for attr in inspect(model).column_attrs)


@cache
def _keys_and_columns(model: type) -> tuple[tuple[str, str], ...]:
    """The attribute key and the column key of each of ``model``'s columns."""
    return tuple(zip(keys(model), (column.key for column in columns(model)), strict=True))


@cache
def _key_positions(model: type) -> tuple[int, ...]:
    """The positions of ``model``'s primary key among :func:`keys`."""
    mapper = inspect(model)
    return tuple(keys(model).index(mapper.get_property_by_column(c).key) for c in mapper.primary_key)


def from_row(model: type, row: Sequence[Any], **related: Any) -> Any:
    """A ``model`` object (:func:`loaded`) holding ``row``, the values of :func:`columns` in that order, and
    ``related`` (relationships already read)."""
    return loaded(model, **dict(zip(keys(model), row, strict=True)), **related)


def objects(session: Session, model: type, rows: Iterable[Sequence[Any]], *, refresh: bool = False) -> list[Any]:
    """The ``model`` object of each of ``rows`` (the values of :func:`columns` of ``model``, in that order), as
    a query of the model run in ``session`` would return them.

    A row whose object the session holds gives that object, as held (its
    expired or unloaded columns set from the row, as the query does), or
    updated to the row when ``refresh`` (the query's ``populate_existing``:
    each column is set as stored); any other row gives a new object put in
    the session as the ORM would have loaded it. Rows of one key give one
    object. For rows just read with :func:`onewindow.inspections.stored.read` (which first writes what the
    unit of work holds, so no held object has changes pending).
    """
    mapper = inspect(model)
    names, pk = keys(model), _key_positions(model)
    held = session.identity_map
    found: dict[tuple, Any] = {}
    out = []
    for row in rows:
        identity = mapper.identity_key_from_primary_key([row[i] for i in pk])
        obj = found.get(identity)
        if obj is None:
            obj = held.get(identity)
            if obj is None:
                obj = from_row(model, row)
                place(session, obj)
            else:
                stored = obj.__dict__
                for key, value in zip(names, row, strict=True):
                    if key not in stored or (refresh and stored[key] != value):
                        set_committed_value(obj, key, value)
            found[identity] = obj
        out.append(obj)
    return out
