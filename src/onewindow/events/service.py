"""Writing events in the same transaction as the state change they record."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, event, func, insert, select, text
from sqlalchemy.orm import Session

from onewindow.context import Context
from onewindow.db import RunAgain
from onewindow.models import Event, EventRecipient, Organisation
from onewindow.models.event import CONTAINER_SUBJECT, EVENT_TYPES, INSPECTION_SUBJECT
from onewindow.rows import holds_new
from onewindow.sql import Prepared

_EVENTS = Event.__table__
_INSERT_EVENT = Prepared(insert(_EVENTS).returning(_EVENTS.c.seq, _EVENTS.c.tx),
                         keys=["id", "type", "occurred_at", "subject_type", "subject_id", "filing_id", "data",
                               "confidential", "actor_organisation_id", "tx"])
_INSERT_RECIPIENTS = Prepared(insert(EventRecipient.__table__), keys=["event_seq", "organisation_id", "tx"])
_TX_KEY = "onewindow.tx"
_LAST_TX = select(func.max(_EVENTS.c.tx))
_LAST_ABOUT = {
    "container": Prepared(_LAST_TX.where(CONTAINER_SUBJECT, _EVENTS.c.subject_id == bindparam("subject_id"))),
    "inspection": Prepared(_LAST_TX.where(INSPECTION_SUBJECT, _EVENTS.c.subject_id == bindparam("subject_id"))),
    **dict.fromkeys(("filing", "declaration"), Prepared(_LAST_TX.where(
        _EVENTS.c.filing_id == bindparam("filing_id"), _EVENTS.c.subject_id == bindparam("subject_id")))),
}
"""By subject type, the largest ``tx`` of the events about one subject: a container's (its visit's) or an
inspection's, from the index of the events about containers or inspections; a filing's or a declaration's,
from the index of its filing's events. Each of these subjects is changed only under its lock (a visit's, an
inspection's, a filing's, a declaration's). A terminal's arrivals are not: they are left out."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event as :func:`record_event` wrote it: its id, its place in the log (``seq``, and ``tx`` on
    PostgreSQL) and the organisations it went to, each once, in the order given."""

    id: uuid.UUID
    seq: int
    tx: int
    recipients: tuple[uuid.UUID, ...]

CHANNEL = "onewindow_events"
"""The PostgreSQL ``NOTIFY`` channel announcing that a transaction with events committed (empty payload)."""
_WROTE_EVENTS = "onewindow.wrote_events"


def record_event(ctx: Context, type_: str, *, subject_type: str, subject_id: uuid.UUID,
                 recipients: Iterable[uuid.UUID], data: dict[str, Any], filing_id: uuid.UUID | None = None,
                 confidential: dict[str, Any] | None = None) -> Recorded:
    """Write an event and its recipients in the current unit of work; return what identifies it.

    ``recipients`` are the organisations allowed to see the event, decided now
    from the same access rules as the API; ``confidential`` is only for agencies.
    Nothing is committed here: the event lands with the change or not at all.
    The rows are written at once with two plain inserts (the event, then all
    its recipients), not through the ORM's unit of work: events are only ever
    appended (the ORM does not see them: query :class:`Event` to read them back).
    Once it is committed, relays are woken (:func:`on_events_committed` in this
    process, ``NOTIFY onewindow_events`` on PostgreSQL for every process).

    The events about one container, inspection, filing or declaration come in
    the log in the order their transactions committed, as the subject's lock
    ordered them. On PostgreSQL the log's order is the transactions' ids, given when
    each first writes or locks a row, not when it commits: a transaction that
    got its id, then waited for the container's lock while another (with a
    later id) released it, would put its ``container.release_revoked`` before
    that ``container.released``; an amendment that locked the filing, then
    waited for the declaration an acceptance held, its ``declaration.amended``
    before that ``declaration.accepted``. Such a transaction raises
    :class:`~onewindow.db.RunAgain` instead, and is run again with a new id.

    ``type_`` is one of :data:`~onewindow.models.event.EVENT_TYPES` (what webhooks may subscribe to);
    any other raises ``ValueError``, before anything is written.
    """
    if type_ not in EVENT_TYPES:
        raise ValueError(f"{type_!r} is not an event type of the platform (EVENT_TYPES)")
    session = ctx.session
    if holds_new(session, Organisation):
        session.flush()  # a recipient registered in this unit of work must exist before it is referenced
    actor = ctx.actor
    values = {"id": uuid.uuid4(), "type": type_, "occurred_at": ctx.now(), "subject_type": subject_type,
              "subject_id": subject_id, "filing_id": filing_id, "data": data, "confidential": confidential,
              "actor_organisation_id": actor.org_id if actor else None}
    tx = transaction_id(ctx)
    if tx and (last_about := _LAST_ABOUT.get(subject_type)) is not None:
        _follow_the_subject_s_events(session, last_about, subject_id, filing_id, tx)
    session.info[_WROTE_EVENTS] = True
    # prepared statements on the session's connection: no autoflush of the unit of work's changes here
    seq, tx = _INSERT_EVENT.first(session, {**values, "tx": tx})
    orgs = list(dict.fromkeys(recipients))
    _INSERT_RECIPIENTS.executemany(session, [{"event_seq": seq, "organisation_id": org, "tx": tx} for org in orgs])
    return Recorded(id=values["id"], seq=seq, tx=tx, recipients=tuple(orgs))


def _follow_the_subject_s_events(session: Session, last_about: Prepared, subject_id: uuid.UUID,
                                 filing_id: uuid.UUID | None, tx: int) -> None:
    """:class:`~onewindow.db.RunAgain` when an event about this subject in the log has a later ``tx`` than this
    transaction's: its transaction held the subject's lock and committed while this one waited for it (the
    lock is held, so no other is writing one now)."""
    (last,) = last_about.first(session, {"subject_id": subject_id, "filing_id": filing_id})
    if last is not None and last > tx:
        raise RunAgain("its event would come in the log before one about the same subject that a later "
                       "transaction committed while it waited")


def _tx_key(session) -> tuple[str, int]:
    """The key of the session's current transaction (begun now if need be) in ``session.info``."""
    session.connection()
    return _TX_KEY, id(session.get_transaction())


def transaction_id(ctx: Context) -> int:
    """The id of the current PostgreSQL transaction (asked once per transaction); 0 on SQLite, always (one
    writer at a time: the log's order is ``seq``'s there, which :class:`onewindow.sql.after_in_log` relies on).

    On PostgreSQL the same round trip queues the transaction's ``NOTIFY`` on
    :data:`CHANNEL`, which PostgreSQL delivers at commit (and drops on rollback).
    """
    session = ctx.session
    if (session.bind or session.get_bind()).dialect.name != "postgresql":  # the session's engine
        return 0
    key = _tx_key(session)
    if key not in session.info:
        _forget_transactions(session)
        session.info[key] = session.execute(text(
            f"SELECT pg_current_xact_id()::text::bigint, pg_notify('{CHANNEL}', '')")).first()[0]
    return session.info[key]


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction) -> None:
    """A transaction's id is never used for the next one (whose object may reuse the same ``id()``)."""
    if transaction.parent is None and session.info:
        _forget_transactions(session)


def _forget_transactions(session) -> None:
    for key in [k for k in session.info if isinstance(k, tuple) and k and k[0] == _TX_KEY]:
        del session.info[key]


# --- the in-process announcement ----------------------------------------------------------------------------

_listeners: set[Callable[[], None]] = set()
_listeners_lock = threading.Lock()


def on_events_committed(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (quick, thread-safe: it runs in the committing thread) after every commit in this
    process of a transaction that recorded events; returns the function that stops it."""
    with _listeners_lock:
        _listeners.add(callback)

    def stop() -> None:
        with _listeners_lock:
            _listeners.discard(callback)

    return stop


@event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if session.info.pop(_WROTE_EVENTS, False):
        with _listeners_lock:
            listeners = list(_listeners)
        for callback in listeners:
            callback()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_WROTE_EVENTS, None)
