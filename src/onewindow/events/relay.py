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
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import aiohttp
from aiohttp.payload import BytesPayload
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook
from yarl import URL

from onewindow import __version__
from onewindow.clock import Clock, SystemClock
from onewindow.config import Settings
from onewindow.events.deliveries import (  # noqa: F401 - the relay's names, as before
    EVENTS_PER_SUBSCRIPTION_ROUND, FAN_OUT_PAGE, LEASE, SUBSCRIPTIONS_PER_TRANSACTION, Counts, Outcome, Outgoing,
    _sql, bookkeeping, bookkeeping_factory, claim_due, claim_in, fan_out, fan_out_page, next_attempt_at, record,
    renew,
)
from onewindow.events.service import CHANNEL, on_events_committed
from onewindow.events.webhooks import (
    UrlRefused, subscriptions_generation, vet_url,
)

log = logging.getLogger("onewindow.relay")

MAX_SEND_ROUNDS = 100
"""Batches one pass claims at most (a backlog larger than that goes on in the next pass)."""
BATCHES_IN_FLIGHT = 4
BACKLOG_BATCH_FACTOR = 4
"""While claims come back full (a backlog), each next claim doubles, up to this many times
``webhook_batch_size``; the first claim that is not full goes back to ``webhook_batch_size``."""
PER_WEBHOOK_CONCURRENCY = 16
"""Requests in flight at once to one webhook (a relay sends to many webhooks side by side)."""
RENEW_EVERY = 5.0
"""Seconds between renewals of the leases of deliveries still being sent."""
QUICK_POLL = 0.01
"""Seconds before the next look after a pass that found work; doubling while idle up to the relay interval."""


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
                    batch = await self._next_batch(fresh, counts)
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

    async def _next_batch(self, fresh: bool, counts: Counts) -> list[Outgoing]:
        """A look (:meth:`_look`, on the database thread), unless the relay knows that no subscription is
        enabled (:meth:`idle`): then nothing, without leaving the event loop. A failed look is logged."""
        if self.idle():
            return []
        try:
            return await self._db(self._look, fresh, counts)
        except Exception:  # noqa: BLE001 - logged, tried again after the pause
            log.exception("webhook relay round failed")
            return []

    def idle(self) -> bool:
        """Whether the relay knows, without asking the database, that no subscription is enabled: the
        database said so within the last ``webhook_relay_interval_seconds`` and no subscription of this process
        was created, changed or enabled since. Reads only; safe from any thread."""
        return (self._none_enabled and time.monotonic() < self._known_until
                and subscriptions_generation() == self._known_generation)

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
            none_enabled = session.connection().execute(_sql(session).any_subscription).first() is None
        # written in this order, a reader in another thread (:meth:`idle`) never sees "none" before it is known
        self._none_enabled = False
        self._known_until, self._known_generation = now + self.settings.webhook_relay_interval_seconds, generation
        self._none_enabled = none_enabled
        return none_enabled

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
        self._dispatcher: Dispatcher | None = None
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
        """Wake the relay now (events were committed); safe from any thread. While the relay knows that no
        subscription is enabled (:meth:`Dispatcher.idle`) only the broker sink is woken: such a commit costs the
        relay that check alone (no wake-up, no database thread, no transaction)."""
        if self._sink is not None:
            self._broker_wake.set()
        dispatcher = self._dispatcher
        if dispatcher is not None and dispatcher.idle() and not self._stopping.is_set():
            return
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
                self._dispatcher = dispatcher
                await dispatcher.run(self._wake, self._stopping)
        finally:
            self._dispatcher = None
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
