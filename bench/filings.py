"""Filings accepted per second over HTTP (create + submit), against a bare SQL baseline.

Each filing is a realistic entry (2 containers, 5 goods lines, one of them
needing CIQ, so two declarations are made and filed). The HTTP run drives
``onewindow serve`` in a subprocess with concurrent clients, each on its own
kept-alive connection (``common.Connection``, a lean client); the baseline
writes the same rows with plain DB-API statements, one transaction per
request, on a fresh database of the same kind, in the same run: three passes,
each on a fresh database, and the median pass is the one compared (their range
is printed too). The server's CPU time (all its processes) and the clients' own
(this process: the load generator shares the machine's cores with the server)
are printed per filing.

    python bench/filings.py [--db sqlite postgresql] [--filings 3000] [--concurrency 16] [--workers 1]
    python bench/filings.py --in-process [--db sqlite] [--filings 1000] [--profile]
    python bench/filings.py --in-process --log-pages --db sqlite [--filings 500]
    python bench/filings.py --writer-lock --db sqlite [--workers 2] [--in-process]

``--in-process`` drives the application object itself (ASGI calls, no
sockets, no server process, no scheduler or relay) from the same concurrent
clients and prints the CPU time per filing of the whole process; with
``--profile`` the requests run on the event loop's thread under cProfile and
it prints the Python function calls per filing, a count that does not move
with the machine's load; with ``--log-pages`` (SQLite), the pages the
filings' commits append to the write-ahead log, by table or index, with the
process's checkpoints stopped (``common.LogPages``), another such count.
``--writer-lock`` (SQLite, served or in process) also prints how long the
write lock was held per filing and for what share of the measured time, by
holder (requests, scheduler, relay, checkpoints), and how long writers waited
for it (``writer_lock``): where that share nears 100 % the lock, not the CPU,
bounds throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
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

ENTERPRISE = "91210200MA0QK1P3AF"


def prepare(url: str) -> tuple[str, dict[str, str]]:
    """Migrate the database, register the parties, return an enterprise token and office ids."""
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    with unit_of_work(make_session_factory(engine)) as session:
        ctx = Context(session=session, clock=SystemClock(), settings=Settings(database_url=url))
        offices = {}
        for kind, code in (("customs", "0916"), ("ciq", "210600")):
            offices[kind] = str(add_organisation(ctx, kind=kind, code=code, name=code).id)
        ent = add_organisation(ctx, kind="enterprise", code=ENTERPRISE, name="bench")
        offices["enterprise"] = str(ent.id)
        token = issue_token(ctx, ensure_user(ctx, ent, "bench"))
    engine.dispose()
    return token, offices


async def drive(base: str, token: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    """Create and submit every body, ``concurrency`` clients each on its own kept-alive connection; returns
    (seconds, per-filing latencies)."""
    headers = f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
    queue = list(reversed(bodies))
    latencies: list[float] = []

    async def client(connection: Connection) -> None:
        while queue:
            body = queue.pop()
            t0 = time.perf_counter()
            status, answer = await connection.request("POST", "/api/v1/filings", headers, body)
            assert status == 201, answer
            filing_id = orjson.loads(answer)["id"]
            status, answer = await connection.request("POST", f"/api/v1/filings/{filing_id}/submit", headers)
            assert status == 200, answer
            latencies.append(time.perf_counter() - t0)

    return await over_connections(base, concurrency, client), latencies


def baseline(url: str, entries: list[dict], offices: dict[str, str]) -> float:
    """Write the same rows as the platform with bare SQL: seconds for all entries."""
    engine = make_engine(url, pool_size=1)
    upgrade(engine)
    raw = engine.raw_connection()
    pg = engine.dialect.name == "postgresql"
    ph = "%s" if pg else "?"

    def q(sql: str) -> str:
        return sql.replace("?", ph)

    def uid(u: uuid.UUID) -> object:
        return u if pg else u.hex

    def ts() -> object:
        now = datetime.now(UTC)
        return now if pg else now.replace(tzinfo=None).isoformat(sep=" ")

    for kind, code in (("customs", "0916"), ("ciq", "210600"), ("enterprise", ENTERPRISE)):
        cur = raw.cursor()
        cur.execute(q("INSERT INTO organisations (id, kind, code, name, created_at) VALUES (?,?,?,?,?)"),
                    (uid(uuid.UUID(offices[kind])), kind, code, code, ts()))
    raw.commit()
    ent = uid(uuid.UUID(offices["enterprise"]))
    if not pg:  # the engine's SQLite connections are in autocommit mode: open transactions by hand
        raw.driver_connection.isolation_level = "IMMEDIATE"
    start = time.perf_counter()
    for entry in entries:
        _baseline_filing(raw, q, uid, ts, entry, offices, ent)
    seconds = time.perf_counter() - start
    raw.close()
    engine.dispose()
    return seconds


def _event(cur, q, uid, ts, type_, subject, filing, recipients) -> None:
    cur.execute(q("INSERT INTO events (id, type, occurred_at, subject_type, subject_id, filing_id, data) "
                  "VALUES (?,?,?,?,?,?,?) RETURNING seq"),
                (uid(uuid.uuid4()), type_, ts(), "filing", subject, filing, json.dumps({"filing_id": str(filing)})))
    seq = cur.fetchone()[0]
    for org in recipients:
        cur.execute(q("INSERT INTO event_recipients (event_seq, organisation_id) VALUES (?,?)"), (seq, org))


def _baseline_filing(raw, q, uid, ts, entry, offices, ent) -> None:
    cur = raw.cursor()
    data = json.dumps(entry, ensure_ascii=False)
    fid = uid(uuid.uuid4())
    cur.execute(q("INSERT INTO filings (id, enterprise_id, status, version, direction, port, bill_of_lading, data, "
                  "created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"),
                (fid, ent, "draft", 1, "import", entry["port"], entry["bill_of_lading"], data, ts(), ts()))
    cur.execute(q("INSERT INTO filing_versions (filing_id, version, data, changed_fields, created_at) "
                  "VALUES (?,?,?,?,?)"), (fid, 1, data, "[]", ts()))
    decls = []
    for agency in ("ciq", "customs"):
        did = uid(uuid.uuid4())
        decls.append((did, agency))
        cur.execute(q("INSERT INTO declarations (id, filing_id, agency, organisation_id, office_code, status, "
                      "version, data, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)"),
                    (did, fid, agency, uid(uuid.UUID(offices[agency])), "0916", "draft", 1, data, ts(), ts()))
    _event(cur, q, uid, ts, "filing.created", fid, fid, [ent])
    raw.commit()
    cur = raw.cursor()
    for did, agency in decls:
        cur.execute(q("UPDATE declarations SET status=?, submitted_at=?, updated_at=? WHERE id=?"),
                    ("submitted", ts(), ts(), did))
        cur.execute(q("INSERT INTO declaration_versions (declaration_id, version, data, changes, "
                      "author_organisation_id, created_at) VALUES (?,?,?,?,?,?)"), (did, 1, data, "{}", ent, ts()))
        for number in sorted({c["number"] for c in entry["containers"]}):  # the containers it covers
            cur.execute(q("INSERT INTO declaration_containers (declaration_id, number) VALUES (?,?)"), (did, number))
        _event(cur, q, uid, ts, "declaration.submitted", did, fid, [ent, uid(uuid.UUID(offices[agency]))])
    cur.execute(q("UPDATE filings SET status=?, updated_at=? WHERE id=?"), ("filed", ts(), fid))
    raw.commit()


async def file_in_process(app, headers: list, body: bytes) -> None:
    """One filing through the application object: ``POST /filings`` with ``body``, then its submit."""
    status, answer = await asgi_request(app, "POST", "/api/v1/filings", headers, body)
    assert status == 201, answer
    status, answer = await asgi_request(app, "POST", f"/api/v1/filings/{json.loads(answer)['id']}/submit", headers)
    assert status == 200, answer


def run_in_process(kind: str, n: int, concurrency: int, profile: bool, profile_out: str | None = None,
                   log_pages: bool = False, writer_lock: bool = False) -> dict:
    """Create and submit ``n`` filings through the application object in this process; CPU per filing (and,
    with ``log_pages`` on SQLite, the write-ahead log's pages: :class:`common.LogPages`; with ``writer_lock``,
    the write lock's figures: :mod:`writer_lock`)."""
    from onewindow.app import create_app

    timings = timings_for(kind, writer_lock)
    if timings:
        timings.time_here()

    bodies = [json.dumps(sample_entry(containers=2, items=5, seed=i), ensure_ascii=False).encode()
              for i in range(n + 200)]
    url = fresh_database(kind, "onewindow_bench_http")
    pages = LogPages(url) if log_pages and kind == "sqlite" else None
    token, _ = prepare(url)
    app = create_app(Settings(database_url=url, embedded_scheduler=False))
    if profile:  # on the loop's thread, where cProfile sees it (no thread hop)
        units_of_work_on_the_loop()
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"),
               (b"host", b"bench")]

    async def drive_app(batch: list[bytes]) -> None:
        queue = list(reversed(batch))

        async def client() -> None:
            while queue:
                await file_in_process(app, headers, queue.pop())

        await asyncio.gather(*(client() for _ in range(concurrency)))

    async def main() -> dict:
        await drive_app(bodies[:200])
        with Measured(profile, pages) as measured:
            await drive_app(bodies[200:])
        calls = measured.calls_per(n)
        if measured.profiler and profile_out:
            measured.profiler.dump_stats(profile_out)
        return {"database": kind, "filings": n, "concurrency": concurrency,
                "filings_per_s": round(n / measured.seconds, 1), "cpu_ms": round(1000 * measured.cpu / n, 2),
                "calls": round(calls) if calls else None,
                "writer_lock": timings.summary(measured.began, measured.ended) if timings else None}

    return run_and_clean_up(main, app, url, pages, timings)


BASELINE_PASSES = 3
"""The bare SQL baseline runs this many times, each on a fresh database; its median is the one compared (a
single pass on a virtual disk moves by a factor of up to two from one run to the next)."""


def run(kind: str, n: int, concurrency: int, workers: int, writer_lock: bool = False) -> dict:
    entries = [sample_entry(containers=2, items=5, seed=i) for i in range(n + 200)]
    bodies = [json.dumps(e, ensure_ascii=False).encode() for e in entries]
    url = fresh_database(kind, "onewindow_bench_http")
    token, offices = prepare(url)
    timings = timings_for(kind, writer_lock)
    lock = None
    with server(url, workers=workers, env=timings.env() if timings else None) as base:
        uvloop.run(drive(base, token, bodies[:200], concurrency))  # warm-up
        first_publication_made(url)  # the scheduler's work at start, done before the measured part
        cpu, client, began = cpu_seconds(base.pid), time.process_time(), WriterLockTimings.now()
        seconds, latencies = uvloop.run(drive(base, token, bodies[200:], concurrency))
        cpu, client, ended = cpu_seconds(base.pid) - cpu, time.process_time() - client, WriterLockTimings.now()
        if timings:
            lock = timings.summary(began, ended)
    if timings:
        timings.close()
    drop_database(url)
    passes = sorted(n / _baseline_pass(kind, entries[200:], offices) for _ in range(BASELINE_PASSES))
    http_rate, sql_rate = n / seconds, passes[len(passes) // 2]
    return {"database": kind, "filings": n, "concurrency": concurrency, "workers": workers,
            "http_filings_per_s": round(http_rate, 1), "sql_filings_per_s": round(sql_rate, 1),
            "sql_range": f"{passes[0]:.0f}-{passes[-1]:.0f}",
            "ratio": round(sql_rate / http_rate, 2), "server_cpu_ms": round(1000 * cpu / n, 2),
            "client_cpu_ms": round(1000 * client / n, 2), "writer_lock": lock,
            **summary(latencies)}


def _baseline_pass(kind: str, entries: list[dict], offices: dict[str, str]) -> float:
    """Seconds for one pass of the bare SQL baseline on a fresh database (dropped afterwards)."""
    url = fresh_database(kind, "onewindow_bench_sql")
    try:
        return baseline(url, entries, offices)
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--filings", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--in-process", action="store_true",
                        help="drive the application object in this process (no HTTP server): CPU per filing")
    parser.add_argument("--profile", action="store_true", help="with --in-process: Python calls per filing")
    parser.add_argument("--writer-lock", action="store_true",
                        help="SQLite: how long the write lock was held, by whom, and the waits for it")
    parser.add_argument("--log-pages", action="store_true",
                        help="with --in-process on SQLite: the write-ahead log's pages per filing, by table or index "
                             "(checkpoints stopped)")
    parser.add_argument("--profile-out", metavar="PATH",
                        help="with --profile: also write the cProfile statistics there")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.in_process:
        print("| database | filings | clients | filings/s | CPU ms per filing | Python calls per filing |")
        print("|---|---|---|---|---|---|")
        for kind in args.db:
            r = run_in_process(kind, args.filings, args.concurrency, args.profile, args.profile_out, args.log_pages,
                               args.writer_lock)
            print(f"| {r['database']} | {r['filings']} | {r['concurrency']} | {r['filings_per_s']} | {r['cpu_ms']} | "
                  f"{r['calls'] or '-'} |", flush=True)
            if r["log_pages"] is not None:
                print(f"\n{r['database']}, pages the {r['filings']} filings appended to the write-ahead log "
                      "(checkpoints stopped):")
                print_log_pages(r["log_pages"], r["filings"], "filing")
            if r["writer_lock"]:
                print_summary(r["writer_lock"], r["filings"], "filing")
        return
    print(f"| database | filings | workers | clients | HTTP filings/s "
          f"| bare SQL filings/s (median of {BASELINE_PASSES}) | bare SQL range | SQL ÷ HTTP "
          "| server CPU ms per filing | client CPU ms per filing | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    locks = []
    for kind in args.db:
        r = run(kind, args.filings, args.concurrency, args.workers, args.writer_lock)
        print(f"| {r['database']} | {r['filings']} | {r['workers']} | {r['concurrency']} | "
              f"{r['http_filings_per_s']} | {r['sql_filings_per_s']} | {r['sql_range']} | {r['ratio']}× | "
              f"{r['server_cpu_ms']} | {r['client_cpu_ms']} | "
              f"{r['p50_ms']} | "
              f"{r['p99_ms']} |", flush=True)
        if r["writer_lock"]:
            locks.append(r)
    for r in locks:
        print_summary(r["writer_lock"], r["filings"], "filing")


if __name__ == "__main__":
    main()
