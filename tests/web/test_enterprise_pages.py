"""The enterprise's pages through HTTP (both databases): who may see what, the entry form and its inline
errors, editing, filing each part, booking the inspection, the timeline, the staging list."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from onewindow.models import Filing, FilingVersion
from onewindow.samples import sample_entry
from onewindow.web.entry import form_from_data

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"


def token_of(client, path: str = "/enterprise/filings") -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text).group(1)


def form_of(entry: dict, client) -> dict[str, str]:
    """The entry as the form posts it (field names are the entry's paths)."""
    return {**form_from_data(entry).values, "csrf_token": token_of(client)}


def stage(client, entry: dict) -> str:
    response = client.post("/enterprise/filings/new", data=form_of(entry, client), follow_redirects=False)
    assert response.status_code == 303, response.text
    return re.fullmatch(r"/enterprise/filings/([0-9a-f-]{36})\?created=1", response.headers["location"]).group(1)


@pytest.fixture
def declarant(client, pages):
    pages.sign_in(client, ENT)
    return client


def test_the_pages_answer_each_caller_by_role_and_organisation(app, client, pages):
    from fastapi.testclient import TestClient

    pages.sign_in(client, ENT)
    filing = stage(client, sample_entry(seed=1))
    paths = {"list": "/enterprise/filings", "consignment": f"/enterprise/filings/{filing}",
             "new": "/enterprise/filings/new", "edit": f"/enterprise/filings/{filing}/edit",
             "row": "/enterprise/entry/rows/items?index=1"}
    pages.add_user(ENT, "reader", "viewer")
    allowed = {  # who -> the pages answering 200 (every other one: 404)
        ("owner", ENT, "staff"): set(paths),
        ("viewer", ENT, "reader"): {"list", "consignment"},
        ("other enterprise", OTHER, "staff"): {"list", "new", "row"},
        ("customs", "0916", "staff"): set(), ("ciq", "210600", "staff"): set(),
        ("terminal", "DCT", "staff"): set(), ("admin", "PORTOFFICE", "staff"): set(),
    }
    for (who, code, user), pages_seen in allowed.items():
        with TestClient(app) as caller:
            pages.sign_in(caller, code, user)
            for name, path in paths.items():
                assert caller.get(path).status_code == (200 if name in pages_seen else 404), (who, name)
    with TestClient(app) as anonymous:
        for path in paths.values():
            response = anonymous.get(path, follow_redirects=False)
            assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")


def test_a_staged_entry_is_the_entry_typed_into_the_form(declarant, run):
    entry = sample_entry(seed=2)
    filing_id = stage(declarant, entry)
    stored = run(lambda ctx: ctx.session.get(Filing, __import__("uuid").UUID(filing_id)).data)
    assert stored["bill_of_lading"] == entry["bill_of_lading"]
    assert stored["items"] == [{**item, "quantity": float(item["quantity"])} for item in entry["items"]]
    assert stored["containers"] == entry["containers"]
    page = declarant.get(f"/enterprise/filings/{filing_id}")
    assert page.status_code == 200 and entry["bill_of_lading"] in page.text
    assert 'data-type="filing.created"' in page.text


def test_errors_are_shown_on_the_fields_that_caused_them_and_nothing_typed_is_lost(declarant, run):
    entry = sample_entry(seed=3)
    form = form_of(entry, declarant)
    # The first container row was removed on the page: the rows left are 1 and 2 (gaps are normal).
    renumbered = {k.replace("containers.1.", "containers.2.").replace("containers.0.", "containers.1."): v
                  for k, v in form.items()}
    renumbered["containers.2.number"] = "CSQU3054384"  # wrong ISO 6346 check digit
    renumbered["items.1.hs_code"] = "9999999999"
    renumbered["gross_weight_kg"] = "heavy"
    del renumbered["bill_of_lading"]
    response = declarant.post("/enterprise/filings/new", data=renumbered)
    assert response.status_code == 422
    errors = dict(re.findall(r'data-field="([^"]+)">([^<]+)<', response.text))
    assert set(errors) == {"containers.2.number", "items.1.hs_code", "gross_weight_kg", "bill_of_lading"}
    assert errors["containers.2.number"] == "集装箱号校验码（ISO 6346）错误"  # the reader's language
    assert "2023 年中国海关进出口税则中没有税则号列 99999999" in errors["items.1.hs_code"] \
        or "HS 2022 中没有子目 999999" in errors["items.1.hs_code"]
    declarant.cookies.set("ow_lang", "en")
    english = dict(re.findall(r'data-field="([^"]+)">([^<]+)<',
                              declarant.post("/enterprise/filings/new", data=renumbered).text))
    assert english["containers.2.number"] == "ISO 6346 check digit is wrong"
    declarant.cookies.delete("ow_lang")
    assert 'value="CSQU3054384"' in response.text and 'value="heavy"' in response.text
    assert f'value="{entry["items"][0]["name"]}"' in response.text
    assert run(lambda ctx: ctx.session.scalars(select(Filing)).all()) == []


def test_editing_a_staged_entry_keeps_every_version(declarant, run):
    entry = sample_entry(seed=4)
    filing_id = stage(declarant, entry)
    form = form_of(entry, declarant) | {"version": "1", "remarks": "冷藏 -18°C", "containers.1.number": ""}
    form.pop("containers.1.size_type")
    response = declarant.post(f"/enterprise/filings/{filing_id}/edit", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("?saved=2")
    versions = run(lambda ctx: [(v.version, v.changed_fields) for v in ctx.session.scalars(
        select(FilingVersion).order_by(FilingVersion.version))])
    assert [v for v, _fields in versions] == [1, 2] and versions[1][1] == ["containers", "remarks"]
    stale = declarant.post(f"/enterprise/filings/{filing_id}/edit", data=form | {"version": "1"})
    assert stale.status_code == 409
    page = declarant.get(f"/enterprise/filings/{filing_id}")
    assert re.search(r"<td>2</td><td>[^<]+</td><td>containers, remarks</td>", page.text)


def test_each_part_is_filed_when_ticked(declarant, port):
    filing_id = stage(declarant, sample_entry(seed=5))
    token = token_of(declarant, f"/enterprise/filings/{filing_id}")
    response = declarant.post(f"/enterprise/filings/{filing_id}/submit",
                              data={"agencies": ["ciq"], "csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    statuses = {d["agency"]: d["status"] for d in port.get(ENT, f"/filings/{filing_id}")["declarations"]}
    assert statuses == {"ciq": "submitted", "customs": "draft"}
    again = declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"agencies": ["ciq"],
                                                                           "csrf_token": token})
    assert again.status_code == 409 and 'id="submit-error"' in again.text
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token})
    page = declarant.get(f"/enterprise/filings/{filing_id}")
    assert 'id="file-form"' not in page.text
    assert page.text.count('data-type="declaration.submitted"') == 2


def test_booking_the_inspection_reads_the_time_in_the_readers_zone(declarant, port, clock):
    entry = sample_entry(seed=6, containers=1)
    port.arrive(entry)
    filing_id = stage(declarant, entry)
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token_of(declarant)})
    port.accept_all(filing_id)
    inspection_id = port.inspect_jointly(filing_id, entry["containers"][0]["number"])
    page = declarant.get(f"/enterprise/filings/{filing_id}")
    assert 'class="booking"' in page.text and "confidential" not in page.text  # reasons stay with agencies
    token = token_of(declarant, f"/enterprise/filings/{filing_id}")
    past = declarant.post(f"/enterprise/inspections/{inspection_id}/appointment",
                          data={"at": "2026-03-01T10:00", "filing": filing_id, "csrf_token": token})
    assert past.status_code == 422 and 'id="booking-error"' in past.text and "预约时间不能早于现在" in past.text
    booked = declarant.post(f"/enterprise/inspections/{inspection_id}/appointment",
                            data={"at": "2026-03-02T14:30", "filing": filing_id, "csrf_token": token},
                            follow_redirects=False)
    assert booked.status_code == 303
    inspection = port.get(ENT, f"/inspections/{inspection_id}")
    assert inspection["status"] == "scheduled" and inspection["appointment"].startswith("2026-03-02T06:30:00")
    page = declarant.get(f"/enterprise/filings/{filing_id}").text
    assert "2026-03-02 14:30 CST" in page
    declarant.cookies.set("ow_tz", "Europe/London")
    assert "2026-03-02 06:30 GMT" in declarant.get(f"/enterprise/filings/{filing_id}").text


def test_the_timeline_tells_the_whole_story_in_order(declarant, port, clock):
    entry = sample_entry(seed=7, containers=1)
    number = entry["containers"][0]["number"]
    port.arrive(entry)
    filing_id = stage(declarant, entry)
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token_of(declarant)})
    clock.advance(minutes=10)
    port.accept_all(filing_id)
    inspection_id = port.inspect_jointly(filing_id, number)
    port.post(ENT, f"/inspections/{inspection_id}/appointment", {"at": (clock.now() + timedelta(hours=1)).isoformat()})
    clock.advance(hours=1)
    port.inspect_and_release(inspection_id, filing_id, number)
    page = declarant.get(f"/enterprise/filings/{filing_id}").text
    types = re.findall(r'<li data-type="([^"]+)"', page)
    expected = ["filing.created", "declaration.submitted", "declaration.accepted", "inspection.matched",
                "inspection.relocated", "inspection.scheduled", "inspection.started", "inspection.completed",
                "declaration.released", "container.released", "container.gated_out"]
    assert [t for t in types if t in expected] == sorted(
        [t for t in types if t in expected], key=lambda t: expected.index(t))
    assert set(expected) <= set(types)
    assert "confidential" not in page
    assert number in page and "查验区 B3" in page


def test_the_staging_list_filters_and_pages(declarant):
    for seed in range(21):
        stage(declarant, sample_entry(seed=100 + seed, containers=0, items=1))
    first = declarant.get("/enterprise/filings")
    assert first.text.count("/enterprise/filings/") - first.text.count("/enterprise/filings/new") >= 20
    assert 'rel="next"' in first.text and "21" in first.text
    second = declarant.get("/enterprise/filings?offset=20")
    assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
    assert declarant.get("/enterprise/filings?offset=99999999999999999999").status_code == 422  # not past SQL's
    assert 'id="no-filings"' in declarant.get("/enterprise/filings?status=filed").text


def test_code_lookups_answer_options_from_the_real_tables(declarant):
    hs = declarant.get("/lookup/hs?items.0.hs_code=030389")
    assert hs.status_code == 200 and '<datalist id="dl-hs">' in hs.text
    assert re.findall(r'<option value="(\d+)"', hs.text) and all(
        c.startswith("030389") for c in re.findall(r'<option value="(\d+)"', hs.text))
    ports = declarant.get("/lookup/ports?port=DAG")
    assert 'value="CNDAG"' in ports.text
    units = declarant.get("/lookup/units?x=千克")
    assert 'value="035"' in units.text
    assert declarant.get("/lookup/nothing?q=1").status_code == 404


def test_a_hand_typed_address_the_page_refuses_answers_a_page_naming_the_parameter(declarant, client):
    client.cookies.set("ow_lang", "en")
    for url, name, problem in [
        ("/enterprise/filings?offset=abc", "offset", "must be a whole number"),
        ("/enterprise/filings?offset=-1", "offset", "must be at least 0"),
        ("/enterprise/filings?offset=99999999999999999999", "offset", "must be at most 1000000000"),
        ("/enterprise/entry/rows/items?index=x", "index", "must be a whole number"),
        ("/status?number=" + "9" * 41, "number", "must be at most 40 characters"),
    ]:
        answer = declarant.get(url)
        assert answer.status_code == 422, url
        assert answer.headers["content-type"].startswith("text/html"), url
        assert "Something in the request is not right" in answer.text
        assert f"address <code>{name}</code>: {problem}" in answer.text, (url, answer.text)
    client.cookies.set("ow_lang", "zh")
    answer = declarant.get("/enterprise/filings?offset=abc")
    assert (answer.status_code, answer.headers["content-type"][:9]) == (422, "text/html")
    assert "请求有误" in answer.text and "地址 <code>offset</code>: 须为整数" in answer.text, answer.text


def _decided(declarant, port, seed: int) -> tuple[str, str, str]:
    """A consignment filed and accepted, both agencies deciding to inspect its container (not moved yet): its
    filing id, the inspection's id and the page's form token."""
    entry = sample_entry(seed=seed, containers=1)
    port.arrive(entry)
    filing_id = stage(declarant, entry)
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token_of(declarant)})
    port.accept_all(filing_id)
    for agency, declaration in port.declarations(filing_id).items():
        port.post({"customs": "0916", "ciq": "210600"}[agency], f"/declarations/{declaration}/decision",
                  {"inspect": True, "containers": [entry["containers"][0]["number"]], "kind": "physical"}, 201)
    [inspection] = port.get(ENT, f"/inspections?filing={filing_id}")
    return filing_id, inspection["id"], token_of(declarant, f"/enterprise/filings/{filing_id}")


def _book(declarant, inspection_id: str, token: str, **data):
    return declarant.post(f"/enterprise/inspections/{inspection_id}/appointment",
                          data={"csrf_token": token, **data}, follow_redirects=False)


def test_booking_an_inspection_not_ready_says_why_at_the_top(declarant, client, port):
    filing_id, inspection_id, token = _decided(declarant, port, seed=31)
    client.cookies.set("ow_lang", "en")
    refused = _book(declarant, inspection_id, token, filing=filing_id, at="2026-03-05T10:00")
    assert refused.status_code == 409 and 'class="booking"' not in refused.text  # no booking form to show it
    top = refused.text.split('id="consignment-error"')[1].split("</div>")[0]
    assert "the inspection is awaiting_relocation; it can be booked once the containers are moved" in top
    assert port.get(ENT, f"/inspections/{inspection_id}")["status"] == "awaiting_relocation"


def test_booking_a_hand_typed_inspection_is_not_found(declarant, port):
    token = token_of(declarant)
    for inspection_id in ("nope", "0b3e2ad4-0000-4000-8000-000000000000"):
        answer = _book(declarant, inspection_id, token, at="x")
        assert answer.status_code == 404 and "error-page" in answer.text, inspection_id


def test_booking_goes_back_to_the_consignment_the_inspection_serves(declarant, port):
    filing_id, inspection_id, token = _decided(declarant, port, seed=32)
    [task] = [t for t in port.get("DCT", "/terminal/tasks") if t["status"] == "open"]
    port.post("DCT", f"/terminal/tasks/{task['id']}/complete", {"location": "B4"})
    other = stage(declarant, sample_entry(seed=33))  # another consignment of the same enterprise
    for typed in ("", other, "nope"):
        booked = _book(declarant, inspection_id, token, filing=typed, at="2026-03-05T10:00")
        assert booked.status_code == 303, typed
        assert booked.headers["location"] == f"/enterprise/filings/{filing_id}?booked=1", typed
    refused = _book(declarant, inspection_id, token, filing=other, at="2026-03-01T10:00")  # in the past
    assert refused.status_code == 422 and 'id="booking-error"' in refused.text
    assert f'action="/enterprise/filings/{other}/submit"' not in refused.text  # the inspection's consignment


def test_a_missing_booking_time_is_said_in_the_readers_language(declarant, port, monkeypatch):
    from tests.web.test_account import marked_catalogue

    filing_id, inspection_id, token = _decided(declarant, port, seed=34)
    [task] = [t for t in port.get("DCT", "/terminal/tasks") if t["status"] == "open"]
    port.post("DCT", f"/terminal/tasks/{task['id']}/complete", {"location": "B4"})
    marked_catalogue(monkeypatch)
    refused = _book(declarant, inspection_id, token, filing=filing_id, at="")
    assert refused.status_code == 422 and 'id="booking-error"' in refused.text
    assert "«give a date and time»" in refused.text.split('id="booking-error"')[1].split("</small>")[0]


def test_filing_an_agency_the_consignment_lacks_names_the_field(declarant, client, port):
    filing_id = stage(declarant, sample_entry(seed=35))
    token = token_of(declarant, f"/enterprise/filings/{filing_id}")
    client.cookies.set("ow_lang", "en")
    refused = declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"agencies": ["bogus"],
                                                                              "csrf_token": token})
    assert refused.status_code == 422
    fieldset = refused.text.split('id="file-form"')[1].split("</fieldset>")[0]
    assert 'class="field-error agencies-error"' in fieldset and "this filing has no bogus declaration" in fieldset
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token})
    gone = declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"agencies": ["bogus"],
                                                                           "csrf_token": token})
    assert gone.status_code == 422 and 'id="file-form"' not in gone.text  # everything filed: no form
    top = gone.text.split('id="consignment-error"')[1].split("</div>")[0]
    assert "<code>agencies</code>: this filing has no bogus declaration" in top


def test_an_edit_without_a_whole_version_is_refused_naming_it(declarant, run):
    entry = sample_entry(seed=8)
    filing_id = stage(declarant, entry)
    declarant.cookies.set("ow_lang", "en")
    form = form_of(entry, declarant) | {"remarks": "typed"}
    for version in (None, "abc", "", "1.0"):
        posted = form | ({} if version is None else {"version": version})
        answer = declarant.post(f"/enterprise/filings/{filing_id}/edit", data=posted)
        assert answer.status_code == 422, version
        assert re.search(r'data-field="version">the form does not say which version it was opened at', answer.text)
        assert 'id="entry-form"' in answer.text and '>typed</textarea>' in answer.text
    assert run(lambda ctx: ctx.session.scalars(select(Filing.version)).one()) == 1  # nothing saved


def test_an_edit_refused_for_a_filed_part_shows_the_form_again_with_the_fields_marked(declarant, run):
    entry = sample_entry(seed=9)
    filing_id = stage(declarant, entry)
    token = token_of(declarant, f"/enterprise/filings/{filing_id}")
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"agencies": ["customs"], "csrf_token": token})
    declarant.cookies.set("ow_lang", "en")
    edit = f"/enterprise/filings/{filing_id}/edit"
    answer = declarant.post(edit, data=form_of(entry, declarant) | {"version": "1", "remarks": "typed remark"})
    assert answer.status_code == 409 and 'id="entry-form"' in answer.text
    assert '>typed remark</textarea>' in answer.text  # nothing typed is lost
    assert "these fields belong to a declaration already filed; amend it instead: remarks (customs)" in answer.text
    assert re.search(r'data-field="remarks">belongs to the customs declaration, already filed', answer.text)
    assert run(lambda ctx: ctx.session.scalars(select(Filing.version)).one()) == 1
    stale = declarant.post(edit, data=form_of(entry, declarant) | {"version": "0", "remarks": "again"})
    assert stale.status_code == 409 and 'id="stale-form"' in stale.text and '>again</textarea>' in stale.text
    assert f'href="{edit}" id="reopen-form"' in stale.text


def test_a_fully_filed_consignment_offers_no_edit(declarant):
    filing_id = stage(declarant, sample_entry(seed=10))
    declarant.post(f"/enterprise/filings/{filing_id}/submit", data={"csrf_token": token_of(declarant)})
    declarant.cookies.set("ow_lang", "en")
    answer = declarant.get(f"/enterprise/filings/{filing_id}/edit")
    assert answer.status_code == 409 and 'id="entry-form"' not in answer.text
    assert "every declaration of this filing is filed; amend a declaration instead" in answer.text
    assert f"/enterprise/filings/{filing_id}/edit" not in declarant.get(f"/enterprise/filings/{filing_id}").text


def test_the_entry_form_says_the_schema_s_messages_in_the_reader_s_language(declarant, client):
    """A value of the wrong kind, a count below one or a missing field: the schema's messages, in Chinese on the
    Chinese page, in the API's English on the English one."""
    values = form_of(sample_entry(seed=31), declarant) | {"packages": "-3", "trade_country": "",
                                                          "items.0.quantity": "abc"}
    client.cookies.set("ow_lang", "zh")
    page = declarant.post("/enterprise/filings/new", data=values)
    assert page.status_code == 422
    for said in ("须大于 0", "为必填项", "须为数值"):
        assert said in page.text, said
    assert "Input should" not in page.text and "Field required" not in page.text
    client.cookies.set("ow_lang", "en")
    english = declarant.post("/enterprise/filings/new", data=values).text
    assert "Input should be greater than 0" in english and "Field required" in english
