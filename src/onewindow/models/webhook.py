from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from onewindow.models.base import Base, IdMixin
from onewindow.models.event import SeqType


class WebhookSubscription(IdMixin, Base):
    """An organisation's endpoint that receives its events as signed HTTP POSTs (Standard Webhooks).

    ``types`` None means every type; otherwise event types or prefixes such as
    ``inspection.*``. ``secret`` (``whsec_...``) signs every request and is shown
    to the owner once, at creation. ``cursor_tx``/``cursor_seq`` is the last event
    position (feed order) the relay has looked at; it starts where the events
    committed after the subscription begin.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_organisation_id", "organisation_id"),)

    organisation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organisations.id"))
    url: Mapped[str] = mapped_column(String(2000))
    types: Mapped[list[str] | None]
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    """The secret before the last rotation: requests carry its signature too until ``previous_secret_until``."""
    previous_secret_until: Mapped[datetime | None]
    enabled: Mapped[bool] = mapped_column(default=True)
    failure_streak: Mapped[int] = mapped_column(default=0)
    """Consecutive failed attempts; the subscription is disabled when it reaches the limit."""
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    cursor_tx: Mapped[int] = mapped_column(BigInteger, default=0)
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    start_snapshot: Mapped[str | None] = mapped_column(Text)
    """PostgreSQL: the snapshot taken at creation (``xmin:xmax:xip,...``); events of transactions it saw as
    committed came before the subscription and are skipped. Cleared once the cursor is past it."""
    created_at: Mapped[datetime]


class DeliveryStatus(StrEnum):
    pending = "pending"  # to be attempted (now, or at next_attempt_at)
    delivered = "delivered"  # a 2xx answer
    failed = "failed"  # given up after the give-up age


class WebhookDelivery(IdMixin, Base):
    """One event to one subscription, created by the relay's fan-out; retried until 2xx or given up.

    ``event_tx``/``event_seq``/``filing_id`` are copied from the event so the relay
    orders deliveries and holds back later ones of the same consignment without a join.
    ``locked_until``/``claim`` is the lease of the relay sending it.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_seq"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at", "event_tx", "event_seq"),
        Index("ix_webhook_deliveries_consignment", "subscription_id", "filing_id", "status", "event_tx", "event_seq"),
    )

    subscription_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"))
    event_seq: Mapped[int] = mapped_column(SeqType, ForeignKey("events.seq"))
    event_tx: Mapped[int] = mapped_column(BigInteger)
    filing_id: Mapped[uuid.UUID | None]
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.pending.value)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    started_at: Mapped[datetime]
    """When this round of delivery began (fan-out or manual redelivery); the give-up age counts from here."""
    locked_until: Mapped[datetime | None]
    claim: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    attempts: Mapped[list[WebhookAttempt]] = relationship(
        lazy="raise", order_by=lambda: [WebhookAttempt.number, WebhookAttempt.attempted_at], passive_deletes=True)


class WebhookAttempt(IdMixin, Base):
    """One HTTP attempt of a delivery: when, the answer's status code (None without one), latency, error."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id", "delivery_id"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int]
    attempted_at: Mapped[datetime]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(String(500))
