"""What the in-process runs of the HTTP benchmarks share: the measured part of a run and the run's ending."""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Awaitable, Callable

import uvloop

from common import LogPages, drop_database
from writer_lock import WriterLockTimings


class Measured:
    """The measured part of an in-process run, as a ``with`` block: the process's processor time and the
    wall-clock time it took, the span the write lock's timings are summed over, and, when asked, the Python
    calls made (``profile``: cProfile, on this thread) and the write-ahead log's pages appended (``pages``)."""

    def __init__(self, profile: bool, pages: LogPages | None) -> None:
        self.profiler = cProfile.Profile() if profile else None
        self.pages = pages
        self.cpu = self.seconds = 0.0
        self.began = self.ended = 0.0

    def __enter__(self) -> Measured:
        if self.pages:
            self.pages.start()
        self.cpu, self.seconds, self.began = time.process_time(), time.perf_counter(), WriterLockTimings.now()
        if self.profiler:
            self.profiler.enable()
        return self

    def __exit__(self, *exc) -> None:
        if self.profiler:
            self.profiler.disable()
        self.cpu, self.seconds = time.process_time() - self.cpu, time.perf_counter() - self.seconds
        self.ended = WriterLockTimings.now()
        if self.pages:
            self.pages.stop()

    def calls_per(self, n: int) -> float | None:
        """Python calls per unit of work (of ``n``) when profiled, else None."""
        return pstats.Stats(self.profiler).total_calls / n if self.profiler else None


def run_and_clean_up(main: Callable[[], Awaitable[dict]], app, url: str, pages: LogPages | None,
                     timings) -> dict:
    """``main()``'s figures, run on uvloop, with the log's pages by b-tree when counted; the application's
    engine, the database and the write lock's timings are let go afterwards, whatever happened."""
    try:
        return {**uvloop.run(main()), "log_pages": pages.pages() if pages else None}
    finally:
        app.state.engine.dispose()
        drop_database(url)
        if timings:
            timings.close()
