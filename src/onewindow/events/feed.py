"""The pull feed: each organisation's own events, oldest first, behind a stable cursor.

Events are ordered by (writing transaction, sequence). On PostgreSQL a
transaction still running may hold events with a lower sequence than ones
already committed, so the feed shows only events of transactions older than
every transaction still running (``pg_snapshot_xmin``); a consumer that
follows ``next`` therefore sees every event exactly once, in order. SQLite
has one writer at a time, so every committed event is final. PostgreSQL's
horizon is server-wide: a long transaction anywhere on the server delays the
feed (never loses an event), so keep transactions short.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from onewindow.context import Context
from onewindow.sql import after_in_log
from onewindow.errors import ValidationFailed, field_error
from onewindow.models import AGENCY_KINDS, Event, EventRecipient
from onewindow.parties.permissions import Permission

START = "0.0"


LARGEST_POSITION = 2**63 - 1
"""The largest ``tx`` or ``seq`` the log can hold (the databases' 64-bit integers)."""


def parse_cursor(cursor: str | None) -> tuple[int, int]:
    """``"<tx>.<seq>"`` → (tx, seq); 422 naming ``after`` when malformed or either part is negative or larger
    than :data:`LARGEST_POSITION`."""
    if not cursor:
        return 0, 0
    try:
        tx, seq = (int(part) for part in cursor.split("."))
    except ValueError:
        raise _not_a_cursor("must be a cursor returned as 'next'") from None
    if not (0 <= tx <= LARGEST_POSITION and 0 <= seq <= LARGEST_POSITION):
        raise _not_a_cursor("must be a cursor returned as 'next' (its numbers are never negative nor that large)")
    return tx, seq


def _not_a_cursor(message: str) -> ValidationFailed:
    return ValidationFailed([field_error(["query", "after"], message)])


_NEXT_TX = text("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
_LAST_SEQ = select(func.max(Event.seq))


def _refuse_a_cursor_past_the_log(session: Session, tx: int, seq: int) -> None:
    """422 naming ``after`` when the position lies past every event the log holds or will hold soon: a
    cursor no feed returned, after which a consumer would wait for ever (an empty page keeps its cursor).

    Every ``next`` names a written event, or is the cursor it was asked with: its ``seq`` is at most the
    largest written, and its ``tx`` is 0 on SQLite (one writer at a time) and, on PostgreSQL, older than
    the next transaction id to be given."""
    if session.get_bind().dialect.name == "postgresql":
        past = tx >= session.execute(_NEXT_TX).scalar_one()
    else:
        past = tx != 0
    if past or seq > (session.execute(_LAST_SEQ).scalar_one() or 0):
        raise _not_a_cursor("lies past the end of the event log: use a cursor returned as 'next'")


def horizon(ctx: Context) -> int | None:
    """The oldest transaction still running on PostgreSQL (events of older ones are final); None on SQLite."""
    return session_horizon(ctx.session)


BOOKKEEPING_APPLICATION = "onewindow-relay"
"""The ``application_name`` of the relays' own PostgreSQL connections, which never write events."""

_HORIZON = text(f"""
WITH now AS (SELECT pg_current_snapshot() AS snapshot),
elsewhere AS (  -- transactions that never write our events: other databases' on the server, the relays' own
    SELECT backend_xid::text::bigint AS xid FROM pg_stat_activity
    WHERE backend_xid IS NOT NULL
      AND (datid IS NOT NULL AND datid <> (SELECT oid FROM pg_database WHERE datname = current_database())
           OR application_name = '{BOOKKEEPING_APPLICATION}'))
SELECT coalesce(
    (SELECT min(running::text::bigint) FROM now, pg_snapshot_xip(now.snapshot) AS running
     WHERE running::text::bigint % 4294967296 NOT IN (SELECT xid FROM elsewhere)),
    (SELECT pg_snapshot_xmax(snapshot)::text::bigint FROM now))
""")


def session_horizon(session: Session) -> int | None:
    """:func:`horizon` for work that runs on a bare session (the relay).

    The oldest transaction running in the snapshot, leaving out those that
    ``pg_stat_activity`` shows running in another database of the server (a
    long transaction there does not delay this database's events) or on a
    relay's own connections (:data:`BOOKKEEPING_APPLICATION`: deliveries,
    attempts and cursors, never events); a transaction it cannot place counts
    as ours. With none running: the
    snapshot's ``xmax``, the next transaction to start.
    """
    if session.get_bind().dialect.name != "postgresql":
        return None
    return session.execute(_HORIZON).scalar_one()


def read_feed(ctx: Context, after: str | None, limit: int) -> tuple[list[Event], str]:
    """Up to ``limit`` of the actor's events after the cursor, and the cursor to continue from."""
    actor = ctx.as_actor()
    actor.require(Permission.event_read)
    tx, seq = parse_cursor(after)
    query = (select(Event, EventRecipient.tx, EventRecipient.event_seq)
             .join(EventRecipient, EventRecipient.event_seq == Event.seq)
             .where(EventRecipient.organisation_id == actor.org_id,
                    after_in_log(EventRecipient.tx, EventRecipient.event_seq, tx, seq)))
    if (xmin := horizon(ctx)) is not None:
        query = query.where(EventRecipient.tx < xmin)
    rows = ctx.session.execute(query.order_by(EventRecipient.tx, EventRecipient.event_seq).limit(limit)).all()
    if rows:
        tx, seq = rows[-1][1], rows[-1][2]
    elif (tx, seq) != (0, 0):
        _refuse_a_cursor_past_the_log(ctx.session, tx, seq)
    return [row[0] for row in rows], f"{tx}.{seq}"


def event_document(event: Event, *, confidential: bool) -> dict[str, Any]:
    """An event as it goes out (feed, webhooks, broker); ``confidential`` fields only when asked (agencies)."""
    out = {"id": str(event.id), "type": event.type, "occurred_at": event.occurred_at.isoformat(),
           "subject": {"type": event.subject_type, "id": str(event.subject_id)},
           "filing_id": str(event.filing_id) if event.filing_id else None, "data": event.data}
    if confidential and event.confidential:
        out["confidential"] = event.confidential
    return out


def event_out(ctx: Context, event: Event) -> dict[str, Any]:
    """An event as its recipient may see it: confidential fields only for agencies."""
    return event_document(event, confidential=ctx.as_actor().kind in AGENCY_KINDS)
