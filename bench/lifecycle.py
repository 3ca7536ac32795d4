"""Full consignment lifecycles per second over HTTP.

One lifecycle: discharge of 2 containers, filing (create + submit), both
declarations accepted, both agencies decide to inspect the first container
(matched into one joint inspection), the terminal relocates it, the enterprise
books it, both agencies check in and record results, both release, both
containers gate out: 19 requests by 4 parties (17 changes, and the
enterprise's and the terminal's reads of the inspection and the task). Concurrent clients each run
whole lifecycles against ``onewindow serve`` on a fresh database, each on
its own kept-alive connection (``common.Connection``: a lean client, as
the load generator shares the machine's cores with the server). The server's
CPU time (all its processes) and the clients' own (this process, sharing the
machine's cores with the server) are printed per lifecycle.

    python bench/lifecycle.py [--db sqlite postgresql] [--lifecycles 300] [--concurrency 8] [--workers 1]
    python bench/lifecycle.py --in-process [--db sqlite] [--lifecycles 300] [--concurrency 8] [--profile] [--floor]
    python bench/lifecycle.py --in-process --log-pages --db sqlite [--lifecycles 100]
    python bench/lifecycle.py --writer-lock --db sqlite [--workers 2] [--in-process]

``--in-process`` drives the application object itself (ASGI calls, no
sockets, no server process, no scheduler or relay) from the same concurrent
clients and prints the CPU time per lifecycle of the whole process; then it
runs a further set of lifecycles one request at a time and prints the CPU
time of each kind of request (method and route). With ``--profile`` the
requests run on the event loop's thread under cProfile and it also prints the
Python function calls per lifecycle and per request kind, counts that do not
move with the machine's load. ``--floor`` then also runs two requests that do
next to nothing, one at a time: ``GET /me`` (the caller, from the token
memory, no statement) and ``GET /terminal/tasks?status=open`` (one query, no
open task left): what every request pays. ``--log-pages`` (SQLite) counts the
pages the measured lifecycles' commits append to the write-ahead log, by
table or index, with the process's checkpoints stopped (so its CPU figures
leave out theirs): another count that does not move with the machine.
``--writer-lock`` (SQLite, served or in process) also prints how long the write
lock was held per lifecycle and for what share of the measured time, by holder,
and how long writers waited for it (``writer_lock``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import re
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).parent))
from common import (  # noqa: E402
    Connection, LogPages, asgi_request, cpu_seconds, drop_database, first_publication_made, fresh_database, machine,
    over_connections, print_log_pages, server, summary, units_of_work_on_the_loop,
)
from writer_lock import WriterLockTimings, print_summary, timings_for  # noqa: E402
from in_process import Measured, run_and_clean_up  # noqa: E402

from onewindow.clock import SystemClock  # noqa: E402
from onewindow.config import Settings  # noqa: E402
from onewindow.context import Context  # noqa: E402
from onewindow.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from onewindow.migrate import upgrade  # noqa: E402
from onewindow.parties.service import add_organisation, ensure_user, issue_token  # noqa: E402
from onewindow.samples import sample_entry  # noqa: E402

PARTIES = [("enterprise", "91210200MA0QK1P3AF", None), ("customs", "0916", None), ("ciq", "210600", None),
           ("terminal", "DCT", "CNDAG")]


def prepare(url: str) -> dict[str, str]:
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=Settings(database_url=url))
        tokens = {kind: issue_token(ctx, ensure_user(ctx, add_organisation(ctx, kind=kind, code=code, name=code,
                                                                           port=port), "bench"))
                  for kind, code, port in PARTIES}
    engine.dispose()
    return tokens


class Party:
    """One party's requests over HTTP, on a client's connection."""

    def __init__(self, connection: Connection, token: str) -> None:
        self.connection = connection
        self.headers = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"

    async def call(self, method: str, path: str, body=None, expect=(200, 201)):
        status, answer = await self.connection.request(method, "/api/v1" + path, self.headers,
                                                       b"" if body is None else orjson.dumps(body))
        data = orjson.loads(answer)
        assert status in expect, (path, status, data)
        return data


class InProcessParty:
    """One party's requests through the application object (no sockets); ``record`` sees each one."""

    def __init__(self, app, token: str, record=None) -> None:
        self.app, self.record = app, record
        self.headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
                        (b"host", b"bench")]

    async def call(self, method: str, path: str, body=None, expect=(200, 201)):
        send = lambda: asgi_request(self.app, method, "/api/v1" + path, self.headers,  # noqa: E731
                                    b"" if body is None else json.dumps(body).encode())
        status, answer = await (send() if self.record is None else self.record(method, path, send))
        data = json.loads(answer)
        assert status in expect, (path, status, data)
        return data


REQUESTS = 19
"""Requests in one :func:`lifecycle`."""


async def lifecycle(p: dict[str, Party], entry: dict) -> None:
    ent, customs, ciq, terminal = p["enterprise"], p["customs"], p["ciq"], p["terminal"]
    numbers = [c["number"] for c in entry["containers"]]
    await terminal.call("POST", "/terminal/arrivals", {"containers": numbers, "conveyance": entry["conveyance"]})
    filing = await ent.call("POST", "/filings", entry)
    await ent.call("POST", f"/filings/{filing['id']}/submit")
    ids = {d["agency"]: d["id"] for d in filing["declarations"]}
    await customs.call("POST", f"/declarations/{ids['customs']}/accept")
    await ciq.call("POST", f"/declarations/{ids['ciq']}/accept")
    await customs.call("POST", f"/declarations/{ids['customs']}/decision",
                       {"inspect": True, "containers": numbers[:1], "kind": "physical", "reason": "bench"})
    matched = await ciq.call("POST", f"/declarations/{ids['ciq']}/decision",
                             {"inspect": True, "containers": numbers[:1], "kind": "sampling"})
    [inspection] = await ent.call("GET", f"/inspections?filing={filing['id']}")
    task = next(t for t in await terminal.call("GET", "/terminal/tasks?status=open")
                if t["inspection_id"] == inspection["id"])
    await terminal.call("POST", f"/terminal/tasks/{task['id']}/complete", {"location": "B3"})
    at = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    await ent.call("POST", f"/inspections/{inspection['id']}/appointment", {"at": at})
    for agency in (customs, ciq):
        await agency.call("POST", f"/inspections/{inspection['id']}/check-in")
    for agency in (customs, ciq):
        await agency.call("POST", f"/inspections/{inspection['id']}/results", {"outcome": "conforming"})
    await customs.call("POST", f"/declarations/{ids['customs']}/release")
    await ciq.call("POST", f"/declarations/{ids['ciq']}/release")
    for number in numbers:
        await terminal.call("POST", f"/containers/{number}/gate-out")
    del matched


async def drive(base: str, tokens: dict[str, str], entries: list[dict], concurrency: int):
    """Every entry's lifecycle, ``concurrency`` clients each on its own kept-alive connection (all four parties'
    requests); returns (seconds, per-lifecycle latencies)."""
    queue = list(reversed(entries))
    latencies: list[float] = []

    async def client(connection: Connection) -> None:
        parties = {k: Party(connection, t) for k, t in tokens.items()}
        while queue:
            entry = queue.pop()
            t0 = time.perf_counter()
            await lifecycle(parties, entry)
            latencies.append(time.perf_counter() - t0)

    return await over_connections(base, concurrency, client), latencies


def run(kind: str, n: int, concurrency: int, workers: int, writer_lock: bool = False) -> dict:
    entries = [sample_entry(seed=i, containers=2, items=5) for i in range(n + 30)]
    url = fresh_database(kind, "onewindow_bench_lifecycle")
    timings = timings_for(kind, writer_lock)
    lock = None
    try:
        tokens = prepare(url)
        with server(url, workers=workers, env=timings.env() if timings else None) as base:
            uvloop.run(drive(base, tokens, entries[:30], concurrency))
            first_publication_made(url)  # the scheduler's work at start, done before the measured part
            cpu, client, began = cpu_seconds(base.pid), time.process_time(), WriterLockTimings.now()
            seconds, latencies = uvloop.run(drive(base, tokens, entries[30:], concurrency))
            cpu, client, ended = cpu_seconds(base.pid) - cpu, time.process_time() - client, WriterLockTimings.now()
            if timings:
                lock = timings.summary(began, ended)
    finally:
        drop_database(url)
        if timings:
            timings.close()
    return {"database": kind, "lifecycles": n, "workers": workers, "concurrency": concurrency,
            "per_s": round(n / seconds, 1), "requests_per_s": round(n * REQUESTS / seconds),
            "server_cpu_ms": round(1000 * cpu / n, 1), "client_cpu_ms": round(1000 * client / n, 1),
            "writer_lock": lock, **summary(latencies)}


ROUTE_PARAMETER = re.compile(r"/([0-9a-f]{8}-[0-9a-f-]{27}|[A-Z]{4}[0-9]{7})(?=/|$)")


def request_kind(method: str, path: str) -> str:
    """``POST /declarations/{id}/accept``: the method and the route, without ids or the query's values."""
    route, _, query = path.partition("?")
    route = ROUTE_PARAMETER.sub("/{id}", route)
    return f"{method} {route}" + (f"?{query.split('=')[0]}=" if query else "")


class RequestCosts:
    """CPU seconds (and, profiling, Python calls) of each kind of request, run one at a time."""

    def __init__(self, profile: bool) -> None:
        self.profile = profile
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.calls: dict[str, list[int]] = defaultdict(list)

    async def __call__(self, method: str, path: str, send):
        kind = request_kind(method, path)
        profiler = cProfile.Profile() if self.profile else None
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        answer = await send()
        if profiler:
            profiler.disable()
        self.cpu[kind].append(time.process_time() - cpu)
        if profiler:
            self.calls[kind].append(pstats.Stats(profiler).total_calls)
        return answer

    def rows(self) -> list[tuple[str, float, float | None]]:
        """(kind, CPU ms per request, Python calls per request) in the lifecycle's order."""
        return [(kind, 1000 * sum(v) / len(v), sum(self.calls[kind]) / len(self.calls[kind]) if self.profile
                 else None) for kind, v in self.cpu.items()]


FLOOR = [("GET", "/me"), ("GET", "/terminal/tasks?status=open")]
"""The requests of ``--floor``, by the terminal: they do next to nothing but what every request does."""


def run_in_process(kind: str, n: int, concurrency: int, profile: bool, sequential: int = 50,
                   floor: bool = False, log_pages: bool = False, writer_lock: bool = False) -> dict:
    """``n`` lifecycles through the application object in this process (CPU per lifecycle), then
    ``sequential`` more one request at a time (CPU per request kind); with ``floor``, ``10 * sequential``
    of each :data:`FLOOR` request, one at a time; with ``log_pages`` (SQLite), the write-ahead log's pages
    of the ``n`` lifecycles (:class:`common.LogPages`); with ``writer_lock`` (SQLite), the write lock's figures
    of the ``n`` lifecycles (:mod:`writer_lock`)."""
    from onewindow.app import create_app, settle_collector

    timings = timings_for(kind, writer_lock)
    if timings:
        timings.time_here()

    entries = [sample_entry(seed=i, containers=2, items=5) for i in range(n + 30 + sequential)]
    url = fresh_database(kind, "onewindow_bench_lifecycle")
    pages = LogPages(url) if log_pages and kind == "sqlite" else None
    tokens = prepare(url)
    app = create_app(Settings(database_url=url, embedded_scheduler=False))
    settle_collector()  # as served_app() does for `onewindow serve`
    if profile:  # on the loop's thread, where cProfile sees it (no thread hop)
        units_of_work_on_the_loop()
    costs, floor_costs = RequestCosts(profile), RequestCosts(profile)

    async def drive_app(batch: list[dict], clients: int, record=None) -> None:
        parties = {k: InProcessParty(app, t, record) for k, t in tokens.items()}
        queue = list(reversed(batch))

        async def client() -> None:
            while queue:
                await lifecycle(parties, queue.pop())

        await asyncio.gather(*(client() for _ in range(clients)))

    async def main() -> dict:
        await drive_app(entries[:30], concurrency)
        with Measured(profile, pages) as measured:
            await drive_app(entries[30:30 + n], concurrency)
        await drive_app(entries[30 + n:], 1, costs)
        if floor:
            terminal = InProcessParty(app, tokens["terminal"], floor_costs)
            for _ in range(10 * sequential):
                for method, path in FLOOR:
                    await terminal.call(method, path)
        calls = measured.calls_per(n)
        return {"database": kind, "lifecycles": n, "concurrency": concurrency,
                "per_s": round(n / measured.seconds, 1), "cpu_ms": round(1000 * measured.cpu / n, 1),
                "calls": round(calls) if calls else None, "kinds": costs.rows(), "floor": floor_costs.rows(),
                "writer_lock": timings.summary(measured.began, measured.ended) if timings else None}

    return run_and_clean_up(main, app, url, pages, timings)


def print_in_process(r: dict) -> None:
    print("| database | lifecycles | clients | lifecycles/s | CPU ms per lifecycle | Python calls per lifecycle |")
    print("|---|---|---|---|---|---|")
    print(f"| {r['database']} | {r['lifecycles']} | {r['concurrency']} | {r['per_s']} | {r['cpu_ms']} | "
          f"{r['calls'] or '-'} |")
    print()
    _print_requests(f"{r['database']}, one request at a time:", r["kinds"], 2)
    if r["floor"]:
        _print_requests(f"{r['database']}, the floor (after the lifecycles, one request at a time):", r["floor"], 3)
    if r["log_pages"] is not None:
        print(f"{r['database']}, pages the {r['lifecycles']} lifecycles appended to the write-ahead log "
              "(checkpoints stopped):")
        print_log_pages(r["log_pages"], r["lifecycles"], "lifecycle")


def _print_requests(title: str, kinds: list, digits: int) -> None:
    """A table of request kinds: CPU ms (``digits`` decimals) and Python calls per request."""
    print(title)
    print("| request | CPU ms per request | Python calls per request |")
    print("|---|---|---|")
    for kind, cpu, calls in kinds:
        print(f"| `{kind}` | {cpu:.{digits}f} | {'-' if calls is None else round(calls)} |")
    print(flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--lifecycles", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--in-process", action="store_true",
                        help="drive the application object in this process (no HTTP server): CPU per lifecycle "
                             "and per request kind")
    parser.add_argument("--profile", action="store_true",
                        help="with --in-process: Python calls per lifecycle and per request kind")
    parser.add_argument("--log-pages", action="store_true",
                        help="with --in-process on SQLite: the write-ahead log's pages per lifecycle, by table or "
                             "index (checkpoints stopped)")
    parser.add_argument("--writer-lock", action="store_true",
                        help="SQLite: how long the write lock was held, by whom, and the waits for it")
    parser.add_argument("--floor", action="store_true",
                        help="with --in-process: also the cost of two requests doing next to nothing (GET /me, "
                             "GET /terminal/tasks?status=open)")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.in_process:
        for kind in args.db:
            r = run_in_process(kind, args.lifecycles, args.concurrency, args.profile, floor=args.floor,
                               log_pages=args.log_pages, writer_lock=args.writer_lock)
            print_in_process(r)
            if r["writer_lock"]:
                print_summary(r["writer_lock"], r["lifecycles"], "lifecycle")
        return
    print("| database | lifecycles | server processes | clients | lifecycles/s | requests/s "
          "| server CPU ms per lifecycle | client CPU ms per lifecycle | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    locks = []
    for kind in args.db:
        r = run(kind, args.lifecycles, args.concurrency, args.workers, args.writer_lock)
        print(f"| {r['database']} | {r['lifecycles']} | {r['workers']} | {r['concurrency']} | {r['per_s']} | "
              f"{r['requests_per_s']} | {r['server_cpu_ms']} | {r['client_cpu_ms']} | {r['p50_ms']} | "
              f"{r['p99_ms']} |", flush=True)
        if r["writer_lock"]:
            locks.append(r)
    for r in locks:
        print_summary(r["writer_lock"], r["lifecycles"], "lifecycle")


if __name__ == "__main__":
    main()
