"""HTTP routes of webhook subscriptions and deliveries: thin wrappers over ``events.webhooks``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from onewindow.context import Context
from onewindow.events import webhooks as service
from onewindow.http import AsCaller, Offset
from onewindow.models import DeliveryStatus, Event, WebhookDelivery, WebhookSubscription

router = APIRouter(tags=["webhooks"])


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str = Field(min_length=1, max_length=2000, description="An http or https URL on a public host.")
    types: list[str] | None = Field(default=None, description="Event types (`container.released`) or groups "
                                                              "(`inspection.*`); leave out for every type.")


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str | None = Field(default=None, min_length=1, max_length=2000,
                            description="A new http or https URL on a public host.")
    types: list[str] | None = Field(default=None, description="New event types or groups; `null` for every type. "
                                                              "Leave out to keep them.")


class WebhookOut(BaseModel):
    id: uuid.UUID
    url: str
    types: list[str] | None = Field(description="None: every event type.")
    enabled: bool
    failure_streak: int = Field(description="Consecutive failed attempts; the webhook is disabled at the limit.")
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="`whsec_...`: verifies the signatures; shown only now.")


class AttemptOut(BaseModel):
    number: int
    at: datetime
    status_code: int | None = Field(description="The receiver's HTTP status (None without an answer).")
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    event_id: uuid.UUID
    event_type: str
    filing_id: uuid.UUID | None
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    total: int


def webhook_out(sub: WebhookSubscription) -> WebhookOut:
    return WebhookOut(id=sub.id, url=sub.url, types=sub.types, enabled=sub.enabled,
                      failure_streak=sub.failure_streak, disabled_at=sub.disabled_at,
                      disabled_reason=sub.disabled_reason, created_at=sub.created_at)


def delivery_out(delivery: WebhookDelivery, event: Event) -> DeliveryOut:
    pending = delivery.status == DeliveryStatus.pending.value
    return DeliveryOut(
        event_id=event.id, event_type=event.type, filing_id=delivery.filing_id, status=delivery.status,
        attempt_count=delivery.attempt_count, next_attempt_at=delivery.next_attempt_at if pending else None,
        created_at=delivery.created_at, delivered_at=delivery.delivered_at,
        attempts=[AttemptOut(number=a.number, at=a.attempted_at, status_code=a.status_code,
                             latency_ms=a.latency_ms, error=a.error) for a in delivery.attempts])


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
async def create_webhook(caller: AsCaller, body: WebhookCreate) -> WebhookCreated:
    """Subscribe a URL to the organisation's events; the answer holds the signing secret, shown this once."""

    def work(ctx: Context) -> WebhookCreated:
        sub = service.create_subscription(ctx, body.url, body.types)
        return WebhookCreated(**webhook_out(sub).model_dump(), secret=sub.secret)

    return await caller.run(work, waits=True)  # the URL's host is looked up


@router.get("/webhooks", response_model=list[WebhookOut])
async def list_webhooks(caller: AsCaller) -> list[WebhookOut]:
    """The organisation's own webhooks, oldest first."""
    return await caller.run(lambda ctx: [webhook_out(s) for s in service.list_subscriptions(ctx)])


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut)
async def get_webhook(caller: AsCaller, webhook_id: str) -> WebhookOut:
    return await caller.run(lambda ctx: webhook_out(service.get_subscription(ctx, webhook_id)))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut)
async def update_webhook(caller: AsCaller, webhook_id: str, body: WebhookUpdate) -> WebhookOut:
    """Change the URL and/or the event types; what is left out stays (the secret and the history too)."""
    changes = body.model_dump(include=body.model_fields_set)
    return await caller.run(lambda ctx: webhook_out(service.update_subscription(ctx, webhook_id, changes)),
                            waits="url" in changes)  # a new URL's host is looked up


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap_hours: float | None = Field(default=None, description="How long requests carry a signature with the "
                                        "old secret too (0 to 720; the platform's setting, 24 by default, when "
                                        "left out).")


class SecretRotated(WebhookOut):
    secret: str = Field(description="The new `whsec_...`; shown only now.")
    previous_secret_until: datetime | None = Field(description="Until when the old secret still signs.")


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=SecretRotated)
async def rotate_secret(caller: AsCaller, webhook_id: str, body: SecretRotation | None = None) -> SecretRotated:
    """A new signing secret, shown once; the old one keeps signing for the overlap, so nothing is refused
    while the receiver switches."""

    def work(ctx: Context) -> SecretRotated:
        sub = service.rotate_secret(ctx, webhook_id, body.overlap_hours if body else None)
        return SecretRotated(**webhook_out(sub).model_dump(), secret=sub.secret,
                             previous_secret_until=sub.previous_secret_until)

    return await caller.run(work)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(caller: AsCaller, webhook_id: str) -> Response:
    """Remove the webhook with its deliveries; nothing more is sent to it."""
    await caller.run(lambda ctx: service.delete_subscription(ctx, webhook_id))
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/enable", response_model=WebhookOut)
async def enable_webhook(caller: AsCaller, webhook_id: str) -> WebhookOut:
    """Re-enable a webhook the relay disabled after a failure streak; its pending deliveries go out now."""
    return await caller.run(lambda ctx: webhook_out(service.enable_subscription(ctx, webhook_id)))


@router.get("/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(caller: AsCaller, webhook_id: str, status: DeliveryStatus | None = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50,
                          offset: Offset = 0) -> DeliveryPage:
    """The webhook's deliveries, newest event first, each with every attempt."""

    def work(ctx: Context) -> DeliveryPage:
        rows, total = service.list_deliveries(ctx, webhook_id, status, limit, offset)
        return DeliveryPage(items=[delivery_out(d, e) for d, e in rows], total=total)

    return await caller.run(work)


@router.post("/webhooks/{webhook_id}/deliveries/{event_id}/redeliver", status_code=202,
             response_model=DeliveryOut)
async def redeliver(caller: AsCaller, webhook_id: str, event_id: str) -> DeliveryOut:
    """Send an event again (any event the organisation may see), due now."""
    return await caller.run(lambda ctx: delivery_out(*service.redeliver(ctx, webhook_id, event_id)))
