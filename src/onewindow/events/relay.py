"""The webhook relay: events become deliveries, deliveries become signed HTTP requests.

A relay (:meth:`Dispatcher.run` in the :class:`Relay` thread, or one
:meth:`Dispatcher.drain` for :func:`run_relay_once`) does, in short
transactions on two database threads of its own (one fans out, claims and
renews leases; the other records attempts, so a claim never waits for a
record) while the requests go out on its event loop (uvloop's):

1. **Fan-out.** For every enabled subscription (claimed ``FOR UPDATE SKIP
   LOCKED``, so two relays never fan out the same one), the events its
   organisation receives after the subscription's cursor, in feed order (tx,
   seq), become one delivery each when the type matches (one bulk insert a page);
   the cursor moves on. Only final events are read: on PostgreSQL those of
   transactions older than every one still running in the database, whose
   events could otherwise appear later with a lower sequence.
2. **Claim** (in the fan-out's transaction). Due deliveries of enabled
   subscriptions, longest due first and then in feed order (the order of the
   due index, so a claim reads no more rows than it takes), are leased
   together (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite has one
   writer), skipping any delivery while an earlier one of the same
   subscription and the same filing is still pending, so each consignment's
   events arrive in order. The next batch is claimed while the previous one is
   being sent (at most :data:`BATCHES_IN_FLIGHT` at once); while claims come
   back full, they grow (:func:`next_batch_size`).
3. **Send.** With aiohttp, over keep-alive connections kept for the relay's
   life, at most :data:`PER_WEBHOOK_CONCURRENCY` requests at once to one
   webhook, signed per Standard Webhooks; nothing is held open in the database
   meanwhile. The leases of deliveries being sent are renewed every
   :data:`RENEW_EVERY`, so a lease can be short (:data:`LEASE`).
4. **Record.** Every attempt is kept (status code, latency, error, time), in
   bulk; a 2xx delivers, anything else is retried with exponential backoff and
   jitter until the give-up age; a subscription is disabled after a streak of
   failures.

A relay that dies mid-send stops renewing its leases; they expire within
:data:`LEASE` and another relay sends again: receivers deduplicate on
``webhook-id`` (the event id). Any number of relays may run side by side
(:class:`Relay` in ``onewindow serve`` or ``onewindow worker``). A relay wakes
as soon as events are committed (in its own process, and on PostgreSQL in any
process through ``LISTEN``), otherwise every ``webhook_relay_interval_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import aiohttp
import orjson
from aiohttp.payload import BytesPayload
from sqlalchemy import (
    Engine, Integer, any_, bindparam, create_engine, exists, insert, or_, select, text, tuple_, update,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from yarl import URL

from onewindow import __version__
from onewindow.clock import Clock, SystemClock
from onewindow.config import Settings
from onewindow.db import make_session_factory, unit_of_work
from onewindow.events.feed import BOOKKEEPING_APPLICATION, session_horizon
from onewindow.events.service import CHANNEL, on_events_committed
from onewindow.events.webhooks import (
    UrlRefused, committed_before, matches, payload, signing_secrets, subscriptions_generation, vet_url,
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
MAX_SEND_ROUNDS = 100
"""Batches one pass claims at most (a backlog larger than that goes on in the next pass)."""
BATCHES_IN_FLIGHT = 4
BACKLOG_BATCH_FACTOR = 4
"""While claims come back full (a backlog), each next claim doubles, up to this many times
``webhook_batch_size``; the first claim that is not full goes back to ``webhook_batch_size``."""
PER_WEBHOOK_CONCURRENCY = 16
"""Requests in flight at once to one webhook (a relay sends to many webhooks side by side)."""
LEASE = timedelta(seconds=15)
"""How long a claim lasts unless renewed: a crashed relay's deliveries are sent again this much later at most."""
RENEW_EVERY = 5.0
"""Seconds between renewals of the leases of deliveries still being sent."""
QUICK_POLL = 0.01
"""Seconds before the next look after a pass that found work; doubling while idle up to the relay interval."""
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


def run_relay_once(factory: sessionmaker[Session], clock: Clock, settings: Settings, *,
                   signing_clock: Clock | None = None) -> dict[str, int]:
    """Fan out new events, then send due deliveries until none is left (bounded); returns counts.

    ``clock`` schedules (due times, backoff, give-up age, attempt times);
    ``signing_clock`` (the real time by default) stamps ``webhook-timestamp``,
    which receivers compare with their own clock.
    """

    async def once() -> Counts:
        async with Dispatcher(factory, clock, settings, signing_clock=signing_clock) as dispatcher:
            return await dispatcher.drain()

    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(once()).as_dict()


def next_batch_size(size: int, claimed: int, base: int) -> int:
    """The size of the next claim after one of ``size`` that got ``claimed`` deliveries: twice as many while
    claims come back full (up to ``BACKLOG_BATCH_FACTOR`` × ``base``), else ``base`` again. Fewer, bigger
    batches spread each batch's fixed cost (statements, commit, its coroutines) while a backlog drains."""
    return min(size * 2, base * BACKLOG_BATCH_FACTOR) if claimed >= size else base


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop where it is installed (cheaper per request than asyncio's), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency wherever it builds
        return None
    return uvloop.new_event_loop


class Dispatcher:
    """One relay's sending machinery: a database thread, an HTTP session with keep-alive connections, the
    per-webhook gates and the leases in flight. Use as ``async with``; :meth:`drain` as often as needed."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, settings: Settings, *,
                 signing_clock: Clock | None = None) -> None:
        self.factory, self._close_factory = bookkeeping_factory(factory)
        self.clock, self.settings = clock, settings
        self.signing_clock = signing_clock or SystemClock()
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onewindow-relay-db")
        self._record_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="onewindow-relay-record")
        self._gates: dict[uuid.UUID, asyncio.Semaphore] = {}
        self._signers: dict[str, Webhook] = {}
        self._batch_size = settings.webhook_batch_size
        self._claims: dict[uuid.UUID, int] = {}  # claims being sent → their deliveries not yet recorded
        self._http: aiohttp.ClientSession | None = None
        self._renewer: asyncio.Task | None = None
        self._timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
        self._none_enabled, self._known_until, self._known_generation = False, 0.0, -1

    async def __aenter__(self) -> Dispatcher:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=PER_WEBHOOK_CONCURRENCY, use_dns_cache=False,
                                         keepalive_timeout=30)
        self._http = aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False,
                                           skip_auto_headers=("Accept-Encoding",), cookie_jar=aiohttp.DummyCookieJar())
        self._renewer = asyncio.create_task(self._renew_leases())
        return self

    async def __aexit__(self, *_exc) -> None:
        self._renewer.cancel()
        await asyncio.gather(self._renewer, return_exceptions=True)
        await self._http.close()
        self._db_thread.shutdown(wait=True)
        self._record_thread.shutdown(wait=True)
        self._close_factory()

    async def _db(self, fn: Callable[..., Any], *args) -> Any:
        """Run ``fn`` on the thread that fans out, claims and renews."""
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)

    async def _record(self, outcomes: list[Outcome], counts: Counts) -> None:
        """Record a batch's attempts on a thread of their own, so that the next claim need not wait for them."""
        await asyncio.get_running_loop().run_in_executor(self._record_thread, record, self.factory, self.clock,
                                                         self.settings, outcomes, counts)

    async def drain(self) -> Counts:
        """Fan out, then claim, send and record batches until nothing is due (at most ``MAX_SEND_ROUNDS``)."""
        counts, fresh = Counts(), True
        in_flight: set[asyncio.Task] = set()
        rounds = 0
        try:
            while True:
                if len(in_flight) < BATCHES_IN_FLIGHT and rounds < MAX_SEND_ROUNDS:
                    batch = await self._db(self._look, fresh, counts)
                    fresh = False
                    if batch:
                        rounds += 1
                        in_flight.add(self._start(batch, counts))
                        continue
                if not in_flight:
                    return counts
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
        finally:
            if in_flight:
                await asyncio.gather(*in_flight, return_exceptions=True)

    async def run(self, wake: asyncio.Event, stopping: threading.Event) -> None:
        """Relay until ``stopping`` is set, as a pipeline: whenever fewer than ``BATCHES_IN_FLIGHT`` batches are
        out, fan out (when ``wake`` was set, or the pause ran out) and claim the next batch; else wait for
        ``wake``, a batch's end (which may free the next event of its consignments) or the pause, which
        doubles while nothing happens, from ``QUICK_POLL`` up to ``webhook_relay_interval_seconds``."""
        interval = self.settings.webhook_relay_interval_seconds
        pause, fresh, counts = min(QUICK_POLL, interval), True, Counts()
        in_flight: set[asyncio.Task] = set()
        waker: asyncio.Task | None = None
        try:
            while not stopping.is_set():
                if len(in_flight) < BATCHES_IN_FLIGHT:
                    fresh = fresh or wake.is_set()  # a commit during the last look: fan out in this one
                    wake.clear()
                    try:
                        batch = await self._db(self._look, fresh, counts)
                    except Exception:  # noqa: BLE001 - logged, tried again after the pause
                        log.exception("webhook relay round failed")
                        batch = []
                    fresh = False
                    if batch:
                        in_flight.add(self._start(batch, counts))
                        pause = min(QUICK_POLL, interval)
                        continue
                if waker is None or waker.done():
                    waker = asyncio.create_task(wake.wait())
                done, _ = await asyncio.wait(in_flight | {waker}, timeout=pause, return_when=asyncio.FIRST_COMPLETED)
                for task in done & in_flight:
                    in_flight.discard(task)
                    if task.exception() is not None:
                        log.error("recording webhook attempts failed", exc_info=task.exception())
                fresh = waker in done or not done
                if not done:
                    pause = min(pause * 2, interval)
        finally:
            if waker is not None:
                waker.cancel()
            await asyncio.gather(*in_flight, return_exceptions=True)

    def _look(self, fresh: bool, counts: Counts) -> list[Outgoing]:
        """(On the database thread) fan out when ``fresh``, then claim a batch: the first page of subscriptions
        and the claim in one transaction, any further pages after it."""
        if self._no_subscriptions():
            return []  # nothing to fan out to, nothing to claim
        more = None
        with bookkeeping(self.factory) as session:
            if fresh:
                made, more = fan_out_page(session, self.clock, None)
                counts.fanned_out += made
            batch = claim_in(session, self.clock, self.settings, limit=self._batch_size)
        if more is not None:
            counts.fanned_out += fan_out(self.factory, self.clock, self.settings, after=more)
        self._batch_size = next_batch_size(self._batch_size, len(batch), self.settings.webhook_batch_size)
        return batch

    def _no_subscriptions(self) -> bool:
        """(On the database thread) whether no subscription is enabled, asked of the database at most once per
        ``webhook_relay_interval_seconds`` and again at once after a subscription of this process was created,
        changed or enabled: without one, a commit needs no look (on SQLite a look is a write transaction)."""
        now, generation = time.monotonic(), subscriptions_generation()
        if now < self._known_until and generation == self._known_generation:
            return self._none_enabled
        with bookkeeping(self.factory) as session:
            self._none_enabled = session.connection().execute(_sql(session).any_subscription).first() is None
        self._known_until = now + self.settings.webhook_relay_interval_seconds
        self._known_generation = generation
        return self._none_enabled

    def _start(self, batch: list[Outgoing], counts: Counts) -> asyncio.Task:
        self._claims[batch[0].claim] = len(batch)
        return asyncio.create_task(self._deliver(batch, counts))

    async def _deliver(self, batch: list[Outgoing], counts: Counts) -> None:
        try:
            outcomes = await self.send_all(batch)
            await self._record(outcomes, counts)
        finally:
            self._claims.pop(batch[0].claim, None)

    async def send_all(self, outgoing: list[Outgoing]) -> list[Outcome]:
        """POST every claimed delivery, up to ``PER_WEBHOOK_CONCURRENCY`` at once per webhook; one
        :class:`Outcome` each, in the same order. Each URL is vetted once for the batch.

        Each webhook's deliveries are sent by at most ``PER_WEBHOOK_CONCURRENCY`` coroutines taking them in
        turn (not a task per delivery), each request under the webhook's gate, which the batches in flight
        share."""
        targets: dict[str, _Target | UrlRefused] = {}
        for url in {o.url for o in outgoing}:
            try:
                targets[url] = _Target.of(url, await asyncio.to_thread(vet_url, url, self.settings))
            except UrlRefused as refused:
                targets[url] = refused
        outcomes: list[Outcome | None] = [None] * len(outgoing)
        queues: dict[uuid.UUID, deque[int]] = {}
        for index, out in enumerate(outgoing):
            queues.setdefault(out.subscription_id, deque()).append(index)

        async def sender(gate: asyncio.Semaphore, queue: deque[int]) -> None:
            while queue:
                index = queue.popleft()
                out = outgoing[index]
                async with gate:
                    outcomes[index] = await self._send(out, targets[out.url])

        await asyncio.gather(*(sender(self._gate(subscription_id), queue) for subscription_id, queue in queues.items()
                               for _ in range(min(PER_WEBHOOK_CONCURRENCY, len(queue)))))
        return outcomes  # type: ignore[return-value] - every index was sent

    def _gate(self, subscription_id: uuid.UUID) -> asyncio.Semaphore:
        gate = self._gates.get(subscription_id)
        if gate is None:
            gate = self._gates[subscription_id] = asyncio.Semaphore(PER_WEBHOOK_CONCURRENCY)
        return gate

    async def _send(self, out: Outgoing, target: _Target | UrlRefused) -> Outcome:
        attempted_at, started = self.clock.now(), time.perf_counter()
        status_code, error = None, None
        try:
            if isinstance(target, UrlRefused):
                raise target
            status_code, error = await self._post(out, target)
        except UrlRefused as refused:
            error = f"refused: {refused}"
        except TimeoutError:
            error = f"no answer within {self.settings.webhook_timeout_seconds:g} s"
        except aiohttp.ClientConnectorError as exc:
            error = f"ConnectError: {exc.os_error.strerror or exc.os_error}"
        except (aiohttp.ClientError, ValueError) as exc:
            error = f"{exc.__class__.__name__}: {exc}".rstrip(": ")
        latency = round((time.perf_counter() - started) * 1000)
        return Outcome(out.delivery_id, out.claim, out.subscription_id, attempted_at, status_code, latency,
                       error[:500] if error else None)

    def _signer(self, secret: str) -> Webhook:
        signer = self._signers.get(secret)
        if signer is None:
            signer = self._signers[secret] = Webhook(secret)
        return signer

    async def _post(self, out: Outgoing, target: _Target) -> tuple[int, str | None]:
        stamp = self.signing_clock.now().astimezone(UTC)
        signatures = " ".join(self._signer(secret).sign(out.message_id, stamp, out.body) for secret in out.secrets)
        headers = {**target.headers, "webhook-id": out.message_id, "webhook-timestamp": str(int(stamp.timestamp())),
                   "webhook-signature": signatures}
        async with self._http.post(target.url, data=BytesPayload(out.body.encode()), headers=headers,
                                   allow_redirects=False, timeout=self._timeout) as response:
            start = await response.content.read(4096)  # read to the end when small: the connection is kept
            if 200 <= response.status < 300:
                return response.status, None
            text = start[:200].decode("utf-8", "replace").strip()
            return response.status, f"HTTP {response.status}" + (f": {' '.join(text.split())}" if text else "")

    async def _renew_leases(self) -> None:
        """Every ``RENEW_EVERY`` seconds, extend the leases of the claims still being sent."""
        while True:
            await asyncio.sleep(RENEW_EVERY)
            if self._claims:
                try:
                    await self._db(renew, self.factory, self.clock, list(self._claims))
                except Exception:  # noqa: BLE001 - a missed renewal at worst lets another relay send again
                    log.exception("renewing webhook leases failed")


@dataclass(frozen=True)
class _Target:
    """Where a batch's requests to one webhook URL go, and the headers they all carry."""

    url: URL
    headers: dict[str, str]

    @classmethod
    def of(cls, url: str, addresses: list[str]) -> _Target:
        """For plain http, connect to the address just vetted (no second look-up to rebind); https keeps the
        name, where the certificate check refuses a host that is not the one named."""
        parsed = URL(url)
        headers = {"content-type": "application/json", "user-agent": f"OneWindow-Webhooks/{__version__}"}
        if parsed.scheme != "http" or not addresses or parsed.host == addresses[0]:
            return cls(parsed, headers)
        host = parsed.host if parsed.explicit_port is None else f"{parsed.host}:{parsed.explicit_port}"
        return cls(parsed.with_host(addresses[0].split("%")[0]), {"host": host, **headers})


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
                     tuple_(r.tx, r.event_seq) > tuple_(param("after_tx", r.tx), param("after_seq", r.event_seq)))
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


# --- the background thread ----------------------------------------------------------------------------------

class Relay:
    """Runs :meth:`Dispatcher.run` in a daemon thread until :meth:`stop`: it looks at once when events are
    committed, soon again while it finds work, else every ``webhook_relay_interval_seconds``. Publishes to the
    broker (when one is configured) in a second thread woken the same way."""

    def __init__(self, factory: sessionmaker[Session], clock: Clock, settings: Settings) -> None:
        self._factory, self._clock, self._settings = factory, clock, settings
        self._sink = None
        if settings.broker_url:
            from onewindow.events.broker import RabbitMQSink

            self._sink = RabbitMQSink(settings.broker_url, settings.broker_exchange)
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._broker_wake = threading.Event()
        self._threads = [threading.Thread(target=self._run, name="onewindow-relay", daemon=True)]
        if self._sink is not None:
            self._threads.append(threading.Thread(target=self._publish_loop, name="onewindow-broker", daemon=True))
        self._stop_listening = on_events_committed(self.poke)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30) -> None:
        self._stopping.set()
        self._stop_listening()
        self.poke()
        for thread in self._threads:
            thread.join(timeout)
        if self._sink is not None and not self._threads[-1].is_alive():
            self._sink.close()

    def poke(self) -> None:
        """Wake the relay now (events were committed); safe from any thread."""
        self._broker_wake.set()
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:  # the loop closed meanwhile
                pass

    def _run(self) -> None:
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            runner.run(self._main())

    async def _main(self) -> None:
        self._wake, self._loop = asyncio.Event(), asyncio.get_running_loop()
        listener = asyncio.create_task(self._listen()) if self._postgres() else None
        try:
            async with Dispatcher(self._factory, self._clock, self._settings) as dispatcher:
                await dispatcher.run(self._wake, self._stopping)
        finally:
            if listener is not None:
                listener.cancel()
                await asyncio.gather(listener, return_exceptions=True)

    def _postgres(self) -> bool:
        return self._factory.kw["bind"].dialect.name == "postgresql"

    async def _listen(self) -> None:
        """``LISTEN`` for commits of events in any process (PostgreSQL); reconnects after a failure."""
        import psycopg

        url = self._factory.kw["bind"].url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    async for _ in conn.notifies():
                        self.poke()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - without notifications the relay polls; try again later
                log.warning("listening for events failed (%s); retrying in 5 s", error)
                await asyncio.sleep(5)

    def _publish_loop(self) -> None:
        """Publish new events to the broker (the cursor moves only after the broker confirmed them)."""
        from onewindow.events.broker import publish_all

        interval = self._settings.webhook_relay_interval_seconds
        pause = min(QUICK_POLL, interval)
        while not self._stopping.is_set():
            self._broker_wake.clear()
            published = 0
            try:
                if published := publish_all(self._factory, self._clock, self._settings, self._sink):
                    log.debug("broker: published %d events", published)
            except Exception:  # noqa: BLE001 - the broker may be down: nothing moved, tried again next round
                log.exception("publishing to the broker failed")
            pause = min(QUICK_POLL, interval) if published else min(pause * 2, interval)
            self._broker_wake.wait(pause)
