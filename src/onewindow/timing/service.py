"""The clearance-time study (放行时间评价体系): bring it up to date, and the figures it publishes.

:func:`project` applies the event log to the study (see :mod:`onewindow.timing.projection`
for what a consignment's record says). :func:`figures` answers a :class:`FigureQuery`
with, for each group, the number of consignments and, for each stage and each agency,
count, mean, median and 90th percentile in hours. Only aggregates ever leave here: no
consignment, declaration or enterprise is named, and a group of fewer consignments than
the minimum (``clearance_min_group``, 5 by default) is suppressed: its key is shown, its
figures are not. A stage or agency measured on fewer consignments than the minimum (none
included) shows its count only, marked suppressed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date
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
    """A summary in hours (2 decimals); below ``min_group`` values (none included) only the count, with
    ``"suppressed": True``."""
    count = 0 if summary is None else summary.count
    if count < min_group:
        return {"count": count, "mean": None, "median": None, "p90": None, "suppressed": True}
    return {"count": summary.count, **{name: round(getattr(summary, name) / 3600, 2)
                                       for name in ("mean", "median", "p90")}}


def _key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def stamp(ctx: Context) -> str:
    """Now, as an answer's ``as_of`` (ISO 8601 in UTC, so stamps compare as text)."""
    return ctx.now().astimezone(UTC).isoformat()


def figures(ctx: Context, query: FigureQuery, *, min_group: int | None = None,
            stages: tuple[str, ...] = STAGES, agencies: tuple[str, ...] = AGENCIES) -> dict[str, Any]:
    """The figures of ``query`` computed now: one entry per group (one group when nothing is grouped)
    with ``stages`` and ``agencies`` (all by default); ``as_of`` is when the computation began."""
    min_group = min_group or ctx.settings.clearance_min_group
    as_of = stamp(ctx)
    counts, found_by_key = figure_summaries(ctx, query, (*stages, *agencies))
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
        shown = {a: hours(found.get(a), min_group) for a in sorted(agencies)}
        groups.append({**group, "suppressed": False, "consignments": consignments, "complete": complete,
                       "stages": {s: hours(found.get(s), min_group) for s in stages},
                       "agencies": {a: s for a, s in shown.items() if s["count"]}})
    return {"query": query.as_params(), "unit": "hours", "min_group": min_group, "stages": list(stages),
            "as_of": as_of, "groups": groups}


def distribution(ctx: Context, query: FigureQuery) -> dict[str, Any]:
    """How many consignments of ``query`` took arrival → release within each bucket of
    ``DISTRIBUTION_HOURS`` (the whole period, whatever ``query.group_by`` says)."""
    as_of = stamp(ctx)
    return {"query": replace(query, group_by=()).as_params(), "stage": "arrival_to_release",
            "bounds_hours": list(DISTRIBUTION_HOURS), "as_of": as_of,
            "counts": histogram(ctx, query, "arrival_to_release", DISTRIBUTION_HOURS)}


SERIES_STAGES = ("arrival_to_release", "arrival_to_gate_out", "filing_to_release")
"""The stages a chart series draws (by week, by port): three sorts per query instead of seven."""
KINDS = {"figures": lambda ctx, query, min_group: figures(ctx, query, min_group=min_group),
         "series": lambda ctx, query, min_group: figures(ctx, query, min_group=min_group, stages=SERIES_STAGES,
                                                         agencies=()),
         "distribution": lambda ctx, query, min_group: distribution(ctx, query)}
"""What can be published, each computed live by ``KINDS[kind](ctx, query, min_group)``."""


def live(ctx: Context, kind: str, query: FigureQuery, min_group: int) -> dict[str, Any]:
    """``kind``'s answer to ``query`` computed now (exact, the study as it stands)."""
    return KINDS[kind](ctx, query, min_group)


CSV_COLUMNS = ("consignments", "complete", "stage", "agency", "count", "mean_hours", "median_hours", "p90_hours",
               "suppressed", "as_of")


def figures_csv(answer: dict[str, Any]) -> str:
    """The figures as CSV: one line per group and stage, then one per group and agency (filing → release);
    every line ends with the answer's ``as_of``."""
    group_by = [g for g in answer["query"].get("group_by", "").split(",") if g]
    as_of = answer.get("as_of", "")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*group_by, *CSV_COLUMNS])
    for group in answer["groups"]:
        key = [group["key"].get(g) for g in group_by]
        if group["suppressed"]:
            writer.writerow([*key, "", "", "", "", "", "", "", "", "true", as_of])
            continue
        lines = [(stage, "", s) for stage, s in group["stages"].items()]
        lines += [("filing_to_release", agency, s) for agency, s in group["agencies"].items()]
        for stage, agency, s in lines:
            writer.writerow([*key, group["consignments"], group["complete"], stage, agency, s["count"],
                             _cell(s["mean"]), _cell(s["median"]), _cell(s["p90"]),
                             "true" if s.get("suppressed") else "false", as_of])
    return out.getvalue()


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def chart_series(ctx: Context, query: FigureQuery, *, min_group: int | None = None,
                 answer: Callable[[Context, str, FigureQuery, int], dict[str, Any]] = live) -> dict[str, Any]:
    """What a page or report draws: the overall figures, the distribution of arrival → release,
    the median of each stage (the breakdown), the weekly trend and the figures by port.

    ``answer(ctx, kind, query, min_group)`` gives each part: :func:`live` (the default) computes it now;
    :func:`onewindow.timing.publication.served` serves what is published. ``as_of`` is the oldest part's.
    """
    min_group = min_group or ctx.settings.clearance_min_group
    whole_period = replace(query, group_by=())
    overall = answer(ctx, "figures", whole_period, min_group)
    whole = overall["groups"][0]
    by_week = answer(ctx, "series", replace(query, group_by=("week",)), min_group)
    by_port = answer(ctx, "series", replace(query, group_by=("port",)), min_group)
    spread = answer(ctx, "distribution", whole_period, min_group)
    shown = whole.get("consignments", 0) >= min_group
    return {
        "as_of": min(part["as_of"] for part in (overall, by_week, by_port, spread)),
        "overall": overall,
        "distribution": {"stage": "arrival_to_release", "buckets": _bucket_labels(),
                         "counts": spread["counts"] if shown else None},
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
               for stage in SERIES_STAGES},
            "suppressed": [g["key"][name] for g in groups if g["suppressed"]]}
