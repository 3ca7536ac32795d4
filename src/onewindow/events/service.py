"""Writing events in the same transaction as the state change they record, and announcing their commit."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import text
from sqlalchemy.orm import Session

from onewindow.context import Context
from onewindow.models import Event, EventRecipient

CHANNEL = "onewindow_events"
"""The PostgreSQL ``NOTIFY`` channel announcing that a transaction with events committed (empty payload)."""
_WROTE_EVENTS = "onewindow.wrote_events"


def record_event(ctx: Context, type_: str, *, subject_type: str, subject_id: uuid.UUID,
                 recipients: Iterable[uuid.UUID], data: dict[str, Any], filing_id: uuid.UUID | None = None,
                 confidential: dict[str, Any] | None = None) -> Event:
    """Add an event and its recipients to the current unit of work.

    ``recipients`` are the organisations allowed to see the event, decided now
    from the same access rules as the API; ``confidential`` is only for agencies.
    Nothing is committed here: the event lands with the change or not at all.
    Once it is committed, relays are woken (:func:`on_events_committed` in this
    process, ``NOTIFY onewindow_events`` on PostgreSQL for every process).
    """
    actor = ctx.actor
    tx = transaction_id(ctx)
    ctx.session.info[_WROTE_EVENTS] = True
    event = Event(id=uuid.uuid4(), type=type_, occurred_at=ctx.now(), subject_type=subject_type,
                  subject_id=subject_id, filing_id=filing_id, data=data, confidential=confidential,
                  actor_organisation_id=actor.org_id if actor else None, tx=tx)
    event.recipients = [EventRecipient(organisation_id=org_id, tx=tx) for org_id in dict.fromkeys(recipients)]
    ctx.session.add(event)
    return event


def transaction_id(ctx: Context) -> int:
    """The id of the current PostgreSQL transaction (asked once per transaction); 0 on SQLite.

    On PostgreSQL the same round trip queues the transaction's ``NOTIFY`` on
    :data:`CHANNEL`, which PostgreSQL delivers at commit (and drops on rollback).
    """
    session = ctx.session
    if session.get_bind().dialect.name != "postgresql":
        return 0
    key = ("onewindow.tx", id(session.get_transaction()))
    if key not in session.info:
        session.info.clear()
        session.info[key] = session.execute(text(
            f"SELECT pg_current_xact_id()::text::bigint, pg_notify('{CHANNEL}', '')")).first()[0]
    return session.info[key]


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


@sa_event.listens_for(Session, "after_commit")
def _announce(session: Session) -> None:
    if session.info.pop(_WROTE_EVENTS, False):
        with _listeners_lock:
            listeners = list(_listeners)
        for callback in listeners:
            callback()


@sa_event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_WROTE_EVENTS, None)
