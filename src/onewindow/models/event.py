from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, PrimaryKeyConstraint, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")

CONTAINER_SUBJECT = text("subject_type = 'container'")
INSPECTION_SUBJECT = text("subject_type = 'inspection'")

EVENT_TYPES: frozenset[str] = frozenset({
    "filing.created", "filing.updated",
    "declaration.staged", "declaration.discarded", "declaration.withdrawn", "declaration.submitted",
    "declaration.accepted", "declaration.rejected", "declaration.amended", "declaration.released",
    "declaration.release_revoked",
    "inspection.decided", "inspection.matched", "inspection.joined", "inspection.relocated",
    "inspection.scheduled", "inspection.started", "inspection.checked_in", "inspection.appointment_lapsed",
    "inspection.absent", "inspection.result_recorded", "inspection.completed", "inspection.results_adopted",
    "container.arrived", "container.released", "container.release_revoked", "container.gated_out",
})
"""Every event type the platform writes (see docs/api-guide.md, Events): what webhooks may subscribe to, and
all that :func:`onewindow.events.service.record_event` writes."""
"""The events about a container visit (released, release revoked, gated out): the only ones a reader looks up
by their subject (a consignment's timeline), indexed by it alone (:data:`Event`'s partial index); a query
that uses the index says so in these words, not with a bound value."""


class Event(Base):
    """One state change, written in the same transaction as the change (the outbox).

    ``seq`` orders events for feeds; ``id`` is the public, idempotency id.
    ``data`` is what every recipient may see; ``confidential`` holds fields
    only agencies may see.
    """

    __tablename__ = "events"
    # The log in its order, (tx, seq), is only indexed where tx varies: on SQLite it is always 0 and the log's
    # order is seq's, the table's own (one index less to write for every event).
    __table_args__ = (Index("ix_events_filing_seq", "filing_id", "seq"),
                      Index("ix_events_tx_seq", "tx", "seq").ddl_if(dialect="postgresql"),
                      Index("ix_events_container_subject", "subject_id", sqlite_where=CONTAINER_SUBJECT,
                            postgresql_where=CONTAINER_SUBJECT),
                      # the events about an inspection: where the next must follow the last (PostgreSQL:
                      # events.service.record_event), and a consignment's timeline (those naming no filing)
                      Index("ix_events_inspection_subject", "subject_id", sqlite_where=INSPECTION_SUBJECT,
                            postgresql_where=INSPECTION_SUBJECT))

    seq: Mapped[int] = mapped_column(SeqType, primary_key=True, autoincrement=True)
    tx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    """The writing transaction's id on PostgreSQL (0 on SQLite, whose writers are serial): the feed
    orders by (tx, seq) and shows only transactions older than every one still running."""
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[uuid.UUID]
    filing_id: Mapped[uuid.UUID | None]
    actor_organisation_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("organisations.id"))
    data: Mapped[dict[str, Any]]
    confidential: Mapped[dict[str, Any] | None]

    recipients: Mapped[list["EventRecipient"]] = relationship(cascade="all, delete-orphan", lazy="raise")


class EventRecipient(Base):
    """An organisation allowed to see an event, decided when the event is written.

    The rows are an organisation's feed: keyed, and on SQLite stored (``WITHOUT ROWID``), in the feed's order
    (organisation, then the log's order ``(tx, seq)``), so that writing a recipient writes one b-tree and
    reading a feed after a position is one seek. ``tx`` is the event's own: a query going from an event to its
    recipients joins on both ``tx`` and ``seq`` (:func:`recipient_of`).
    """

    __tablename__ = "event_recipients"
    __table_args__ = (PrimaryKeyConstraint("organisation_id", "tx", "event_seq"), {"sqlite_with_rowid": False})

    event_seq: Mapped[int] = mapped_column(SeqType, ForeignKey("events.seq"), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    tx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", primary_key=True)


def recipient_of(organisation_id: Any) -> Any:
    """The join condition of an event with its recipient row for ``organisation_id``: the recipients' whole
    key (organisation, the event's ``tx`` and ``seq``), which finds the row with one seek."""
    return (EventRecipient.organisation_id == organisation_id) & (EventRecipient.tx == Event.tx) \
        & (EventRecipient.event_seq == Event.seq)
