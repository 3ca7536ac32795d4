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

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dataclasses import dataclass
from functools import cache
from operator import itemgetter

from sqlalchemy import Column, bindparam
from sqlalchemy import insert as sql_insert
from sqlalchemy import inspect
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session, configure_mappers, make_transient_to_detached
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
        committed(obj, **values)


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
    that once :func:`place`-d nothing is loaded again.
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
    filing and its declarations cost. An object holding its primary key is attached in a few steps
    (:func:`_placed_at_once`, to the same effect); any other takes the ORM's own steps
    (``make_transient_to_detached``, then the session's step for one stored object), as do all of them while
    a listener waits for these steps (:func:`_attaching_listened`).
    """
    placed = (root, *parts)
    if _attaching_listened(session):
        for obj in placed:
            _placed_by_the_orm(session, obj)
        return
    session._autobegin_t()  # what attaching does first (once is enough: the transaction stays)
    held, hash_key = session.identity_map, session.hash_key
    for obj in placed:
        if not _placed_at_once(held, hash_key, obj):
            _placed_by_the_orm(session, obj)


def _placed_by_the_orm(session: Session, obj: Any) -> None:
    make_transient_to_detached(obj)
    session._update_impl(instance_state(obj))  # the ORM's own step for one stored object


def _placed_at_once(held: Any, hash_key: int, obj: Any) -> bool:
    """Attach ``obj`` to the session (``held``: its identity map; ``hash_key``: its key) as the ORM's steps
    would, when :func:`_stored_at_once` makes it stored: the identity map's entry, the session's mark. False
    (nothing done) for any other object, or one whose key the session holds already."""
    if _stored_at_once(obj, held._dict) is None:
        return False
    state = instance_state(obj)
    state._instance_dict = held._wr  # with the entry made by _stored_at_once: the identity map's ``add``
    state.session_id = hash_key
    return True


def detached(obj: Any) -> Any:
    """``obj``, an object :func:`loaded` made, made a stored, detached object, as ``make_transient_to_detached``
    makes it: in fewer steps when it holds its primary key (:func:`_stored_at_once`)."""
    if _stored_at_once(obj) is None:
        make_transient_to_detached(obj)
    return obj


def _stored_at_once(obj: Any, identity_in_session: dict | None = None) -> tuple | None:
    """What ``make_transient_to_detached`` does to an object holding its primary key: its changes committed
    (``_commit_all``; nothing to do for one :func:`loaded` made and left unchanged), the columns it lacks
    expired (loaded when first read, as a deferred column would be; nothing to do for one holding every
    column) and its identity key set from its primary key; that key.

    None, and nothing done, for any other object: one stored or in a session, one deleted, one lacking a
    column of its primary key; one lacking a column that has a loader of its own, or of a class with a
    listener for expiry; one whose key is in ``identity_in_session`` (the session's identity map, key →
    state: the ORM's steps refuse such an object, or replace one gone). Any other key is entered there, for
    the object's state.
    """
    state, values, identity = instance_state(obj), obj.__dict__, _identity_of(type(obj))
    if state.key is not None or state.session_id is not None or state._deleted or state.manager.dispatch.expire:
        return None
    missing = identity.columns - values.keys()
    if missing and (state.callables or not missing.isdisjoint(identity.primary)):
        return None
    key = (identity.cls, identity.key(values), state.identity_token)
    if identity_in_session is not None and identity_in_session.setdefault(key, state) is not state:
        return None
    if state.modified or state.committed_state or state.expired_attributes or "_pending_mutations" in state.__dict__:
        state._commit_all(values)
    if missing:
        state.expired_attributes.update(missing)
    state.key = key
    return key


def _attaching_listened(session: Session) -> bool:
    """Whether a listener (of the session or its class) waits for an object being attached as stored: then
    :func:`place` takes the ORM's own steps, which call it."""
    dispatch = session.dispatch
    return bool(dispatch.before_attach or dispatch.after_attach or dispatch.detached_to_persistent)


@dataclass(frozen=True, slots=True)
class _Identity:
    """What attaching an object of one class needs to know of it."""

    cls: type  # the class of its identity keys
    key: Callable[[dict[str, Any]], tuple]  # its primary key's values, from the object's ``__dict__``
    columns: frozenset[str]  # the attributes loaded with a row (those that expire)
    primary: frozenset[str]  # those of the primary key
    plain: frozenset[str]  # the attributes holding one value (no collection)


@cache
def _identity_of(model: type) -> _Identity:
    configure_mappers()  # every attribute in place, backrefs too
    mapper = inspect(model)
    manager = mapper.class_manager
    names = tuple(mapper.get_property_by_column(column).key for column in mapper.primary_key)
    key = itemgetter(*names) if len(names) > 1 else (lambda values, name=names[0]: (values[name],))
    return _Identity(cls=mapper._identity_class, key=key, primary=frozenset(names),
                     columns=frozenset(name for name in manager if manager[name].impl.accepts_scalar_loader),
                     plain=frozenset(name for name in manager if not manager[name].impl.collection))


def committed(obj: Any, **values: Any) -> None:
    """Set ``values`` (attribute → value) on ``obj`` as stored, as ``set_committed_value`` sets each (no
    change recorded, any earlier change of these attributes dropped), in one step for attributes that hold
    one value; a collection is set by ``set_committed_value``."""
    if values.keys() <= _identity_of(type(obj)).plain:
        state, stored = instance_state(obj), obj.__dict__
        stored.update(values)
        if state.committed_state or state.expired_attributes or state.callables or state.expired:
            state._commit(stored, values)  # what set_committed_value does after setting each (else nothing)
        return
    for name, value in values.items():
        set_committed_value(obj, name, value)


def holds_any(session: Session, *models: type) -> bool:
    """Whether the session already holds an object of one of ``models`` (a caller about to :func:`place`
    fresh copies uses the ORM's query instead, which returns the objects the session holds)."""
    return any(isinstance(obj, models) for obj in session.identity_map.values())


def holds_new(session: Session, model: type) -> bool:
    """Whether the session holds a new (pending) object of ``model``: one of ``session.new``."""
    return any(isinstance(obj, model) for obj in session._new.values())


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
    names, pk = keys(model), _key_positions(model)
    identity_class = _identity_of(model).cls
    held = session.identity_map._dict  # identity key → state (of an object perhaps gone)
    found: dict[tuple, Any] = {}
    out, new = [], []
    for row in rows:
        identity = (identity_class, tuple([row[i] for i in pk]), None)  # as identity_key_from_primary_key
        obj = found.get(identity)
        if obj is None:
            state = held.get(identity)
            obj = None if state is None else state.obj()  # as the identity map's ``get``
            if obj is None:
                obj = from_row(model, row)
                new.append(obj)
            else:
                stored = obj.__dict__
                changed = {key: value for key, value in zip(names, row, strict=True)
                           if key not in stored or (refresh and stored[key] != value)}
                if changed:
                    committed(obj, **changed)
            found[identity] = obj
        out.append(obj)
    if new:
        place(session, *new)
    return out
