from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
SeqType = BigInteger().with_variant(Integer(), "sqlite")


class Event(Base):
    """One state change, written in the same transaction as the change (the outbox).

    ``seq`` orders events for feeds; ``id`` is the public, idempotency id.
    ``data`` is what every recipient may see; ``confidential`` holds fields
    only agencies may see.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_filing_seq", "filing_id", "seq"), Index("ix_events_tx_seq", "tx", "seq"))

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
    """An organisation allowed to see an event, decided when the event is written."""

    __tablename__ = "event_recipients"
    __table_args__ = (Index("ix_event_recipients_org_tx_seq", "organisation_id", "tx", "event_seq"),)

    event_seq: Mapped[int] = mapped_column(SeqType, ForeignKey("events.seq"), primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"), primary_key=True)
    tx: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
