"""The webhook relay: events become deliveries, deliveries become signed HTTP requests.

One round (:func:`run_relay_once`) does, each step in its own short transaction:

1. **Fan-out.** For every enabled subscription (claimed ``FOR UPDATE SKIP
   LOCKED``, so two relays never fan out the same one), the events its
   organisation receives after the subscription's cursor, in feed order (tx,
   seq), become one delivery each when the type matches; the cursor moves on.
   Only final events are read: on PostgreSQL those of transactions older than
   every one still running, whose events could otherwise appear later with a
   lower sequence.
2. **Claim.** Due deliveries of enabled subscriptions, oldest event first, are
   leased (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one writer),
   skipping any delivery while an earlier one of the same subscription and
   the same filing is still pending, so each consignment's events arrive in order.
3. **Send.** Concurrently, with httpx, signed per Standard Webhooks; nothing
   is held open in the database meanwhile.
4. **Record.** Every attempt is kept (status code, latency, error, time); a 2xx
   delivers, anything else is retried with exponential backoff and jitter
   until the give-up age; a subscription is disabled after a streak of failures.

A relay that dies mid-send leaves a lease that expires, and another relay
sends again: receivers deduplicate on ``webhook-id`` (the event id). Any
number of relays may run side by side (:class:`Relay` in ``onewindow serve``
or ``onewindow worker``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import exists, or_, select, tuple_
from sqlalchemy.orm import Session, aliased, sessionmaker
from standardwebhooks import Webhook

from onewindow import __version__
from onewindow.clock import Clock, SystemClock
from onewindow.config import Settings
from onewindow.context import Context
from onewindow.db import unit_of_work
from onewindow.events.feed import horizon
from onewindow.events.webhooks import UrlRefused, committed_before, matches, payload, vet_url
from onewindow.models import (
    DeliveryStatus, Event, EventRecipient, Organisation, WebhookAttempt, WebhookDelivery, WebhookSubscription,
)

log = logging.getLogger("onewindow.relay")

SUBSCRIPTIONS_PER_TRANSACTION = 100
EVENTS_PER_SUBSCRIPTION_ROUND = 1000
MAX_SEND_ROUNDS = 100
PER_WEBHOOK_CONCURRENCY = 8
"""Requests in flight at once to one webhook (a round sends to many webhooks side by side)."""
_PENDING = DeliveryStatus.pending.value
_rng = random.Random()


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, ready to send without the database."""

    delivery_id: uuid.UUID
    claim: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secret: str
    message_id: str
    body: str


@dataclass(frozen=True)
class Outcome:
    delivery_id: uuid.UUID
    claim: uuid.UUID
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Counts:
    fanned_out: int = 0
    attempted: int = 0
    delivered: int = 0
    failed_attempts: int = 0
    given_up: int = 0
    disabled: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"webhooks_fanned_out": self.fanned_out, "webhook_attempts": self.attempted,
                "webhooks_delivered": self.delivered, "webhook_failed_attempts": self.failed_attempts,
                "webhooks_given_up": self.given_up, "webhooks_disabled": self.disabled}


def run_relay_once(factory: sessionmaker[Session], clock: Clock, settings: Settings, *,
                   signing_clock: Clock | None = None) -> dict[str, int]:
    """Fan out new events, then send due deliveries until none is left (bounded); returns counts.

    ``clock`` schedules (due times, backoff, give-up age, attempt times);
    ``signing_clock`` (the real time by default) stamps ``webhook-timestamp``,
    which receivers compare with their own clock.
    """
    counts = Counts()
    counts.fanned_out = fan_out(factory, clock, settings)
    for _ in range(MAX_SEND_ROUNDS):
        outgoing = claim_due(factory, clock, settings)
        if not outgoing:
            break
        outcomes = asyncio.run(send_all(outgoing, clock, settings, signing_clock or SystemClock()))
        record(factory, clock, settings, outcomes, counts)
    return counts.as_dict()


# --- 1. fan-out ---------------------------------------------------------------------------------------------

def fan_out(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> int:
    """Turn final events after each enabled subscription's cursor into deliveries; returns how many."""
    total, after = 0, None
    while True:
        with unit_of_work(factory) as session:
            query = select(WebhookSubscription).where(WebhookSubscription.enabled.is_(True))
            if after is not None:
                query = query.where(WebhookSubscription.id > after)
            subs = session.scalars(query.order_by(WebhookSubscription.id).limit(SUBSCRIPTIONS_PER_TRANSACTION)
                                   .with_for_update(skip_locked=True)).all()
            if not subs:
                return total
            ctx = Context(session=session, clock=clock, settings=settings)
            xmin = horizon(ctx)
            total += sum(_fan_out_one(ctx, sub, xmin) for sub in subs)
            after = subs[-1].id


def _fan_out_one(ctx: Context, sub: WebhookSubscription, xmin: int | None) -> int:
    session, now, made = ctx.session, ctx.now(), 0
    for _ in range(EVENTS_PER_SUBSCRIPTION_ROUND // ctx.settings.webhook_batch_size + 1):
        query = (select(EventRecipient.tx, EventRecipient.event_seq, Event.type, Event.filing_id)
                 .join(Event, Event.seq == EventRecipient.event_seq)
                 .where(EventRecipient.organisation_id == sub.organisation_id,
                        tuple_(EventRecipient.tx, EventRecipient.event_seq) > tuple_(sub.cursor_tx, sub.cursor_seq)))
        if xmin is not None:
            query = query.where(EventRecipient.tx < xmin)
        rows = session.execute(query.order_by(EventRecipient.tx, EventRecipient.event_seq)
                               .limit(ctx.settings.webhook_batch_size)).all()
        if not rows:
            break
        wanted = [row for row in rows if matches(sub.types, row.type)
                  and not (sub.start_snapshot and committed_before(row.tx, sub.start_snapshot))]
        queued = set(session.scalars(select(WebhookDelivery.event_seq).where(  # redelivered ahead of the cursor
            WebhookDelivery.subscription_id == sub.id, WebhookDelivery.event_seq.in_([r.event_seq for r in wanted]))))
        new = [WebhookDelivery(subscription_id=sub.id, event_seq=row.event_seq, event_tx=row.tx,
                               filing_id=row.filing_id, status=_PENDING, attempt_count=0, next_attempt_at=now,
                               started_at=now, created_at=now)
               for row in wanted if row.event_seq not in queued]
        session.add_all(new)
        made += len(new)
        sub.cursor_tx, sub.cursor_seq = rows[-1].tx, rows[-1].event_seq
        if sub.start_snapshot and sub.cursor_tx >= int(sub.start_snapshot.split(":")[1]):
            sub.start_snapshot = None  # every later event is after the subscription
        session.flush()
        if len(rows) < ctx.settings.webhook_batch_size:
            break
    return made


# --- 2. claim -----------------------------------------------------------------------------------------------

def claim_due(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> list[Outgoing]:
    """Lease up to ``webhook_batch_size`` due deliveries, each the oldest pending of its consignment."""
    with unit_of_work(factory) as session:
        now = clock.now()
        earlier = aliased(WebhookDelivery)
        held_back = exists().where(earlier.subscription_id == WebhookDelivery.subscription_id,
                                   earlier.filing_id == WebhookDelivery.filing_id, earlier.status == _PENDING,
                                   tuple_(earlier.event_tx, earlier.event_seq)
                                   < tuple_(WebhookDelivery.event_tx, WebhookDelivery.event_seq))
        query = (select(WebhookDelivery)
                 .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                 .where(WebhookDelivery.status == _PENDING, WebhookDelivery.next_attempt_at <= now,
                        or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until <= now),
                        WebhookSubscription.enabled.is_(True), ~held_back)
                 .order_by(WebhookDelivery.event_tx, WebhookDelivery.event_seq)
                 .limit(settings.webhook_batch_size)
                 .with_for_update(of=WebhookDelivery, skip_locked=True))
        deliveries = session.scalars(query).all()
        if not deliveries:
            return []
        claim, lease = uuid.uuid4(), now + lease_time(settings)
        for delivery in deliveries:
            delivery.claim, delivery.locked_until = claim, lease
        subs = {sub.id: (sub, kind) for sub, kind in session.execute(
            select(WebhookSubscription, Organisation.kind)
            .join(Organisation, Organisation.id == WebhookSubscription.organisation_id)
            .where(WebhookSubscription.id.in_({d.subscription_id for d in deliveries})))}
        events = {e.seq: e for e in session.scalars(select(Event).where(
            Event.seq.in_([d.event_seq for d in deliveries])))}
        out = []
        for d in deliveries:
            sub, kind = subs[d.subscription_id]
            event = events[d.event_seq]
            body = json.dumps(payload(event, kind), ensure_ascii=False, separators=(",", ":"), default=str)
            out.append(Outgoing(d.id, claim, sub.id, sub.url, sub.secret, str(event.id), body))
        return out


# --- 3. send ------------------------------------------------------------------------------------------------

async def send_all(outgoing: list[Outgoing], clock: Clock, settings: Settings,
                   signing_clock: Clock) -> list[Outcome]:
    """POST every claimed delivery, up to ``PER_WEBHOOK_CONCURRENCY`` at once per webhook; one
    :class:`Outcome` each, in the same order."""
    timeout = httpx.Timeout(settings.webhook_timeout_seconds)
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=20)
    gates = {o.subscription_id: asyncio.Semaphore(PER_WEBHOOK_CONCURRENCY) for o in outgoing}
    async with httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False) as client:

        async def send(out: Outgoing) -> Outcome:
            async with gates[out.subscription_id]:
                return await _send(client, out, clock, settings, signing_clock)

        return list(await asyncio.gather(*(send(o) for o in outgoing)))


def lease_time(settings: Settings) -> timedelta:
    """How long a claim lasts: long enough for a round to send every delivery it claimed at worst."""
    waves = -(-settings.webhook_batch_size // PER_WEBHOOK_CONCURRENCY)
    # worst case per wave: the timeout plus the URL check; a small margin for recording the outcomes
    # (a claim that outlives a crashed relay only delays its retries: keep it short)
    return timedelta(seconds=waves * (settings.webhook_timeout_seconds + 5) + 15)


async def _send(client: httpx.AsyncClient, out: Outgoing, clock: Clock, settings: Settings,
                signing_clock: Clock) -> Outcome:
    attempted_at, started = clock.now(), time.perf_counter()
    status_code, error = None, None
    try:
        addresses = await asyncio.to_thread(vet_url, out.url, settings)
        url, headers = _pinned(out.url, addresses)
        stamp = signing_clock.now().astimezone(UTC)
        headers |= {"content-type": "application/json", "user-agent": f"OneWindow-Webhooks/{__version__}",
                    "webhook-id": out.message_id, "webhook-timestamp": str(int(stamp.timestamp())),
                    "webhook-signature": Webhook(out.secret).sign(out.message_id, stamp, out.body)}
        async with client.stream("POST", url, content=out.body.encode(), headers=headers) as response:
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}" + await _excerpt(response)
    except UrlRefused as refused:
        error = f"refused: {refused}"
    except httpx.TimeoutException:
        error = f"no answer within {settings.webhook_timeout_seconds:g} s"
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}".rstrip(": ")
    latency = round((time.perf_counter() - started) * 1000)
    return Outcome(out.delivery_id, out.claim, attempted_at, status_code, latency, error[:500] if error else None)


def _pinned(url: str, addresses: list[str]) -> tuple[httpx.URL, dict[str, str]]:
    """For plain http, connect to the address just vetted (no second look-up to rebind); https keeps the
    name, where the certificate check refuses a host that is not the one named."""
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or not addresses or parsed.host == addresses[0]:
        return parsed, {}
    host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    return parsed.copy_with(host=addresses[0].split("%")[0]), {"host": host}


async def _excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The start of an error answer's body, for the attempt's record."""
    chunks, size = [], 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass
    text = b"".join(chunks)[:limit].decode("utf-8", "replace").strip()
    return f": {' '.join(text.split())}" if text else ""


# --- 4. record ----------------------------------------------------------------------------------------------

def record(factory: sessionmaker[Session], clock: Clock, settings: Settings, outcomes: list[Outcome],
           counts: Counts) -> None:
    """Keep every attempt; deliver, reschedule or give up; count the failure streak of each subscription."""
    with unit_of_work(factory) as session:
        now = clock.now()
        ids = [o.delivery_id for o in outcomes]
        sub_ids = set(session.scalars(select(WebhookDelivery.subscription_id).where(WebhookDelivery.id.in_(ids))))
        # Subscriptions are locked before deliveries: the order every other writer follows.
        subs = {s.id: s for s in session.scalars(select(WebhookSubscription)
                                                 .where(WebhookSubscription.id.in_(sub_ids))
                                                 .order_by(WebhookSubscription.id).with_for_update())}
        deliveries = {d.id: d for d in session.scalars(select(WebhookDelivery).where(WebhookDelivery.id.in_(ids))
                                                       .order_by(WebhookDelivery.id).with_for_update())}
        for outcome in outcomes:
            delivery = deliveries.get(outcome.delivery_id)
            if delivery is None or delivery.subscription_id not in subs:
                continue  # the subscription was deleted meanwhile
            counts.attempted += 1
            _apply(session, subs[delivery.subscription_id], delivery, outcome, now, settings, counts)


def _apply(session: Session, sub: WebhookSubscription, delivery: WebhookDelivery, outcome: Outcome,
           now: datetime, settings: Settings, counts: Counts) -> None:
    delivery.attempt_count += 1
    session.add(WebhookAttempt(delivery_id=delivery.id, number=delivery.attempt_count,
                               attempted_at=outcome.attempted_at, status_code=outcome.status_code,
                               latency_ms=outcome.latency_ms, error=outcome.error))
    if delivery.claim != outcome.claim or delivery.status != _PENDING:
        return  # redelivered or re-claimed meanwhile: the attempt is kept, the state is not ours to change
    delivery.claim, delivery.locked_until = None, None
    if outcome.ok:
        delivery.status, delivery.delivered_at, sub.failure_streak = DeliveryStatus.delivered.value, now, 0
        counts.delivered += 1
        return
    counts.failed_attempts += 1
    sub.failure_streak += 1
    retry_at = next_attempt_at(delivery, now, settings)
    if retry_at is None:
        delivery.status = DeliveryStatus.failed.value
        counts.given_up += 1
    else:
        delivery.next_attempt_at = retry_at
    if sub.enabled and sub.failure_streak >= settings.webhook_disable_after_failures:
        sub.enabled, sub.disabled_at = False, now
        sub.disabled_reason = f"{sub.failure_streak} consecutive failed attempts"
        counts.disabled += 1
        log.warning("webhook %s disabled after %d consecutive failed attempts", sub.id, sub.failure_streak)


def next_attempt_at(delivery: WebhookDelivery, now: datetime, settings: Settings,
                    rng: random.Random = _rng) -> datetime | None:
    """When to try again after ``delivery.attempt_count`` failures: base × 2^(n-1), capped, half of it
    jittered; never after the give-up age (one last attempt at it); None once that age is reached."""
    give_up_at = delivery.started_at + timedelta(seconds=settings.webhook_give_up_seconds)
    if now >= give_up_at:
        return None
    exponent = min(delivery.attempt_count - 1, 60)
    delay = min(settings.webhook_retry_max_seconds, settings.webhook_retry_base_seconds * 2 ** exponent)
    delay = delay / 2 + rng.uniform(0, delay / 2)
    return min(now + timedelta(seconds=delay), give_up_at)


# --- the background thread ----------------------------------------------------------------------------------

class Relay:
    """Runs :func:`run_relay_once` every ``webhook_relay_interval_seconds`` in a daemon thread until :meth:`stop`."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, settings: Settings) -> None:
        self._factory, self._clock, self._settings = factory, clock, settings
        self._sink = None
        if settings.broker_url:
            from onewindow.events.broker import RabbitMQSink

            self._sink = RabbitMQSink(settings.broker_url, settings.broker_exchange)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="onewindow-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        self._thread.join(timeout)
        if self._sink is not None and not self._thread.is_alive():
            self._sink.close()

    def _loop(self) -> None:
        while not self._stopping.wait(self._settings.webhook_relay_interval_seconds):
            try:
                done = run_relay_once(self._factory, self._clock, self._settings)
                if any(done.values()):
                    log.info("webhooks: %s", done)
            except Exception:  # noqa: BLE001 - a failed round is logged and tried again next time
                log.exception("webhook relay round failed")
            if self._sink is not None:
                self._publish()

    def _publish(self) -> None:
        """Publish new events to the broker (the cursor moves only after the broker confirmed them)."""
        from onewindow.events.broker import publish_all

        try:
            if published := publish_all(self._factory, self._clock, self._settings, self._sink):
                log.info("broker: published %d events", published)
        except Exception:  # noqa: BLE001 - the broker may be down: nothing moved, tried again next round
            log.exception("publishing to the broker failed")
