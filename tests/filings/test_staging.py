"""PATCH /api/v1/filings/{id} (staging edits, kept versions) and GET /api/v1/filings (the staging list)."""

from __future__ import annotations

import pytest

from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"
FILINGS = "/api/v1/filings"
FISH = {"hs_code": "0303899090", "name": "冻鱼 Frozen fish", "quantity": 1000.0, "unit": "035",
        "unit_price": 2.5, "total_price": 2500.0, "origin_country": "JPN"}


def create(client, world, raw=None, org=ENT) -> dict:
    answer = client.post(FILINGS, json=raw or sample_entry(seed=21, items=3), headers=world.headers(org))
    assert answer.status_code == 201, answer.text
    return answer.json()


def patch(client, world, filing_id, body, org=ENT, **headers):
    return client.patch(f"{FILINGS}/{filing_id}", json=body, headers={**world.headers(org), **headers})


def get(client, world, filing_id, org=ENT) -> dict:
    """GET /filings/{id} without the history it adds (none exists in these tests)."""
    answer = client.get(f"{FILINGS}/{filing_id}", headers=world.headers(org))
    assert answer.status_code == 200, answer.text
    return as_filed(answer.json())


HISTORY = ("inspections", "releases", "gate_outs")


def as_filed(detail: dict) -> dict:
    """The filing answer without what only GET /filings/{id} adds (what happened to it since)."""
    assert all(detail[k] == [] for k in HISTORY), {k: detail[k] for k in HISTORY}
    return {k: v for k, v in detail.items() if k not in HISTORY}


def versions(client, world, filing_id, org=ENT) -> list[dict]:
    answer = client.get(f"{FILINGS}/{filing_id}/versions", headers=world.headers(org))
    assert answer.status_code == 200, answer.text
    return answer.json()


def declaration(filing, agency) -> dict | None:
    found = [d for d in filing["declarations"] if d["agency"] == agency]
    assert len(found) <= 1
    return found[0] if found else None


def submit(client, world, filing_id, agencies=None, org=ENT):
    body = {"agencies": agencies} if agencies is not None else None
    answer = client.post(f"{FILINGS}/{filing_id}/submit", json=body, headers=world.headers(org))
    assert answer.status_code == 200, answer.text
    return answer.json()


def queue(client, world, office) -> list[str]:
    answer = client.get("/api/v1/declarations", headers=world.headers(office))
    assert answer.status_code == 200, answer.text
    return [d["id"] for d in answer.json()]


def plain_items(filing) -> list[dict]:
    """The filing's goods lines that need no inspection (items 1 and 2 of the sample)."""
    return filing["data"]["items"][1:]


# --- versions ----------------------------------------------------------------------------------------------------


def test_each_patch_makes_a_new_kept_version(client, world):
    filing = create(client, world)
    first = patch(client, world, filing["id"], {"remarks": "first note"})
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 2
    assert first.json()["data"]["remarks"] == "first note"
    second = patch(client, world, filing["id"], {"packages": 99, "remarks": "second note"})
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 3

    kept = versions(client, world, filing["id"])
    assert [v["version"] for v in kept] == [1, 2, 3]
    assert set(kept[0]["changed_fields"]) == set(filing["data"])
    assert kept[1]["changed_fields"] == ["remarks"]
    assert kept[2]["changed_fields"] == ["packages", "remarks"]
    assert kept[0]["data"] == filing["data"]
    assert "remarks" not in kept[0]["data"]
    assert kept[1]["data"] == {**filing["data"], "remarks": "first note"}
    assert kept[2]["data"] == {**filing["data"], "packages": 99, "remarks": "second note"}
    assert get(client, world, filing["id"])["data"] == kept[2]["data"]


def test_drafts_follow_the_patched_entry(client, world):
    filing = create(client, world)
    patch(client, world, filing["id"], {"remarks": "note for both"})
    for d in get(client, world, filing["id"])["declarations"]:
        seen = client.get(f"/api/v1/declarations/{d['id']}", headers=world.headers(ENT)).json()
        assert seen["data"]["remarks"] == "note for both"
        assert seen["version"] == 1  # a draft has no filed versions yet


def test_null_removes_an_optional_field(client, world):
    filing = create(client, world)
    patch(client, world, filing["id"], {"remarks": "temporary"})
    answer = patch(client, world, filing["id"], {"remarks": None})
    assert answer.status_code == 200, answer.text
    assert "remarks" not in answer.json()["data"]
    assert answer.json()["version"] == 3
    assert versions(client, world, filing["id"])[-1]["changed_fields"] == ["remarks"]


@pytest.mark.parametrize("make_body", [
    lambda f: {"remarks": None},
    lambda f: {"packages": f["data"]["packages"]},
    lambda f: {"port": f" {f['port']} "},
    lambda f: {"port": f["port"], "currency": f["data"]["currency"]},
], ids=["remove-absent", "same-number", "same-padded", "same-values"])
def test_a_patch_that_changes_nothing_makes_no_new_version(client, world, make_body):
    filing = create(client, world)
    answer = patch(client, world, filing["id"], make_body(filing))
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == 1
    assert answer.json()["data"] == filing["data"]
    assert [v["version"] for v in versions(client, world, filing["id"])] == [1]


def test_if_match_refuses_a_stale_edit(client, world):
    filing = create(client, world)
    ok = patch(client, world, filing["id"], {"remarks": "a"}, **{"If-Match": "1"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["version"] == 2
    stale = patch(client, world, filing["id"], {"remarks": "b"}, **{"If-Match": "1"})
    assert stale.status_code == 409, stale.text
    assert stale.json()["error"]["code"] == "version_conflict"
    assert get(client, world, filing["id"])["data"]["remarks"] == "a"
    current = patch(client, world, filing["id"], {"remarks": "b"}, **{"If-Match": "2"})
    assert current.status_code == 200, current.text
    assert current.json()["version"] == 3


def test_a_patch_with_a_bad_value_changes_nothing(client, world):
    filing = create(client, world)
    answer = patch(client, world, filing["id"], {"currency": "XXX", "remarks": "would change"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["currency"]]
    after = get(client, world, filing["id"])
    assert after == filing
    assert [v["version"] for v in versions(client, world, filing["id"])] == [1]


@pytest.mark.parametrize(("body", "loc"), [
    ({"nonsense": 1}, ["nonsense"]),
    ({"port": None}, ["port"]),
    ({"net_weight_kg": 10**9}, ["net_weight_kg"]),
    ({"containers": [{"number": "CSQU3054384", "size_type": "45G1"}]}, ["containers", 0, "number"]),
    ({"ciq_office": None}, ["ciq_office"]),
    ({"customs_office": "0101"}, ["customs_office"]),
], ids=["unknown-field", "remove-required", "net-above-gross", "container", "remove-ciq-office",
        "unregistered-office"])
def test_a_bad_patch_names_the_field(client, world, body, loc):
    filing = create(client, world)
    answer = patch(client, world, filing["id"], body)
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [loc]
    assert get(client, world, filing["id"]) == filing


@pytest.mark.parametrize("body", [{}, [], ["remarks"]], ids=["empty", "empty-array", "array"])
def test_a_patch_must_be_a_non_empty_object(client, world, body):
    filing = create(client, world)
    answer = patch(client, world, filing["id"], body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"
    assert get(client, world, filing["id"])["version"] == 1


# --- the drafts follow the entry ---------------------------------------------------------------------------------


def test_removing_every_inspected_good_discards_the_ciq_draft_and_adding_one_makes_a_new_one(client, world):
    filing = create(client, world)
    old_ciq = declaration(filing, "ciq")["id"]
    customs = declaration(filing, "customs")["id"]

    without = patch(client, world, filing["id"], {"items": plain_items(filing)})
    assert without.status_code == 200, without.text
    assert [d["agency"] for d in without.json()["declarations"]] == ["customs"]
    assert declaration(without.json(), "customs")["id"] == customs
    gone = client.get(f"/api/v1/declarations/{old_ciq}", headers=world.headers(ENT))
    assert gone.status_code == 404

    back = patch(client, world, filing["id"], {"items": [FISH, *plain_items(filing)]})
    assert back.status_code == 200, back.text
    assert back.json()["version"] == 3
    new_ciq = declaration(back.json(), "ciq")
    assert new_ciq is not None
    assert new_ciq["id"] != old_ciq
    assert (new_ciq["status"], new_ciq["office"], new_ciq["number"], new_ciq["version"]) == (
        "draft", "210600", None, 1)
    assert declaration(back.json(), "customs")["id"] == customs
    # listed by agency name, as every read of the filing lists them
    assert [d["agency"] for d in back.json()["declarations"]] == ["ciq", "customs"]
    assert client.get(f"/api/v1/filings/{filing['id']}", headers=world.headers(ENT)).json()["declarations"] == \
        back.json()["declarations"]
    seen = client.get(f"/api/v1/declarations/{new_ciq['id']}", headers=world.headers(ENT)).json()
    assert seen["data"]["items"][0]["hs_code"] == FISH["hs_code"]
    assert seen["data"]["items"][0]["ciq_category"] is not None


def test_patching_the_customs_office_reroutes_the_draft(client, world):
    filing = create(client, world)
    answer = patch(client, world, filing["id"], {"customs_office": "0900"})
    assert answer.status_code == 200, answer.text
    customs = declaration(answer.json(), "customs")
    assert customs["office"] == "0900"
    assert customs["id"] == declaration(filing, "customs")["id"]
    assert declaration(answer.json(), "ciq")["office"] == "210600"
    submit(client, world, filing["id"])
    assert queue(client, world, "0900") == [customs["id"]]
    assert queue(client, world, "0916") == []


def test_after_customs_is_filed_only_ciq_fields_can_change(client, world):
    filing = create(client, world)
    submit(client, world, filing["id"], ["customs"])

    items = patch(client, world, filing["id"], {"items": plain_items(filing)})
    assert items.status_code == 409, items.text
    assert items.json()["error"]["code"] == "field_filed"
    assert "items" in items.json()["error"]["message"]
    unchanged = get(client, world, filing["id"])
    assert unchanged["version"] == 1
    assert unchanged["data"] == filing["data"]
    assert [d["agency"] for d in unchanged["declarations"]] == ["ciq", "customs"]

    customs_only = patch(client, world, filing["id"], {"transaction_mode": "3"})
    assert customs_only.status_code == 409, customs_only.text

    ciq = patch(client, world, filing["id"], {"ciq_office": "210000"})
    assert ciq.status_code == 200, ciq.text
    assert ciq.json()["version"] == 2
    assert declaration(ciq.json(), "ciq")["office"] == "210000"
    assert declaration(ciq.json(), "ciq")["status"] == "draft"
    assert declaration(ciq.json(), "customs")["status"] == "submitted"
    submit(client, world, filing["id"], ["ciq"])
    assert queue(client, world, "210000") == [declaration(ciq.json(), "ciq")["id"]]
    assert queue(client, world, "210600") == []


def test_after_ciq_is_filed_customs_only_fields_can_change(client, world):
    filing = create(client, world)
    submit(client, world, filing["id"], ["ciq"])
    assert patch(client, world, filing["id"], {"ciq_office": "210000"}).status_code == 409
    assert patch(client, world, filing["id"], {"remarks": "x"}).status_code == 409
    answer = patch(client, world, filing["id"], {"transaction_mode": "3", "customs_office": "0900"})
    assert answer.status_code == 200, answer.text
    customs = declaration(answer.json(), "customs")
    assert customs["office"] == "0900"
    seen = client.get(f"/api/v1/declarations/{customs['id']}", headers=world.headers(ENT)).json()
    assert seen["data"]["transaction_mode"] == "3"


def test_once_every_part_is_filed_patch_is_refused(client, world):
    filing = create(client, world)
    submit(client, world, filing["id"])
    answer = patch(client, world, filing["id"], {"ciq_office": "210000"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "filed"
    # even a no-op edit or a stale If-Match gets the same answer
    assert patch(client, world, filing["id"], {"remarks": None}).json()["error"]["code"] == "filed"
    assert patch(client, world, filing["id"], {"remarks": "x"}, **{"If-Match": "7"}).status_code == 409
    after = get(client, world, filing["id"])
    assert after["status"] == "filed"
    assert after["version"] == 1


def test_a_customs_only_filing_is_filed_in_one_step_and_then_frozen(client, world):
    filing = create(client, world, sample_entry(seed=22, inspected=False))
    assert submit(client, world, filing["id"])["status"] == "filed"
    assert patch(client, world, filing["id"], {"remarks": "late"}).status_code == 409


# --- the staging list --------------------------------------------------------------------------------------------


def test_the_list_shows_only_the_callers_filings_newest_first(client, world, clock):
    ids = []
    for seed in (31, 32, 33):
        ids.append(create(client, world, sample_entry(seed=seed))["id"])
        clock.advance(60)
    other = create(client, world, sample_entry(seed=34, consignee_uscc=OTHER), org=OTHER)

    mine = client.get(FILINGS, headers=world.headers(ENT)).json()
    assert mine["total"] == 3
    assert [f["id"] for f in mine["items"]] == ids[::-1]
    assert all("declarations" in f and "data" in f for f in mine["items"])

    theirs = client.get(FILINGS, headers=world.headers(OTHER)).json()
    assert theirs["total"] == 1
    assert [f["id"] for f in theirs["items"]] == [other["id"]]


def test_the_list_filters_by_status_and_pages(client, world, clock):
    ids = []
    for seed in (41, 42, 43):
        ids.append(create(client, world, sample_entry(seed=seed))["id"])
        clock.advance(60)
    submit(client, world, ids[1])

    filed = client.get(FILINGS, params={"status": "filed"}, headers=world.headers(ENT)).json()
    assert (filed["total"], [f["id"] for f in filed["items"]]) == (1, [ids[1]])
    drafts = client.get(FILINGS, params={"status": "draft"}, headers=world.headers(ENT)).json()
    assert (drafts["total"], [f["id"] for f in drafts["items"]]) == (2, [ids[2], ids[0]])
    unknown = client.get(FILINGS, params={"status": "nonsense"}, headers=world.headers(ENT))
    assert unknown.status_code == 422, unknown.text
    assert [d["loc"] for d in unknown.json()["error"]["details"]] == [["query", "status"]]

    page = client.get(FILINGS, params={"limit": 1, "offset": 1}, headers=world.headers(ENT)).json()
    assert page["total"] == 3
    assert [f["id"] for f in page["items"]] == [ids[1]]
    assert client.get(FILINGS, params={"limit": 0}, headers=world.headers(ENT)).status_code == 422
    assert client.get(FILINGS, params={"offset": -1}, headers=world.headers(ENT)).status_code == 422


def test_a_patched_filing_keeps_its_place_in_the_list(client, world, clock):
    first = create(client, world, sample_entry(seed=51))
    clock.advance(60)
    second = create(client, world, sample_entry(seed=52))
    clock.advance(60)
    patch(client, world, first["id"], {"remarks": "edited later"})
    listed = client.get(FILINGS, headers=world.headers(ENT)).json()
    assert [f["id"] for f in listed["items"]] == [second["id"], first["id"]]
    assert listed["items"][1]["updated_at"] > listed["items"][1]["created_at"]
