"""Writing events in the same transaction as the state change they record."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, insert, literal_column, text
from sqlalchemy.orm import Session

from onewindow.context import Context
from onewindow.models import Event, EventRecipient, Organisation

_EVENTS = Event.__table__
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.seq, _EVENTS.c.tx)
_INSERT_EVENT_PG_TX = (insert(_EVENTS).values(tx=literal_column("pg_current_xact_id()::text::bigint"))
                       .returning(_EVENTS.c.seq, _EVENTS.c.tx))
_INSERT_RECIPIENTS = insert(EventRecipient.__table__)
_TX_KEY = "onewindow.tx"


def record_event(ctx: Context, type_: str, *, subject_type: str, subject_id: uuid.UUID,
                 recipients: Iterable[uuid.UUID], data: dict[str, Any], filing_id: uuid.UUID | None = None,
                 confidential: dict[str, Any] | None = None) -> Event:
    """Write an event and its recipients in the current unit of work; return the event as written.

    ``recipients`` are the organisations allowed to see the event, decided now
    from the same access rules as the API; ``confidential`` is only for agencies.
    Nothing is committed here: the event lands with the change or not at all.
    The rows are written at once with two plain inserts (the event, then all
    its recipients), not through the ORM's unit of work: events are only ever
    appended. The returned :class:`Event` carries its ``seq`` and recipients
    but is not attached to the session.
    """
    session = ctx.session
    if any(isinstance(obj, Organisation) for obj in session.new):
        session.flush()  # a recipient registered in this unit of work must exist before it is referenced
    actor = ctx.actor
    values = {"id": uuid.uuid4(), "type": type_, "occurred_at": ctx.now(), "subject_type": subject_type,
              "subject_id": subject_id, "filing_id": filing_id, "data": data, "confidential": confidential,
              "actor_organisation_id": actor.org_id if actor else None}
    statement, params = _event_insert(ctx, values)
    connection = session.connection()  # plain statements: no autoflush of the unit of work's changes here
    seq, tx = connection.execute(statement, params).one()
    if statement is _INSERT_EVENT_PG_TX:
        session.info[_tx_key(session)] = tx
    orgs = list(dict.fromkeys(recipients))
    if orgs:
        connection.execute(_INSERT_RECIPIENTS, [{"event_seq": seq, "organisation_id": org, "tx": tx} for org in orgs])
    event = Event(seq=seq, tx=tx, **values)
    event.recipients = [EventRecipient(event_seq=seq, organisation_id=org, tx=tx) for org in orgs]
    return event


def _event_insert(ctx: Context, values: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The insert for one event: on PostgreSQL the first event of a transaction also reads its id."""
    session = ctx.session
    if session.get_bind().dialect.name != "postgresql":
        return _INSERT_EVENT, {**values, "tx": 0}
    key = _tx_key(session)
    if key in session.info:
        return _INSERT_EVENT, {**values, "tx": session.info[key]}
    _forget_transactions(session)
    return _INSERT_EVENT_PG_TX, values


def _tx_key(session) -> tuple[str, int]:
    """The key of the session's current transaction (begun now if need be) in ``session.info``."""
    session.connection()
    return _TX_KEY, id(session.get_transaction())


def transaction_id(ctx: Context) -> int:
    """The id of the current PostgreSQL transaction (asked once per transaction); 0 on SQLite."""
    session = ctx.session
    if session.get_bind().dialect.name != "postgresql":
        return 0
    key = _tx_key(session)
    if key not in session.info:
        _forget_transactions(session)
        session.info[key] = session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
    return session.info[key]


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction) -> None:
    """A transaction's id is never used for the next one (whose object may reuse the same ``id()``)."""
    if transaction.parent is None and session.info:
        _forget_transactions(session)


def _forget_transactions(session) -> None:
    for key in [k for k in session.info if isinstance(k, tuple) and k and k[0] == _TX_KEY]:
        del session.info[key]
