"""Count, mean, median and 90th percentile of each stage, computed in the database.

Percentiles are the continuous kind (linear interpolation between the two
nearest ranks, ``percentile_cont``): PostgreSQL computes them with
``percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY ...)`` (one sort per
stage, all stages in one pass over the rows); SQLite, which has no such
aggregate, with window functions (each value's rank and its group's size) and
the same interpolation, so both databases give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Float, Integer, case, cast, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY, array
from sqlalchemy.sql import ColumnElement

from onewindow.context import Context
from onewindow.models import AGENCIES, STAGES, ClearanceRecord
from onewindow.timing.filters import FigureQuery

R = ClearanceRecord
PERCENTILES = (0.5, 0.9)


@dataclass(frozen=True)
class Summary:
    """One stage of one group, in seconds (``count`` values; the others None when there are none)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None


def column(name: str) -> ColumnElement:
    return R.started_week if name == "week" else getattr(R, name)


def conditions(query: FigureQuery) -> list[ColumnElement]:
    conds = [getattr(R, name) == value for name, value in query.filters.items()]
    if query.date_from:
        conds.append(R.started_on >= query.date_from)
    if query.date_to:
        conds.append(R.started_on <= query.date_to)
    return conds


def _postgres(ctx: Context) -> bool:
    return ctx.session.get_bind().dialect.name == "postgresql"


COUNTS = (func.count(), func.sum(case((R.complete.is_(True), 1), else_=0)))


def group_counts(ctx: Context, query: FigureQuery) -> dict[tuple, tuple[int, int]]:
    """Group key → (consignments, complete ones)."""
    keys = [column(g) for g in query.group_by]
    rows = ctx.session.execute(select(*keys, *COUNTS).where(*conditions(query)).group_by(*keys))
    return {tuple(row[:-2]): (row[-2], int(row[-1] or 0)) for row in rows}


def figure_summaries(ctx: Context, query: FigureQuery, names: Sequence[str] = (*STAGES, *AGENCIES)) \
        -> tuple[dict[tuple, tuple[int, int]], dict[tuple, dict[str, Summary]]]:
    """(group key → (consignments, complete ones), group key → stage or agency → :class:`Summary`).

    ``names``: the stages (as in ``STAGES``) and agencies (each agency's filing → release, by the agency's
    name) to summarise, all by default; every one costs a sort. PostgreSQL answers both in one pass over
    the consignments the query selects.
    """
    keys = [column(g) for g in query.group_by]
    values = {name: getattr(R, f"{name}_seconds" if name in STAGES else f"{name}_filing_to_release_seconds")
              for name in names}
    if _postgres(ctx):
        return _summaries_postgres(ctx, keys, values, conditions(query))
    out: dict[tuple, dict[str, Summary]] = {}
    for name, value in values.items():
        for key, summary in _summaries_window(ctx, keys, value, conditions(query)).items():
            out.setdefault(key, {})[name] = summary
    return group_counts(ctx, query), out


def _summaries_postgres(ctx: Context, keys, values: dict[str, ColumnElement], conds):
    """Counts and summaries in one statement (see :func:`figure_summaries`)."""
    ctx.session.execute(text("SET LOCAL work_mem = '64MB'"))  # the sorts of percentile_cont stay in memory
    columns = []
    for value in values.values():
        columns += [func.count(value), func.avg(value),
                    func.percentile_cont(array(list(PERCENTILES)), type_=ARRAY(Float)).within_group(value)]
    rows = ctx.session.execute(select(*keys, *COUNTS, *columns).select_from(R).where(*conds).group_by(*keys))
    counts, out = {}, {}
    n = len(keys)
    for row in rows:
        if not row[n]:
            continue  # no consignment at all (an aggregate without groups still answers one row)
        counts[tuple(row[:n])] = (row[n], int(row[n + 1] or 0))
        out[tuple(row[:n])] = {name: _summary(row[n + 2 + 3 * i], row[n + 3 + 3 * i], row[n + 4 + 3 * i])
                               for i, name in enumerate(values)}
    return counts, out


def _summary(count: Any, mean: Any, percentiles: Any) -> Summary:
    if not count:
        return Summary(0, None, None, None)
    median, p90 = (float(p) for p in percentiles)
    return Summary(int(count), float(mean), median, p90)


def _summaries_window(ctx: Context, keys, value: ColumnElement, conds) -> dict[tuple, Summary]:
    """Percentiles by rank: value at rank ``floor(1 + p(n−1))`` plus the fraction of the step to the next."""
    parts = list(keys) or None
    ranked = select(
        *[k.label(f"k{i}") for i, k in enumerate(keys)], value.label("v"),
        func.row_number().over(partition_by=parts, order_by=value).label("rn"),
        func.count().over(partition_by=parts).label("n")).where(*conds, value.is_not(None)).subquery()
    rn, n, v = ranked.c.rn, ranked.c.n, ranked.c.v
    group = [ranked.c[f"k{i}"] for i in range(len(keys))]
    columns = [func.count(), func.avg(v)]
    for p in PERCENTILES:
        position = 1 + p * (n - 1)
        low = cast(position, Integer)
        at_low = func.max(case((rn == low, v)))
        at_high = func.coalesce(func.max(case((rn == low + 1, v))), at_low)
        columns.append(at_low + func.max(position - low) * (at_high - at_low))
    rows = ctx.session.execute(select(*group, *columns).group_by(*group))
    k = len(keys)
    return {tuple(row[:k]): Summary(int(row[k]), float(row[k + 1]), float(row[k + 2]), float(row[k + 3]))
            for row in rows if row[k]}


def histogram(ctx: Context, query: FigureQuery, stage: str, bounds_hours: Sequence[float]) -> list[int]:
    """How many consignments of the query took ``stage`` within each bucket ``[b_i, b_i+1)`` hours
    (the last bucket open-ended)."""
    value = getattr(R, f"{stage}_seconds")
    whens = [(value < int(b * 3600), i) for i, b in enumerate(bounds_hours[1:])]
    bucket = case(*whens, else_=len(bounds_hours) - 1)
    rows = ctx.session.execute(select(bucket, func.count()).where(*conditions(query), value.is_not(None))
                               .group_by(bucket))
    counts = [0] * len(bounds_hours)
    for index, count in rows:
        counts[int(index)] = count
    return counts

