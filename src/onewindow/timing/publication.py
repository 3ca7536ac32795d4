"""Published clearance-time figures: answers kept up to date by the scheduler, served to the public.

Official release-time figures are a publication refreshed on a schedule, not an
ad-hoc query: exact figures over a year of a million consignments take seconds to
compute (one sort per percentile), so the public endpoint and page read answers the
scheduler computed beforehand. One :class:`ClearancePublication` row per
normalised query (:func:`key_of`) holds the answer, when it was computed (its
``as_of``) and the study's position (the projection cursor) when it was.

Contracts:

* :func:`served` answers from the publication when it is fresh enough — it
  reflects the study as it stands (nothing projected since) or it is younger than
  ``clearance_max_age_seconds`` — and otherwise computes the answer now and keeps
  it as the publication, so the query is refreshed from then on. On PostgreSQL it
  first waits for whoever is computing the same key (the key's advisory lock) and
  serves that answer, so a burst of the same new question is computed once.
  On SQLite, asked in a read-only unit of work (the endpoint, the page, the
  report), it computes beside the writers: under the schedulers' publication
  lock, on its snapshot, storing the answer in a short unit of work.
  Every answer carries ``as_of``.
* :func:`refresh` is one scheduler round: the **standard set** (what the public
  page shows — overall, by week, by port, the distribution — for the whole study
  and for the current and previous calendar month, quarter and year, in the
  study's time zone) and the queries **asked** through the endpoint or page in
  the last ``clearance_asked_days`` (at most ``clearance_asked_limit``, the most
  recent) are recomputed when older than ``clearance_refresh_seconds`` **and** the
  study has changed since; the others are deleted.
* One refresher per key: each key is refreshed in its own unit of work, claimed
  first (PostgreSQL: a transaction-level advisory lock, skipped when another
  scheduler holds it; SQLite runs one transaction at a time) and checked again
  once claimed, so with any number of schedulers a due key is computed once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import lru_cache
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from onewindow.clock import Clock
from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import (computes_beside_writers, make_session_factory, reads_beside_writers, sqlite_side_lock,
                          unit_of_work)
from onewindow.errors import ValidationFailed
from onewindow.models import ClearancePublication, SinkCursor
from onewindow.timing import service
from onewindow.timing.filters import FigureQuery, parse_query
from onewindow.timing.projection import CURSOR, local_day

P = ClearancePublication
VIEWS = (("figures", ()), ("series", ("week",)), ("series", ("port",)), ("distribution", ()))
"""What the public page shows of a period (:func:`onewindow.timing.service.chart_series`)."""
TOUCH = timedelta(hours=1)
"""``asked_at`` is written at most this often per key (a served answer costs no write otherwise)."""
LOCK_SPACE = 80_080_008
"""First key of the PostgreSQL advisory locks that claim a publication (the second: the key's hash)."""

Spec = tuple[str, FigureQuery, int]


def normal(kind: str, query: FigureQuery) -> FigureQuery:
    """The query as published: a distribution is of the whole period, whatever it is grouped by."""
    return replace(query, group_by=()) if kind == "distribution" else query


def key_of(kind: str, query: FigureQuery, min_group: int) -> str:
    """The publication's key: the kind, the query's parameters in name order and the minimum group."""
    params = sorted(normal(kind, query).as_params().items())
    return f"{kind}?{urlencode([*params, ('min_group', min_group)])}"


def position(ctx: Context) -> tuple[int, int]:
    """How far the study has applied the event log: the projection cursor ``(tx, seq)``."""
    row = ctx.session.connection().execute(_POSITION).first()
    return (row.tx, row.seq) if row else (0, 0)


_POSITION = select(SinkCursor.tx, SinkCursor.seq).where(SinkCursor.name == CURSOR)


def served(ctx: Context, kind: str, query: FigureQuery, min_group: int) -> dict[str, Any]:
    """``kind``'s answer to ``query`` as published when fresh enough, else computed now and published.

    In a read-only unit of work on SQLite (:func:`onewindow.db.reads_beside_writers`) a new answer is
    computed on that unit of work's snapshot, beside the writers, and what is written (the publication,
    ``asked_at``) goes in short units of work of its own: a question asked live holds up no other request.
    """
    query = normal(kind, query)
    key, now = key_of(kind, query, min_group), ctx.now()
    current = position(ctx)
    row = ctx.session.get(P, key)
    if reads_beside_writers(ctx.session):
        return _served_beside_writers(ctx, key, (kind, query, min_group), row, current)
    if row is None or not servable(row, now, current, ctx.settings):
        _wait_for_other(ctx, key)  # a refresher or another request computing the same: take its answer
        row = ctx.session.get(P, key, populate_existing=True)
    if row is not None and servable(row, now, current, ctx.settings):
        _touch(ctx, row)
        return row.answer
    answer, seconds = _compute(ctx, kind, query, min_group)
    _store(ctx, key, (kind, query, min_group), answer, current, seconds, asked_at=now)
    return answer


def _served_beside_writers(ctx: Context, key: str, spec: Spec, row: ClearancePublication | None,
                           current: tuple[int, int]) -> dict[str, Any]:
    """:func:`served` in a read-only unit of work on SQLite. A new answer is computed under the publication
    lock the schedulers take (:func:`_refresh_beside_writers`), once whoever held it is checked not to have
    published it meanwhile (after this snapshot was taken), and stored in a short unit of work."""
    now = ctx.now()
    if row is not None and servable(row, now, current, ctx.settings):
        with _beside(ctx) as writing:
            _touch(writing, row)
        return row.answer
    with sqlite_side_lock(ctx.session.get_bind(), "publication"):
        with _beside(ctx, read_only=True) as reading:  # what is published now, not at the snapshot
            latest, latest_position = reading.session.get(P, key), position(reading)
        if latest is not None and servable(latest, now, latest_position, ctx.settings):
            with _beside(ctx) as writing:
                _touch(writing, latest)
            return latest.answer
        answer, seconds = _compute(ctx, *spec)
        with _beside(ctx) as writing:
            _store(writing, key, spec, answer, current, seconds, asked_at=now)
    return answer


@contextmanager
def _beside(ctx: Context, *, read_only: bool = False) -> Iterator[Context]:
    """A unit of work of its own on ``ctx``'s database, beside ``ctx``'s."""
    with unit_of_work(make_session_factory(ctx.session.get_bind()), read_only=read_only) as session:
        yield replace(ctx, session=session)


def _touch(ctx: Context, row: ClearancePublication) -> None:
    """Record that the publication was asked for (at most every :data:`TOUCH`)."""
    now = ctx.now()
    if row.asked_at is None or row.asked_at <= now - TOUCH:
        ctx.session.execute(update(P).where(P.key == row.key).values(asked_at=now))


def servable(row: ClearancePublication, now: datetime, current: tuple[int, int], settings: Settings) -> bool:
    """Nothing projected since it was computed, or younger than ``clearance_max_age_seconds``."""
    return ((row.study_tx, row.study_seq) == current
            or now - row.as_of < timedelta(seconds=settings.clearance_max_age_seconds))


def stale(row: Any, now: datetime, current: tuple[int, int], settings: Settings) -> bool:
    """Due for refresh: never computed, or older than ``clearance_refresh_seconds`` and the study moved since."""
    if row is None:
        return True
    return ((row.study_tx, row.study_seq) != current
            and now - row.as_of >= timedelta(seconds=settings.clearance_refresh_seconds))


def _compute(ctx: Context, kind: str, query: FigureQuery, min_group: int) -> tuple[dict[str, Any], float]:
    start = time.perf_counter()
    answer = service.live(ctx, kind, query, min_group)
    return answer, time.perf_counter() - start


def _store(ctx: Context, key: str, spec: Spec, answer: dict[str, Any], study: tuple[int, int], seconds: float,
           *, asked_at: datetime | None) -> None:
    """Insert or replace the publication (a newer one already there is kept; ``asked_at`` only moves on)."""
    kind, query, min_group = spec
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    values = dict(key=key, kind=kind, params=query.as_params(), min_group=min_group, answer=answer,
                  as_of=datetime.fromisoformat(answer["as_of"]), study_tx=study[0], study_seq=study[1],
                  compute_seconds=seconds, asked_at=asked_at)
    statement = insert(P).values(**values)
    new = statement.excluded
    ctx.session.execute(statement.on_conflict_do_update(
        index_elements=[P.key],
        set_={"answer": new.answer, "params": new.params, "as_of": new.as_of, "study_tx": new.study_tx,
              "study_seq": new.study_seq, "compute_seconds": new.compute_seconds,
              "asked_at": func.coalesce(new.asked_at, P.asked_at)},
        where=P.as_of <= new.as_of))


def periods(today: date) -> list[tuple[date | None, date | None]]:
    """The whole study, then the current and previous calendar month, quarter and year of ``today``."""
    month = today.replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_quarter = date(quarter.year - (quarter.month == 1), (quarter.month - 4) % 12 + 1, 1)
    year, last_year = date(today.year, 1, 1), date(today.year - 1, 1, 1)
    return [(None, None), (month, _end(month, 1)), (last_month, _end(last_month, 1)), (quarter, _end(quarter, 3)),
            (last_quarter, _end(last_quarter, 3)), (year, _end(year, 12)), (last_year, _end(last_year, 12))]


def _end(first: date, months: int) -> date:
    """The last day of the ``months`` months starting on ``first``."""
    index = first.month - 1 + months
    return date(first.year + index // 12, index % 12 + 1, 1) - timedelta(days=1)


def standard_set(today: date, min_group: int) -> dict[str, Spec]:
    """Key → (kind, query, minimum group) of every view of the public page for each of :func:`periods`
    (a new dict each time: the caller may add to it)."""
    return dict(_standard_set(today, min_group))


@lru_cache(maxsize=4)
def _standard_set(today: date, min_group: int) -> dict[str, Spec]:
    """:func:`standard_set`, built once a day (every scheduler round asks for it)."""
    out = {}
    for first, last in periods(today):
        for kind, groups in VIEWS:
            query = FigureQuery(date_from=first, date_to=last, group_by=groups)
            out[key_of(kind, query, min_group)] = (kind, query, min_group)
    return out


def due(ctx: Context) -> list[tuple[str, Spec]]:
    """The keys this round should refresh, the standard set first, then the asked ones most recent first.

    Deletes the publications neither in the standard set nor asked recently enough (nor among the
    ``clearance_asked_limit`` most recent, nor valid any more).
    """
    settings, now = ctx.settings, ctx.now()
    wanted = standard_set(local_day(now, settings.clearance_timezone), settings.clearance_min_group)
    rows = ctx.session.execute(select(P.key, P.kind, P.params, P.min_group, P.as_of, P.study_tx, P.study_seq,
                                      P.asked_at)).all()
    cutoff = now - timedelta(days=settings.clearance_asked_days)
    asked = sorted((r for r in rows if r.key not in wanted and r.asked_at is not None and r.asked_at >= cutoff),
                   key=lambda r: r.asked_at, reverse=True)[:settings.clearance_asked_limit]
    for row in asked:
        spec = _spec(row)
        if spec is not None:
            wanted[row.key] = spec
    expired = [r.key for r in rows if r.key not in wanted]
    if expired:
        ctx.session.execute(delete(P).where(P.key.in_(expired)))
    existing, current = {r.key: r for r in rows}, position(ctx)
    return [(key, spec) for key, spec in wanted.items() if stale(existing.get(key), now, current, settings)]


def _spec(row: Any) -> Spec | None:
    """What a stored publication answers, None when its parameters are no longer valid."""
    try:
        return row.kind, parse_query(row.params), row.min_group
    except ValidationFailed:
        return None


def refresh(factory: sessionmaker[Session], clock: Clock, settings: Settings, *,
            budget_seconds: float | None = None) -> list[str]:
    """One round: refresh what :func:`due` lists, each key in its own unit of work; returns the keys refreshed.

    With ``budget_seconds`` no further key is started once the round has taken that long (the rest wait for
    the next round).
    """
    start = time.monotonic()
    with unit_of_work(factory) as session:
        todo = due(Context(session=session, clock=clock, settings=settings))
    done = []
    beside_writers = computes_beside_writers(factory)
    for key, spec in todo:
        if budget_seconds is not None and time.monotonic() - start >= budget_seconds:
            break
        if beside_writers:
            refreshed = _refresh_beside_writers(factory, clock, settings, key, spec)
        else:
            with unit_of_work(factory) as session:
                refreshed = refresh_one(Context(session=session, clock=clock, settings=settings), key, spec)
        if refreshed:
            done.append(key)
    return done


def _refresh_beside_writers(factory: sessionmaker[Session], clock: Clock, settings: Settings, key: str,
                            spec: Spec) -> bool:
    """SQLite: check and recompute ``key`` in a read-only unit of work (a snapshot, beside the writers: requests
    are not held up while it computes), then store it in a short one. Schedulers take turns at this under a
    lock of the database file of their own (not the writer gate), so a key is computed once: the next one
    finds it fresh."""
    with sqlite_side_lock(factory.kw["bind"], "publication"):
        with unit_of_work(factory, read_only=True) as session:
            ctx = Context(session=session, clock=clock, settings=settings)
            row = ctx.session.execute(select(P.as_of, P.study_tx, P.study_seq).where(P.key == key)).first()
            current = position(ctx)
            if not stale(row, ctx.now(), current, ctx.settings):
                return False
            answer, seconds = _compute(ctx, *spec)
        with unit_of_work(factory) as session:
            _store(Context(session=session, clock=clock, settings=settings), key, spec, answer, current, seconds,
                   asked_at=None)
    return True


def refresh_one(ctx: Context, key: str, spec: Spec) -> bool:
    """Claim ``key``, check it is still due, recompute and store it; False when another scheduler holds it
    or has refreshed it meanwhile."""
    if not _claim(ctx, key):
        return False
    row = ctx.session.execute(select(P.as_of, P.study_tx, P.study_seq).where(P.key == key)).first()
    current = position(ctx)
    if not stale(row, ctx.now(), current, ctx.settings):
        return False
    kind, query, min_group = spec
    answer, seconds = _compute(ctx, kind, query, min_group)
    _store(ctx, key, spec, answer, current, seconds, asked_at=None)
    return True


def _wait_for_other(ctx: Context, key: str) -> None:
    """PostgreSQL: take the key's advisory lock for this transaction, waiting while another holds it."""
    if ctx.session.get_bind().dialect.name == "postgresql":
        ctx.session.execute(select(func.pg_advisory_xact_lock(LOCK_SPACE, func.hashtext(key))))


def _claim(ctx: Context, key: str) -> bool:
    """PostgreSQL: this transaction's advisory lock on the key, False when another holds it. SQLite runs
    one transaction at a time (``BEGIN IMMEDIATE``, across processes too): nothing to claim."""
    if ctx.session.get_bind().dialect.name != "postgresql":
        return True
    return bool(ctx.session.scalar(select(func.pg_try_advisory_xact_lock(LOCK_SPACE, func.hashtext(key)))))


def published(ctx: Context) -> Iterator[ClearancePublication]:
    """Every publication, most recently computed first (for operators and tests)."""
    return iter(ctx.session.scalars(select(P).order_by(P.as_of.desc(), P.key)))
