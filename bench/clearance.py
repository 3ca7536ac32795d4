"""Benchmark of the published clearance-time figures on a large study.

Builds a dedicated database (PostgreSQL ``onewindow_bench_clearance`` by default, or a
SQLite file), migrates it, loads N consignments' projected rows directly (COPY on
PostgreSQL, batched INSERTs on SQLite) with realistic distributions over ports,
offices, modes, credit levels and inspections, then, on a clock set to 2025-12-15:

(c) times the scheduler's refresh round of the standard set from nothing (what the
    public page shows of the whole study and of the current and previous month, quarter
    and year);
(a) asks every query once as the public endpoint and page would (so they are published, as
    the scheduler keeps them), then times them served (``timing.publication.served``: the
    endpoint's figures, and the page's ``chart_series``), one unit of work each;
(b) times the same computed live (``timing.service.live``): what a refresh or a query
    nobody has asked before costs.

Prints seconds per request (mean, p50, p99) and CPU milliseconds per request (this
process plus, on PostgreSQL, the database backend serving it).

    .venv/bin/python bench/clearance.py --db postgresql --consignments 1000000
    .venv/bin/python bench/clearance.py --db sqlite --consignments 100000

The PostgreSQL database is dropped at the end unless ``--keep`` is given; ``--reuse``
times the figures on the database a previous ``--keep`` run left (no loading).
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PG_ADMIN, fresh_database, machine, percentile  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from onewindow.clock import FrozenClock  # noqa: E402
from onewindow.config import Settings  # noqa: E402
from onewindow.context import Context  # noqa: E402
from onewindow.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from onewindow.migrate import upgrade  # noqa: E402
from onewindow.models import ClearanceAgencyRecord, ClearancePublication, ClearanceRecord  # noqa: E402
from onewindow.timing import publication, service  # noqa: E402
from onewindow.timing.filters import parse_query  # noqa: E402
from onewindow.timing.projection import week_of  # noqa: E402

NAME = "onewindow_bench_clearance"
# port: (weight, customs offices, CIQ office)
PORTS = {
    "CNSHG": (22, ("2248", "2225"), "310000"), "CNNGB": (16, ("3104", "3101"), "380000"),
    "CNYTN": (14, ("5316", "5301"), "470000"), "CNQDG": (12, ("4218", "4201"), "370000"),
    "CNTXG": (10, ("0202", "0201"), "120000"), "CNDAG": (9, ("0916", "0900"), "210600"),
    "CNXMN": (9, ("3702", "3701"), "350000"), "CNDLC": (8, ("0908", "0900"), "210000"),
}
TRANSPORT = (("2", 80), ("4", 8), ("5", 9), ("3", 3))
TRADE = (("0110", 70), ("0214", 8), ("0615", 12), ("1210", 10))
CREDIT = (("advanced", 6), ("certified", 10), ("general", 79), ("discredited", 5))
INSPECTION_RATE = {"advanced": 0.01, "certified": 0.03, "general": 0.08, "discredited": 0.6}
DESTINATIONS_IMPORT = ("310000", "330100", "440300", "370200", "120000", "210200", "350200", "110000")
DESTINATIONS_EXPORT = ("USA", "JPN", "KOR", "DEU", "NLD", "AUS", "VNM", "SGP")
COLUMNS = [c.name for c in ClearanceRecord.__table__.columns]
AGENCY_COLUMNS = [c.name for c in ClearanceAgencyRecord.__table__.columns]


def pick(rng: random.Random, weighted) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def lognormal_seconds(rng: random.Random, median_hours: float, sigma: float) -> int:
    return int(rng.lognormvariate(math.log(median_hours * 3600), sigma))


def consignment(rng: random.Random, day: date) -> tuple[dict, list[dict]]:
    """One consignment starting on ``day``: its record and agency rows, as the projection would write them."""
    port = rng.choices(list(PORTS), weights=[p[0] for p in PORTS.values()])[0]
    _, offices, ciq_office = PORTS[port]
    direction = "import" if rng.random() < 0.6 else "export"
    credit = pick(rng, CREDIT)
    inspected = rng.random() < INSPECTION_RATE[credit]
    with_ciq = rng.random() < 0.4
    inspection = "none" if not inspected else ("joint" if with_ciq and rng.random() < 0.5 else "single")
    arrived = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randrange(86400))
    trader = 0 if rng.random() < 0.3 else lognormal_seconds(rng, 6 if direction == "import" else 1, 1.0)
    agencies = lognormal_seconds(rng, (20 if inspected else 0.5) * (1.5 if direction == "import" else 0.6), 1.1)
    port_stage = lognormal_seconds(rng, 12 if direction == "import" else 2, 0.9)
    done = rng.random() < 0.95
    filed, released = arrived + timedelta(seconds=trader), arrived + timedelta(seconds=trader + agencies)
    gated = released + timedelta(seconds=port_stage) if done else None
    record = dict(
        filing_id=uuid.uuid4(), direction=direction, port=port, customs_office=rng.choice(offices),
        ciq_office=ciq_office if with_ciq else None, transport_mode=pick(rng, TRANSPORT), trade_mode=pick(rng, TRADE),
        credit_level=credit, inspection=inspection, inspection_place=port if inspected else None,
        destination=rng.choice(DESTINATIONS_IMPORT if direction == "import" else DESTINATIONS_EXPORT),
        inspections=1 if inspected else 0, no_shows=0, rejections=1 if rng.random() < 0.02 else 0,
        pre_arrival=trader == 0, complete=done, started_at=arrived, started_on=day, started_week=week_of(day),
        arrived_at=arrived, filed_at=filed, accepted_at=filed, decided_at=filed, matched_at=None, relocated_at=None,
        inspection_started_at=None, inspection_completed_at=None, released_at=released, gated_out_at=gated,
        arrival_to_filing_seconds=trader, filing_to_release_seconds=agencies,
        release_to_gate_out_seconds=port_stage if done else None, arrival_to_release_seconds=trader + agencies,
        arrival_to_gate_out_seconds=trader + agencies + port_stage if done else None, projected_at=arrived)
    ciq = int(agencies * rng.uniform(0.5, 1.0)) if with_ciq else None
    record["customs_filing_to_release_seconds"], record["ciq_filing_to_release_seconds"] = agencies, ciq
    agency_rows = [dict(filing_id=record["filing_id"], agency="customs", office=record["customs_office"],
                        filed_at=filed, accepted_at=filed, decided_at=filed, released_at=released, rejections=0,
                        filing_to_release_seconds=agencies)]
    if with_ciq:
        agency_rows.append(dict(filing_id=record["filing_id"], agency="ciq", office=ciq_office, filed_at=filed,
                                accepted_at=filed, decided_at=filed, released_at=filed + timedelta(seconds=ciq),
                                rejections=0, filing_to_release_seconds=ciq))
    return record, agency_rows


def _copy_value(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def load(engine, n: int, seed: int, first_day: date, days: int) -> float:
    """Insert ``n`` consignments in batches, in the order they start (as the projection adds them);
    returns seconds taken."""
    rng = random.Random(seed)
    start = time.perf_counter()
    starts = sorted(rng.randrange(days) for _ in range(n))
    batch = 50_000
    for offset in range(0, n, batch):
        pairs = [consignment(rng, first_day + timedelta(days=d)) for d in starts[offset:offset + batch]]
        records = [r for r, _ in pairs]
        agencies = [a for _, rows in pairs for a in rows]
        if engine.dialect.name == "postgresql":
            _copy(engine, "clearance_records", COLUMNS, records)
            _copy(engine, "clearance_agency_records", AGENCY_COLUMNS, agencies)
        else:
            with engine.begin() as conn:
                conn.execute(ClearanceRecord.__table__.insert(), records)
                conn.execute(ClearanceAgencyRecord.__table__.insert(), agencies)
        print(f"  loaded {offset + len(records):,}", file=sys.stderr)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    return time.perf_counter() - start


def _copy(engine, table: str, columns: list[str], rows: list[dict]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_value(row[c]) for c in columns) + "\n")
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()


QUERIES = {
    "month, overall": {"from": "2025-06-01", "to": "2025-06-30"},
    "month, by port": {"from": "2025-06-01", "to": "2025-06-30", "group_by": "port"},
    "quarter, one port, imports": {"from": "2025-04-01", "to": "2025-06-30", "port": "CNSHG", "direction": "import"},
    "month, office × inspection place": {"from": "2025-09-01", "to": "2025-09-30",
                                         "group_by": "customs_office,inspection_place"},
    "year, by week": {"from": "2025-01-01", "to": "2025-12-31", "group_by": "week"},
    "month, advanced certified, joint": {"from": "2025-03-01", "to": "2025-03-31", "credit_level": "advanced",
                                         "inspection": "joint"},
    "month, one office, by destination": {"from": "2025-11-01", "to": "2025-11-30", "customs_office": "2248",
                                          "group_by": "destination"},
    "year, overall": {"from": "2025-01-01", "to": "2025-12-31"},
}


PAGES = {
    "page, month": {"from": "2025-06-01", "to": "2025-06-30"},
    "page, year": {"from": "2025-01-01", "to": "2025-12-31"},
    "page, whole study": {},
}
"""Queries of the public page (``/clearance-times``): overall, by week, by port and the distribution."""
TODAY = datetime(2025, 12, 15, 4, tzinfo=UTC)
"""The clock of the run: the standard set is then December and November, Q4 and Q3, 2025 and 2024, all."""


def backend_cpu(session) -> float:
    """CPU seconds used so far by the PostgreSQL backend serving ``session`` (0 on SQLite)."""
    if session.get_bind().dialect.name != "postgresql":
        return 0.0
    import psutil

    times = psutil.Process(session.execute(text("SELECT pg_backend_pid()")).scalar_one()).cpu_times()
    return times.user + times.system


def timed(factory, settings, fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process and of the database backend) of ``fn(ctx)`` in one unit of
    work, as a request runs it."""
    start, cpu = time.perf_counter(), time.process_time()
    with unit_of_work(factory) as session:
        before = backend_cpu(session)
        fn(Context(session=session, clock=FrozenClock(TODAY), settings=settings))
        used = backend_cpu(session) - before
    return time.perf_counter() - start, time.process_time() - cpu + used


def operations(source) -> dict:
    """Name → fn(ctx): each of ``QUERIES`` (the endpoint's figures) and ``PAGES`` (the page's chart series),
    answered by ``source`` (``service.live`` or ``publication.served``)."""
    ops = {}
    for name, params in QUERIES.items():
        query = parse_query(params)
        ops[name] = lambda ctx, query=query: source(ctx, "figures", query, ctx.settings.clearance_min_group)
    for name, params in PAGES.items():
        query = parse_query(params)
        ops[name] = lambda ctx, query=query: service.chart_series(ctx, query, answer=source)
    return ops


def time_operations(engine, source, repeat: int) -> dict[str, list[tuple[float, float]]]:
    factory, settings = make_session_factory(engine), Settings(database_url="sqlite://")
    ops = operations(source)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in ops}
    for _ in range(repeat):
        for name, fn in ops.items():
            timings[name].append(timed(factory, settings, fn))
    return timings


def refresh_round(engine) -> tuple[int, float, float]:
    """(publications, wall seconds, seconds spent computing them) of the scheduler's refresh of the standard
    set from nothing (no time budget: the scheduler spreads the same work over its rounds)."""
    factory, settings = make_session_factory(engine), Settings(database_url="sqlite://")
    with engine.begin() as conn:
        conn.execute(ClearancePublication.__table__.delete())
    start = time.perf_counter()
    done = publication.refresh(factory, FrozenClock(TODAY), settings)
    wall = time.perf_counter() - start
    with unit_of_work(factory) as session:
        computing = session.execute(select(func.sum(ClearancePublication.compute_seconds))).scalar_one()
    return len(done), wall, computing or 0.0


def table(title: str, timings: dict[str, list[tuple[float, float]]]) -> None:
    everything = [w for ts in timings.values() for w, _ in ts]
    print(f"\n{title}\n\n| query | runs | mean s | p50 s | p99 s | CPU ms/op |\n|---|---|---|---|---|---|")
    for name, ts in timings.items():
        walls = [w for w, _ in ts]
        print(f"| {name} | {len(ts)} | {statistics.mean(walls):.3f} | {percentile(walls, 50):.3f} | "
              f"{percentile(walls, 99):.3f} | {1000 * statistics.mean(c for _, c in ts):.1f} |")
    print(f"| **all** | {len(everything)} | {statistics.mean(everything):.3f} | {percentile(everything, 50):.3f} | "
          f"{percentile(everything, 99):.3f} | |")


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--consignments", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=10, help="Runs of each live computation.")
    parser.add_argument("--served-repeat", type=int, default=100, help="Runs of each published answer served.")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--keep", action="store_true", help="Keep the PostgreSQL database afterwards.")
    parser.add_argument("--reuse", action="store_true",
                        help="Time the figures on the PostgreSQL database a run with --keep left (no loading).")
    args = parser.parse_args()
    if args.reuse and args.db != "postgresql":
        parser.error("--reuse needs --db postgresql (the SQLite file is a fresh temporary one)")
    url = make_url(PG_ADMIN).set(database=NAME).render_as_string(hide_password=False) if args.reuse \
        else fresh_database(args.db, NAME)
    engine = make_engine(url, pool_size=2)
    upgrade(engine)
    if args.reuse:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT count(*) FROM clearance_records").scalar_one()
        print(f"{machine()}; {args.db}; {found:,} consignments (reused)", file=sys.stderr)
    else:
        print(f"{machine()}; {args.db}; {args.consignments:,} consignments", file=sys.stderr)
        loaded = load(engine, args.consignments, args.seed, date(2025, 1, 1), 365)
        print(f"load: {loaded:.1f} s", file=sys.stderr)
    print(f"load average before: {load_average()}", file=sys.stderr)
    keys, wall, computing = refresh_round(engine)
    print(f"\n(c) refresh round of the standard set: {keys} publications in {wall:.1f} s ({computing:.1f} s "
          f"computing; load average {load_average()})")
    time_operations(engine, publication.served, 1)  # the queries asked once: published as the scheduler keeps them
    table(f"(a) served as published, seconds per request (load average {load_average()})",
          time_operations(engine, publication.served, args.served_repeat))
    time_operations(engine, service.live, 1)  # warm the caches
    table(f"(b) computed live, seconds per request (load average {load_average()})",
          time_operations(engine, service.live, args.repeat))
    engine.dispose()
    if args.db == "postgresql" and not args.keep:
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
