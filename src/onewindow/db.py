"""Database engine and sessions.

SQLite (WAL) is the embedded default; PostgreSQL (psycopg 3) is the production
database. Only portable column types are used so both run the same models and
migrations. Services never commit: the unit of work (one HTTP request, one CLI
command) commits or rolls back through :func:`unit_of_work`.
"""

from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TypeVar

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("onewindow")
T = TypeVar("T")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def normalise_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs and create SQLite's folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL for concurrent readers, a busy timeout for writers, enforced foreign keys; no checkpoint at commit
    (the :class:`_Checkpointer` does them)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


_READING = contextvars.ContextVar("onewindow_reading", default=False)
"""True within a read-only :func:`unit_of_work`: the SQLite transactions begun there read a snapshot."""

CHECKPOINT_SECONDS = 0.5
"""How often a process copies what SQLite's write-ahead log holds into the database file."""
RESTART_FRAMES = 4000
"""Pages in the write-ahead log (about 16 MB) past which a checkpoint also makes writers start it afresh."""


class _Checkpointer(threading.Thread):
    """Copies the write-ahead log into the database file every :data:`CHECKPOINT_SECONDS`, beside the writers.

    By default SQLite checkpoints inside the ``COMMIT`` that takes the log past
    1,000 pages: that transaction writes some 4 MB and waits for the disk while
    it still holds the write lock, which costs every transaction about 0.2 ms
    on average, all of it inside the lock. A passive checkpoint needs no write
    lock: it runs here on its own connection while writers go on. But the log
    is only started afresh by a writer that finds every page of it copied,
    which never happens while writers keep writing during the checkpoints; so
    once the log holds :data:`RESTART_FRAMES` pages, the checkpoint is made
    holding the writer gate (no writer meanwhile; a short wait for them, rarely)
    and the next writer starts the log from its beginning. It takes the gate
    before this process's writers (:meth:`_WriterGate.held_first`): writers that
    never pause would otherwise take it back one after another while it waits. The thread ends once
    its writer gate is gone (every engine on the file disposed of). SQLite
    still checkpoints when the last connection to the file closes. Once the
    database file is removed, the thread closes its connection (opened again if
    a database is made at that path): kept open, it held the removed files and
    went on checkpointing them, which made every transaction in the process
    slower, up to twice as slow after a few databases had been removed.
    """

    def __init__(self, path: Path, gate: _WriterGate) -> None:
        super().__init__(name=f"onewindow-checkpoint-{path.name}", daemon=True)
        self._path, self._gate = path, weakref.ref(gate)

    def run(self) -> None:
        import sqlite3

        connection = None
        try:
            while (gate := self._gate()) is not None:
                del gate  # hold no reference while asleep: the gate goes with its last engine
                time.sleep(CHECKPOINT_SECONDS)
                if connection is not None and not self._path.exists():  # removed: keep none of its files open
                    connection.close()
                    connection = None
                try:
                    if connection is None:  # the file is made by the first engine connection, not here
                        connection = sqlite3.connect(f"file:{self._path}?mode=rw", uri=True,
                                                     isolation_level=None, check_same_thread=False)
                    self._checkpoint(connection)
                except sqlite3.Error:  # not made yet, or busy with another process's checkpoint: next round
                    continue
        finally:
            if connection is not None:
                connection.close()

    def _checkpoint(self, connection) -> None:
        _busy, frames, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        gate = self._gate()
        if frames >= RESTART_FRAMES and gate is not None:
            with gate.held_first():  # readers still reading the log make it busy: then the next round tries again
                connection.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()


WAIT_AWAKE_SECONDS = 0.002
"""How long a process waiting for another's writer lock stays awake, asking again and again, before it sleeps
until the kernel wakes it (:func:`_take_file_lock`)."""


def _take_file_lock(fd: int) -> None:
    """An exclusive ``flock`` on ``fd``, waited for awake at first.

    Another process holds the lock for one transaction at a time, well under a millisecond on the request
    path. A process that sleeps in ``flock`` meanwhile is woken by the kernel once it is let go, often after
    the holder has taken it again, and the work it then does holding the lock runs slower than after no sleep
    (measured on a two-core virtual machine: decision 36). So the lock is asked for without waiting, again
    and again, for up to :data:`WAIT_AWAKE_SECONDS` (offering the processor to any other ready thread between
    two asks: ``sched_yield``), and only then waited for asleep: a long holder (a migration, an import) costs
    a waiter that much processor time at most.
    """
    until = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        now = time.monotonic()
        if until is None:
            until = now + WAIT_AWAKE_SECONDS
        elif now >= until:
            break
        os.sched_yield()
    fcntl.flock(fd, fcntl.LOCK_EX)


class _WriterGate:
    """Serialise SQLite transactions on one database file: this process's threads, then processes.

    SQLite allows one writer at a time; a writer that finds the database locked
    sleeps in SQLite's busy handler with growing back-off (1, 2, 5 ... 100 ms),
    so writers queue far better on locks that wake the next waiter at once:

    - within a process, a plain lock (not an owner-bound one: a transaction
      may commit on another thread than the one that began it);
    - across processes, an exclusive ``flock`` on ``<database>.writer-lock``
      beside the database file. The kernel wakes a waiting process as soon as
      the lock is let go, so a second server process gets its turn instead of
      sleeping while the first hands the database from one of its threads to
      the next. A process that dies lets go of it with its file descriptors.

    ``BEGIN IMMEDIATE``, ``COMMIT`` and ``ROLLBACK`` go to the driver directly (SQLAlchemy sends nothing
    itself for these connections, which are in the driver's autocommit mode).

    Transactions still take the database lock with ``BEGIN IMMEDIATE`` (a
    writer that does not use the gate waits in the busy handler), so two
    writers never deadlock upgrading a read lock. One gate serves every engine
    of the process on the same file.

    The gate opens only once the transaction has ended in SQLite: SQLAlchemy
    announces a commit (or rollback) before the driver runs it, so the gate
    runs ``COMMIT`` (``ROLLBACK``) itself and the driver's own call then has
    nothing left to do. Opening it earlier lets the next transaction's
    ``BEGIN IMMEDIATE`` find the database still locked and sleep in the busy handler.
    """

    def __init__(self, lock_path: Path | None, timeout: float | None = 30.0) -> None:
        self._lock = threading.Lock()  # not an RLock: commit may run on another thread than BEGIN
        self._timeout = timeout
        self._writers_may = threading.Event()  # cleared while a holder that comes first waits for or holds it
        self._writers_may.set()
        self._fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644) if lock_path else None
        if self._fd is not None:
            # Closed once the gate is gone for good. Not in ``__del__``: that runs while the weak references to
            # the gate still answer, so another thread could take the gate from the registry as its file closes.
            weakref.finalize(self, os.close, self._fd)

    def begin(self, conn) -> None:
        driver = conn.connection.driver_connection
        if _READING.get():  # a reader: a snapshot, beside the writers; no write (WriteInReadOnlyUnit)
            driver.execute("BEGIN")
            conn.info["reader"] = True
            return
        info = conn.info  # read before the gate is taken: no step more than needed while it is held
        if not self._writers_may.is_set():
            self._writers_may.wait(self._timeout)
        self._acquire()
        try:
            driver.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise
        info[_WRITER] = (self, driver)  # the gate to open and the connection to end the transaction on

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the gate with no transaction (no writer of this process or another meanwhile)."""
        self._acquire()
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def held_first(self) -> Iterator[None]:
        """:meth:`held`, before this process's writers: a transaction that begins meanwhile waits until the
        gate is let go. The lock is not fair: writers one after another would take it back at once, and a holder
        that waits between their transactions (the checkpointer restarting the log) could wait without end."""
        self._writers_may.clear()
        try:
            with self.held():
                yield
        finally:
            self._writers_may.set()

    def commit(self, conn) -> None:
        self._end(conn, "COMMIT")

    def rollback(self, conn) -> None:
        self._end(conn, "ROLLBACK")

    def _end(self, conn, statement: str) -> None:
        info = conn.info
        writer = info.pop(_WRITER, None)  # (this gate, the driver connection :meth:`begin` began on)
        reader = info.pop("reader", False)
        if writer is None and not reader:
            return
        driver = writer[1] if writer is not None else conn.connection.driver_connection
        try:
            if driver.in_transaction:
                driver.execute(statement)
        finally:
            if writer is not None:
                self._release()

    def _acquire(self) -> None:
        """This process's lock, then the file's (released again if the second fails)."""
        if not self._lock.acquire(timeout=-1 if self._timeout is None else self._timeout):
            raise TimeoutError(f"no SQLite write slot within {self._timeout} s")
        try:
            if self._fd is not None:
                _take_file_lock(self._fd)
        except BaseException:
            self._lock.release()
            raise

    def _release(self) -> None:
        try:
            self._release_file()
        finally:
            self._lock.release()

    def _release_file(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)


_WRITER = "writer_gate_held"
"""In a SQLite connection's ``info`` while its transaction holds the writer gate: (the gate, the driver's
connection)."""

_gates: weakref.WeakValueDictionary[tuple[Path, int], _WriterGate] = weakref.WeakValueDictionary()
"""(database file, process id) → the gate, while an engine on that file holds it."""
_gates_lock = threading.Lock()


def _database_file(url) -> Path | None:
    """The file of the SQLite database at ``url``; None for an in-memory one."""
    database = make_url(url).database
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


def _gate_for(url: str) -> _WriterGate:
    """The process's one writer gate for the SQLite database at ``url`` (a new one for in-memory databases)."""
    path = _database_file(url)
    if path is None:
        return _WriterGate(None)
    key = (path, os.getpid())  # a forked child opens the file anew: an inherited descriptor shares the lock
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = _WriterGate(path.with_name(path.name + ".writer-lock"))
            _Checkpointer(path, gate).start()
        return gate


_side_locks: weakref.WeakValueDictionary[tuple[Path | None, str, int], _WriterGate] = weakref.WeakValueDictionary()
"""Side locks while someone holds or waits for them (each holds its lock file open)."""


def sqlite_side_lock(engine: Engine, name: str) -> AbstractContextManager[None]:
    """The lock ``name`` of the engine's SQLite database file, held for this process's threads and other
    processes alike (a gate like the writer gate, on ``<database>.<name>-lock``, waited for without limit):
    work that must not run twice at once, but runs beside the writers, takes it. In-memory databases: this
    process only."""
    path = _database_file(engine.url)
    key = (path, name, os.getpid())
    with _gates_lock:
        lock = _side_locks.get(key)
        if lock is None:
            lock = _side_locks[key] = _WriterGate(path.with_name(f"{path.name}.{name}-lock") if path else None,
                                                  timeout=None)
    return lock.held()


def computes_beside_writers(factory: sessionmaker[Session]) -> bool:
    """Whether long work on ``factory``'s database is computed in a read-only unit of work and stored in a
    short one, taking turns under a :func:`sqlite_side_lock` (SQLite: every other transaction holds the one
    write slot); on PostgreSQL such work runs in one transaction."""
    return factory.kw["bind"].dialect.name == "sqlite"


def reads_beside_writers(session: Session) -> bool:
    """Whether the session's transaction (begun now if need be) is a read-only one on SQLite: a snapshot read
    beside the writers, which must not write (see :func:`unit_of_work`)."""
    return bool(session.connection().info.get("reader"))


WRITING_STATEMENTS = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER"})
"""The first words of SQL statements that write."""


class WriteInReadOnlyUnit(RuntimeError):
    """A statement that writes ran in a read-only unit of work (:func:`unit_of_work`): a programming error.
    Raised before the statement runs, wherever a connection that reads a snapshot (``info["reader"]``) is
    given one: by :class:`onewindow.sql.Prepared`, and for every other statement by the engine."""

    def __init__(self, statement: str) -> None:
        super().__init__(f"a read-only unit of work cannot run {statement.split('(', 1)[0].strip()!r}")


def writes(statement: str) -> bool:
    """Whether the SQL ``statement`` writes (by its first word, :data:`WRITING_STATEMENTS`)."""
    first = statement.split(None, 1)
    return bool(first) and first[0].upper() in WRITING_STATEMENTS


def _refuse_writes_of_readers(conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    """Statements run through SQLAlchemy: :class:`WriteInReadOnlyUnit` for one that writes on a reader."""
    if conn.info.get("reader") and writes(statement):
        raise WriteInReadOnlyUnit(statement)


def json_text(value) -> str:
    """JSON columns as text, with orjson (several times faster than the standard library on entries)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    """An engine for ``url`` with the platform's connection settings."""
    url = normalise_url(url)
    json_args = {"json_serializer": json_text, "json_deserializer": orjson.loads}
    if is_sqlite(url):
        # The driver is in autocommit mode and every transaction is begun and ended through the writer gate,
        # so a connection returned to the pool has nothing to roll back: no reset on return.
        # Last in, first out: each SQLite connection keeps its own page cache and drops all of it when another
        # connection has written since its last transaction. Handing out the connection used last (most often
        # the last writer) keeps its cache; rotating through the pool rereads some 50 pages a request.
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False, "isolation_level": None},
                               pool_size=pool_size, max_overflow=pool_size, pool_reset_on_return=None,
                               pool_use_lifo=True,
                               **json_args)
        gate = _gate_for(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", gate.begin)
        event.listen(engine, "commit", gate.commit)
        event.listen(engine, "rollback", gate.rollback)
        event.listen(engine, "before_cursor_execute", _refuse_writes_of_readers)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True,
                         **json_args)


def _commit_writer_first(session: Session) -> None:
    """A SQLite writer's transaction committed in the database, and the writer gate opened, before the
    session's own commit steps, when none of those comes before the database's ``COMMIT``: no change to
    flush, no ``before_commit`` listener, one connection, the gate's, in the session's own transaction (no
    savepoint, not two-phase). The session's steps then find the transaction ended in SQLite (the gate's
    commit has nothing left to do) and run as before, the gate no longer held meanwhile (some 35 steps of
    SQLAlchemy's each unit of work). Anything else: nothing done here, all of it is the session's commit."""
    transaction = session._transaction
    if (transaction is None or transaction._parent is not None or session.twophase or session._flushing
            or session._new or session._deleted or session.identity_map._modified or session.dispatch.before_commit):
        return
    # (connection, its transaction, whether the session ends it, _), under the engine's key and the connection's
    connections = set(transaction._connections.values())
    if len(connections) != 1:
        return
    ((conn, begun, ends_it, _),) = connections
    if ends_it and begun.is_active and (writer := conn.info.get(_WRITER)) is not None:
        writer[0].commit(conn)


def flush(session: Session) -> None:
    """``session.flush()``: what the unit of work holds, written. Nothing to do, and not a step, when it holds
    no new, changed or deleted object (``flush`` itself then returns at once) and no flush is under way
    (``flush`` refuses to run inside one)."""
    if session._new or session._deleted or session.identity_map._modified or session._flushing:
        session.flush()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, read_only: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends normally, roll back on any exception. A block that never
    used its session begins no transaction and commits none.

    ``read_only``: the work only reads. On SQLite every transaction begun in the block (its session's, or
    another session's) then reads a snapshot beside the writers instead of taking the writer gate (a long
    computation, or a request that only reads, does not hold up the writers of any process), and a statement
    that writes raises :class:`WriteInReadOnlyUnit` before it runs; a unit of work opened inside the block
    is read-only or not by its own ``read_only``. No difference on PostgreSQL.
    """
    session = factory()
    reading = _READING.set(read_only)
    try:
        yield session
        if session.in_transaction():  # else nothing was asked of the session (an answer from memory)
            _commit_writer_first(session)
            session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        _READING.reset(reading)


CONFLICT_STATES = frozenset({"40P01", "40001"})
"""The SQLSTATEs of a transaction the database aborted to settle a conflict with another: a deadlock broken
(PostgreSQL's ``deadlock_detected``) or a serialization failure. Nothing of it was kept; run again from the
start, it sees what the other committed."""
ATTEMPTS = 5
"""How many times :func:`in_unit_of_work` runs a unit of work the database keeps aborting that way."""


class RunAgain(Exception):
    """Raised by a unit of work that cannot go on in its transaction but would succeed from the start in a new
    one: as a transaction the database aborts to settle a conflict, :func:`in_unit_of_work` rolls it back and
    runs it again (see :func:`onewindow.events.service.record_event`: an event that would come before one it
    must follow)."""


def aborted_by_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is the database aborting the transaction to settle a conflict (:data:`CONFLICT_STATES`),
    or a unit of work asking to be run again (:class:`RunAgain`)."""
    return isinstance(exc, RunAgain) or getattr(getattr(exc, "orig", None), "sqlstate", None) in CONFLICT_STATES


def in_unit_of_work(factory: sessionmaker[Session], fn: Callable[[Session], T], *, read_only: bool = False) -> T:
    """``fn(session)`` in one :func:`unit_of_work`; when the database aborts it to settle a conflict with a
    concurrent transaction (two requests locking the same containers in opposite orders: PostgreSQL breaks
    the deadlock by aborting one), or asks to be run again (:class:`RunAgain`), it is rolled back and run
    again from the start in a new one, up to :data:`ATTEMPTS` times in all. ``fn`` must do nothing outside
    its session that a second run would repeat.
    Any other error, or the last attempt's, is raised as it came."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with unit_of_work(factory, read_only=read_only) as session:
                return fn(session)
        except (DBAPIError, RunAgain) as exc:
            if attempt == ATTEMPTS or not aborted_by_conflict(exc):
                raise
            if isinstance(exc, RunAgain):
                log.info("a transaction is run again: %s (attempt %d)", exc, attempt + 1)
            else:
                log.info("a transaction aborted by the database to settle a conflict is run again (%s, attempt %d)",
                         type(exc.orig).__name__, attempt + 1)
            time.sleep(random.uniform(0, 0.005 * attempt))  # the two do not collide again at once
    raise AssertionError("unreachable")
