"""Pages whose reads must not grow with the history: a consignment's timeline and a terminal's yard.

Fills a fresh database with a long history written straight into its tables: ``--events`` events, all
received by one agency office (the worst case: an office's feed holds every consignment it ever saw), about
one in seven about a container's visit, ten of them of the consignment whose timeline is read and three
about each of its two containers; and ``--visits`` container visits, two thirds at the terminal's port,
2,000 of them (the consignment's two among them) still in the yards. Then it times the two pages'
statements (``web.timeline.timeline_query`` for the office, ``web.terminal.yard_query`` for the port):
the median and p99 of ``--runs`` executions, rows fetched included. Then it drops the two partial
indexes that serve them (``ix_events_container_subject``, ``ix_container_visits_yard``) and times the
same statements again: what the indexes save.

    python bench/page_reads.py [--db sqlite postgresql] [--events 1000000] [--visits 1000000] [--runs 50]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).parent))
from common import drop_database, fresh_database, machine, summary  # noqa: E402

from onewindow.db import make_engine  # noqa: E402
from onewindow.migrate import upgrade  # noqa: E402
from onewindow.models import ContainerVisit, Event, EventRecipient, Filing, Organisation  # noqa: E402
from onewindow.web.terminal import yard_query  # noqa: E402
from onewindow.web.timeline import timeline_query  # noqa: E402

PORT, IN_YARDS, BATCH = "CNDAG", 2000, 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)
CONTAINERS = ["MSKU6033802", "TGHU9920163"]


def fill(engine, events: int, visits: int) -> tuple[uuid.UUID, Filing]:
    """The history; returns the office that received every event and the consignment read."""
    rng = random.Random(7)
    office, filing = uuid.uuid4(), Filing(id=uuid.uuid4(), created_at=START,
                                          data={"containers": [{"number": n} for n in CONTAINERS]})
    ours = [uuid.uuid4() for _ in CONTAINERS]
    with engine.begin() as conn:
        conn.execute(insert(Organisation), [dict(id=office, kind="customs", code="0916", name="x", created_at=START)])
        visit_rows = [dict(id=v, number=n, port=PORT, arrived_at=START, created_at=START)
                      for v, n in zip(ours, CONTAINERS, strict=True)]
        for i in range(visits - len(ours)):
            at = START + timedelta(seconds=i)
            visit_rows.append(dict(id=uuid.uuid4(), number=f"ABCU{i % 10_000_000:07d}", created_at=at,
                                   port=PORT if i % 3 else "CNSHA", arrived_at=at,
                                   gated_out_at=None if i < IN_YARDS - len(ours) else at + timedelta(days=2)))
        for i in range(0, len(visit_rows), BATCH):
            conn.execute(insert(ContainerVisit), visit_rows[i:i + BATCH])
    step = max(events // 10, 1)
    for start in range(0, events, BATCH):
        rows = []
        for i in range(start, min(start + BATCH, events)):
            mine = i % step == step - 1
            about_container = i % 7 == 0 and not mine
            rows.append(dict(seq=i + 1, tx=0, id=uuid.uuid4(), occurred_at=START + timedelta(seconds=i), data={},
                             type="container.released" if about_container else "declaration.accepted",
                             subject_type="container" if about_container else "declaration",
                             subject_id=ours[i // 7 % 2] if about_container and i < 42 else uuid.uuid4(),
                             filing_id=None if about_container else (filing.id if mine else rng.choice(
                                 [uuid.uuid4(), None]))))
        with engine.begin() as conn:
            conn.execute(insert(Event), rows)
            conn.execute(insert(EventRecipient), [dict(organisation_id=office, tx=0, event_seq=r["seq"])
                                                  for r in rows])
    return office, filing


def timed(engine, statement, runs: int) -> tuple[dict[str, float], int]:
    """Latencies of ``runs`` executions (after one), and the rows each fetched."""
    latencies = []
    with engine.connect() as conn:
        found = len(conn.execute(statement).all())
        for _ in range(runs):
            started = time.perf_counter()
            conn.execute(statement).all()
            latencies.append(time.perf_counter() - started)
    return summary(latencies), found


def run(kind: str, events: int, visits: int, runs: int) -> tuple[list[str], str]:
    url = fresh_database(kind, "onewindow_bench_page_reads")
    engine = make_engine(url)
    try:
        upgrade(engine)
        started = time.perf_counter()
        office, filing = fill(engine, events, visits)
        if kind == "postgresql":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        filled = time.perf_counter() - started
        pages = {"timeline": timeline_query(office, filing), "yard": yard_query(PORT)}
        rows = []
        for label, n in (("with its index", runs), ("without it", max(runs // 5, 3))):
            if label == "without it":
                with engine.begin() as conn:
                    conn.execute(text("DROP INDEX ix_events_container_subject"))
                    conn.execute(text("DROP INDEX ix_container_visits_yard"))
                    if kind == "postgresql":
                        conn.execute(text("ANALYZE"))
            for page, statement in pages.items():
                figures, found = timed(engine, statement, n)
                rows.append(f"| {kind} | {page} | {label} | {found} | {figures['p50_ms']} | {figures['p99_ms']} |")
        return rows, f"{kind}: the history written in {filled:.0f} s"
    finally:
        engine.dispose()
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql"])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print(f"{args.events:,} events received by one office, {args.visits:,} container visits ({IN_YARDS:,} in yards)")
    print("| database | page | statement | rows | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|")
    notes = []
    for kind in args.db:
        rows, note = run(kind, args.events, args.visits, args.runs)
        print("\n".join(rows), flush=True)
        notes.append(note)
    print("\n".join(notes))


if __name__ == "__main__":
    main()
