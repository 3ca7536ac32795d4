"""Statements on the hot paths, compiled once per database and run on the driver's cursor.

SQLAlchemy builds and types every statement of the platform. Running a Core
statement through ``Connection.execute`` costs about 70 µs of Python per
statement on top of the database's own work (execution context, cache key,
result object), four times what the database itself takes for a one-row
insert. The few statements every filing and inspection runs many times
(events and their recipients, new rows, updates by id, look-ups by key) are
compiled once per dialect into SQL text, the order of its parameters, and the
type conversions of each parameter and result column (the same ones
SQLAlchemy applies: UUIDs, UTC datetimes, JSON; a UUID kept as text and a type
with ``prepared_conversions`` are converted by shorter ways to the same
values), then run directly on the DB-API cursor of the session's connection,
inside the session's transaction.

Contract of :class:`Prepared`:

- the statement's parameters are bound by name (``bindparam("x")``, or the
  column keys given for an ``INSERT``/``UPDATE``); values written literally
  in the statement are part of it;
- statements that need work at execution time are refused when prepared:
  Python-side column defaults (pass every such column), ``IN`` lists that
  expand per call, and parameters whose value is computed per call;
- nothing here commits; the ORM does not see the rows written (exactly as
  with a Core statement run on the session's connection).

:func:`loaded` makes ORM objects from such rows (or new ones written that way)
without the ORM's change events.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Uuid, and_, bindparam, event, tuple_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.sql.elements import BindParameter, ClauseList, Grouping
from sqlalchemy.sql.visitors import replacement_traverse

from onewindow.db import WriteInReadOnlyUnit, writes


@dataclass(frozen=True, slots=True)
class _Compiled:
    """One statement compiled for one dialect."""

    sql: str
    names: tuple[str, ...]  # the parameters in the order the SQL takes them (positional styles)
    positional: bool
    fixed: Mapping[str, Any]  # values written in the statement itself
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # name → conversion, for the parameters that have one
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # result column → conversion, where there is one (not shared)
    in_order: Callable[[Mapping[str, Any]], tuple] | None = None  # the values of ``names`` in order (two or more)
    shared: tuple[tuple[int, Callable[[Any], Any]], ...] = ()  # result columns converted once per distinct value
    conversions: tuple[tuple[int, Callable[[Any], Any]], ...] = ()  # ``results`` and ``shared``
    none_converted: frozenset[str] = frozenset()  # parameters whose conversion makes something of None
    writes: bool = False  # an INSERT, UPDATE, DELETE...: refused in a read-only unit of work

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        params = {**self.fixed, **values} if self.fixed else dict(values)
        for name, convert in self.binds:
            value = params[name]
            if value is not None or name in self.none_converted:  # a JSON column writes None as JSON null
                params[name] = convert(value)
        if self.positional:
            return self.in_order(params) if self.in_order else [params[name] for name in self.names]
        return params

    def rows(self, cursor) -> list[tuple]:
        fetched = cursor.fetchall()
        if not self.conversions:
            return [tuple(row) for row in fetched]
        if len(fetched) <= len(self.conversions):  # row by row: fewer steps than column by column
            rows = []
            for row in fetched:
                row = list(row)
                for i, convert in self.conversions:
                    if row[i] is not None:
                        row[i] = convert(row[i])
                rows.append(tuple(row))
            return rows
        columns = list(zip(*fetched, strict=True))
        for i, convert in self.results:
            columns[i] = [None if value is None else convert(value) for value in columns[i]]
        for i, convert in self.shared:  # each value once
            converted = {value: convert(value) for value in set(columns[i]) if value is not None}
            converted[None] = None
            columns[i] = [converted[value] for value in columns[i]]
        return list(zip(*columns, strict=True))


class Prepared:
    """A Core statement compiled once per dialect; run with :meth:`execute`, :meth:`executemany`, :meth:`all`,
    :meth:`first`. ``keys`` names the columns an ``INSERT`` or ``UPDATE`` takes (those of its parameters).
    ``statement`` may be a mapping of dialect name → statement, with a ``"default"`` for the other dialects, for
    what the databases spell differently (an insert that skips a row already there).

    ``repeating`` names result columns whose values recur from row to row (the filing of each of its events):
    within one call each distinct value of such a column is converted once, and the rows holding it share the
    converted value (equal to what converting each would give). For columns whose values the driver gives as
    hashable ones (text, numbers, UUIDs) and convert to immutable ones (UUIDs, timestamps)."""

    def __init__(self, statement: Any, *, keys: Iterable[str] | None = None, repeating: Iterable[str] = ()) -> None:
        self.statement = statement
        self.keys = list(keys) if keys is not None else None
        self.repeating = frozenset(repeating)
        self._by_dialect: dict[str, _Compiled] = {}

    def _compiled(self, dialect: Dialect) -> _Compiled:
        compiled = self._by_dialect.get(dialect.name)
        if compiled is None:
            statement = self.statement
            if isinstance(statement, Mapping):  # spelt per dialect
                statement = statement.get(dialect.name, statement["default"])
            compiled = self._by_dialect[dialect.name] = _compile(statement, dialect, self.keys, self.repeating)
        return compiled

    def _cursor(self, session: Session) -> tuple[Any, _Compiled]:
        """The transaction's cursor and the statement for its database (one that writes is refused in a
        read-only unit of work: :class:`onewindow.db.WriteInReadOnlyUnit`)."""
        cursor, dialect, info = _cursor(session)
        compiled = self._by_dialect.get(dialect.name) or self._compiled(dialect)
        if compiled.writes and info.get("reader"):
            raise WriteInReadOnlyUnit(compiled.sql)
        return cursor, compiled

    def execute(self, session: Session, values: Mapping[str, Any] | None = None) -> int:
        """Run the statement once in the session's transaction; the number of rows it changed."""
        cursor, compiled = self._cursor(session)
        try:
            cursor.execute(compiled.sql, compiled.parameters(values or {}))
        except Exception as exc:
            _raise_as_sqlalchemy(session, compiled, exc)
            raise
        return cursor.rowcount

    def executemany(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run the statement once per row of ``rows`` (nothing when empty), in the session's transaction."""
        if not rows:
            return
        cursor, compiled = self._cursor(session)
        try:
            cursor.executemany(compiled.sql, [compiled.parameters(row) for row in rows])
        except Exception as exc:
            _raise_as_sqlalchemy(session, compiled, exc)
            raise

    def all(self, session: Session, values: Mapping[str, Any] | None = None) -> list[tuple]:
        """The rows the statement returns (a ``SELECT``, or a statement with ``RETURNING``), converted."""
        cursor, compiled = self._cursor(session)
        try:
            cursor.execute(compiled.sql, compiled.parameters(values or {}))
            return compiled.rows(cursor)
        except Exception as exc:
            _raise_as_sqlalchemy(session, compiled, exc)
            raise

    def first(self, session: Session, values: Mapping[str, Any] | None = None) -> tuple | None:
        """The first row the statement returns, or None."""
        rows = self.all(session, values)
        return rows[0] if rows else None


class PreparedIn:
    """A statement with expanding ``IN`` parameters (``names``: one or more), prepared (:class:`Prepared`) per
    length of each list.

    For each length a list becomes that many plain parameters. Lengths are
    rounded up to a power of two and a shorter list is padded with its last
    value (an ``IN`` list is a set: the rows read or changed are the same), so
    a few statements serve every call: one per combination of the lists'
    rounded lengths. No list may be empty.
    """

    def __init__(self, statement: Any, *names: str, repeating: Iterable[str] = ()) -> None:
        if not names:
            raise TypeError("PreparedIn needs the name of at least one IN list")
        self.statement, self.names, self.repeating = statement, names, tuple(repeating)
        self._by_lengths: dict[tuple[int, ...], Prepared] = {}

    def _prepared(self, lengths: tuple[int, ...]) -> Prepared:
        prepared = self._by_lengths.get(lengths)
        if prepared is None:
            length_of = dict(zip(self.names, lengths, strict=True))

            def plain(element):
                if isinstance(element, BindParameter) and element.key in length_of:
                    return Grouping(ClauseList(*(bindparam(key, type_=element.type)
                                                 for key in _in_names(element.key, length_of[element.key]))))
                return None

            prepared = self._by_lengths[lengths] = Prepared(replacement_traverse(self.statement, {}, plain),
                                                            repeating=self.repeating)
        return prepared

    def _bound(self, parameters: Mapping[str, Any]) -> tuple[Prepared, dict[str, Any]]:
        bound = dict(parameters)
        lengths = []
        for name in self.names:
            values = list(parameters[name])
            del bound[name]
            if not values:
                raise ValueError(f"the IN list {name} is empty")
            length = 1 << (len(values) - 1).bit_length()
            values += values[-1:] * (length - len(values))
            bound.update(zip(_in_names(name, length), values, strict=True))
            lengths.append(length)
        return self._prepared(tuple(lengths)), bound

    def all(self, session: Session, parameters: Mapping[str, Any]) -> list[tuple]:
        """The rows of the statement with ``parameters`` (each ``IN`` list under its parameter's name)."""
        prepared, bound = self._bound(parameters)
        return prepared.all(session, bound)

    def execute(self, session: Session, parameters: Mapping[str, Any]) -> int:
        """Run the statement (an ``UPDATE`` or ``DELETE``) once with ``parameters``; the number of rows it
        changed."""
        prepared, bound = self._bound(parameters)
        return prepared.execute(session, bound)


@cache
def _in_names(name: str, length: int) -> tuple[str, ...]:
    """The plain parameters an ``IN`` list ``name`` of ``length`` values becomes (:class:`PreparedIn`)."""
    return tuple(f"{name}_{i}" for i in range(length))


def _raise_as_sqlalchemy(session: Session, compiled: _Compiled, exc: Exception) -> None:
    """The driver's error ``exc`` raised as SQLAlchemy raises it for a statement it runs (an
    :class:`~sqlalchemy.exc.IntegrityError`, an :class:`~sqlalchemy.exc.OperationalError`... holding the driver's
    as ``orig``), so that callers and the application's error handlers see one kind of error whichever way a
    statement ran (a unique key taken by a concurrent request answers 409, a deadlock broken by the database is
    run again: :func:`onewindow.db.in_unit_of_work`). Returns when ``exc`` is not the driver's."""
    dialect = session.get_bind().dialect
    if isinstance(exc, dialect.loaded_dbapi.Error):
        raise DBAPIError.instance(compiled.sql, None, exc, dialect.loaded_dbapi.Error, hide_parameters=True,
                                  dialect=dialect) from exc


def locks_are_waited_for(session: Session) -> bool:
    """Whether a statement of the session's transaction may wait for a row lock another transaction holds:
    PostgreSQL's row locks. A statement that waited for one then reads the locked rows as they are now, but
    the rows of any other table it joins as they were when it began: a caller that needs those current locks
    first and reads after (a new statement sees what the lock's last holder committed). SQLite's writing
    transactions run one at a time from their start (``BEGIN IMMEDIATE``): nothing changes under them."""
    return _cursor(session)[1].name != "sqlite"


ROW_LOCK: dict[str, Any] = {"key_share": True}
"""How a row read to be changed is locked: ``FOR NO KEY UPDATE`` on PostgreSQL, the lock its own ``UPDATE``
takes. Two such locks of one row wait for each other, as ``FOR UPDATE``'s do; unlike ``FOR UPDATE``, it
lets another transaction write a row that refers to the locked one (a notice to a declaration, a decision
on it: the foreign key's check takes ``FOR KEY SHARE``), which would otherwise wait for this transaction,
and deadlock when this one goes on to wait for that one. Rows are deleted or have their keys changed only
where locked with ``FOR UPDATE`` itself. SQLite locks no rows (its writing transactions run one at a time)."""


def for_change(statement: Any, **options: Any) -> Any:
    """``statement`` (a select) locking the rows it reads to change them (:data:`ROW_LOCK`); ``options``
    as :meth:`~sqlalchemy.sql.Select.with_for_update` takes them (``of``, ``skip_locked``)."""
    return statement.with_for_update(**ROW_LOCK, **options)


_CURSOR = "onewindow.sql.cursor"


def _cursor(session: Session) -> tuple[Any, Dialect, dict]:
    """A cursor of the driver connection of the session's transaction (begun now if need be), its dialect and
    the connection's ``info``, remembered in ``session.info`` for the rest of that transaction: each statement
    runs on the same cursor (a statement's rows are all fetched, or its row count read, before the next one
    runs)."""
    transaction = session._transaction  # the outermost one, as ``session.get_transaction()`` gives it
    while transaction is not None and transaction._parent is not None:
        transaction = transaction._parent
    known = session.info.get(_CURSOR)
    if transaction is not None and known is not None and known[0] is transaction:
        return known[1], known[2], known[3]
    connection = session.connection()
    known = (session.get_transaction(), connection.connection.driver_connection.cursor(), connection.dialect,
             connection.info)
    session.info[_CURSOR] = known
    return known[1], known[2], known[3]


@event.listens_for(Session, "after_transaction_end")
def _close_cursor(session: Session, transaction: Any) -> None:
    """The transaction's cursor is closed when it ends (its last statement reset, nothing kept)."""
    known = session.info.get(_CURSOR)
    if known is not None and known[0] is transaction:
        del session.info[_CURSOR]
        known[1].close()


def loaded(model: type, **values: Any) -> Any:
    """A ``model`` instance holding ``values`` (attribute key → value) as the ORM holds a loaded row: placed
    without change events (a fraction of what the constructor costs); in no session."""
    manager = _class_manager(model)
    obj = model.__new__(model)  # what the manager's ``new_instance()`` does, in one call less
    manager._state_setter(obj, manager._state_constructor(obj, manager))
    obj.__dict__.update(values)
    return obj


@cache
def _class_manager(model: type) -> Any:
    manager = sa_inspect(model).class_manager
    if manager.class_ is not model:
        raise TypeError(f"{model.__name__} is not the class of its own mapping")
    return manager


def _compile(statement: Any, dialect: Dialect, keys: list[str] | None,
             repeating: frozenset[str] = frozenset()) -> _Compiled:
    compiled: SQLCompiler = statement.compile(dialect=dialect, column_keys=keys)
    _refuse_work_per_call(compiled)
    names = tuple(compiled.positiontup or ())
    fixed = {}
    for bind, name in compiled.bind_names.items():
        if not bind.required:
            fixed[name] = bind.effective_value
    processors = compiled._bind_processors
    binds = tuple((name, _bind_conversion(compiled.binds[name].type, processors[name], dialect))
                  for name in dict.fromkeys(names or compiled.bind_names.values()) if name in processors)
    converted = [(i, column.keyname, convert) for i, column in enumerate(compiled._result_columns)
                 if (convert := _result_conversion(column.type, dialect)) is not None]
    unknown = repeating - {column.keyname for column in compiled._result_columns}
    if unknown:
        raise ValueError(f"{compiled.string!r} has no result column {', '.join(sorted(unknown))}")
    return _Compiled(sql=compiled.string, names=names, positional=compiled.positional, fixed=fixed,
                     binds=binds, results=tuple((i, c) for i, key, c in converted if key not in repeating),
                     in_order=itemgetter(*names) if len(names) > 1 else None,
                     shared=tuple((i, c) for i, key, c in converted if key in repeating),
                     conversions=tuple((i, c) for i, _, c in converted),
                     none_converted=frozenset(name for name, convert in binds if _converts_none(convert)),
                     writes=writes(compiled.string))


def _converts_none(convert: Callable[[Any], Any]) -> bool:
    """Whether a parameter's conversion makes something of None (a JSON column: JSON null) or refuses it; if
    not, a None parameter is passed as it is, without the call."""
    try:
        return convert(None) is not None
    except Exception:  # noqa: BLE001 - refused: left to the conversion at run time, as before
        return True


def _bind_conversion(type_: Any, convert: Callable[[Any], Any], dialect: Dialect) -> Callable[[Any], Any]:
    """The conversion SQLAlchemy applies to a parameter of ``type_`` (``convert``); for a UUID stored as text
    (no native type), the same 32 hex digits in one call instead of two."""
    if _uuid_as_text(type_, dialect):
        return _uuid_to_text
    shorter = _shorter_conversions(type_, dialect)
    return convert if shorter is None else shorter[0]


def _uuid_as_text(type_: Any, dialect: Dialect) -> bool:
    """Whether ``type_`` is a UUID that ``dialect`` stores as text (no native UUID type)."""
    return isinstance(type_, Uuid) and type_.as_uuid and not (dialect.supports_native_uuid and type_.native_uuid)


def _uuid_to_text(value: uuid.UUID | None) -> str | None:
    """What SQLAlchemy writes for a UUID where it is stored as text: ``value.hex``, its 32 hex digits."""
    return None if value is None else "%032x" % value.int


def _result_conversion(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The conversion SQLAlchemy applies to a result column of ``type_``; for a UUID stored as text (no native
    type), the same UUID made from its 32 hex digits in half the calls."""
    convert = type_._cached_result_processor(dialect, None)
    if convert is not None and _uuid_as_text(type_, dialect):
        return _uuid_from_text
    if convert is not None and (loads := _json_deserializer(type_, dialect)) is not None:
        return loads
    shorter = _shorter_conversions(type_, dialect)
    return convert if shorter is None else shorter[1]


def _json_deserializer(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """For a JSON column read as text (SQLite), the dialect's JSON deserializer itself: what SQLAlchemy's
    conversion calls through two wrappers of its own. None where they do more: a text conversion before it,
    or a deserializer that refuses a number with ``TypeError`` (the wrappers then give the number itself)."""
    loads = getattr(dialect, "_json_deserializer", None)
    if not isinstance(type_, JSON) or loads is None or dialect.name != "sqlite":
        return None
    if type_._str_impl.result_processor(dialect, None) is not None:
        return None
    try:
        loads(0)
    except TypeError:
        return None
    except Exception:  # noqa: BLE001 - refused otherwise: the wrappers let the same error through
        pass
    return loads


def _shorter_conversions(type_: Any, dialect: Dialect) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """A type's own shorter forms of its parameter and result conversions on ``dialect`` (its
    ``prepared_conversions``, the same values in fewer calls), or None."""
    conversions = getattr(type_, "prepared_conversions", None)
    return None if conversions is None else conversions(dialect)


def _uuid_from_text(value: str) -> uuid.UUID:
    """What ``uuid.UUID(value)`` gives for a stored UUID (its 32 hex digits, as SQLAlchemy writes it)."""
    return uuid.UUID(int=int(value, 16)) if len(value) == 32 else uuid.UUID(value)


def _refuse_work_per_call(compiled: SQLCompiler) -> None:
    problems = []
    if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
        columns = [c.key for c in [*compiled.insert_prefetch, *compiled.update_prefetch]]
        problems.append(f"Python-side defaults of {', '.join(columns)} (pass these columns)")
    for bind in compiled.bind_names:
        if bind.expanding:
            problems.append(f"the expanding parameter {bind.key}")
        if bind.callable is not None:
            problems.append(f"the computed parameter {bind.key}")
    if problems:
        raise ValueError(f"cannot prepare {compiled.string!r}: " + "; ".join(problems))


class checked_after(FunctionElement):
    """A column compared only on rows found another way: SQLite's unary ``+`` keeps its planner from reaching
    the rows through the column's index (other databases plan by statistics and get the column as is).

    For a condition that holds for many rows (a terminal's port) beside one that holds for few (an inspection
    of one filing): without statistics SQLite may read every row of the first to find the few of the second."""

    inherit_cache = True
    name = "checked_after"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(checked_after)
def _column_as_is(element: checked_after, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(checked_after, "sqlite")
def _column_unindexed(element: checked_after, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.clauses, **kw)


class after_in_log(FunctionElement):
    """``after_in_log(tx, seq, after_tx, after_seq)``: the row (of the event log, or a table in its order)
    comes after the position ``(after_tx, after_seq)``, the log being ordered by ``(tx, seq)``.

    PostgreSQL compares the pairs, ``(tx, seq) > (after_tx, after_seq)``, and seeks to the position in an
    index ending in ``(tx, seq)``. SQLite reads such a comparison as ``tx >= after_tx`` and walks every row
    from there; but there every event's ``tx`` is 0 (one writer at a time:
    :func:`onewindow.events.service.transaction_id`), so the log's order is ``seq``'s and the condition is
    written ``tx = after_tx AND seq > after_seq``, which seeks."""

    inherit_cache = True
    name = "after_in_log"  # untyped: a condition as it stands (a Boolean would be compared with 1 on SQLite)

    def __init__(self, tx: Any, seq: Any, after_tx: Any, after_seq: Any) -> None:
        super().__init__(tx, seq, after_tx, after_seq)


@compiles(after_in_log)
def _pairs_compared(element: after_in_log, compiler: SQLCompiler, **kw: Any) -> str:
    tx, seq, after_tx, after_seq = element.clauses
    return compiler.process(tuple_(tx, seq) > tuple_(after_tx, after_seq), **kw)


@compiles(after_in_log, "sqlite")
def _seq_after(element: after_in_log, compiler: SQLCompiler, **kw: Any) -> str:
    tx, seq, after_tx, after_seq = element.clauses
    return "(" + compiler.process(and_(tx == after_tx, seq > after_seq), **kw) + ")"
