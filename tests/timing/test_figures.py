"""The figures computed in the database (both kinds) against a reference computed here; filters, cross
statistics, suppression; the public endpoint (no login, aggregates only, CSV, bad parameters); the report."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from onewindow.models import STAGES, ClearanceRecord
from onewindow.timing import service
from onewindow.timing.filters import FigureQuery, parse_query
from onewindow.timing.projection import week_of
from onewindow.timing.statistics import figure_summaries

URL = "/api/v1/public/clearance-times"
PORTS = ("CNDAG", "CNDLC")
OFFICES = ("0916", "0900")


def percentile_cont(values: list[float], p: float) -> float:
    """The reference: linear interpolation between the nearest ranks (what percentile_cont computes)."""
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def make_rows(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        day = date(2026, 3, 2) + timedelta(days=rng.randrange(28))
        start = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        trader, agencies, port = rng.randrange(0, 20000), rng.randrange(600, 90000), rng.randrange(0, 30000)
        done = rng.random() < 0.8
        rows.append(dict(
            filing_id=uuid.uuid4(), direction=rng.choice(("import", "export")), port=PORTS[i % 2],
            customs_office=OFFICES[(i // 2) % 2], ciq_office="210600", transport_mode="2", trade_mode="0110",
            credit_level=rng.choice(("advanced", "general")), inspection=rng.choice(("none", "single", "joint")),
            inspection_place=rng.choice(PORTS), destination=rng.choice(("210200", "JPN")), inspections=0,
            no_shows=0, rejections=0, pre_arrival=False, complete=done, started_at=start, started_on=day,
            started_week=week_of(day), arrived_at=start, filed_at=start, projected_at=start,
            arrival_to_filing_seconds=trader, filing_to_release_seconds=agencies,
            release_to_gate_out_seconds=port if done else None, arrival_to_release_seconds=trader + agencies,
            arrival_to_gate_out_seconds=trader + agencies + port if done else None,
            customs_filing_to_release_seconds=agencies - 100, ciq_filing_to_release_seconds=None))
    return rows


@pytest.fixture
def rows(run) -> list[dict]:
    rows = make_rows(61)

    run(lambda ctx: ctx.session.execute(ClearanceRecord.__table__.insert(), rows))
    return rows


def expected(rows: list[dict], stage: str) -> dict:
    values = [r[f"{stage}_seconds"] / 3600 for r in rows if r[f"{stage}_seconds"] is not None]
    return {"count": len(values), "mean": round(sum(values) / len(values), 2),
            "median": round(percentile_cont(values, 0.5), 2), "p90": round(percentile_cont(values, 0.9), 2)}


def test_figures_match_the_reference_for_every_stage(run, rows):
    answer = run(lambda ctx: service.figures(ctx, FigureQuery(), min_group=1))
    [group] = answer["groups"]
    assert group["consignments"] == 61 and group["complete"] == sum(r["complete"] for r in rows)
    for stage in STAGES:
        assert group["stages"][stage] == expected(rows, stage), stage
    customs = [{"filing_to_release_seconds": r["filing_to_release_seconds"] - 100} for r in rows]
    assert group["agencies"]["customs"] == expected(customs, "filing_to_release")


def test_filters_and_the_period_select_the_consignments(run, rows):
    query = parse_query({"from": "2026-03-09", "to": "2026-03-15", "port": "CNDAG", "credit_level": "advanced",
                         "inspection": "joint"})
    chosen = [r for r in rows if date(2026, 3, 9) <= r["started_on"] <= date(2026, 3, 15) and r["port"] == "CNDAG"
              and r["credit_level"] == "advanced" and r["inspection"] == "joint"]
    [group] = run(lambda ctx: service.figures(ctx, query, min_group=1))["groups"]
    assert group["consignments"] == len(chosen)
    if chosen:
        assert group["stages"]["arrival_to_release"] == expected(chosen, "arrival_to_release")


def test_cross_statistics_by_place_of_declaration_and_of_inspection(run, rows):
    query = parse_query({"group_by": "customs_office,inspection_place"})
    answer = run(lambda ctx: service.figures(ctx, query, min_group=1))
    seen = {(g["key"]["customs_office"], g["key"]["inspection_place"]): g for g in answer["groups"]}
    assert set(seen) == {(o, p) for o in OFFICES for p in PORTS}
    for (office, place), group in seen.items():
        chosen = [r for r in rows if r["customs_office"] == office and r["inspection_place"] == place]
        assert group["consignments"] == len(chosen)
        assert group["stages"]["filing_to_release"] == expected(chosen, "filing_to_release")
    by_week = run(lambda ctx: service.figures(ctx, parse_query({"group_by": "week"}), min_group=1))
    assert [g["key"]["week"] for g in by_week["groups"]] == ["2026-03-02", "2026-03-09", "2026-03-16",
                                                              "2026-03-23"]


def test_small_groups_are_suppressed(run, rows):
    answer = run(lambda ctx: service.figures(ctx, parse_query({"group_by": "port,destination"}), min_group=16))
    for group in answer["groups"]:
        key = group["key"]
        n = sum(1 for r in rows if r["port"] == key["port"] and r["destination"] == key["destination"])
        if n < 16:
            assert group == {"key": group["key"], "suppressed": True}
        else:
            assert group["consignments"] == n and not group["suppressed"]
    assert any(g["suppressed"] for g in answer["groups"]) and not all(g["suppressed"] for g in answer["groups"])


def test_the_public_figures_need_no_login_and_name_nobody(client, rows):
    answer = client.get(URL, params={"group_by": "port"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["min_group"] == 5 and body["unit"] == "hours"
    assert {g["key"]["port"] for g in body["groups"]} == set(PORTS)
    text = answer.text
    assert not any(str(r["filing_id"]) in text for r in rows)
    assert set(body["groups"][0]) == {"key", "suppressed", "consignments", "complete", "stages", "agencies"}
    assert answer.headers["cache-control"].startswith("public")


def test_the_public_figures_as_csv(client, rows):
    for answer in (client.get(URL, params={"format": "csv", "group_by": "port"}),
                   client.get(URL + ".csv", params={"group_by": "port"})):
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(answer.text)))
        assert len(lines) == 2 * (len(STAGES) + 1)  # two ports: five stages and one agency each
        cndag = [x for x in lines if x["port"] == "CNDAG" and x["stage"] == "arrival_to_release"][0]
        chosen = [r for r in rows if r["port"] == "CNDAG"]
        assert float(cndag["median_hours"]) == expected(chosen, "arrival_to_release")["median"]


def test_bad_parameters_are_422_naming_each(client):
    answer = client.get(URL, params={"from": "2026-13-01", "port": "XX", "inspection": "maybe", "credit_level": "gold",
                                     "group_by": "colour", "format": "xml"})
    assert answer.status_code == 422
    answer = client.get(URL, params={"from": "2026-13-01", "port": "XX", "inspection": "maybe",
                                     "credit_level": "gold", "group_by": "colour", "colour": "red"})
    assert answer.status_code == 422
    locs = {tuple(d["loc"]) for d in answer.json()["error"]["details"]}
    assert locs == {("query", n) for n in ("from", "port", "inspection", "credit_level", "group_by", "colour")}
    assert client.get(URL, params={"format": "xml"}).json()["error"]["details"][0]["loc"] == ["query", "format"]
    late = client.get(URL, params={"from": "2026-03-10", "to": "2026-03-01"})
    assert late.status_code == 422 and late.json()["error"]["details"][0]["loc"] == ["query", "to"]
    twice = client.get(URL + "?port=CNDAG&port=CNDLC")
    assert twice.status_code == 422 and twice.json()["error"]["details"][0]["loc"] == ["query", "port"]
    assert client.get(URL, params={"group_by": "port,week,direction"}).status_code == 422


def test_an_empty_study_answers_empty_figures(client):
    body = client.get(URL).json()
    assert body["groups"] == [{"key": {}, "suppressed": False, "consignments": 0, "complete": 0,
                               "stages": {s: {"count": 0, "mean": None, "median": None, "p90": None,
                                              "suppressed": True} for s in STAGES}, "agencies": {}}]


def test_a_stage_measured_on_no_consignment_is_suppressed_like_one_measured_on_few(client, run):
    """Six consignments, none gated out yet and two released: the stages to gate-out are counted 0, the
    releases 2; each is fewer than 5, so each shows its count and is marked suppressed (JSON and CSV)."""
    rows = make_rows(6, seed=11)
    for i, row in enumerate(rows):
        row |= {"complete": False, "release_to_gate_out_seconds": None, "arrival_to_gate_out_seconds": None}
        if i >= 2:
            row |= {"filing_to_release_seconds": None, "arrival_to_release_seconds": None}
    run(lambda ctx: ctx.session.execute(ClearanceRecord.__table__.insert(), rows))
    stages = client.get(URL).json()["groups"][0]["stages"]
    withheld = {"mean": None, "median": None, "p90": None, "suppressed": True}
    for stage in ("release_to_gate_out", "arrival_to_gate_out"):
        assert stages[stage] == {"count": 0, **withheld}
    for stage in ("filing_to_release", "arrival_to_release"):
        assert stages[stage] == {"count": 2, **withheld}
    assert stages["arrival_to_filing"]["count"] == 6 and "suppressed" not in stages["arrival_to_filing"]
    lines = {x["stage"]: x for x in csv.DictReader(io.StringIO(client.get(URL, params={"format": "csv"}).text))
             if not x["agency"]}
    assert [(lines[s]["count"], lines[s]["median_hours"], lines[s]["suppressed"]) for s in STAGES] == [
        ("6", lines["arrival_to_filing"]["median_hours"], "false"), ("2", "", "true"), ("0", "", "true"),
        ("2", "", "true"), ("0", "", "true")]


@pytest.mark.parametrize("day", ["20260303", "2026-W10-2", "2026-062", "2026-3-3", "2026-03-03T00:00",
                                 "２０２６-03-03"])
def test_a_day_is_only_written_yyyy_mm_dd(client, day):
    for name in ("from", "to"):
        answer = client.get(URL, params={name: day})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["details"] == [{"loc": ["query", name], "msg": "must be a date, YYYY-MM-DD"}]
    assert client.get(URL, params={"from": "2026-03-03", "to": " 2026-03-04"}).status_code == 200


def test_an_unknown_parameter_is_told_every_known_one_format_included(client):
    known = ("ciq_office, credit_level, customs_office, destination, direction, format, from, group_by, "
             "inspection, inspection_place, port, to, trade_mode, transport_mode")
    for url in (URL, URL + ".csv"):
        answer = client.get(url, params={"colour": "red"})
        assert answer.status_code == 422
        assert answer.json()["error"]["details"] == [{"loc": ["query", "colour"],
                                                      "msg": f"unknown parameter; known: {known}"}]
    assert client.get(URL, params={"format": "csv"}).status_code == 200


def test_every_message_about_a_parameter_can_be_translated():
    from onewindow.errors import Text, ValidationFailed

    with pytest.raises(ValidationFailed) as raised:
        parse_query({"direction": "inward", "inspection": "all", "credit_level": "gold", "destination": "x",
                     "from": "20260303", "group_by": "colour", "colour": "red"})
    messages = {d["loc"][1]: d["msg"] for d in raised.value.details}
    assert set(messages) == {"direction", "inspection", "credit_level", "destination", "from", "group_by",
                             "colour"}
    assert all(isinstance(m, Text) for m in messages.values()), messages
    assert (messages["direction"], messages["inspection"], messages["credit_level"]) == (
        "must be import or export", "must be one of none, single, joint",
        "must be one of advanced, certified, general, discredited")
    with pytest.raises(ValidationFailed) as raised:
        parse_query({"from": "2026-03-10", "to": "2026-03-01", "group_by": "port,port"})
    assert all(isinstance(d["msg"], Text) for d in raised.value.details)


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
def test_the_report_command(rows, database_url, monkeypatch, tmp_path, fmt):
    from typer.testing import CliRunner

    from onewindow.cli import app
    from onewindow.config import get_settings

    monkeypatch.setenv("ONEWINDOW_DATABASE_URL", database_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / f"report.{fmt}"
        result = CliRunner().invoke(app, ["report", "clearance", "--from", "2026-03-01", "--to", "2026-03-31",
                                          "--format", fmt, "--output", str(out)])
        assert result.exit_code == 0, result.output
        text = out.read_text(encoding="utf-8")
        if fmt == "json":
            data = json.loads(text)
            assert data["sections"]["overall"]["groups"][0]["consignments"] == 61
            assert data["sections"]["overall"]["groups"][0]["stages"]["arrival_to_gate_out"] == expected(
                rows, "arrival_to_gate_out")
            assert sum(data["charts"]["distribution"]["counts"]) == 61
            assert {g["key"]["customs_office"] for g in data["sections"]["declaration_x_destination"]["groups"]} == set(
                OFFICES)
        elif fmt == "csv":
            lines = list(csv.DictReader(io.StringIO(text)))
            overall = [x for x in lines if x["section"] == "overall" and x["stage"] == "arrival_to_release"][0]
            assert float(overall["median_hours"]) == expected(rows, "arrival_to_release")["median"]
            assert {x["section"] for x in lines} >= {"by_port", "declaration_x_inspection_place", "by_week"}
        else:
            assert text.startswith("<!doctype html>") and "echarts" in text and "http" not in text.split(
                "<script>")[0].split("</style>")[1]
            assert "declaration x inspection place" in text
        bad = CliRunner().invoke(app, ["report", "clearance", "--from", "March", "--format", fmt])
        assert bad.exit_code == 1 and '"from"' in bad.stderr
    finally:
        get_settings.cache_clear()


def test_percentiles_are_exact_over_many_buckets_ties_and_groups_without_a_key(run):
    """Values spread over many of the buckets that narrow ranks down (and ties, and a stage with one value
    or two, and groups whose key is NULL) give exactly the reference percentiles, unrounded."""
    rng = random.Random(11)
    rows = make_rows(1500, seed=3)
    for i, row in enumerate(rows):
        row["arrival_to_filing_seconds"] = rng.choice((0, 0, 1, 59, 60, 3600, 3600, 86400))
        row["filing_to_release_seconds"] = int(rng.lognormvariate(9, 2.5))
        row["inspection_place"] = None if i % 3 == 0 else row["inspection_place"]
        row["ciq_filing_to_release_seconds"] = 500 if i in (7, 8) else (900 if i == 10 else None)
    run(lambda ctx: ctx.session.execute(ClearanceRecord.__table__.insert(), rows))
    query = parse_query({"group_by": "inspection_place"})
    counts, found = run(lambda ctx: figure_summaries(ctx, query))
    assert set(counts) == {(None,), *((p,) for p in PORTS)}
    for (place,), (consignments, _) in counts.items():
        chosen = [r for r in rows if r["inspection_place"] == place]
        assert consignments == len(chosen)
        for name in ("arrival_to_filing", "filing_to_release", "ciq"):
            column = f"{name}_seconds" if name != "ciq" else "ciq_filing_to_release_seconds"
            values = [float(r[column]) for r in chosen if r[column] is not None]
            summary = found[(place,)].get(name)
            if not values:
                assert summary is None or summary.count == 0
                continue
            assert summary.count == len(values)
            assert summary.mean == pytest.approx(sum(values) / len(values), rel=1e-12)
            assert summary.median == pytest.approx(percentile_cont(values, 0.5), rel=1e-12, abs=1e-9), name
            assert summary.p90 == pytest.approx(percentile_cont(values, 0.9), rel=1e-12, abs=1e-9), name
