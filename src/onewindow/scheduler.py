"""Deadlines that pass without anyone calling (the match window and the check-in grace), the
clearance-time study kept up to date with the event log, and its published figures refreshed.

:func:`tick` does one round in one unit of work; :class:`Scheduler` runs it
every ``scheduler_interval_seconds`` in a background thread (inside ``onewindow
serve``, or alone in ``onewindow worker``). Several schedulers may run at once:
matching locks the containers it decides on and absences skip inspections
another scheduler holds, so nothing is done twice. The webhook relay
(:class:`onewindow.events.relay.Relay`) runs beside it, on its own interval.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.orm import Session, sessionmaker

from onewindow.clock import Clock
from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import computes_beside_writers, in_unit_of_work, sqlite_side_lock, unit_of_work

log = logging.getLogger("onewindow.scheduler")
PROJECTION_ROUND = 5000
"""Events one round applies to the clearance-time study at most (a backlog is caught up over several rounds)."""
PROJECTION_STEP = 100
"""Events applied to the study in one transaction: short ones, so that requests are not held up (on SQLite
every transaction writes in turn)."""
PROJECTION_ROUND_SECONDS = 1.0
"""No further step of the study is started once a round's steps have taken this long."""


def project_in_steps(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> int:
    """Bring the clearance-time study up to date in steps of :data:`PROJECTION_STEP` events, each in its own
    transaction, within :data:`PROJECTION_ROUND` events and :data:`PROJECTION_ROUND_SECONDS`; returns how many
    events were applied. On SQLite each step is worked out beside the writers (:func:`_step_beside_writers`)."""
    from onewindow.timing.service import project

    beside_writers = computes_beside_writers(factory)
    done, started = 0, time.monotonic()
    while done < PROJECTION_ROUND and time.monotonic() - started < PROJECTION_ROUND_SECONDS:
        if beside_writers:
            step = _step_beside_writers(factory, clock, settings)
        else:
            with unit_of_work(factory) as session:
                step = project(Context(session=session, clock=clock, settings=settings), limit=PROJECTION_STEP)
        done += step
        if step < PROJECTION_STEP:
            break
    return done


def _step_beside_writers(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> int:
    """SQLite: one step worked out in a read-only unit of work (a snapshot: requests are not held up while it
    computes) and stored in a short one, projectors taking turns under a lock of the database file of their
    own. Every change comes with its event, so what changes after the snapshot is the next step's work."""
    from onewindow.timing.projection import compute_step, write_step

    with sqlite_side_lock(factory.kw["bind"], "projection"):
        with unit_of_work(factory, read_only=True) as session:
            step = compute_step(Context(session=session, clock=clock, settings=settings), limit=PROJECTION_STEP)
        if not step.events:
            return 0
        with unit_of_work(factory) as session:
            return write_step(Context(session=session, clock=clock, settings=settings), step)
PUBLICATION_ROUND_SECONDS = 2.0
"""No further published clearance-time answer is recomputed in a round once the round's refreshing has
taken this long (the rest wait for the next round, so deadlines are not held up)."""


def tick(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> dict[str, int]:
    """Match decisions whose window has passed, record absences past the grace, bring the
    clearance-time study up to date and refresh its published figures (bounded rounds); returns counts."""
    from onewindow.inspections import attendance, service
    from onewindow.timing import publication

    matched = in_unit_of_work(factory, lambda session: service.run_due(Context(session, clock, settings)))
    absences = in_unit_of_work(factory, lambda session: attendance.run_due(Context(session, clock, settings)))
    projected = project_in_steps(factory, clock, settings)
    published = publication.refresh(factory, clock, settings, budget_seconds=PUBLICATION_ROUND_SECONDS)
    return {"match_windows_closed": matched, "appointments_past_grace": absences, "clearance_events": projected,
            "clearance_published": len(published)}


HOUSEKEEPING_SECONDS = 3600.0
"""How often a scheduler does the housekeeping (old web sessions)."""


class Every:
    """Says when something done every ``seconds`` (monotonic time) is due: at once, then each period."""

    def __init__(self, seconds: float) -> None:
        self._seconds, self._next = seconds, 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self._seconds
        return True


def housekeeping(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> dict[str, int]:
    """Delete what is kept only for a while (web sessions ended ``session_retention_days`` ago)."""
    from onewindow.web.sessions import purge_sessions

    with unit_of_work(factory) as session:
        return {"web_sessions_deleted": purge_sessions(Context(session=session, clock=clock, settings=settings))}


class Scheduler:
    """Runs :func:`tick` periodically in a daemon thread until :meth:`stop`."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, settings: Settings) -> None:
        self._factory, self._clock, self._settings = factory, clock, settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="onewindow-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        chores = Every(HOUSEKEEPING_SECONDS)
        while not self._stopping.wait(self._settings.scheduler_interval_seconds):
            try:
                done = tick(self._factory, self._clock, self._settings)
                if chores.due():
                    done |= housekeeping(self._factory, self._clock, self._settings)
                if any(done.values()):
                    log.info("deadlines handled: %s", done)
            except Exception:  # noqa: BLE001 - a failed round is logged and tried again next time
                log.exception("scheduler round failed")
