"""Two requests made to overlap in one chosen order (PostgreSQL, where requests really overlap): the first
holds the lock it took while the second starts, waits for it, and goes on once the first has committed."""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from onewindow.models import Event

ROUNDS = int(os.environ.get("ONEWINDOW_CONCURRENT_ROUNDS", "2"))
"""How many rounds the tests of parties acting at once play (each with new records and its own seed)."""
FROM = int(os.environ.get("ONEWINDOW_CONCURRENT_FROM", "0"))
"""Which of the seeds they start from: other rounds than the suite's, when not 0."""
HOLD_SECONDS = 0.6
"""How long the first request holds its lock; the second starts a third of it later."""


def require_postgresql(db) -> None:
    """Skip on SQLite, whose writing transactions run one at a time: nothing overlaps there."""
    if db.dialect.name != "postgresql":
        pytest.skip("SQLite serialises every transaction: nothing overlaps")


def first_holds(monkeypatch, module: Any, name: str, first: Callable[[Any], bool]) -> None:
    """``module.name(ctx, ...)`` (a function that locks a row and answers it) made to hold on to the lock for
    :data:`HOLD_SECONDS` when ``first(ctx)`` says the call is the first request's."""
    locking = getattr(module, name)

    def holding(ctx, *args, **kwargs):
        found = locking(ctx, *args, **kwargs)
        if first(ctx):
            time.sleep(HOLD_SECONDS)
        return found

    monkeypatch.setattr(module, name, holding)


def first_call_holds(monkeypatch, module: Any, name: str) -> None:
    """:func:`first_holds` for the first call of ``module.name`` only: the first request's lock (a request run
    again, or the second request, goes straight through)."""
    once = iter([True])
    first_holds(monkeypatch, module, name, lambda _ctx: next(once, False))


def one_after_the_other(first: Callable[[], Any], second: Callable[[], Any]) -> tuple[Any, Any]:
    """``first()`` and, while it holds its lock (:func:`first_holds`), ``second()``, each on its own thread;
    their answers (an exception fails the caller)."""
    answers: dict[int, Any] = {}

    def call(i: int, fn: Callable[[], Any], delay: float) -> None:
        time.sleep(delay)
        try:
            answers[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - raised below
            answers[i] = exc

    threads = [threading.Thread(target=call, args=(i, fn, delay))
               for i, (fn, delay) in enumerate(((first, 0.0), (second, HOLD_SECONDS / 3)))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for answer in answers.values():
        if isinstance(answer, BaseException):
            raise answer
    return answers[0], answers[1]


def all_at_once(parties: list[Callable[[], None]], steps: int) -> None:
    """Each party's ``steps`` calls of its step function on its own thread, all starting together; an
    exception in any fails the caller, as does a party still running after two minutes."""
    start = threading.Barrier(len(parties))
    failures: list[BaseException] = []

    def party(step: Callable[[], None]) -> None:
        start.wait()
        try:
            for _ in range(steps):
                step()
        except BaseException as exc:  # noqa: BLE001 - raised below
            failures.append(exc)

    threads = [threading.Thread(target=party, args=(p,)) for p in parties]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not failures, failures
    assert not any(t.is_alive() for t in threads)


def rounds(first_seed: int) -> Iterator[tuple[int, random.Random]]:
    """The seed of each round to play (:data:`ROUNDS` of them, from :data:`FROM`) with a random generator
    seeded by it, from which each party's own generator is drawn."""
    for r in range(ROUNDS):
        seed = first_seed + FROM + r
        yield seed, random.Random(seed)


def out_of_version_order(run, filing_ids) -> list[tuple]:
    """The events of these filings that come in the log (the feed's order) after a later version of their
    filing or declaration: none when the events of each came in the order they were committed."""
    def query(ctx):
        return ctx.session.execute(select(Event.type, Event.subject_id, Event.data, Event.tx, Event.seq).where(
            Event.filing_id.in_([uuid.UUID(str(f)) for f in filing_ids]),
            Event.subject_type.in_(["filing", "declaration"])).order_by(Event.tx, Event.seq)).all()

    latest: dict[Any, tuple] = {}
    out = []
    for type_, subject, data, tx, seq in run(query):
        if data.get("version") is None:  # a decision's
            continue
        event = (data["version"], type_, tx, seq)
        if subject in latest and event[0] < latest[subject][0]:
            out.append((str(subject), latest[subject], event))
        latest[subject] = max(latest.get(subject, event), event)
    return out
