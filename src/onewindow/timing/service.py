"""The clearance-time study (放行时间评价体系): bring it up to date, and the figures it publishes.

:func:`project` applies the event log to the study (see :mod:`onewindow.timing.projection`
for what a consignment's record says). :func:`figures` answers a :class:`FigureQuery`
with, for each group, the number of consignments and, for each stage and each agency,
count, mean, median and 90th percentile in hours. Only aggregates ever leave here: no
consignment, declaration or enterprise is named, and a group of fewer consignments than
the minimum (``clearance_min_group``, 5 by default) is suppressed: its key is shown, its
figures are not. A stage or agency measured on fewer consignments than the minimum shows
its count only.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date
from typing import Any

from onewindow.context import Context
from onewindow.models import AGENCIES, STAGES
from onewindow.timing import projection
from onewindow.timing.filters import FigureQuery
from onewindow.timing.statistics import Summary, figure_summaries, histogram

STAGE_LABELS = {
    "arrival_to_filing": "arrival → filing (trader)",
    "filing_to_release": "filing → release (agencies)",
    "release_to_gate_out": "release → gate-out (port)",
    "arrival_to_release": "arrival → release",
    "arrival_to_gate_out": "arrival → gate-out (whole)",
}
DISTRIBUTION_HOURS = (0, 1, 2, 4, 8, 12, 24, 48, 72, 120)
"""Bucket bounds of the distribution chart, in hours (the last bucket is 120 h and more)."""


def project(ctx: Context, *, limit: int | None = None) -> int:
    """Bring the study up to date with the event log; returns how many events were applied."""
    return projection.project(ctx, limit=limit)


def hours(summary: Summary | None, min_group: int) -> dict[str, Any]:
    """A summary in hours (2 decimals); figures withheld below ``min_group`` values."""
    if summary is None or summary.count == 0:
        return {"count": 0, "mean": None, "median": None, "p90": None}
    if summary.count < min_group:
        return {"count": summary.count, "mean": None, "median": None, "p90": None, "suppressed": True}
    return {"count": summary.count, **{name: round(getattr(summary, name) / 3600, 2)
                                       for name in ("mean", "median", "p90")}}


def _key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def figures(ctx: Context, query: FigureQuery, *, min_group: int | None = None) -> dict[str, Any]:
    """The published figures of ``query``: one entry per group (one group when nothing is grouped)."""
    min_group = min_group or ctx.settings.clearance_min_group
    counts, found_by_key = figure_summaries(ctx, query)
    if not query.group_by and not counts:
        counts = {(): (0, 0)}
    groups = []
    for key in sorted(counts, key=lambda k: tuple("" if v is None else str(v) for v in k)):
        consignments, complete = counts[key]
        group: dict[str, Any] = {"key": {name: _key(v) for name, v in zip(query.group_by, key, strict=True)}}
        if 0 < consignments < min_group or (consignments == 0 and query.group_by):
            groups.append({**group, "suppressed": True})
            continue
        found = found_by_key.get(key, {})
        agencies = {a: hours(found.get(a), min_group) for a in sorted(AGENCIES)}
        groups.append({**group, "suppressed": False, "consignments": consignments, "complete": complete,
                       "stages": {s: hours(found.get(s), min_group) for s in STAGES},
                       "agencies": {a: s for a, s in agencies.items() if s["count"]}})
    return {"query": query.as_params(), "unit": "hours", "min_group": min_group, "stages": list(STAGES),
            "groups": groups}


CSV_COLUMNS = ("consignments", "complete", "stage", "agency", "count", "mean_hours", "median_hours", "p90_hours",
               "suppressed")


def figures_csv(answer: dict[str, Any]) -> str:
    """The figures as CSV: one line per group and stage, then one per group and agency (filing → release)."""
    group_by = [g for g in answer["query"].get("group_by", "").split(",") if g]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*group_by, *CSV_COLUMNS])
    for group in answer["groups"]:
        key = [group["key"].get(g) for g in group_by]
        if group["suppressed"]:
            writer.writerow([*key, "", "", "", "", "", "", "", "", "true"])
            continue
        lines = [(stage, "", s) for stage, s in group["stages"].items()]
        lines += [("filing_to_release", agency, s) for agency, s in group["agencies"].items()]
        for stage, agency, s in lines:
            writer.writerow([*key, group["consignments"], group["complete"], stage, agency, s["count"],
                             _cell(s["mean"]), _cell(s["median"]), _cell(s["p90"]),
                             "true" if s.get("suppressed") else "false"])
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def chart_series(ctx: Context, query: FigureQuery, *, min_group: int | None = None) -> dict[str, Any]:
    """What a page or report draws: the overall figures, the distribution of arrival → release,
    the median of each stage (the breakdown), the weekly trend and the figures by port."""
    min_group = min_group or ctx.settings.clearance_min_group
    overall = figures(ctx, replace(query, group_by=()), min_group=min_group)
    whole = overall["groups"][0]
    by_week = figures(ctx, replace(query, group_by=("week",)), min_group=min_group)
    by_port = figures(ctx, replace(query, group_by=("port",)), min_group=min_group)
    counts = histogram(ctx, query, "arrival_to_release", DISTRIBUTION_HOURS)
    shown = whole.get("consignments", 0) >= min_group
    return {
        "overall": overall,
        "distribution": {"stage": "arrival_to_release", "buckets": _bucket_labels(),
                         "counts": counts if shown else None},
        "breakdown": {"stages": list(STAGES), "labels": [STAGE_LABELS[s] for s in STAGES],
                      "median": [whole["stages"][s]["median"] if shown else None for s in STAGES],
                      "mean": [whole["stages"][s]["mean"] if shown else None for s in STAGES]},
        "trend": _series(by_week, "week"),
        "by_port": _series(by_port, "port"),
    }


def _bucket_labels() -> list[str]:
    bounds = DISTRIBUTION_HOURS
    return [f"{a}–{b} h" for a, b in zip(bounds, bounds[1:], strict=False)] + [f"≥ {bounds[-1]} h"]


def _series(answer: dict[str, Any], name: str) -> dict[str, Any]:
    """One category per group, with the medians of arrival → release and arrival → gate-out."""
    groups = answer["groups"]
    visible = [g for g in groups if not g["suppressed"]]
    return {"categories": [g["key"][name] for g in visible],
            "consignments": [g["consignments"] for g in visible],
            **{stage: [g["stages"][stage]["median"] for g in visible]
               for stage in ("arrival_to_release", "arrival_to_gate_out", "filing_to_release")},
            "suppressed": [g["key"][name] for g in groups if g["suppressed"]]}
