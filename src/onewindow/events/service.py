"""Writing events in the same transaction as the state change they record."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import text

from onewindow.context import Context
from onewindow.models import Event, EventRecipient


def record_event(ctx: Context, type_: str, *, subject_type: str, subject_id: uuid.UUID,
                 recipients: Iterable[uuid.UUID], data: dict[str, Any], filing_id: uuid.UUID | None = None,
                 confidential: dict[str, Any] | None = None) -> Event:
    """Add an event and its recipients to the current unit of work.

    ``recipients`` are the organisations allowed to see the event, decided now
    from the same access rules as the API; ``confidential`` is only for agencies.
    Nothing is committed here: the event lands with the change or not at all.
    """
    actor = ctx.actor
    tx = transaction_id(ctx)
    event = Event(id=uuid.uuid4(), type=type_, occurred_at=ctx.now(), subject_type=subject_type,
                  subject_id=subject_id, filing_id=filing_id, data=data, confidential=confidential,
                  actor_organisation_id=actor.org_id if actor else None, tx=tx)
    event.recipients = [EventRecipient(organisation_id=org_id, tx=tx) for org_id in dict.fromkeys(recipients)]
    ctx.session.add(event)
    return event


def transaction_id(ctx: Context) -> int:
    """The id of the current PostgreSQL transaction (asked once per transaction); 0 on SQLite."""
    session = ctx.session
    if session.get_bind().dialect.name != "postgresql":
        return 0
    key = ("onewindow.tx", id(session.get_transaction()))
    if key not in session.info:
        session.info.clear()
        session.info[key] = session.execute(text("SELECT pg_current_xact_id()::text::bigint")).scalar_one()
    return session.info[key]
