"""Webhook relay throughput, commit-to-delivery latency, and RabbitMQ publishing rate.

A fresh database with the parties of bench/filings.py, one webhook
subscription of the enterprise to a receiver on 127.0.0.1 (a
ThreadingHTTPServer in a process of its own, answering 204 and noting when
each webhook-id first arrived).

1. Throughput: N events for the enterprise are committed (``record_event``,
   100 per transaction, not timed), then ``run_relay_once`` runs in a loop
   until the receiver has every one: delivered events/s.
2. Latency: events are committed one per transaction at a steady rate while a
   ``Relay`` thread runs every 0.05 s; latency = arrival at the receiver
   minus the event's ``occurred_at`` (taken just before its commit).
3. Broker: every event of the database published to RabbitMQ (a fresh topic
   exchange) with ``publish_all``: events/s, broker confirms included.

    python bench/relay.py [--db sqlite postgresql] [--events 3000] [--rate 200] [--seconds 10] [--no-broker]
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import fresh_database, machine, summary  # noqa: E402
from filings import prepare  # noqa: E402

from onewindow.clock import SystemClock  # noqa: E402
from onewindow.config import Settings  # noqa: E402
from onewindow.context import Context  # noqa: E402
from onewindow.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from onewindow.events.relay import Relay, run_relay_once  # noqa: E402
from onewindow.events.service import record_event  # noqa: E402
from onewindow.events.webhooks import create_subscription  # noqa: E402
from onewindow.parties.service import actor_for  # noqa: E402

ENTERPRISE = "91210200MA0QK1P3AF"
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/"


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 204, keeps the first arrival time of each webhook-id."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.requests = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length", 0)))
                now = time.time()
                with receiver.lock:
                    receiver.requests += 1
                    receiver.arrivals.setdefault(self.headers["webhook-id"], now)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.server.request_queue_size = 128
        self.server.daemon_threads = True
        self.server.server_bind()
        self.server.server_activate()
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _serve(conn) -> None:
    """The receiver's own process: answers the parent's questions until told to stop."""
    receiver = Receiver()
    conn.send(receiver.url)
    while True:
        command = conn.recv()
        with receiver.lock:
            if command == "count":
                conn.send(len(receiver.arrivals))
            elif command == "arrivals":
                conn.send(dict(receiver.arrivals))
            else:
                conn.send(receiver.requests)
                break
    receiver.close()


class RemoteReceiver:
    """A :class:`Receiver` in a process of its own, so it takes no CPU time from the relay's interpreter."""

    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        self.url = self.conn.recv()

    def ask(self, command: str):
        self.conn.send(command)
        return self.conn.recv()

    def close(self) -> int:
        requests = self.ask("stop")
        self.process.join(10)
        return requests


def emit(factory, settings: Settings, recipient: uuid.UUID, n: int) -> dict[str, float]:
    """Commit ``n`` events for ``recipient`` in one transaction; their ids → occurred_at (epoch seconds)."""
    with unit_of_work(factory) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=settings)
        events = [record_event(ctx, "filing.updated", subject_type="filing", subject_id=uuid.uuid4(),
                               recipients=[recipient], data={"n": i, "port": "CNDAG"}) for i in range(n)]
    return {str(e.id): e.occurred_at.timestamp() for e in events}


def run(kind: str, n: int, rate: float, seconds: float, broker: bool) -> dict:
    url = fresh_database(kind, "onewindow_bench_relay")
    _token, offices = prepare(url)
    enterprise = uuid.UUID(offices["enterprise"])
    receiver = RemoteReceiver()
    settings = Settings(database_url=url, webhook_allowed_hosts=["127.0.0.1"], embedded_scheduler=False,
                        webhook_relay_interval_seconds=0.05)
    engine = make_engine(url, pool_size=4)
    factory = make_session_factory(engine)
    with unit_of_work(factory) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=settings)
        ctx = Context(session=session, clock=SystemClock(), settings=settings, actor=actor_for(ctx, ENTERPRISE))
        create_subscription(ctx, receiver.url, None)
    result: dict = {"database": kind, "events": n}

    # 1. throughput: a backlog of n events, drained by run_relay_once in a loop
    ids: dict[str, float] = {}
    for start in range(0, n, 100):
        ids |= emit(factory, settings, enterprise, min(100, n - start))
    t0 = time.perf_counter()
    rounds = 0
    while receiver.ask("count") < n:
        run_relay_once(factory, SystemClock(), settings)
        rounds += 1
        if time.perf_counter() - t0 > 300:
            raise RuntimeError(f"only {receiver.ask('count')} of {n} events delivered in 300 s")
    took = time.perf_counter() - t0
    result |= {"relay_events_per_s": round(n / took, 1), "relay_seconds": round(took, 2), "rounds": rounds}

    # 2. latency: events committed one per transaction at a steady rate, a Relay thread every 0.05 s
    relay = Relay(factory, SystemClock(), settings)
    relay.start()
    steady: dict[str, float] = {}
    count = int(rate * seconds)
    begin = time.perf_counter()
    for i in range(count):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        steady |= emit(factory, settings, enterprise, 1)
    achieved = count / (time.perf_counter() - begin)
    deadline = time.monotonic() + 60
    while receiver.ask("count") < n + count and time.monotonic() < deadline:
        time.sleep(0.05)
    relay.stop()
    arrivals = receiver.ask("arrivals")
    missing = [i for i in steady if i not in arrivals]
    latencies = [arrivals[i] - t for i, t in steady.items() if i in arrivals]
    result |= {"steady_events": count, "steady_rate": round(achieved, 1), "missing": len(missing),
               "latency_max_ms": round(max(latencies) * 1000, 1), **summary(latencies)}

    # 3. broker: every event of the database to a fresh exchange
    if broker:
        from onewindow.events.broker import RabbitMQSink, publish_all

        sink = RabbitMQSink(RABBITMQ_URL, exchange=f"onewindow.bench.{uuid.uuid4().hex[:8]}")
        total = len(ids) + len(steady)
        t0 = time.perf_counter()
        published = publish_all(factory, SystemClock(), settings, sink, rounds=total // 500 + 2)
        took = time.perf_counter() - t0
        sink.close()
        assert published == total, (published, total)
        result |= {"broker_events": published, "broker_events_per_s": round(published / took, 1)}
    result["requests"] = receiver.close()
    engine.dispose()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-broker", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"command: python bench/relay.py --db {' '.join(args.db)} --events {args.events} --rate {args.rate:g} "
          f"--seconds {args.seconds:g}{' --no-broker' if args.no_broker else ''}")
    print("| database | backlog | relay events/s | steady events (rate/s) | p50 ms | p99 ms | max ms | lost "
          "| RabbitMQ events/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for kind in args.db:
        r = run(kind, args.events, args.rate, args.seconds, not args.no_broker)
        print(f"| {r['database']} | {r['events']} | {r['relay_events_per_s']} ({r['relay_seconds']} s, "
              f"{r['rounds']} rounds) | {r['steady_events']} ({r['steady_rate']}) | {r['p50_ms']} | {r['p99_ms']} | "
              f"{r['latency_max_ms']} | {r['missing']} | "
              f"{r.get('broker_events_per_s', '-')} |", flush=True)


if __name__ == "__main__":
    main()
