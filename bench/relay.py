"""Webhook relay throughput, commit-to-delivery latency, and RabbitMQ publishing rate.

A fresh database with the parties of bench/filings.py, one webhook
subscription of the enterprise (every event type) to a receiver on 127.0.0.1
(bench/receiver.py in a process of its own, answering 200 and noting when each
webhook-id first arrived). The relay is the production one: a ``Relay``
thread with the default settings (batches of 250 growing to 1,000 while a
backlog drains, 16 requests in flight per webhook, relay interval 1 s), in
this process.

1. Throughput: N events for the enterprise are committed (``record_event``,
   100 per transaction, not timed), then a ``Relay`` starts; delivered
   events/s = N / time until the receiver has every one, and the CPU time of
   this process (the relay; the receiver has its own) per event meanwhile.
2. Latency: while that relay runs, ``--writers`` threads commit events at a
   steady offered rate, ``--per-tx`` to a transaction: on SQLite in the
   relay's process (as requests of ``onewindow serve`` beside its embedded
   relay: SQLite is the one-process deployment), on PostgreSQL in another
   process (API processes beside a relay of its own, as ``onewindow
   worker``); latency = first arrival at the receiver minus the moment the
   event's commit returned (and, as a second figure, minus its
   ``occurred_at``, taken before the commit).
3. Broker: every event of the database published to RabbitMQ (a fresh topic
   exchange with a durable queue bound to it, as a consumer's) with
   ``publish_all``: events/s, broker confirms included; exchange and queue
   are deleted afterwards.

The load average at the start and end of each database's run is printed;
the database is dropped at the end.

    python bench/relay.py [--db sqlite postgresql] [--events 5000] [--rate 2000] [--per-tx 10] [--seconds 10]
                          [--writers 4] [--no-broker]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import threading
import time
import uuid
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from common import drop_database, fresh_database, machine, summary  # noqa: E402
from filings import prepare  # noqa: E402
from receiver import RemoteReceiver  # noqa: E402

from onewindow.clock import SystemClock  # noqa: E402
from onewindow.config import Settings  # noqa: E402
from onewindow.context import Context  # noqa: E402
from onewindow.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from onewindow.events.relay import Relay  # noqa: E402
from onewindow.events.service import record_event  # noqa: E402
from onewindow.events.webhooks import create_subscription  # noqa: E402
from onewindow.parties.service import actor_for  # noqa: E402

ENTERPRISE = "91210200MA0QK1P3AF"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


async def consumer_queue(exchange: str, delete: bool = False) -> None:
    """A durable queue bound to every routing key of ``exchange`` (as a consumer's would be: the broker stores
    each message, and none comes back unroutable); with ``delete``, remove both."""
    import aio_pika

    connection = await aio_pika.connect(RABBITMQ_URL)
    channel = await connection.channel()
    if delete:
        await channel.queue_delete(exchange)
        await channel.exchange_delete(exchange)
    else:
        declared = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exchange, durable=True)
        await queue.bind(declared, "#")
    await connection.close()


def emit(factory, settings: Settings, recipient: uuid.UUID, n: int) -> dict[str, tuple[float, float]]:
    """Commit ``n`` events for ``recipient`` in one transaction; their ids → (occurred_at, when the commit
    returned), epoch seconds."""
    with unit_of_work(factory) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=settings)
        events = [record_event(ctx, "filing.updated", subject_type="filing", subject_id=uuid.uuid4(),
                               recipients=[recipient], data={"n": i, "port": "CNDAG"}) for i in range(n)]
    committed = time.time()
    return {str(e.id): (e.occurred_at.timestamp(), committed) for e in events}


def generate(url: str, recipient: str, rate: float, per_tx: int, seconds: float, writers: int,
             ready=None) -> tuple[dict[str, tuple[float, float]], float]:
    """``rate`` events/s for ``seconds`` from ``writers`` threads, ``per_tx`` events to a transaction; the events'
    ids → (occurred_at, committed), and the rate achieved. Waits for ``ready()`` (if given) before it starts."""
    settings = Settings(database_url=url, embedded_scheduler=False)
    engine = make_engine(url, pool_size=writers)
    factory = make_session_factory(engine)
    written: dict[str, tuple[float, float]] = {}
    transactions = int(rate * seconds / per_tx)
    if ready is not None:
        ready()
    begin = time.perf_counter()

    def writer(first: int) -> None:
        for i in range(first, transactions, writers):
            delay = begin + i * per_tx / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            written.update(emit(factory, settings, uuid.UUID(recipient), per_tx))

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    achieved = len(written) / (time.perf_counter() - begin)
    engine.dispose()
    return written, achieved


def _generate_in_process(conn, *args) -> None:
    conn.send(generate(*args, ready=conn.recv))


class Generator:
    """The latency phase's writers: threads of this process (as requests of ``onewindow serve`` beside its
    embedded relay), or another process (as other API processes beside a relay)."""

    def __init__(self, separate: bool, *args) -> None:
        self.args, self.separate = args, separate
        if separate:
            self.conn, child = multiprocessing.Pipe()
            self.process = multiprocessing.Process(target=_generate_in_process, args=(child, *args), daemon=True)
            self.process.start()

    def run(self) -> tuple[dict[str, tuple[float, float]], float]:
        if not self.separate:
            return generate(*self.args)
        self.conn.send("go")
        out = self.conn.recv()
        self.process.join(10)
        return out


def run(kind: str, n: int, rate: float, per_tx: int, seconds: float, writers: int, broker: bool) -> dict:
    url = fresh_database(kind, "onewindow_bench_relay")
    _token, offices = prepare(url)
    enterprise = uuid.UUID(offices["enterprise"])
    receiver = RemoteReceiver()
    settings = Settings(database_url=url, webhook_allowed_hosts=["127.0.0.1"], embedded_scheduler=False)
    engine = make_engine(url, pool_size=4)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=settings)
        ctx = Context(session=session, clock=SystemClock(), settings=settings, actor=actor_for(ctx, ENTERPRISE))
        create_subscription(ctx, receiver.url, None)
    result: dict = {"database": kind, "events": n, "load": os.getloadavg()[0]}
    generator = Generator(kind == "postgresql", url, str(enterprise), rate, per_tx, seconds, writers)

    # 1. throughput: a backlog of n events, drained by a relay
    ids: dict[str, tuple[float, float]] = {}
    for start in range(0, n, 100):
        ids |= emit(factory, settings, enterprise, min(100, n - start))
    relay = Relay(factory, SystemClock(), settings)
    t0, cpu0 = time.perf_counter(), time.process_time()
    relay.start()
    while receiver.count() < n:
        time.sleep(0.01)
        if time.perf_counter() - t0 > 300:
            raise RuntimeError(f"only {receiver.count()} of {n} events delivered in 300 s")
    took, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    result |= {"relay_events_per_s": round(n / took, 1), "relay_seconds": round(took, 2),
               "relay_cpu_us": round(cpu / n * 1e6)}

    # 2. latency: events committed at a steady rate while the relay runs
    steady, achieved = generator.run()
    deadline = time.monotonic() + 60
    while receiver.count() < n + len(steady) and time.monotonic() < deadline:
        time.sleep(0.05)
    relay.stop()
    arrivals = receiver.arrivals()
    missing = [i for i in steady if i not in arrivals]
    from_commit = [arrivals[i] - committed for i, (_occurred, committed) in steady.items() if i in arrivals]
    from_occurred = [arrivals[i] - occurred for i, (occurred, _committed) in steady.items() if i in arrivals]
    result |= {"steady_events": len(steady), "steady_rate": round(achieved, 1), "missing": len(missing),
               "latency_max_ms": round(max(from_commit) * 1000, 1), **summary(from_commit),
               "occurred_p99_ms": summary(from_occurred)["p99_ms"]}

    # 3. broker: every event of the database to a fresh exchange
    if broker:
        from onewindow.events.broker import RabbitMQSink, publish_all

        exchange = f"onewindow.bench.{uuid.uuid4().hex[:8]}"
        asyncio.run(consumer_queue(exchange))
        sink = RabbitMQSink(RABBITMQ_URL, exchange=exchange)
        total = len(ids) + len(steady)
        t0 = time.perf_counter()
        published = publish_all(factory, SystemClock(), settings, sink, rounds=total // 100 + 2)
        took = time.perf_counter() - t0
        sink.close()
        asyncio.run(consumer_queue(exchange, delete=True))
        assert published == total, (published, total)
        result |= {"broker_events": published, "broker_events_per_s": round(published / took, 1)}
    result["requests"] = receiver.close()
    engine.dispose()
    drop_database(url)
    result["load_end"] = os.getloadavg()[0]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=5000, help="backlog for the throughput phase")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s offered in the latency phase")
    parser.add_argument("--per-tx", type=int, default=10, help="events per transaction in the latency phase")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the latency phase")
    parser.add_argument("--writers", type=int, default=4, help="threads committing events in the latency phase")
    parser.add_argument("--no-broker", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"command: python bench/relay.py --db {' '.join(args.db)} --events {args.events} --rate {args.rate:g} "
          f"--per-tx {args.per_tx} --seconds {args.seconds:g} --writers {args.writers}"
          f"{' --no-broker' if args.no_broker else ''}")
    print("| database | load avg (start-end) | backlog | relay events/s | relay CPU µs/event | steady events "
          "(achieved rate/s) | p50 ms | p99 ms | max ms | p99 ms from occurred_at | lost | requests "
          "| RabbitMQ events/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in args.db:
        r = run(kind, args.events, args.rate, args.per_tx, args.seconds, args.writers, not args.no_broker)
        print(f"| {r['database']} | {r['load']:.1f}-{r['load_end']:.1f} | {r['events']} "
              f"| {r['relay_events_per_s']} ({r['relay_seconds']} s) | {r['relay_cpu_us']} "
              f"| {r['steady_events']} ({r['steady_rate']}) | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['latency_max_ms']} | {r['occurred_p99_ms']} | {r['missing']} | {r['requests']} | "
              f"{r.get('broker_events_per_s', '-')} |", flush=True)

if __name__ == "__main__":
    main()
