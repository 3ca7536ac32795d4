"""The message-broker sink: every event published to a RabbitMQ topic exchange, at least once, in order.

Routing keys are ``<event type>.<office>`` (e.g. ``declaration.accepted.0916``,
``container.released.CNDAG``), so a consumer binds to what it needs
(``declaration.*.0916``, ``container.#``). Each message carries the event id as
its ``message_id`` (consumers deduplicate on it), is persistent, and is
confirmed by the broker before the sink's cursor moves; a relay that dies
between the two republishes (duplicates, never losses). Confidential fields
are never published: the exchange is shared.

Only one relay publishes at a time (the cursor row is claimed with ``FOR UPDATE
SKIP LOCKED``; the others skip), which keeps the order. Kafka or NATS would be
further implementations of the same ``publish`` method (see docs/operations.md).
"""

from __future__ import annotations

import asyncio

import aio_pika
import orjson
from pamqp.commands import Basic
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from onewindow.context import Context
from onewindow.sql import after_in_log
from onewindow.events.feed import event_document, horizon
from onewindow.models import Event, SinkCursor


class RabbitMQSink:
    """A publisher with its own event loop (uvloop's where installed) and a robust connection, usable from a
    plain thread."""

    name = "rabbitmq"

    def __init__(self, url: str, exchange: str = "onewindow.events") -> None:
        from onewindow.events.relay import event_loop_factory

        self.url, self.exchange_name = url, exchange
        self._loop = (event_loop_factory() or asyncio.new_event_loop)()
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractRobustChannel | None = None

    def publish(self, messages: list[tuple[str, str, bytes]]) -> None:
        """Publish (message id, routing key, body) triples; returns once the broker confirmed them all (raises
        when it refused one)."""
        self._loop.run_until_complete(self._publish(messages))

    async def _publish(self, messages: list[tuple[str, str, bytes]]) -> None:
        if self._channel is None:
            self._connection = await aio_pika.connect_robust(self.url, timeout=10)
            self._channel = await self._connection.channel(publisher_confirms=True)
            await self._channel.declare_exchange(self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        # The channel aio-pika keeps under the robust one (re-opened after a reconnection): its basic_publish
        # takes the AMQP properties as they are, without a Message object a message.
        channel = await self._channel.get_underlay_channel()
        await asyncio.gather(*(channel.basic_publish(
            body, exchange=self.exchange_name, routing_key=key, mandatory=True,
            properties=Basic.Properties(message_id=message_id, content_type="application/json",
                                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT.value))
            for message_id, key, body in messages))

    def close(self) -> None:
        if self._connection is not None:
            self._loop.run_until_complete(self._connection.close())
        self._loop.close()


def routing_key(event) -> str:
    """``<type>.<office>``: the declaration's office, else the port, else ``platform``."""
    data = event.data or {}
    return f"{event.type}.{data.get('office') or data.get('port') or 'platform'}"


def message(event) -> tuple[str, str, bytes]:
    """(message id, routing key, body) of an event (an :class:`Event` or a row with its columns)."""
    body = event_document(event, confidential=False)  # the exchange is shared: never confidential fields
    return str(event.id), routing_key(event), orjson.dumps(body, default=str)


def _claim(ctx: Context, name: str) -> SinkCursor | None:
    """The sink's cursor row, locked for this transaction; None when another relay holds it."""
    insert = pg_insert if ctx.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    ctx.session.execute(insert(SinkCursor).values(name=name, tx=0, seq=0, published=0).on_conflict_do_nothing())
    return ctx.session.scalar(select(SinkCursor).where(SinkCursor.name == name)
                              .with_for_update(skip_locked=True).execution_options(populate_existing=True))


def publish_pending(ctx: Context, sink, *, batch: int = 1000) -> int:
    """Publish the next events after the sink's cursor (final ones only) and move the cursor; returns how many."""
    cursor = _claim(ctx, sink.name)
    if cursor is None:
        return 0
    query = (select(Event.tx, Event.seq, Event.id, Event.type, Event.occurred_at, Event.subject_type,
                    Event.subject_id, Event.filing_id, Event.data)
             .where(after_in_log(Event.tx, Event.seq, cursor.tx, cursor.seq)))
    if (xmin := horizon(ctx)) is not None:
        query = query.where(Event.tx < xmin)
    events = ctx.session.execute(query.order_by(Event.tx, Event.seq).limit(batch)).all()
    if not events:
        return 0
    sink.publish([message(e) for e in events])
    ctx.session.execute(update(SinkCursor).where(SinkCursor.name == sink.name).values(
        tx=events[-1].tx, seq=events[-1].seq, published=SinkCursor.published + len(events), updated_at=ctx.now()))
    return len(events)


def publish_all(factory, clock, settings, sink, *, rounds: int = 20) -> int:
    """Publish everything final after the sink's cursor, batch by batch (bounded); returns how many."""
    from onewindow.events.relay import bookkeeping

    total = 0
    for _ in range(rounds):
        with bookkeeping(factory) as session:
            done = publish_pending(Context(session=session, clock=clock, settings=settings), sink)
        total += done
        if not done:
            break
    return total
