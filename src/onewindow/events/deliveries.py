"""The webhook deliveries' bookkeeping in the database, for the relay (:mod:`onewindow.events.relay`):
fan-out of final events into deliveries per subscription, claims with leases (``FOR UPDATE SKIP LOCKED``
on PostgreSQL), lease renewal, and the record of every attempt (retries with backoff, give-up, failure
streaks). The relay sends; this module decides what is due and keeps what happened."""

from __future__ import annotations

import logging
import random
import uuid
import weakref
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    Engine, Integer, any_, bindparam, create_engine, exists, insert, or_, select, text, tuple_, update,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from onewindow.clock import Clock
from onewindow.config import Settings
from onewindow.db import make_session_factory, unit_of_work
from onewindow.sql import after_in_log
from onewindow.events.feed import BOOKKEEPING_APPLICATION, session_horizon
from onewindow.events.webhooks import (
    committed_before, matches, payload, signing_secrets,
)
from onewindow.models.base import new_id
from onewindow.models import (
    DeliveryStatus, Event, EventRecipient, Organisation, WebhookAttempt, WebhookDelivery, WebhookSubscription,
)

log = logging.getLogger("onewindow.relay")

SUBSCRIPTIONS_PER_TRANSACTION = 100
FAN_OUT_PAGE = 500
"""Events read (and deliveries inserted) at once for one subscription."""
EVENTS_PER_SUBSCRIPTION_ROUND = 5000
LEASE = timedelta(seconds=15)
"""How long a claim lasts unless renewed: a crashed relay's deliveries are sent again this much later at most."""
_PENDING = DeliveryStatus.pending.value
_rng = random.Random()


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery, ready to send without the database."""

    delivery_id: uuid.UUID
    claim: uuid.UUID
    subscription_id: uuid.UUID
    url: str
    secrets: tuple[str, ...]
    """The secrets to sign with: the webhook's, and the one it replaced while their overlap lasts."""
    message_id: str
    body: str


@dataclass(frozen=True)
class Outcome:
    delivery_id: uuid.UUID
    claim: uuid.UUID
    subscription_id: uuid.UUID
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


_ASYNC_COMMIT: weakref.WeakSet[Engine] = weakref.WeakSet()


def bookkeeping_factory(factory: sessionmaker[Session]) -> tuple[sessionmaker[Session], Callable[[], None]]:
    """Sessions for the relay's own records, and what closes them: on PostgreSQL a small engine of its own
    whose connections commit without waiting for the WAL flush (see :func:`bookkeeping`) and are not pinged
    before each transaction (a round trip a transaction; after a database restart the first pass fails, is
    logged, and the next one reconnects); on SQLite the same factory (one writer gate per process)."""
    engine = factory.kw["bind"]
    if engine.dialect.name != "postgresql":
        return factory, lambda: None
    own = create_engine(engine.url, pool_size=2, max_overflow=2, pool_pre_ping=False,
                        connect_args={"options": "-c synchronous_commit=off",
                                      "application_name": BOOKKEEPING_APPLICATION})
    _ASYNC_COMMIT.add(own)
    return make_session_factory(own), own.dispose


@contextmanager
def bookkeeping(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work for the relay's own records (deliveries, leases, attempts, cursors).

    On PostgreSQL its commit does not wait for the WAL flush (``synchronous_commit
    off``; the events themselves were committed durably by whoever wrote them).
    A database crash may forget the last fraction of a second of these records,
    never corrupt them, and forgetting only sends again: at least once holds.
    """
    with unit_of_work(factory) as session:
        bind = session.get_bind()
        if bind.dialect.name == "postgresql" and bind not in _ASYNC_COMMIT:
            session.execute(text("SET LOCAL synchronous_commit TO OFF"))
        yield session


# --- 1. fan-out ---------------------------------------------------------------------------------------------

def fan_out(factory: sessionmaker[Session], clock: Clock, settings: Settings,
            after: uuid.UUID | None = None) -> int:
    """Turn final events after each enabled subscription's cursor (of those after ``after``) into deliveries,
    a page of subscriptions a transaction; returns how many."""
    total = 0
    while True:
        with bookkeeping(factory) as session:
            made, after = fan_out_page(session, clock, after)
        total += made
        if after is None:
            return total


def fan_out_page(session: Session, clock: Clock, after: uuid.UUID | None) -> tuple[int, uuid.UUID | None]:
    """Fan out for up to ``SUBSCRIPTIONS_PER_TRANSACTION`` enabled subscriptions after ``after`` that no other
    relay holds; how many deliveries were made, and where the next page starts (None: no more)."""
    sql, connection = _sql(session), session.connection()
    subs = connection.execute(sql.subscriptions, {}).all() if after is None else \
        connection.execute(sql.subscriptions_after, {"after": after}).all()
    if not subs:
        return 0, None
    xmin, now = session_horizon(session), clock.now()
    made = sum(_fan_out_one(session, sql, sub, xmin, now) for sub in subs)
    return made, subs[-1].id if len(subs) == SUBSCRIPTIONS_PER_TRANSACTION else None


def _fan_out_one(session: Session, sql: _Statements, sub, xmin: int | None, now: datetime) -> int:
    made, cursor, snapshot = 0, (sub.cursor_tx, sub.cursor_seq), sub.start_snapshot
    connection = session.connection()
    for _ in range(EVENTS_PER_SUBSCRIPTION_ROUND // FAN_OUT_PAGE):
        page = {"org": sub.organisation_id, "after_tx": cursor[0], "after_seq": cursor[1]}
        rows = connection.execute(sql.events, page).all() if xmin is None else \
            connection.execute(sql.final_events, page | {"xmin": xmin}).all()
        if not rows:
            break
        new = [{"subscription_id": sub.id, "event_seq": row.event_seq, "event_tx": row.tx,
                "filing_id": row.filing_id, "status": _PENDING, "attempt_count": 0, "next_attempt_at": now,
                "started_at": now, "created_at": now}
               for row in rows if matches(sub.types, row.type)
               and not (snapshot and committed_before(row.tx, snapshot))]
        if new:
            made += _insert_deliveries(session, new)
        cursor = (rows[-1].tx, rows[-1].event_seq)
        if snapshot and cursor[0] >= int(snapshot.split(":")[1]):
            snapshot = None  # every later event is after the subscription
        if len(rows) < FAN_OUT_PAGE:
            break
    if cursor != (sub.cursor_tx, sub.cursor_seq):
        connection.execute(sql.move_cursor, {"subscription": sub.id, "to_tx": cursor[0], "to_seq": cursor[1],
                                             "snapshot": snapshot})
    return made


def _insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert deliveries in one statement, skipping any already there (redelivered ahead of the cursor); how many
    were new. On PostgreSQL the rows travel as a few arrays (one statement text whatever their number)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        first = rows[0]
        return len(connection.execute(_PG_INSERT_DELIVERIES, {
            "ids": [new_id() for _ in rows], "subscription_id": first["subscription_id"],
            "seqs": [r["event_seq"] for r in rows], "txs": [r["event_tx"] for r in rows],
            "filings": [r["filing_id"] for r in rows], "now": first["created_at"]}).all())
    return len(connection.execute(_sql(session).insert_deliveries, rows).all())


_DELIVERIES, _SUBSCRIPTIONS = WebhookDelivery.__table__, WebhookSubscription.__table__
_EVENTS, _RECIPIENTS, _ORGANISATIONS = Event.__table__, EventRecipient.__table__, Organisation.__table__


@dataclass(frozen=True)
class _Statements:
    """The statements of every relay pass, built once per dialect: Core statements run on the session's
    connection, so a pass pays neither for building them nor for the ORM's execution path."""

    subscriptions: Any
    subscriptions_after: Any
    any_subscription: Any
    events: Any
    final_events: Any
    move_cursor: Any
    insert_deliveries: Any
    claim: Any
    lease: Any
    reset_streaks: Any
    deliver: Any
    insert_attempts: Any


def _sql(session: Session) -> _Statements:
    return _statements(session.get_bind().dialect.name)


@cache
def _statements(dialect: str) -> _Statements:
    d, s, e, r, o = _DELIVERIES.c, _SUBSCRIPTIONS.c, _EVENTS.c, _RECIPIENTS.c, _ORGANISATIONS.c
    postgres = dialect == "postgresql"

    def among(column, name: str):
        if postgres:
            return column == any_(bindparam(name, type_=PG_ARRAY(column.type)))
        return column.in_(bindparam(name, expanding=True, type_=column.type))

    def param(name: str, column):
        return bindparam(name, type_=column.type)

    subscriptions = (select(s.id, s.organisation_id, s.types, s.cursor_tx, s.cursor_seq, s.start_snapshot)
                     .where(s.enabled.is_(True)).order_by(s.id).limit(SUBSCRIPTIONS_PER_TRANSACTION)
                     .with_for_update(skip_locked=True))
    events = (select(r.tx, r.event_seq, e.type, e.filing_id).join_from(_RECIPIENTS, _EVENTS, e.seq == r.event_seq)
              .where(r.organisation_id == param("org", r.organisation_id),
                     after_in_log(r.tx, r.event_seq, param("after_tx", r.tx), param("after_seq", r.event_seq)))
              .order_by(r.tx, r.event_seq).limit(FAN_OUT_PAGE))
    earlier = _DELIVERIES.alias("earlier")
    held_back = exists().where(earlier.c.subscription_id == d.subscription_id, earlier.c.filing_id == d.filing_id,
                               earlier.c.status == _PENDING,
                               tuple_(earlier.c.event_tx, earlier.c.event_seq) < tuple_(d.event_tx, d.event_seq))
    now = param("now", d.next_attempt_at)
    claim = (select(d.id, d.subscription_id, s.url, s.secret, s.previous_secret, s.previous_secret_until, o.kind,
                    e.id.label("event_id"), e.type, e.occurred_at, e.subject_type, e.subject_id, e.filing_id, e.data,
                    e.confidential)
             .select_from(_DELIVERIES.join(_SUBSCRIPTIONS, s.id == d.subscription_id)
                          .join(_ORGANISATIONS, o.id == s.organisation_id).join(_EVENTS, e.seq == d.event_seq))
             .where(d.status == _PENDING, d.next_attempt_at <= now,
                    or_(d.locked_until.is_(None), d.locked_until <= now), s.enabled.is_(True), ~held_back)
             .order_by(d.next_attempt_at, d.event_tx, d.event_seq)
             .limit(bindparam("limit", type_=Integer))
             .with_for_update(of=_DELIVERIES, skip_locked=True))
    insert_deliveries = None
    if not postgres:
        insert_deliveries = (sqlite_insert(_DELIVERIES)
                             .on_conflict_do_nothing(index_elements=["subscription_id", "event_seq"]).returning(d.id))
    return _Statements(
        subscriptions=subscriptions,
        subscriptions_after=subscriptions.where(s.id > param("after", s.id)),
        any_subscription=select(s.id).where(s.enabled.is_(True)).limit(1),
        events=events,
        final_events=events.where(r.tx < param("xmin", r.tx)),
        move_cursor=(update(_SUBSCRIPTIONS).where(s.id == param("subscription", s.id))
                     .values(cursor_tx=param("to_tx", s.cursor_tx), cursor_seq=param("to_seq", s.cursor_seq),
                             start_snapshot=param("snapshot", s.start_snapshot))),
        insert_deliveries=insert_deliveries,
        claim=claim,
        lease=(update(_DELIVERIES).where(among(d.id, "ids"))
               .values(claim=param("claim_id", d.claim), locked_until=param("until", d.locked_until))),
        reset_streaks=(update(_SUBSCRIPTIONS).where(among(s.id, "ids"), s.failure_streak != 0)
                       .values(failure_streak=0)),
        deliver=(update(_DELIVERIES).where(among(d.id, "ids"), d.claim == param("claim_id", d.claim),
                                           d.status == _PENDING)
                 .values(attempt_count=d.attempt_count + 1, status=DeliveryStatus.delivered.value,
                         delivered_at=param("now", d.delivered_at), claim=None, locked_until=None)
                 .returning(d.id, d.attempt_count)),
        insert_attempts=insert(WebhookAttempt.__table__),
    )


_PG_INSERT_DELIVERIES = text("""
INSERT INTO webhook_deliveries (id, subscription_id, event_seq, event_tx, filing_id, status, attempt_count,
                                next_attempt_at, started_at, created_at)
SELECT unnest(CAST(:ids AS uuid[])), :subscription_id, unnest(CAST(:seqs AS bigint[])),
       unnest(CAST(:txs AS bigint[])), unnest(CAST(:filings AS uuid[])), 'pending', 0, :now, :now, :now
ON CONFLICT (subscription_id, event_seq) DO NOTHING
RETURNING id
""")


def _among(session: Session, column, values):
    """``column IN values``; on PostgreSQL ``= ANY(array)``, one parameter whatever the number of values."""
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=PG_ARRAY(column.type)))
    return column.in_(values)


# --- 2. claim -----------------------------------------------------------------------------------------------

def claim_due(factory: sessionmaker[Session], clock: Clock, settings: Settings) -> list[Outgoing]:
    """Lease up to ``webhook_batch_size`` due deliveries, longest due first, each the oldest pending of its
    consignment."""
    with bookkeeping(factory) as session:
        return claim_in(session, clock, settings)


def claim_in(session: Session, clock: Clock, settings: Settings, *, limit: int | None = None) -> list[Outgoing]:
    """:func:`claim_due` in the caller's transaction; at most ``limit`` (default ``webhook_batch_size``)."""
    now, sql, connection = clock.now(), _sql(session), session.connection()
    rows = connection.execute(sql.claim, {"now": now, "limit": limit or settings.webhook_batch_size}).all()
    if not rows:
        return []
    claim = uuid.uuid4()
    connection.execute(sql.lease, {"ids": [r.id for r in rows], "claim_id": claim, "until": now + LEASE})
    return [Outgoing(r.id, claim, r.subscription_id, r.url,
                     signing_secrets(r.secret, r.previous_secret, r.previous_secret_until, now), str(r.event_id),
                     _body(r)) for r in rows]


class _EventRow:
    """The fields of an event as :func:`onewindow.events.feed.event_document` reads them, from a claim row."""

    __slots__ = ("id", "type", "occurred_at", "subject_type", "subject_id", "filing_id", "data", "confidential")

    def __init__(self, row) -> None:
        self.id, self.type, self.occurred_at = row.event_id, row.type, row.occurred_at
        self.subject_type, self.subject_id, self.filing_id = row.subject_type, row.subject_id, row.filing_id
        self.data, self.confidential = row.data, row.confidential


def _body(row) -> str:
    document = payload(_EventRow(row), row.kind)  # type: ignore[arg-type]
    return orjson.dumps(document, default=str).decode()


def renew(factory: sessionmaker[Session], clock: Clock, claims: list[uuid.UUID]) -> None:
    """Extend the leases of ``claims``' deliveries still pending by :data:`LEASE` from now."""
    with bookkeeping(factory) as session:
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.claim.in_(claims), WebhookDelivery.status == _PENDING)
                        .values(locked_until=clock.now() + LEASE).execution_options(synchronize_session=False))


# --- 4. record ----------------------------------------------------------------------------------------------

def record(factory: sessionmaker[Session], clock: Clock, settings: Settings, outcomes: list[Outcome],
           counts: Counts) -> None:
    """Keep every attempt; deliver, reschedule or give up; count the failure streak of each subscription.

    A batch that only succeeded takes four statements: reset the streaks still
    counting, mark the deliveries delivered (returning their attempt numbers),
    insert the attempts, commit.
    """
    with bookkeeping(factory) as session:
        now = clock.now()
        failing = sorted({o.subscription_id for o in outcomes if not o.ok})
        healthy = {o.subscription_id for o in outcomes} - set(failing)
        # Subscriptions are locked before deliveries: the order every other writer follows.
        streaks = {row.id: [row.enabled, row.failure_streak, row.failure_streak] for row in session.execute(
            select(WebhookSubscription.id, WebhookSubscription.enabled, WebhookSubscription.failure_streak)
            .where(WebhookSubscription.id.in_(failing)).order_by(WebhookSubscription.id).with_for_update())
        } if failing else {}
        sql, connection = _sql(session), session.connection()
        if healthy:
            connection.execute(sql.reset_streaks, {"ids": list(healthy)})
        numbers: dict[uuid.UUID, int] = {}  # delivery → this attempt's number
        delivered: set[uuid.UUID] = set()
        for claim in {o.claim for o in outcomes if o.ok}:
            ok = [o.delivery_id for o in outcomes if o.ok and o.claim == claim]
            for row in connection.execute(sql.deliver, {"ids": ok, "claim_id": claim, "now": now}):
                numbers[row.id] = row.attempt_count
                delivered.add(row.id)
        rest = [o.delivery_id for o in outcomes if o.delivery_id not in delivered]
        states = {row.id: row for row in session.execute(_quiet(
            update(WebhookDelivery).where(_among(session, WebhookDelivery.id, rest))
            .values(attempt_count=WebhookDelivery.attempt_count + 1)
            .returning(WebhookDelivery.id, WebhookDelivery.attempt_count, WebhookDelivery.claim,
                       WebhookDelivery.status, WebhookDelivery.started_at)))} if rest else {}
        numbers |= {delivery_id: row.attempt_count for delivery_id, row in states.items()}
        attempts, retries, given_up = [], [], []
        for outcome in outcomes:
            number = numbers.get(outcome.delivery_id)
            if number is None:
                continue  # the subscription was deleted meanwhile
            counts.attempted += 1
            attempts.append({"delivery_id": outcome.delivery_id, "number": number,
                             "attempted_at": outcome.attempted_at, "status_code": outcome.status_code,
                             "latency_ms": outcome.latency_ms, "error": outcome.error})
            sub = streaks.get(outcome.subscription_id)
            if outcome.delivery_id in delivered:
                counts.delivered += 1
                if sub is not None:
                    sub[1] = 0
                continue
            state = states[outcome.delivery_id]
            if state.claim != outcome.claim or state.status != _PENDING or sub is None:
                continue  # redelivered or re-claimed meanwhile: the attempt is kept, the state is not ours to change
            counts.failed_attempts += 1
            sub[1] += 1
            retry_at = next_attempt_at(number, state.started_at, now, settings)
            if retry_at is None:
                given_up.append(outcome.delivery_id)
                counts.given_up += 1
            else:
                retries.append({"key": outcome.delivery_id, "retry_at": retry_at})
        if attempts:
            connection.execute(sql.insert_attempts, attempts)
        if given_up:
            session.execute(_quiet(update(WebhookDelivery).where(_among(session, WebhookDelivery.id, given_up))
                                   .values(status=DeliveryStatus.failed.value, claim=None, locked_until=None)))
        if retries:
            table = WebhookDelivery.__table__
            session.execute(update(table).where(table.c.id == bindparam("key", type_=table.c.id.type))
                            .values(claim=None, locked_until=None,
                                    next_attempt_at=bindparam("retry_at", type_=table.c.next_attempt_at.type)),
                            retries)
        for sub_id, (enabled, streak, old_streak) in streaks.items():
            _count_streak(session, sub_id, enabled, streak, old_streak, now, settings, counts)


def _count_streak(session: Session, sub_id: uuid.UUID, enabled: bool, streak: int, old_streak: int, now: datetime,
                  settings: Settings, counts: Counts) -> None:
    """Store a subscription's new failure streak; disable it when the streak reached the limit."""
    if streak == old_streak:
        return
    values: dict[str, Any] = {"failure_streak": streak}
    if enabled and streak >= settings.webhook_disable_after_failures:
        values |= {"enabled": False, "disabled_at": now, "disabled_reason": f"{streak} consecutive failed attempts"}
        counts.disabled += 1
        log.warning("webhook %s disabled after %d consecutive failed attempts", sub_id, streak)
    session.execute(_quiet(update(WebhookSubscription).where(WebhookSubscription.id == sub_id).values(**values)))


def _quiet(statement):
    """An ORM-enabled UPDATE that leaves the session's objects alone (there are none)."""
    return statement.execution_options(synchronize_session=False)


def next_attempt_at(failures: int, started_at: datetime, now: datetime, settings: Settings,
                    rng: random.Random = _rng) -> datetime | None:
    """When to try again after ``failures`` failed attempts: base × 2^(n-1), capped, half of it jittered;
    never after the give-up age (counted from ``started_at``; one last attempt at it); None once reached."""
    give_up_at = started_at + timedelta(seconds=settings.webhook_give_up_seconds)
    if now >= give_up_at:
        return None
    exponent = min(failures - 1, 60)
    delay = min(settings.webhook_retry_max_seconds, settings.webhook_retry_base_seconds * 2 ** exponent)
    delay = delay / 2 + rng.uniform(0, delay / 2)
    return min(now + timedelta(seconds=delay), give_up_at)
