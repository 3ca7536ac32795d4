"""The broker sink against a real RabbitMQ: every event once, in order, with its id, routed by type and office."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import aio_pika
import pytest

from onewindow.events.broker import RabbitMQSink, publish_pending
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
API = "/api/v1"


def publish_until(run, sink, expect: int, batch: int = 500) -> list[int]:
    """Publish until ``expect`` events went out; the counts of each round that published something.

    On PostgreSQL the relay waits for older transactions of the whole server (other test databases
    included) before it may publish an event, so a round can publish nothing yet.
    """
    rounds, deadline = [], time.monotonic() + 20
    while sum(rounds) < expect and time.monotonic() < deadline:
        if n := run(lambda ctx: publish_pending(ctx, sink, batch=batch)):
            rounds.append(n)
        else:
            time.sleep(0.05)
    return rounds


@pytest.fixture
def exchange() -> str:
    return f"onewindow.test.{uuid.uuid4().hex[:12]}"


class Listener:
    """Queues bound to the exchange before anything is published, read back afterwards."""

    def __init__(self, url: str, exchange: str, bindings: dict[str, str]) -> None:
        self.loop = asyncio.new_event_loop()
        self.url, self.exchange, self.bindings = url, exchange, bindings
        self.loop.run_until_complete(self._setup())

    async def _setup(self) -> None:
        self.connection = await aio_pika.connect_robust(self.url)
        channel = await self.connection.channel()
        ex = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        self.queues = {}
        for name, key in self.bindings.items():
            queue = await channel.declare_queue(exclusive=True, auto_delete=True)
            await queue.bind(ex, routing_key=key)
            self.queues[name] = queue

    def drain(self, name: str) -> list:
        async def go():
            out = []
            while (msg := await self.queues[name].get(no_ack=True, fail=False, timeout=5)) is not None:
                out.append(msg)
            return out
        return self.loop.run_until_complete(go())

    def close(self) -> None:
        self.loop.run_until_complete(self.connection.close())
        self.loop.close()


def test_events_are_published_once_in_order_with_routing_keys(client, world, run, rabbitmq_url, exchange):
    listener = Listener(rabbitmq_url, exchange, {"all": "#", "customs": "declaration.*.0916"})
    sink = RabbitMQSink(rabbitmq_url, exchange)
    try:
        for seed in (1, 2):
            filing = client.post(f"{API}/filings", json=sample_entry(seed=seed), headers=world.headers(ENT)).json()
            client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT))
        rounds = publish_until(run, sink, 6, batch=4)
        assert sum(rounds) == 6 and max(rounds) <= 4
        assert run(lambda ctx: publish_pending(ctx, sink)) == 0  # the cursor has moved past everything
        everything = listener.drain("all")
        customs = listener.drain("customs")
    finally:
        sink.close()
        listener.close()
    bodies = [json.loads(m.body) for m in everything]
    assert [b["type"] for b in bodies] == ["filing.created", "declaration.submitted", "declaration.submitted"] * 2
    assert [m.message_id for m in everything] == [b["id"] for b in bodies]
    assert len({b["id"] for b in bodies}) == 6
    assert all(m.delivery_mode == aio_pika.DeliveryMode.PERSISTENT for m in everything)
    assert [(m.routing_key, json.loads(m.body)["data"]["agency"]) for m in customs] == [
        ("declaration.submitted.0916", "customs")] * 2


def test_confidential_fields_are_never_published(client, world, run, rabbitmq_url, exchange):
    listener = Listener(rabbitmq_url, exchange, {"all": "#"})
    sink = RabbitMQSink(rabbitmq_url, exchange)
    try:
        entry = sample_entry(seed=5)
        filing = client.post(f"{API}/filings", json=entry, headers=world.headers(ENT)).json()
        client.post(f"{API}/filings/{filing['id']}/submit", headers=world.headers(ENT))
        customs = next(d["id"] for d in filing["declarations"] if d["agency"] == "customs")
        client.post(f"{API}/declarations/{customs}/accept", headers=world.headers("0916"))
        client.post(f"{API}/declarations/{customs}/decision", headers=world.headers("0916"),
                    json={"inspect": True, "containers": [entry["containers"][0]["number"]], "kind": "physical",
                          "reason": "secret rule R-99"})
        publish_until(run, sink, 5)
        everything = listener.drain("all")
    finally:
        sink.close()
        listener.close()
    assert "inspection.decided" in [json.loads(m.body)["type"] for m in everything]
    assert all(b"R-99" not in m.body for m in everything)


def test_an_unreachable_broker_moves_no_cursor(client, world, run, exchange):
    sink = RabbitMQSink("amqp://guest:guest@127.0.0.1:1/", exchange)
    client.post(f"{API}/filings", json=sample_entry(seed=7), headers=world.headers(ENT))
    raised, deadline = None, time.monotonic() + 20
    while raised is None and time.monotonic() < deadline:  # until the event is final and a publish is tried
        try:
            run(lambda ctx: publish_pending(ctx, sink))
            time.sleep(0.05)
        except Exception as error:  # noqa: BLE001 - whatever the connection error, nothing is marked published
            raised = error
    assert raised is not None
    from onewindow.models import SinkCursor

    cursor = run(lambda ctx: ctx.session.get(SinkCursor, "rabbitmq"))
    assert cursor is None or (cursor.tx, cursor.seq, cursor.published) == (0, 0, 0)  # nothing marked published
    sink.close()


def test_the_relay_thread_publishes_when_a_broker_is_configured(client, world, db, clock, settings,
                                                                 rabbitmq_url, exchange):
    from onewindow.db import make_session_factory
    from onewindow.events.relay import Relay

    listener = Listener(rabbitmq_url, exchange, {"all": "#"})
    configured = settings.model_copy(update={"broker_url": rabbitmq_url, "broker_exchange": exchange,
                                             "webhook_relay_interval_seconds": 0.05})
    relay = Relay(make_session_factory(db), clock, configured)
    relay.start()
    try:
        client.post(f"{API}/filings", json=sample_entry(seed=9), headers=world.headers(ENT))
        received, deadline = [], time.monotonic() + 20
        while not received and time.monotonic() < deadline:
            received = listener.drain("all")
    finally:
        relay.stop()
        listener.close()
    assert [json.loads(m.body)["type"] for m in received] == ["filing.created"]
