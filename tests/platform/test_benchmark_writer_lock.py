"""The benchmarks' timing of SQLite's write lock (``bench/writer_lock``): what a process started with its
environment reports, holder by holder, for a window."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.bench import bench_module

PROGRAM = textwrap.dedent("""
    import sys, threading, time
    from sqlalchemy import text
    from onewindow.db import make_engine, sqlite_side_lock, unit_of_work, make_session_factory

    engine = make_engine(sys.argv[1])
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    time.sleep(0.05)  # a window that starts well after the table's transaction
    print(time.monotonic(), flush=True)
    for n in range(3):  # three writers, each holding the lock for 30 ms
        with unit_of_work(factory) as session:
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
            time.sleep(0.03)

    def scheduler():
        with unit_of_work(factory) as session:
            session.execute(text("INSERT INTO t VALUES (9)"))
            time.sleep(0.01)

    thread = threading.Thread(target=scheduler, name="onewindow-scheduler")
    thread.start()
    thread.join()
    with sqlite_side_lock(engine, "projection"):  # a lock beside the writers: not the write lock
        time.sleep(0.05)
    with unit_of_work(factory, read_only=True) as session:  # a reader takes no lock
        session.execute(text("SELECT count(*) FROM t")).scalar()
    print(time.monotonic(), flush=True)
    with unit_of_work(factory) as session:  # after the window
        time.sleep(0.05)
        session.execute(text("INSERT INTO t VALUES (10)"))
    time.sleep(0.5)  # the figures written
""")


def _timed_run(database: Path, window) -> dict:
    """:data:`PROGRAM` run with the helper's environment; the figures of ``window(start, end)``, the program's
    own window."""
    timings = bench_module("writer_lock").WriterLockTimings()
    try:
        run = subprocess.run([sys.executable, "-c", PROGRAM, f"sqlite:///{database}"],
                             env={**os.environ, **timings.env()}, capture_output=True, text=True, check=True)
        start, end = (float(line) for line in run.stdout.split())
        return timings.summary(*window(start, end))
    finally:
        timings.close()


def test_a_process_started_with_its_environment_reports_each_holder_of_the_write_lock(tmp_path):
    found = _timed_run(tmp_path / "lock.db", lambda start, end: (start, end))
    requests, scheduler = found["roles"]["requests"], found["roles"]["scheduler"]
    assert requests["transactions"] == 3
    assert 0.09 <= requests["held_s"] < 0.5
    assert requests["cpu_s"] < requests["held_s"] / 2  # held while asleep: little processor time
    assert scheduler["transactions"] == 1 and 0.01 <= scheduler["held_s"] < 0.3
    assert found["processes"] == 1
    # held 0.1 s of a window that also held 50 ms of the side lock, a reader and the thread's start
    assert 0.1 / found["seconds"] * 0.9 < found["held_share"] <= 1


def test_holds_outside_the_window_are_not_counted(tmp_path):
    found = _timed_run(tmp_path / "lock.db", lambda start, _end: (start - 60, start - 30))
    assert all(figures["transactions"] == 0 for figures in found["roles"].values())
    assert found["held_share"] == 0
