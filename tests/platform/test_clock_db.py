"""The platform clock, aware UTC timestamps on both databases, and SQLite's connection settings."""

from __future__ import annotations

import gc
import os
import sys
import threading
import uuid
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session

from onewindow.clock import FrozenClock, SystemClock
from onewindow.db import (WriteInReadOnlyUnit, is_sqlite, make_engine, make_session_factory, normalise_url,
                          sqlite_side_lock, unit_of_work)
from onewindow.models import Organisation, User
from onewindow.models.base import UTCDateTime

SHANGHAI = ZoneInfo("Asia/Shanghai")

# --- the clock ----------------------------------------------------------------------------------------------


def test_frozen_clock_stands_still_and_tells_utc():
    start = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)
    clock = FrozenClock(start)
    assert clock.now() == start == clock.now()
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.now() == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_frozen_clock_advances_when_told():
    clock = FrozenClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    assert clock.advance(90) == datetime(2026, 3, 2, 1, 1, 30, tzinfo=UTC)
    assert clock.now() == datetime(2026, 3, 2, 1, 1, 30, tzinfo=UTC)
    assert clock.advance(minutes=30, seconds=30) == datetime(2026, 3, 2, 1, 32, tzinfo=UTC)
    assert clock.advance(hours=2) == datetime(2026, 3, 2, 3, 32, tzinfo=UTC)
    assert clock.advance(days=1).date().isoformat() == "2026-03-03"
    assert clock.advance() == clock.now() == datetime(2026, 3, 3, 3, 32, tzinfo=UTC)
    assert clock.advance(0.25) == datetime(2026, 3, 3, 3, 32, 0, 250000, tzinfo=UTC)


def test_frozen_clock_set_moves_to_an_aware_time_in_utc():
    clock = FrozenClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    clock.set(datetime(2026, 1, 1, 8, 0, tzinfo=SHANGHAI))
    assert clock.now() == datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_frozen_clock_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="aware"):
        FrozenClock(datetime(2026, 3, 2, 9, 0))


def test_frozen_clock_set_refuses_naive_datetimes():
    clock = FrozenClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 3, 2, 9, 0))
    assert clock.now() == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_system_clock_is_aware_utc_and_current():
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    assert before <= now <= after


# --- UTCDateTime ---------------------------------------------------------------------------------------------


def _org(code: str, created_at: datetime) -> Organisation:
    return Organisation(kind="customs", code=code, name=code, created_at=created_at)


@pytest.mark.parametrize("moment", [
    datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=SHANGHAI),
    datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
    datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    datetime(2026, 6, 30, 12, 0, tzinfo=ZoneInfo("Europe/London")),
])
def test_aware_datetimes_round_trip_as_utc(db, moment):
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        session.add(_org("0916", moment))
    with factory() as session:
        stored = session.scalar(select(Organisation.created_at))
    assert stored == moment
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored.microsecond == moment.microsecond
    assert stored == moment.astimezone(UTC) and stored.replace(tzinfo=None) == moment.astimezone(UTC).replace(
        tzinfo=None)


def test_timestamps_compare_and_order_as_instants(db):
    factory = make_session_factory(db)
    base = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    with unit_of_work(factory) as session:
        session.add(_org("0001", base + timedelta(hours=2)))
        session.add(_org("0002", (base + timedelta(hours=1)).astimezone(SHANGHAI)))  # later wall clock, earlier
        session.add(_org("0003", base.astimezone(timezone(timedelta(hours=-8)))))
    with factory() as session:
        ordered = session.scalars(select(Organisation.code).order_by(Organisation.created_at)).all()
        assert ordered == ["0003", "0002", "0001"]
        same = session.scalars(select(Organisation.code)
                               .where(Organisation.created_at == (base + timedelta(hours=1)).astimezone(SHANGHAI)))
        assert same.all() == ["0002"]
        later = session.scalars(select(Organisation.code)
                                .where(Organisation.created_at > base.astimezone(SHANGHAI))
                                .order_by(Organisation.code))
        assert later.all() == ["0001", "0002"]


def test_naive_datetimes_are_refused_by_the_database_layer(db):
    factory = make_session_factory(db)
    with pytest.raises(StatementError) as caught:
        with unit_of_work(factory) as session:
            session.add(_org("0916", datetime(2026, 3, 2, 9, 0)))
    assert isinstance(caught.value.orig, ValueError)
    assert "naive" in str(caught.value.orig)
    with factory() as session:
        assert session.scalars(select(Organisation)).all() == []


def test_null_timestamps_stay_null(db, run, clock):
    from onewindow.models import ApiToken
    from onewindow.parties.service import add_organisation, ensure_user, issue_token

    run(lambda ctx: issue_token(ctx, ensure_user(ctx, add_organisation(ctx, kind="customs", code="0916",
                                                                        name="x"), "u")))
    row = run(lambda ctx: ctx.session.scalar(select(ApiToken)))
    assert row.revoked_at is None and row.created_at == clock.now()


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_utc_datetime_binds(dialect):
    kind = UTCDateTime()
    assert kind.process_bind_param(None, dialect) is None
    assert kind.process_result_value(None, dialect) is None
    with pytest.raises(ValueError, match="naive"):
        kind.process_bind_param(datetime(2026, 3, 2, 9, 0), dialect)
    bound = kind.process_bind_param(datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI), dialect)
    if dialect.name == "sqlite":
        assert bound == datetime(2026, 3, 2, 1, 0) and bound.tzinfo is None
    else:
        assert bound == datetime(2026, 3, 2, 1, 0, tzinfo=UTC) and bound.utcoffset() == timedelta(0)
    back = kind.process_result_value(datetime(2026, 3, 2, 1, 0), dialect)
    assert back == datetime(2026, 3, 2, 1, 0, tzinfo=UTC) and back.tzinfo is UTC
    converted = kind.process_result_value(datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI), dialect)
    assert converted == datetime(2026, 3, 2, 1, 0, tzinfo=UTC) and converted.utcoffset() == timedelta(0)


# --- engines ------------------------------------------------------------------------------------------------


def test_sqlite_runs_in_wal_mode_with_foreign_keys(db):
    if db.dialect.name != "sqlite":
        pytest.skip("SQLite connection settings")
    with db.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


def test_every_new_sqlite_connection_gets_the_settings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'x.db'}", pool_size=1)
    try:
        for _ in range(2):
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar().lower() == "wal"
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            engine.dispose()
        assert (tmp_path / "a" / "b" / "x.db").exists()
    finally:
        engine.dispose()


def test_commits_do_not_checkpoint_a_background_thread_does(tmp_path):
    """A commit leaves its pages in the write-ahead log (no checkpoint inside the write lock); the engine's
    checkpointer copies them into the database file within moments, while the engine is still in use."""
    import sqlite3
    import time

    path = tmp_path / "x.db"
    engine = make_engine(f"sqlite:///{path}", pool_size=1)

    def rows_in_the_database_file() -> int:  # read the file alone, ignoring the log; -1: not readable yet
        try:
            with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as raw:
                return raw.execute("SELECT count(*) FROM t").fetchone()[0]
        except sqlite3.DatabaseError:  # the table only in the log, or a checkpoint writing the file right now
            return -1

    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
            conn.commit()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and rows_in_the_database_file() != 0:
            time.sleep(0.05)
        for _ in range(5):
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES ('" + "x" * 5000 + "')")
        while rows_in_the_database_file() < 5:
            assert time.monotonic() < deadline, "the log was never copied into the database file"
            time.sleep(0.05)
    finally:
        engine.dispose()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="lists open files through /proc")
def test_the_checkpointer_lets_go_of_a_removed_database_and_takes_up_one_made_again(tmp_path, monkeypatch):
    """Once the database file is removed (the engine still alive), the checkpointer keeps none of its files
    open; a database made again at that path is checkpointed as before."""
    import shutil
    import sqlite3
    import time

    from onewindow import db as db_module

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.02)
    folder = tmp_path / "gone"
    folder.mkdir()
    path = folder / "x.db"
    engine = make_engine(f"sqlite:///{path}", pool_size=1)

    def open_files() -> list[str]:  # this process's open files of that database (not the gate's lock file)
        names = []
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:  # closed meanwhile
                continue
            if target.split(" (deleted)")[0] in {str(path), f"{path}-wal", f"{path}-shm"}:
                names.append(target)
        return names

    def checkpointed(rows: int) -> None:  # wait until the file itself holds the rows (read ignoring the log)
        deadline = time.monotonic() + 10
        while True:
            try:
                with closing(sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)) as raw:
                    if raw.execute("SELECT count(*) FROM t").fetchone()[0] == rows:  # closed at once: a
                        return  # connection left to the collector would hold the file open meanwhile
            except sqlite3.DatabaseError:  # the table only in the log yet
                pass
            assert time.monotonic() < deadline, "the log was never copied into the database file"
            time.sleep(0.02)

    def write_and_checkpoint() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
            conn.exec_driver_sql("INSERT INTO t VALUES ('a')")
        checkpointed(1)
        engine.dispose()  # the pool's connections closed: only the checkpointer's is left open

    try:
        write_and_checkpoint()
        assert open_files(), "the checkpointer has the database open"
        shutil.rmtree(folder)
        deadline = time.monotonic() + 10
        while open_files():
            assert time.monotonic() < deadline, f"still open: {open_files()}"
            time.sleep(0.02)
        folder.mkdir()
        write_and_checkpoint()
    finally:
        engine.dispose()


def test_a_holder_that_comes_first_is_not_passed_by_writers_one_after_another(tmp_path):
    """The checkpointer restarting the log takes the writer gate between two transactions of writers that
    never pause: at most the transaction under way and one that had already asked end before it. (With the
    plain lock, which is not fair, a writer taking the gate back at once passed such a holder 31-48 times on a
    busy machine.)"""
    import time

    from onewindow.db import _gate_for

    url = f"sqlite:///{tmp_path / 'first.db'}"
    engine = make_engine(url, pool_size=1)
    gate = _gate_for(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    stop, written = threading.Event(), [0]

    def writer() -> None:
        while not stop.is_set():
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            written[0] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    passed = []
    try:
        while written[0] < 50:
            time.sleep(0.001)
        for _ in range(20):
            before = written[0]
            with gate.held_first():
                passed.append(written[0] - before)
            time.sleep(0.005)
    finally:
        stop.set()
        thread.join()
        engine.dispose()
    assert max(passed) <= 2, passed


def test_the_log_stays_bounded_while_writers_never_stop(tmp_path, monkeypatch):
    """Passive checkpoints alone never let a busy log start afresh; past a size the checkpointer makes one
    holding the writer gate, so the log is reused from its start instead of growing without end."""
    import time

    from onewindow import db as db_module

    monkeypatch.setattr(db_module, "CHECKPOINT_SECONDS", 0.02)
    monkeypatch.setattr(db_module, "RESTART_FRAMES", 100)
    path = tmp_path / "busy.db"
    engine = make_engine(f"sqlite:///{path}", pool_size=1)
    wal = tmp_path / "busy.db-wal"
    largest = 0
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x TEXT)")
        for i in range(6000):  # about 6,000 pages (24 MB) written, one transaction after another
            with engine.begin() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (?)", ("x" * 3000,))
            if i % 50 == 0:
                time.sleep(0.001)  # let the checkpointer in now and then, as requests' gaps do
                largest = max(largest, wal.stat().st_size)
    finally:
        engine.dispose()
    assert largest < 12_000_000, f"the log grew to {largest / 1e6:.1f} MB"  # half of all that was written


def test_a_read_only_unit_of_work_reads_a_snapshot_beside_the_writer(db, clock):
    """On SQLite a writer holds the one write slot from its first statement to its commit; a read-only unit of
    work does not queue for it and reads what was committed before it began (PostgreSQL: the same answers)."""
    import threading

    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        session.add(_org("0916", clock.now()))
    writing, read = threading.Event(), threading.Event()
    seen: list[int] = []

    def writer() -> None:
        with unit_of_work(factory) as session:
            session.add(_org("0917", clock.now()))
            session.flush()  # the write slot is held from here to the commit
            writing.set()
            assert read.wait(10), "the reader waited for the writer"

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(10)
        with unit_of_work(factory, read_only=True) as session:
            seen.append(len(session.scalars(select(Organisation)).all()))
        read.set()
    finally:
        read.set()
        thread.join(10)
    with unit_of_work(factory, read_only=True) as session:
        seen.append(len(session.scalars(select(Organisation)).all()))
    assert seen == [1, 2]


def test_a_write_in_a_read_only_unit_of_work_is_refused_before_it_runs(db, clock):
    """On SQLite a read-only unit of work reads a snapshot and holds no write slot: a statement that writes,
    through the ORM or prepared, is refused before it runs and the pooled connection writes again afterwards.
    PostgreSQL: a read-only unit of work is an ordinary one."""
    from onewindow.rows import insert

    factory = make_session_factory(db)
    sqlite = db.dialect.name == "sqlite"
    attempts = [lambda session: (session.add(_org("0916", clock.now())), session.flush()),
                lambda session: insert(session, Organisation, [{
                    "id": uuid.uuid4(), "kind": "customs", "code": "0917", "name": "0917", "port": None,
                    "credit_level": "general", "created_at": clock.now()}])]
    for attempt in attempts:
        if sqlite:
            with pytest.raises(WriteInReadOnlyUnit, match="read-only unit of work cannot run 'INSERT INTO"):
                with unit_of_work(factory, read_only=True) as session:
                    attempt(session)
        else:
            with unit_of_work(factory, read_only=True) as session:
                attempt(session)
    for i in range(3):  # every connection the pool handed out since
        with unit_of_work(factory) as session:
            session.add(_org(f"092{i}", clock.now()))
    with unit_of_work(factory, read_only=True) as session:
        assert len(session.scalars(select(Organisation)).all()) == (3 if sqlite else 5)


def test_a_unit_of_work_opened_inside_a_read_only_one_writes(db, clock):
    """Read-only is a property of each unit of work: one opened inside a read-only one (to store what the
    outer computed, as the published figures do) is a writer unless it says otherwise."""
    factory = make_session_factory(db)
    with unit_of_work(factory, read_only=True) as outer:
        assert outer.scalars(select(Organisation)).all() == []
        with unit_of_work(factory) as inner:
            inner.add(_org("0916", clock.now()))
        # SQLite: the outer one reads its snapshot; PostgreSQL (read committed): what is committed now
        assert len(outer.scalars(select(Organisation)).all()) == (0 if db.dialect.name == "sqlite" else 1)
    with unit_of_work(factory, read_only=True) as session:
        assert [o.code for o in session.scalars(select(Organisation))] == ["0916"]


def test_foreign_keys_are_enforced(db, clock):
    factory = make_session_factory(db)
    with pytest.raises(IntegrityError):
        with unit_of_work(factory) as session:
            session.add(Organisation(kind="customs", code="0916", name="x", created_at=clock.now()))
            session.flush()
            session.add(User(organisation_id=_missing_id(), name="ghost", role="officer", created_at=clock.now()))
    with factory() as session:
        assert session.scalars(select(Organisation)).all() == []


def _missing_id():
    import uuid

    return uuid.UUID(int=1)


def test_unit_of_work_commits_or_rolls_back(db, clock):
    factory = make_session_factory(db)
    with unit_of_work(factory) as session:
        session.add(_org("0916", clock.now()))
    with pytest.raises(RuntimeError):
        with unit_of_work(factory) as session:
            session.add(_org("0917", clock.now()))
            session.flush()
            raise RuntimeError("stop")
    with db.connect() as conn:
        assert conn.execute(text("SELECT code FROM organisations")).scalars().all() == ["0916"]


def _committed_in_sqlite_before_the_sessions_commit(db, work, monkeypatch) -> list[bool]:
    """For each commit of a session in ``unit_of_work`` running ``work(session)``: whether its transaction
    was already committed in SQLite when ``Session.commit`` began."""
    seen, commit = [], Session.commit

    def recorded(session) -> None:
        seen.append(not session.connection().connection.driver_connection.in_transaction)
        commit(session)

    monkeypatch.setattr(Session, "commit", recorded)
    with unit_of_work(make_session_factory(db)) as session:
        work(session)
    monkeypatch.undo()
    return seen


def test_a_unit_of_work_with_nothing_to_flush_commits_in_sqlite_before_the_sessions_commit(db, clock, monkeypatch):
    """The writer gate opens before the session's commit steps when none comes before ``COMMIT``."""
    if not is_sqlite(str(db.url)):
        pytest.skip("the writer gate is SQLite's")
    org = _org("0916", clock.now())

    def written_at_once(session) -> None:
        session.add(org)
        session.flush()

    assert _committed_in_sqlite_before_the_sessions_commit(db, written_at_once, monkeypatch) == [True]

    def changed_then(session) -> None:
        session.get(Organisation, org.id).name = "changed"

    assert _committed_in_sqlite_before_the_sessions_commit(db, changed_then, monkeypatch) == [False]  # flushed first

    def listened(session) -> None:
        session.execute(text("SELECT 1"))
        event.listen(session, "before_commit", lambda s: s.add(_org("0917", clock.now())))

    assert _committed_in_sqlite_before_the_sessions_commit(db, listened, monkeypatch) == [False]
    with db.connect() as conn:
        assert conn.execute(text("SELECT code, name FROM organisations ORDER BY code")).all() == [
            ("0916", "changed"), ("0917", "0917")]
    with pytest.raises(RuntimeError), unit_of_work(make_session_factory(db)) as session:
        session.execute(text("DELETE FROM organisations"))
        raise RuntimeError("stop")
    with db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM organisations")).scalar() == 2


def test_urls_are_normalised(tmp_path):
    assert normalise_url("postgresql://u:p@h:5432/d") == "postgresql+psycopg://u:p@h:5432/d"
    assert normalise_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"
    folder = tmp_path / "new" / "dir"
    assert normalise_url(f"sqlite:///{folder / 'x.db'}") == f"sqlite:///{folder / 'x.db'}"
    assert folder.is_dir()
    assert normalise_url("sqlite://") == "sqlite://"
    assert is_sqlite("sqlite:///x.db") and not is_sqlite("postgresql://h/d")


def _file_lock_is_free(path) -> bool:
    """Whether another process could take the exclusive lock on ``path`` now."""
    import subprocess

    code = ("import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\n"
            "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code, str(path)], timeout=30).returncode == 0


def test_a_sqlite_writer_holds_the_file_lock_other_processes_queue_on(tmp_path):
    database = tmp_path / "x.db"
    first = make_engine(f"sqlite:///{database}", pool_size=1)
    second = make_engine(f"sqlite:///{tmp_path}/./x.db", pool_size=1)  # the same file: the same gate
    lock = tmp_path / "x.db.writer-lock"
    try:
        with first.connect() as conn:
            conn.exec_driver_sql("CREATE TABLE t (n INTEGER)")
            conn.commit()
        assert lock.exists() and _file_lock_is_free(lock)
        for engine in (first, second):
            with engine.connect() as conn:
                conn.exec_driver_sql("INSERT INTO t VALUES (1)")
                assert not _file_lock_is_free(lock)  # held from BEGIN IMMEDIATE ...
                conn.commit()
                assert _file_lock_is_free(lock)  # ... to COMMIT
            with pytest.raises(OperationalError), engine.connect() as conn:
                conn.exec_driver_sql("INSERT INTO missing VALUES (1)")
            assert _file_lock_is_free(lock)  # and let go on a failed transaction's rollback
        with first.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    finally:
        first.dispose()
        second.dispose()


class _Asks:
    """``fcntl.flock`` on the descriptor ``fd``, each call recorded: (asked without waiting, taken)."""

    def __init__(self, monkeypatch, fd: int) -> None:
        import fcntl

        from onewindow import db

        self.calls: list[tuple[bool, bool]] = []
        flock = fcntl.flock

        def recorded(on, operation):
            try:
                flock(on, operation)
            except BlockingIOError:
                if on == fd:
                    self.calls.append((bool(operation & fcntl.LOCK_NB), False))
                raise
            if on == fd:
                self.calls.append((bool(operation & fcntl.LOCK_NB), True))

        monkeypatch.setattr(db.fcntl, "flock", recorded)


def _lock_files(tmp_path) -> tuple[int, int]:
    """Two descriptors of one lock file: an ``flock`` on one holds off the other, as another process's would."""
    path = tmp_path / "x.db.writer-lock"
    return os.open(path, os.O_RDWR | os.O_CREAT), os.open(path, os.O_RDWR)


def test_a_writer_waiting_for_another_process_asks_again_awake_and_takes_the_lock_once_let_go(tmp_path, monkeypatch):
    import fcntl

    from onewindow import db

    holder, waiter = _lock_files(tmp_path)
    fcntl.flock(holder, fcntl.LOCK_EX)
    asks = _Asks(monkeypatch, waiter)
    yields = 0

    def between_two_asks() -> None:  # the other process lets go while this one is still awake
        nonlocal yields
        yields += 1
        if yields == 3:
            fcntl.flock(holder, fcntl.LOCK_UN)

    monkeypatch.setattr(db, "WAIT_AWAKE_SECONDS", 60.0)
    monkeypatch.setattr(db.os, "sched_yield", between_two_asks)
    try:
        db._take_file_lock(waiter)
        assert asks.calls == [(True, False)] * 3 + [(True, True)]  # never asleep in flock
        with pytest.raises(BlockingIOError):  # and it holds the lock now
            fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(holder)
        os.close(waiter)


def test_a_writer_waits_asleep_once_another_process_holds_the_lock_longer(tmp_path, monkeypatch):
    import fcntl
    import time

    from onewindow import db

    holder, waiter = _lock_files(tmp_path)
    fcntl.flock(holder, fcntl.LOCK_EX)
    monkeypatch.setattr(db, "WAIT_AWAKE_SECONDS", 0.01)
    asks = _Asks(monkeypatch, waiter)
    letting_go = threading.Timer(0.5, fcntl.flock, (holder, fcntl.LOCK_UN))
    try:
        letting_go.start()
        began, processor = time.monotonic(), time.thread_time()
        db._take_file_lock(waiter)
        waited, used = time.monotonic() - began, time.thread_time() - processor
        assert waited >= 0.4  # taken once let go, not before
        assert used < 0.25  # most of the wait spent asleep, not asking
        assert asks.calls[-1] == (False, True) and all(nb and not taken for nb, taken in asks.calls[:-1])
    finally:
        letting_go.join()
        os.close(holder)
        os.close(waiter)


def test_side_locks_taken_and_let_go_by_many_threads_always_hold_their_file(tmp_path):
    """A side lock lives while someone holds it: a thread taking it as the last holder lets it go must get a
    lock whose file is open (or a new one), never one whose file is being closed."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to meet the moment a lock goes
    engine = make_engine(f"sqlite:///{tmp_path}/x.db", pool_size=1)
    errors: list[BaseException] = []
    held = 0

    def take_and_let_go() -> None:
        nonlocal held
        for _ in range(3000):
            try:
                with sqlite_side_lock(engine, "work"):
                    held += 1
            except OSError as error:
                errors.append(error)

    try:
        threads = [threading.Thread(target=take_and_let_go) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        engine.dispose()
    assert errors == [] and held == 4 * 3000


def _open_on(path) -> set[str]:
    """This process's descriptors open on ``path`` (by what each names, not by number: another thread of the
    process may close a descriptor meanwhile and the lock's file get its number)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                found.add(fd)
        except OSError:
            pass  # closed meanwhile
    return found


def test_a_side_lock_closes_its_file_once_nobody_holds_it(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path}/x.db", pool_size=1)
    lock = tmp_path / "x.db.work-lock"
    with sqlite_side_lock(engine, "work"):
        assert not _file_lock_is_free(lock)
        opened = _open_on(lock)
    assert _file_lock_is_free(lock)
    gc.collect()
    assert opened and not _open_on(lock)
    engine.dispose()
