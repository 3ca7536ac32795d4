"""Matching (对碰) throughput and latency: the pure engine, in process, no database.

Builds a realistic random batch: consignments of 1-3 containers (some sharing
a container with another consignment's filing), each declared to 2-4
agencies; each agency decides per declaration (most "no inspection", some
inspect all or part of the containers); a few agencies have not decided yet
(their groups wait or are matched by the window), a few containers already
have an inspection in progress (late decisions).

* Throughput: decisions per second of one ``match`` call on the whole batch
  (best and median of ``--repeat`` runs).
* Latency: the per-call time of matching the small batch that one
  consignment's last decision completes (its decisions and coverage), over
  ``--calls`` consignments; p50 and p99.

Times are wall-clock and CPU time of this process: on a machine shared with
other work the CPU time is the steadier figure. The load average at the start
is printed with the machine.

    python bench/matching.py [--decisions 100000] [--containers 60000] [--repeat 5] [--calls 20000] [--seed 1]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, percentile  # noqa: E402

from onewindow.inspections.matching import Decision, match  # noqa: E402

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
WINDOW = timedelta(hours=2)
NOW = T0 + timedelta(hours=3)
OTHERS = ("ciq", "border", "maritime")
KINDS = {"customs": ("physical", "machine_scan"), "ciq": ("quarantine_treatment", "sampling"),
         "border": ("physical",), "maritime": ("physical", "machine_scan")}


@dataclass
class Batch:
    decisions: list[Decision]
    coverage: dict[str, frozenset[str]]
    started: frozenset[str]
    consignments: list[tuple[list[Decision], dict[str, frozenset[str]]]]


def generate(n_decisions: int, n_containers: int, seed: int) -> Batch:
    """About ``n_decisions`` decisions over about ``n_containers`` containers."""
    rng = random.Random(seed)
    # 1-3 containers (mean 1.8) and 2-4 agencies (mean 3) per consignment.
    consignments_needed = n_decisions // 3
    scale = n_containers / (consignments_needed * 1.8)
    numbers = (f"BNCU{n:07d}" for n in range(10**7))
    decisions: list[Decision] = []
    coverage: dict[str, set[str]] = {}
    consignments = []
    previous: list[str] = []
    while len(decisions) < n_decisions:
        size = rng.choices((1, 2, 3), weights=(40, 40, 20))[0]
        containers = [next(numbers) for _ in range(max(1, round(size * scale)))]
        if previous and rng.random() < 0.03:  # LCL: one container shared with another consignment's filing
            containers[0] = rng.choice(previous)
        previous.extend(containers[1:] or containers)
        agencies = ["customs", *rng.sample(OTHERS, rng.randint(1, 3))]
        mine = []
        for agency in agencies:
            for c in containers:
                coverage.setdefault(c, set()).add(agency)
            if rng.random() < 0.03:  # accepted, not decided yet
                continue
            roll = rng.random()
            inspect = (frozenset(containers) if roll < 0.15 else
                       frozenset(rng.sample(containers, max(1, len(containers) // 2))) if roll < 0.20 else frozenset())
            mine.append(Decision(
                agency=agency, declaration_id=f"{agency}-{len(decisions)}", containers=frozenset(containers),
                inspect=inspect, kind=rng.choice(KINDS[agency]) if inspect else None,
                reason="risk rule R-17" if inspect else None,
                decided_at=T0 + timedelta(seconds=rng.randint(0, 3 * 3600))))
            decisions.append(mine[-1])
        consignments.append((mine, containers))
    frozen = {c: frozenset(a) for c, a in coverage.items()}
    started = frozenset(rng.sample(sorted(frozen), len(frozen) // 200))
    return Batch(decisions=decisions, coverage=frozen, started=started,
                 consignments=[(ds, {c: frozen[c] for c in cs}) for ds, cs in consignments if ds])


def throughput(batch: Batch, repeat: int, *, pause_gc: bool = False) -> tuple[list[float], list[float], object]:
    """Wall and CPU seconds of each of ``repeat`` calls on the whole batch, and the last result.

    With the collector on (the default) a call on a batch this big may set
    off a full collection, which walks the whole heap, the benchmark's own
    input included; ``pause_gc`` shows the engine's time without collections.
    """
    wall, cpu, result = [], [], None
    for _ in range(repeat):
        gc.collect()
        if pause_gc:
            gc.disable()
        start, start_cpu = time.perf_counter(), time.process_time()
        result = match(batch.decisions, batch.coverage, now=NOW, window=WINDOW, started=batch.started)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        gc.enable()
    return wall, cpu, result


def latency(batch: Batch, calls: int, seed: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of each call matching one consignment at the moment its last decision arrives."""
    rng = random.Random(seed)
    picked = [rng.choice(batch.consignments) for _ in range(calls)]
    wall, cpu = [], []
    for decisions, coverage in picked:
        now = max(d.decided_at for d in decisions)
        start, start_cpu = time.perf_counter(), time.process_time()
        match(decisions, coverage, now=now, window=WINDOW)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def rates(n: int, seconds: list[float], cpu: list[float]) -> str:
    median = statistics.median
    return (f"{n / min(seconds):,.0f} decisions/s best, {n / median(seconds):,.0f} median "
            f"(CPU time: {n / min(cpu):,.0f} best, {n / median(cpu):,.0f} median)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--containers", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    batch = generate(args.decisions, args.containers, args.seed)
    load = os.getloadavg()[0]
    seconds, cpu, result = throughput(batch, args.repeat)
    paused, paused_cpu, _ = throughput(batch, args.repeat, pause_gc=True)
    wall, wall_cpu = latency(batch, args.calls, args.seed)

    n = len(batch.decisions)
    pairs = sum(len(d.containers) for d in batch.decisions)
    planned = result.inspections
    joint, late = sum(p.joint for p in planned), sum(p.late for p in planned)
    per_call = statistics.mean(len(ds) for ds, _ in batch.consignments)
    command = " ".join(["python bench/matching.py", *sys.argv[1:]])
    rows = [
        ("machine", f"{machine()}; load average {load:.2f} at start"),
        ("command", f"`{command}`"),
        ("batch", f"{n:,} decisions, {len(batch.coverage):,} containers, {pairs:,} (decision, container) pairs, "
                  f"{len(batch.started):,} containers started, window {WINDOW}"),
        ("result", f"{len(planned):,} inspections ({joint:,} joint, {len(planned) - joint - late:,} single, "
                   f"{late:,} late); {len(result.matched):,} decisions matched, {len(result.waiting):,} waiting; "
                   f"{len(result.cleared):,} containers cleared"),
        ("whole batch in one call", f"best {min(seconds) * 1000:.0f} ms, median "
                                    f"{statistics.median(seconds) * 1000:.0f} ms ({args.repeat} runs)"),
        ("throughput", rates(n, seconds, cpu)),
        ("throughput, collector paused during the call", rates(n, paused, paused_cpu)),
        ("last decision → result (one consignment per call)",
         f"p50 {percentile(wall, 50) * 1e6:.1f} µs, p99 {percentile(wall, 99) * 1e6:.1f} µs "
         f"(CPU time: p50 {percentile(wall_cpu, 50) * 1e6:.1f} µs, p99 {percentile(wall_cpu, 99) * 1e6:.1f} µs); "
         f"{len(wall):,} calls of {per_call:.1f} decisions on average"),
    ]
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
