"""The port office's clearance-time report (``onewindow report clearance``): JSON, CSV or one HTML file.

The report holds the overall figures, the figures by port, by customs office, by
inspection, by credit level and by direction, the cross statistics (place of
declaration × place of inspection, place of declaration × destination), the weekly
trend and the distribution. The HTML page is self-contained: Apache ECharts (vendored
under ``web/static/vendor/echarts``) and the data are embedded, so the file can be
mailed or archived and opened anywhere without a network.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import replace
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from onewindow import __version__
from onewindow.context import Context
from onewindow.timing import service
from onewindow.timing.filters import FigureQuery

FORMATS = ("csv", "json", "html")
SECTIONS = {
    "by_port": ("port",),
    "by_customs_office": ("customs_office",),
    "by_inspection": ("inspection",),
    "by_credit_level": ("credit_level",),
    "by_direction": ("direction",),
    "declaration_x_inspection_place": ("customs_office", "inspection_place"),
    "declaration_x_destination": ("customs_office", "destination"),
    "by_week": ("week",),
}


def report_data(ctx: Context, query: FigureQuery, *, min_group: int,
                answer: Callable[[Context, str, FigureQuery, int], dict[str, Any]] = service.live) -> dict[str, Any]:
    """Every section of the report, each a :func:`service.figures` answer, and the chart series.

    ``answer``: :func:`service.live` (the default) computes every figure now, exact and current;
    :func:`onewindow.timing.publication.served` takes them as published (each says its ``as_of``).
    """
    sections = {"overall": answer(ctx, "figures", replace(query, group_by=()), min_group)}
    for name, groups in SECTIONS.items():
        sections[name] = answer(ctx, "figures", replace(query, group_by=groups), min_group)
    return {"title": "Clearance times 通关时间", "generated_at": ctx.now().isoformat(), "version": __version__,
            "query": query.as_params(), "min_group": min_group, "stage_labels": service.STAGE_LABELS,
            "sections": sections, "charts": service.chart_series(ctx, query, min_group=min_group, answer=answer)}


def render(data: dict[str, Any], fmt: str) -> str:
    """The report in ``fmt`` (csv: every section one after the other, with a ``section`` column)."""
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2)
    if fmt == "csv":
        return _csv(data)
    return _html(data)


def _csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["section", "group", *service.CSV_COLUMNS])
    for name, answer in data["sections"].items():
        rows = list(csv.reader(io.StringIO(service.figures_csv(answer))))
        width = len(rows[0]) - len(service.CSV_COLUMNS)
        for row in rows[1:]:
            group = ";".join(f"{k}={v}" for k, v in zip(rows[0][:width], row[:width], strict=True))
            writer.writerow([name, group, *row[width:]])
    return out.getvalue()


def _html(data: dict[str, Any]) -> str:
    env = Environment(loader=PackageLoader("onewindow.timing", "templates"), autoescape=select_autoescape())
    echarts = (files("onewindow") / "web" / "static" / "vendor" / "echarts" / "echarts.min.js").read_text("utf-8")
    return env.get_template("clearance_report.html").render(
        data=data, charts_json=json.dumps(data["charts"], ensure_ascii=False).replace("</", "<\\/"),
        echarts=echarts.replace("</script", "<\\/script"))
