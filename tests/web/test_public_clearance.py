"""The public clearance-time page: no sign-in, the study's published figures, charts (both databases).

A bad filter re-renders the form with the message next to the field and answers 422 (no figures).
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest

from onewindow.config import Settings
from onewindow.models import ClearanceRecord
from onewindow.samples import sample_entry
from onewindow.timing import projection, service
from onewindow.timing.filters import parse_query

ENT = "91210200MA0QK1P3AF"
MIN_GROUP = 2


@pytest.fixture
def settings(database_url) -> Settings:
    """Groups of two consignments are published, so a few real consignments show figures."""
    return Settings(database_url=database_url, embedded_scheduler=False, clearance_min_group=MIN_GROUP)


def clear(port, clock, seed: int, *, inspect: bool) -> dict:
    """One import consignment from arrival to gate-out through the API; its entry and declaration numbers."""
    entry = sample_entry(seed=seed, containers=1)
    container = entry["containers"][0]["number"]
    port.arrive(entry)
    clock.advance(minutes=90 + 30 * seed)
    filing = port.post(ENT, "/filings", entry, 201)
    port.post(ENT, f"/filings/{filing['id']}/submit")
    clock.advance(minutes=40)
    port.accept_all(filing["id"])
    clock.advance(minutes=20 * seed)
    if inspect:
        inspection = port.inspect_jointly(filing["id"], container)
        port.post(ENT, f"/inspections/{inspection}/appointment", {"at": (clock.now() + timedelta(hours=3)).isoformat()})
        clock.advance(hours=3)
        port.inspect_and_release(inspection, filing["id"], container)
    else:
        for agency, declaration in port.declarations(filing["id"]).items():
            office = {"customs": "0916", "ciq": "210600"}[agency]
            port.post(office, f"/declarations/{declaration}/decision", {"inspect": False}, 201)
            port.post(office, f"/declarations/{declaration}/release")
        clock.advance(hours=2)
        port.post("DCT", f"/containers/{container}/gate-out")
    numbers = [d["number"] for d in port.get(ENT, f"/filings/{filing['id']}")["declarations"]]
    return {"entry": entry, "numbers": numbers}


def catch_up(run) -> None:
    """Apply the whole event log to the study, as the scheduler does (waiting out other databases' writers)."""
    deadline = time.monotonic() + 120
    while True:
        run(projection.project)
        if run(projection.pending) == 0:
            return
        assert time.monotonic() < deadline, "the study did not catch up with the event log"
        time.sleep(0.05)


@pytest.fixture
def consignments(port, clock, run) -> list[dict]:
    done = [clear(port, clock, seed, inspect=seed == 3) for seed in (1, 2, 3)]
    catch_up(run)
    return done


def cells(text: str, attr: str) -> list[str]:
    row = re.search(rf'<tr {attr}>(.*?)</tr>', text, re.S).group(1)
    return [c.strip() for c in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_anyone_sees_the_figures_the_study_publishes_and_nothing_identifying(client, run, consignments):
    assert "ow_session" not in client.cookies
    page = client.get("/clearance-times")
    assert page.status_code == 200, page.text
    answer = run(lambda ctx: service.figures(ctx, parse_query({})))
    whole = answer["groups"][0]
    assert whole["consignments"] == 3 and not whole["suppressed"]
    for stage, s in whole["stages"].items():
        assert s["count"] > 0
        assert cells(page.text, f'data-stage="{stage}"') == [str(s["count"]), *(f"{s[k]:.2f}" for k in
                                                                               ("mean", "median", "p90"))]
    for agency, s in whole["agencies"].items():
        assert cells(page.text, f'data-agency="{agency}"')[0] == str(s["count"])
    assert 'href="/api/v1/public/clearance-times?format=csv"' in page.text
    for c in consignments:
        entry = c["entry"]
        for secret in (entry["consignee"]["name"], entry["consignee"]["uscc"], entry["overseas_party"]["name"],
                       entry["bill_of_lading"], entry["containers"][0]["number"], *c["numbers"]):
            assert secret not in page.text
    assert client.get("/api/v1/public/clearance-times?format=csv").status_code == 200


def test_filters_select_the_same_figures_as_the_api(client, run, consignments):
    params = {"inspection": "none", "direction": "import", "from": "2026-03-01", "to": "2026-03-31"}
    page = client.get("/clearance-times", params={**params, "port": "", "trade_mode": ""})
    assert page.status_code == 200, page.text
    api = client.get("/api/v1/public/clearance-times", params=params).json()["groups"][0]
    assert api == run(lambda ctx: service.figures(ctx, parse_query(params)))["groups"][0]
    assert api["consignments"] == 2
    s = api["stages"]["arrival_to_gate_out"]
    assert cells(page.text, 'data-stage="arrival_to_gate_out"')[2] == f"{s['median']:.2f}"
    assert "format=csv" in page.text and "inspection=none" in page.text
    joint = client.get("/clearance-times", params={"inspection": "joint"})
    assert 'id="clearance-suppressed"' in joint.text  # one consignment: withheld
    row = re.search(r'<tr data-stage="arrival_to_release">(.*?)</tr>', joint.text, re.S).group(1)
    assert re.findall(r"<td[^>]*>(.*?)</td>", row) == ["—"]


def test_bad_filters_are_shown_next_to_their_fields_with_422(client):
    page = client.get("/clearance-times", params={"from": "2026-13-01", "port": "XX", "inspection": "maybe",
                                                  "colour": "red"})
    assert page.status_code == 422
    for name in ("from", "port", "inspection"):
        assert f'id="e-{name}"' in page.text
    assert 'data-param="colour"' in page.text and 'id="clearance-problem"' in page.text
    assert 'id="figures-table"' not in page.text and 'value="XX"' in page.text
    late = client.get("/clearance-times", params={"from": "2026-03-10", "to": "2026-03-01"})
    assert late.status_code == 422 and 'id="e-to"' in late.text
    twice = client.get("/clearance-times?port=CNDAG&port=CNDLC")
    assert twice.status_code == 422 and 'id="e-port"' in twice.text


def test_withheld_figures_give_no_count_of_consignments(client, consignments):
    """One joint inspection among the consignments (fewer than the minimum of 2): the page says the figures are
    withheld without telling how many there are, and the table shows "—"."""
    client.cookies.set("ow_lang", "en")
    page = client.get("/clearance-times", params={"inspection": "joint"})
    assert client.get("/api/v1/public/clearance-times", params={"inspection": "joint"}).json()["groups"] == [
        {"key": {}, "suppressed": True}]
    said = re.search(r'<p id="clearance-suppressed">(.*?)</p>', page.text, re.S).group(1)
    assert said == "Fewer than 2 consignments for these filters: the figures are withheld."
    for stage in ("arrival_to_filing", "arrival_to_gate_out"):
        row = re.search(rf'<tr data-stage="{stage}">(.*?)</tr>', page.text, re.S).group(1)
        assert re.findall(r"<td[^>]*>(.*?)</td>", row) == ["—"]


def test_a_stage_measured_on_few_consignments_is_withheld_and_on_none_shows_a_dash(client, run):
    """Three consignments, one gated out: release → gate-out is measured on one (fewer than the minimum of 2:
    its count, the figures withheld); the whole on none (its count 0, nothing to withhold: "—")."""
    from tests.timing.test_figures import make_rows

    rows = make_rows(3, seed=5)
    for i, row in enumerate(rows):
        row |= {"complete": i == 0, "arrival_to_gate_out_seconds": None}
        if i:
            row["release_to_gate_out_seconds"] = None
    run(lambda ctx: ctx.session.execute(ClearanceRecord.__table__.insert(), rows))
    client.cookies.set("ow_lang", "en")
    page = client.get("/clearance-times")
    assert page.status_code == 200, page.text
    assert cells(page.text, 'data-stage="release_to_gate_out"') == ["1", "withheld", "withheld", "withheld"]
    assert cells(page.text, 'data-stage="arrival_to_gate_out"') == ["0", "—", "—", "—"]
    assert cells(page.text, 'data-stage="arrival_to_filing"')[0] == "3"


def test_messages_about_filters_are_in_the_readers_language(client):
    page = client.get("/clearance-times", params={"inspection": "all", "credit_level": "gold"})
    assert page.status_code == 422
    said = re.search(r'<small class="field-error" id="e-inspection">(.*?)</small>', page.text, re.S).group(1)
    assert said == "须为以下之一：none, single, joint"
    assert "须为以下之一：advanced, certified, general, discredited" in page.text
    assert "must be one of" not in page.text


def test_a_day_in_another_form_is_refused_on_the_page(client):
    client.cookies.set("ow_lang", "en")
    for day in ("20260303", "2026-W10-2"):
        page = client.get("/clearance-times", params={"from": day})
        assert page.status_code == 422 and 'id="e-from"' in page.text
        assert "must be a date, YYYY-MM-DD" in page.text and 'id="figures-table"' not in page.text


def test_an_empty_study_shows_the_page_with_nothing_withheld_wrongly(client):
    page = client.get("/clearance-times")
    assert page.status_code == 200 and 'id="clearance-suppressed"' in page.text
    assert 'href="/clearance-times"' in client.get("/status").text


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_page_draws_its_charts(browser, shots, consignments, language):
    browser.goto("/clearance-times")
    if language == "en":
        browser.select_option("#preferences select[name=language]", "en")
        browser.locator("html[lang=en]").wait_for()
    heading = {"zh": "放行时间", "en": "Clearance times"}[language]
    assert browser.locator("h1").inner_text() == heading
    sizes = browser.evaluate("""() => Array.from(document.querySelectorAll('.chart')).map(el => {
        const chart = echarts.getInstanceByDom(el);
        const surface = el.querySelector('canvas, svg');
        return {id: el.id, chart: !!chart, width: surface ? surface.clientWidth : 0,
                height: surface ? surface.clientHeight : 0};
    })""")
    assert [s["id"] for s in sizes] == ["chart-distribution", "chart-breakdown", "chart-trend", "chart-by-port"]
    assert all(s["chart"] and s["width"] > 0 and s["height"] > 0 for s in sizes), sizes
    assert browser.locator("#figures-table tbody tr").count() >= 5
    shots(browser, f"clearance-times-{language}")
