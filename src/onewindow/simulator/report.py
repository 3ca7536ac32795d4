"""The figures of one or more runs as text (side by side) or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from onewindow.simulator.plan import Options
from onewindow.simulator.run import Result

HEADINGS = {"joint": "matching on", "serial": "matching off", "run": "this run"}


def _rows(f) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = [
        ("consignments", f.consignments), ("  gated out", f.gated_out), ("  failed", f.failures),
        ("containers", f.containers), ("inspections held", f.inspections), ("  of which joint", f.joint_inspections),
        ("containers opened", f.containers_opened), ("agency staff check-ins", f.checkins)]
    for label, stat in (("arrival → gate-out (h)", f.arrival_to_gate_out),
                        ("filing → release (h)", f.filing_to_release)):
        rows += [(label, ""), ("  mean", stat.mean), ("  median", stat.median), ("  p90", stat.p90)]
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def text(results: dict[str, Result], options: Options) -> str:
    """A table with one column per run."""
    names = list(results)
    table = [_rows(results[n].figures) for n in names]
    width = max(len(label) for label, _ in table[0]) + 2
    lines = [f"{'':<{width}}" + "".join(f"{HEADINGS.get(n, n):>14}" for n in names)]
    for i, (label, _) in enumerate(table[0]):
        lines.append(f"{label:<{width}}" + "".join(f"{_cell(rows[i][1]):>14}" for rows in table))
    lines.append("")
    lines.append(f"seed {options.seed}, {options.consignments} consignments × {options.containers_per_filing} "
                 f"containers, inspection rates customs {options.customs_rate:g} / CIQ {options.ciq_rate:g}, "
                 f"no-show {options.no_show_rate:g}, rejected {options.reject_rate:g}, speed {options.speed:g}×")
    for n in names:
        r = results[n]
        p50, p99 = r.latency_ms(0.5), r.latency_ms(0.99)
        lines.append(f"{HEADINGS.get(n, n)}: {r.requests} requests in {r.wall_seconds:.0f} s; request time median "
                     f"{p50:.0f} ms, p99 {p99:.0f} ms (= {p99 / 1000 * r.speed / 60:.1f} simulated min)")
        if r.outcome.late_checkins:
            lines.append(f"  warning: {r.outcome.late_checkins} check-ins reached the platform after the grace; "
                         "the speed is too high for this machine (lower --speed)")
        for index, message in sorted(r.outcome.failures.items())[:5]:
            lines.append(f"  consignment {index} failed: {message}")
    return "\n".join(lines)


def as_json(results: dict[str, Result], options: Options) -> str:
    doc = {"options": asdict(options),
           "runs": {n: {"joint_inspection": r.joint_inspection, "figures": r.figures.as_dict(),
                        "requests": r.requests, "wall_seconds": round(r.wall_seconds, 1),
                        "request_ms": {"median": round(r.latency_ms(0.5), 1), "p99": round(r.latency_ms(0.99), 1)},
                        "late_checkins": r.outcome.late_checkins,
                        "failures": {str(i): m for i, m in sorted(r.outcome.failures.items())}}
                    for n, r in results.items()}}
    return json.dumps(doc, ensure_ascii=False, indent=2)
