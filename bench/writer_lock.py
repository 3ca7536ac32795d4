"""How long SQLite's write lock is held, by whom, and how long writers wait for it, in a benchmark's
measured window: what bounds throughput once two server processes take turns on one database.

:func:`install` times every hold of ``onewindow.db``'s writer gate in the process it runs in (the gate's
lock of this process, then the file lock shared by all processes): when it was taken, how long it was held,
how long the taker waited for it, the processor time its thread used meanwhile (less than the time held when
the thread was switched out while holding it), and which thread held it (requests, the scheduler, the
checkpointer, the relay). Holds of the side locks that are gates too (``sqlite_side_lock``: projectors
taking turns beside the writers) are not the write lock and are left out. Each process writes its figures, in buckets of
:data:`BUCKET_SECONDS` of the machine's monotonic clock (one clock for every process), to ``<pid>.json`` in a
directory, several times a second; :func:`summary` adds up those of a window.

A benchmark takes a :class:`WriterLockTimings` (:func:`timings_for`). Served, it runs ``onewindow serve``
with :meth:`WriterLockTimings.env`: the timings' directory, holding a ``sitecustomize`` module that calls
:func:`install`, comes first on the server's ``PYTHONPATH``, so the server and each worker process time
their gate from their start. In process, it calls :meth:`WriterLockTimings.time_here` before the
application is made. :meth:`WriterLockTimings.summary`, while the processes still run, gives a window's
figures.

The timing costs four clock readings and a dictionary update per transaction, under the lock.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

BUCKET_SECONDS = 0.01
WRITE_SECONDS = 0.2
"""How often a process writes its figures (a server's workers are stopped without running ``atexit``)."""
ENV = "ONEWINDOW_BENCH_WRITER_LOCK"
"""The directory the figures go to, for processes started with :meth:`WriterLockTimings.env`."""
ROLES = ("requests", "scheduler", "relay", "checkpoints", "other")


def role(thread_name: str) -> str:
    """Which part of a server a thread is, by the names the platform gives its threads."""
    if thread_name == "MainThread" or thread_name.startswith("onewindow-request"):
        return "requests"
    for prefix, name in (("onewindow-scheduler", "scheduler"), ("onewindow-relay", "relay"),
                         ("onewindow-checkpoint", "checkpoints")):
        if thread_name.startswith(prefix):
            return name
    return "other"


_target: dict[str, Path] = {}
"""Where this process's figures go (the latest :func:`install`'s directory)."""
_buckets: dict[tuple[int, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
"""(bucket, holder) → [transactions, seconds held, seconds waited, processor seconds while held], from the
holds' starts."""


def install(directory: str | Path) -> None:
    """Time this process's writer gate from now on; its figures go to ``directory/<pid>.json`` (a later call
    sends them to its own directory, starting afresh)."""
    from onewindow import db

    _target["path"] = Path(directory) / f"{os.getpid()}.json"
    _buckets.clear()
    gate = db._WriterGate
    if getattr(gate, "_timed", False):
        return
    buckets = _buckets
    made, acquire, release = gate.__init__, gate._acquire, gate._release

    def __init__(self, lock_path, *args, **kwargs) -> None:
        made(self, lock_path, *args, **kwargs)
        self._writer = lock_path is None or str(lock_path).endswith(".writer-lock")

    def _acquire(self) -> None:
        asked = time.monotonic()
        acquire(self)
        self._held_since, self._cpu_since = time.monotonic(), time.thread_time()
        self._waited = self._held_since - asked

    def _release(self) -> None:
        if getattr(self, "_writer", False):
            since = self._held_since
            figures = buckets[(int(since / BUCKET_SECONDS), role(threading.current_thread().name))]
            figures[0] += 1
            figures[1] += time.monotonic() - since
            figures[2] += self._waited
            figures[3] += time.thread_time() - self._cpu_since
        release(self)

    def write() -> None:
        rows = [[key * BUCKET_SECONDS, name, *figures] for (key, name), figures in list(buckets.items())]
        path = _target["path"]
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(rows))
            temporary.replace(path)
        except FileNotFoundError:  # the directory is gone: the benchmark has its figures
            pass

    def keep_writing() -> None:
        while True:
            time.sleep(WRITE_SECONDS)
            write()

    gate.__init__, gate._acquire, gate._release, gate._timed = __init__, _acquire, _release, True
    threading.Thread(target=keep_writing, name="bench-writer-lock", daemon=True).start()


def summary(directory: str | Path, start: float, end: float) -> dict:
    """The figures of every process in ``directory`` for the holds taken from ``start`` to ``end`` (monotonic
    clock; a bucket that overlaps the window counts whole, so holds up to :data:`BUCKET_SECONDS` either side
    may count): per role, transactions, seconds held, seconds waited and processor seconds while held; and the
    share of the window the lock
    was held (one holder at a time, whichever the process)."""
    roles = {name: {"transactions": 0, "held_s": 0.0, "waited_s": 0.0, "cpu_s": 0.0} for name in ROLES}
    processes = 0
    for file in Path(directory).glob("*.json"):
        rows = json.loads(file.read_text())
        processes += any(name == "requests" and count for _, name, count, *_ in rows)
        for at, name, count, held, waited, cpu in rows:
            if at + BUCKET_SECONDS > start and at < end:
                figures = roles[name]
                figures["transactions"] += count
                figures["held_s"] += held
                figures["waited_s"] += waited
                figures["cpu_s"] += cpu
    held = sum(figures["held_s"] for figures in roles.values())
    return {"seconds": end - start, "processes": processes, "roles": roles, "held_share": held / (end - start)}


def print_summary(found: dict, per: int, unit: str) -> None:
    """A table of :func:`summary`'s figures, per ``unit`` (``per`` of them in the window)."""
    print(f"\nwriter lock, {found['seconds']:.1f} s measured, {found['processes']} process(es) serving: "
          f"held {100 * found['held_share']:.0f} % of the time")
    print(f"| holder | transactions per {unit} | held ms per {unit} | held ms per transaction "
          "| of which processor ms | waited ms per transaction |")
    print("|---|---|---|---|---|---|")
    for name, figures in found["roles"].items():
        count = figures["transactions"]
        if count:
            print(f"| {name} | {count / per:.2f} | {1000 * figures['held_s'] / per:.2f} | "
                  f"{1000 * figures['held_s'] / count:.3f} | {1000 * figures['cpu_s'] / count:.3f} | "
                  f"{1000 * figures['waited_s'] / count:.3f} |")


def timings_for(kind: str, wanted: bool) -> WriterLockTimings | None:
    """Timings for a benchmark on a database of ``kind`` when ``wanted`` (SQLite only: PostgreSQL has no such
    lock)."""
    return WriterLockTimings() if wanted and kind == "sqlite" else None


class WriterLockTimings:
    """A directory for the figures of a benchmark's processes (removed with :meth:`close`)."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="onewindow-bench-writer-lock-"))
        (self.directory / "sitecustomize.py").write_text(
            "import os, sys\n"
            f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "import writer_lock\n"
            f"writer_lock.install(os.environ[{ENV!r}])\n")

    def env(self) -> dict[str, str]:
        """What to add to a server's environment so that its processes time their gate."""
        path = os.environ.get("PYTHONPATH")
        return {ENV: str(self.directory),
                "PYTHONPATH": str(self.directory) + (os.pathsep + path if path else "")}

    def time_here(self) -> None:
        """Time the writer gate of this process (:func:`install`), its figures in this directory."""
        install(self.directory)

    @staticmethod
    def now() -> float:
        return time.monotonic()

    def summary(self, start: float, end: float) -> dict:
        """:func:`summary` of the window, once every process still running has written its latest figures."""
        time.sleep(2 * WRITE_SECONDS)
        return summary(self.directory, start, end)

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit("a helper of bench/filings.py and bench/lifecycle.py (--writer-lock)")
