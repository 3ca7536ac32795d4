"""From the last decision to the committed match: the matching service with its database, in process.

For each consignment (2 containers, declared to customs and CIQ, both
accepted, the terminal has discharged them) customs decides to inspect the
first container; these steps are set up first and not timed. Then CIQ's
decision, the last one, is timed the way a request runs it: one unit of work
that authenticates the caller's token, records the decision, locks the
containers, matches (the joint inspection, its relocation task, the events)
and commits. Latency = from opening that unit of work to the return of
``COMMIT``: the match is then committed and visible to everyone. No HTTP (the
lifecycle benchmark measures requests over HTTP).

Wall-clock and CPU time (of this thread) are both printed; on a machine shared
with other work the CPU time is the steadier figure.

Where wall-clock time exceeds CPU time. Measured (2026-12-01, 2 cores, load
average 2-7 from other work) by timing each decision beside the collector's
callbacks, the checkpointer's passes and the thread's context switches: the
decisions that wait are almost all *preempted* (the kernel switched the
thread out for another process: involuntary context switches during the
decision; 42-99 of 300 decisions with wall - CPU > 1 ms at load 6, every one
of them preempted). Besides, the SQLite checkpointer (``db._Checkpointer``)
makes one decision wait each time it restarts the write-ahead log under the
writer gate (2-15 ms held), which under this benchmark's steady writes
(about 30 log pages per decision) is every pass, once per 0.5 s: one decision
in about 250. The set-up's backlog is not the cause (letting the
checkpointer catch up for 2 s before timing leaves the same restarts in the
timed window, so the benchmark does not wait), nor is the garbage collector
(one young collection per run, after ``settle_collector``). Hence two more
columns: how many timed decisions were preempted, and the wall-clock p99 of
the others (what a machine of one's own would see, checkpoints included;
a long decision is likelier to be preempted, so on a loaded machine this
figure leans low: read it with the count).

    python bench/committed_match.py [--db sqlite postgresql] [--consignments 500] [--profile] [--rate R]

``--rate R``: the timed decisions arrive R per second at even intervals (an open schedule) instead of one
right after the other; each latency counts from its decision's arrival, so a decision that finds the one
before still running counts its wait. One right after the other (about 1,000 a second) is the heaviest
load one client can make, and the write-ahead log then grows by some 90 MB between two checkpoints; even a
large port's agencies decide far fewer times a second.

``--profile`` also counts the Python function calls of each last decision
(under cProfile, in a further pass after the timed one), a figure that does
not move with the machine's load.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import drop_database, fresh_database, machine, percentile  # noqa: E402
from lifecycle import prepare  # noqa: E402

from onewindow.clock import SystemClock  # noqa: E402
from onewindow.config import Settings  # noqa: E402
from onewindow.context import Context  # noqa: E402
from onewindow.app import settle_collector
from onewindow.db import make_engine, make_session_factory, unit_of_work  # noqa: E402
from onewindow.filings import declarations, service as filings  # noqa: E402
from onewindow.inspections import service as inspections, terminal  # noqa: E402
from onewindow.models import Inspection  # noqa: E402
from onewindow.parties.service import authenticate  # noqa: E402
from onewindow.samples import sample_entry  # noqa: E402

WARM_UP = 20


class Parties:
    """Units of work as each party's requests run them (token authenticated, commit at the end)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)
        self.settings = Settings(database_url=url)
        self.clock = SystemClock()
        self.tokens = prepare(url)

    def run(self, party: str, fn):
        with unit_of_work(self.factory) as session:
            ctx = Context(session=session, clock=self.clock, settings=self.settings)
            return fn(replace(ctx, actor=authenticate(ctx, self.tokens[party])))


def set_up(parties: Parties, seed: int) -> tuple[str, list[str]]:
    """One consignment up to customs' decision; returns CIQ's declaration id and the containers."""
    entry = sample_entry(seed=seed, containers=2, items=5)
    numbers = [c["number"] for c in entry["containers"]]
    parties.run("terminal", lambda ctx: terminal.record_arrival(
        ctx, {"containers": numbers, "conveyance": entry["conveyance"]}))
    filing_id = parties.run("enterprise", lambda ctx: filings.create_filing(ctx, entry).id)
    ids = parties.run("enterprise", lambda ctx: {d.agency: str(d.id)
                                                 for d in filings.submit_filing(ctx, str(filing_id)).declarations})
    for agency in ("customs", "ciq"):
        parties.run(agency, lambda ctx, a=agency: declarations.accept(ctx, ids[a]))
    parties.run("customs", lambda ctx: inspections.decide(
        ctx, ids["customs"], {"inspect": True, "containers": numbers[:1], "kind": "physical", "reason": "bench"}))
    return ids["ciq"], numbers


def last_decision(parties: Parties, declaration_id: str, numbers: list[str],
                  due: float | None = None) -> tuple[float, float, bool]:
    """CIQ's decision through commit; (wall seconds, CPU seconds of this thread, whether the thread was
    preempted meanwhile: switched out by the kernel for other work). With ``due`` (a ``perf_counter``
    instant) the decision waits for it and the wall time counts from it: the latency of a decision that
    arrived then, its wait for the one before included when that one ended late."""
    body = {"inspect": True, "containers": numbers[:1], "kind": "sampling"}
    if due is not None and (ahead := due - time.perf_counter()) > 0:
        time.sleep(ahead)
    switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
    wall, cpu = time.perf_counter() if due is None else due, time.thread_time()
    status = parties.run("ciq", lambda ctx: inspections.decide(ctx, declaration_id, body).status)
    wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
    preempted = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw > switches
    assert status == "matched", status
    return wall, cpu, preempted


def profiled(parties: Parties, pending: list[tuple[str, list[str]]]) -> float:
    """Python function calls per last decision, over ``pending``."""
    profiler = cProfile.Profile()
    for declaration_id, numbers in pending:
        profiler.enable()
        last_decision(parties, declaration_id, numbers)
        profiler.disable()
    return pstats.Stats(profiler).total_calls / len(pending)


def timed_decisions(parties: Parties, pending: list[tuple[str, list[str]]], rate: float | None
                    ) -> list[tuple[float, float, bool]]:
    """The last decisions of ``pending``, one after the other, or arriving ``rate`` per second at even
    intervals (an open schedule: a late decision delays the next, which counts its wait)."""
    if not rate:
        return [last_decision(parties, declaration_id, numbers) for declaration_id, numbers in pending]
    start = time.perf_counter()
    return [last_decision(parties, declaration_id, numbers, due=start + i / rate)
            for i, (declaration_id, numbers) in enumerate(pending)]


def run(kind: str, n: int, profile: bool = False, rate: float | None = None) -> dict:
    url = fresh_database(kind, "onewindow_bench_committed_match")
    parties = Parties(url)
    counted = n // 5 if profile else 0
    try:
        pending = [set_up(parties, seed) for seed in range(n + WARM_UP + counted)]
        settle_collector()  # the collector as a serving process has it (`onewindow serve`, the worker)
        for declaration_id, numbers in pending[:WARM_UP]:
            last_decision(parties, declaration_id, numbers)
        timed = timed_decisions(parties, pending[WARM_UP:n + WARM_UP], rate)
        calls = profiled(parties, pending[n + WARM_UP:]) if profile else None
        with unit_of_work(parties.factory) as session:
            joint = session.query(Inspection).filter(Inspection.joint.is_(True)).count()
        assert joint == n + WARM_UP + counted, joint
    finally:
        parties.engine.dispose()
        drop_database(url)
    walls, cpus = [w for w, _, _ in timed], [c for _, c, _ in timed]
    steady = [w for w, _, preempted in timed if not preempted]
    ms = lambda values, p: round(1000 * percentile(values, p), 2) if values else None  # noqa: E731
    return {"database": kind, "n": n, "p50": ms(walls, 50), "p99": ms(walls, 99), "max": ms(walls, 100),
            "cpu_p50": ms(cpus, 50), "cpu_p99": ms(cpus, 99), "preempted": n - len(steady),
            "steady_p99": ms(steady, 99), "calls": round(calls) if calls else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--consignments", type=int, default=500)
    parser.add_argument("--profile", action="store_true", help="also count Python calls per last decision")
    parser.add_argument("--rate", type=float, help="last decisions arriving this many per second (open "
                        "schedule, latency from each one's arrival) instead of one right after the other")
    args = parser.parse_args()
    if args.rate is not None and args.rate <= 0:
        parser.error(f"--rate must be a positive number of decisions per second, not {args.rate}")
    print(f"machine: {machine()}")
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("last decisions: " + (f"arriving {args.rate:g} per second" if args.rate else "one right after the other"))
    print("| database | last decisions timed | p50 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms "
          "| preempted | p99 ms not preempted | Python calls per decision |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for kind in args.db:
        r = run(kind, args.consignments, args.profile, args.rate)
        print(f"| {r['database']} | {r['n']} | {r['p50']} | {r['p99']} | {r['max']} | {r['cpu_p50']} | "
              f"{r['cpu_p99']} | {r['preempted']} | {r['steady_p99'] or '-'} | {r['calls'] or '-'} |", flush=True)


if __name__ == "__main__":
    main()
