"""POST /api/v1/filings: the one-time entry, validated field by field, split and staged as drafts."""

from __future__ import annotations

import copy

import pytest
from fastapi.testclient import TestClient

from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
FILINGS = "/api/v1/filings"


def entry(**kwargs):
    """A valid import entry: item 0 is a good that needs CIQ, items 1 and 2 are customs-only, all in kg."""
    return sample_entry(seed=11, items=3, **kwargs)


def total(client, world, code=ENT) -> int:
    answer = client.get(FILINGS, headers=world.headers(code))
    assert answer.status_code == 200, answer.text
    return answer.json()["total"]


def assert_error_shape(answer, status=422, code="validation_failed"):
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], list)
    for detail in body["error"]["details"]:
        assert isinstance(detail["loc"], list)
        assert isinstance(detail["msg"], str) and detail["msg"]
    return body["error"]


def locs(error) -> list[tuple]:
    return [tuple(d["loc"]) for d in error["details"]]


# --- a valid entry -----------------------------------------------------------------------------------------------


def test_valid_entry_is_staged_as_draft_customs_and_ciq_declarations(client, world):
    raw = entry()
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    filing = answer.json()
    assert filing["status"] == "draft"
    assert filing["version"] == 1
    assert filing["direction"] == "import"
    assert filing["port"] == "CNDAG"
    assert filing["bill_of_lading"] == raw["bill_of_lading"]
    assert filing["data"] == raw
    declarations = filing["declarations"]
    assert [d["agency"] for d in declarations] == ["ciq", "customs"]
    assert {d["agency"]: d["office"] for d in declarations} == {"ciq": "210600", "customs": "0916"}
    for d in declarations:
        assert d["status"] == "draft"
        assert d["number"] is None
        assert d["version"] == 1
        assert d["submitted_at"] is None
        assert d["receipt"] is None
    assert len({d["id"] for d in declarations}) == 2

    seen = client.get(f"{FILINGS}/{filing['id']}", headers=world.headers(ENT))
    assert seen.status_code == 200
    assert {k: v for k, v in seen.json().items() if k not in ("inspections", "releases", "gate_outs")} == filing
    assert [seen.json()[k] for k in ("inspections", "releases", "gate_outs")] == [[], [], []]
    assert total(client, world) == 1


def test_each_declaration_carries_only_its_own_part(client, world):
    raw = entry()
    filing = client.post(FILINGS, json=raw, headers=world.headers(ENT)).json()
    by_agency = {d["agency"]: d["id"] for d in filing["declarations"]}
    customs = client.get(f"/api/v1/declarations/{by_agency['customs']}", headers=world.headers(ENT)).json()
    ciq = client.get(f"/api/v1/declarations/{by_agency['ciq']}", headers=world.headers(ENT)).json()
    assert customs["data"]["customs_office"] == "0916"
    assert customs["data"]["transaction_mode"] == "1"
    assert "ciq_office" not in customs["data"]
    assert customs["data"]["items"] == raw["items"]
    assert ciq["data"]["ciq_office"] == "210600"
    assert "customs_office" not in ciq["data"] and "transaction_mode" not in ciq["data"]
    # each goods line of the CIQ declaration is marked with its catalogue category (beef: animal quarantine)
    assert [item["ciq_category"] is not None for item in ciq["data"]["items"]] == [True, False, False]
    assert ciq["data"]["containers"] == raw["containers"]


def test_goods_without_catalogue_entry_make_only_a_customs_declaration(client, world):
    answer = client.post(FILINGS, json=sample_entry(seed=3, inspected=False), headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    declarations = answer.json()["declarations"]
    assert [(d["agency"], d["status"], d["number"]) for d in declarations] == [("customs", "draft", None)]


def test_ciq_office_may_be_left_out_when_no_good_needs_inspection(client, world):
    raw = sample_entry(seed=3, inspected=False)
    del raw["ciq_office"]
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    assert [d["agency"] for d in answer.json()["declarations"]] == ["customs"]
    assert "ciq_office" not in answer.json()["data"]


def test_codes_are_stored_without_surrounding_whitespace(client, world):
    raw = entry()
    raw["port"], raw["currency"] = "  CNDAG ", " USD"
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    assert answer.json()["port"] == "CNDAG"
    assert answer.json()["data"]["currency"] == "USD"


def test_an_entry_routed_to_other_registered_offices(client, world):
    raw = entry(customs_office="0900", ciq_office="210000")
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    assert {d["agency"]: d["office"] for d in answer.json()["declarations"]} == {"ciq": "210000",
                                                                                 "customs": "0900"}


def test_an_export_entry_needs_consignor_and_destination(client, world):
    raw = entry()
    raw["direction"] = "export"
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    error = assert_error_shape(answer)
    assert sorted(locs(error)) == [("consignor",), ("destination_country",)]
    raw["consignor"] = {"uscc": ENT, "name": "大连远洋食品贸易有限公司"}
    raw["destination_country"] = "KOR"
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    assert answer.json()["direction"] == "export"


# --- one bad field, named by its path ----------------------------------------------------------------------------


def _set(path, value):
    def mutate(e):
        target = e
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


def _delete(key):
    def mutate(e):
        del e[key]
    return mutate


def _net_above_gross(e):
    e["net_weight_kg"] = e["gross_weight_kg"] + 1


def _kg_lines_above_net(e):
    kg = sum(i["quantity"] for i in e["items"] if i["unit"] == "035")
    e["net_weight_kg"] = kg / 2


def _wrong_total(e):
    e["items"][0]["total_price"] += 100


def _duplicate_container(e):
    e["containers"].append(dict(e["containers"][1]))


def _duplicate_container_with_spaces(e):
    e["containers"].append({**e["containers"][0], "number": f" {e['containers'][0]['number']} "})


SINGLE_FIELD_CASES = [
    pytest.param(_set(("containers", 0, "number"), "CSQU3054384"), ["containers", 0, "number"], "check digit",
                 id="container-check-digit"),
    pytest.param(_set(("containers", 1, "number"), "CSQ3054383"), ["containers", 1, "number"], "4 letters",
                 id="container-format"),
    pytest.param(_set(("containers", 0, "size_type"), "99X9"), ["containers", 0, "size_type"], "size-type",
                 id="size-type"),
    pytest.param(_set(("consignee", "uscc"), "91210200MA0QK1P3AG"), ["consignee", "uscc"], "check character",
                 id="uscc-check-character"),
    pytest.param(_set(("consignee", "uscc"), "9121020"), ["consignee", "uscc"], "18 characters",
                 id="uscc-length"),
    pytest.param(_set(("items", 0, "hs_code"), "9999999999"), ["items", 0, "hs_code"], "does not exist",
                 id="hs-code-unknown"),
    pytest.param(_set(("items", 2, "hs_code"), "03038990"), None, None, id="hs-code-8-digits-is-fine"),
    pytest.param(_set(("items", 1, "hs_code"), "03AB"), ["items", 1, "hs_code"], "digits",
                 id="hs-code-not-digits"),
    pytest.param(_set(("currency",), "XXX"), ["currency"], "currency", id="currency"),
    pytest.param(_set(("trade_country",), "XYZ"), ["trade_country"], "country", id="trade-country"),
    pytest.param(_set(("items", 1, "origin_country"), "ZZZ"), ["items", 1, "origin_country"], "country",
                 id="origin-country"),
    pytest.param(_set(("overseas_party", "country"), "jpn"), ["overseas_party", "country"], "capital",
                 id="overseas-country-lowercase"),
    pytest.param(_set(("port",), "CNXXX"), ["port"], "UN/LOCODE", id="port-unknown"),
    pytest.param(_set(("port",), "JPTYO"), ["port"], "not in China", id="port-abroad"),
    pytest.param(_set(("items", 1, "unit"), "999"), ["items", 1, "unit"], "unit", id="unit"),
    pytest.param(_set(("trade_mode",), "9999"), ["trade_mode"], "trade mode", id="trade-mode"),
    pytest.param(_set(("transport_mode",), "Q"), ["transport_mode"], "transport mode", id="transport-mode"),
    pytest.param(_set(("customs_office",), "91"), ["customs_office"], "4 digits", id="customs-office-format"),
    pytest.param(_set(("ciq_office",), "2106"), ["ciq_office"], "6 digits", id="ciq-office-format"),
    pytest.param(_net_above_gross, ["net_weight_kg"], "exceeds gross", id="net-above-gross"),
    pytest.param(_kg_lines_above_net, ["items"], "net weight", id="kg-lines-above-net"),
    pytest.param(_wrong_total, ["items", 0, "total_price"], "quantity × unit price", id="total-price"),
    pytest.param(_set(("items",), []), ["items"], "at least 1", id="no-items"),
    pytest.param(_set(("items", 0, "quantity"), "lots"), ["items", 0, "quantity"], "number",
                 id="quantity-not-a-number"),
    pytest.param(_set(("items", 0, "name"), ""), ["items", 0, "name"], "at least 1", id="empty-item-name"),
    pytest.param(_set(("packages",), -1), ["packages"], "greater than 0", id="negative-packages"),
    pytest.param(_set(("gross_weight_kg",), "heavy"), ["gross_weight_kg"], "number", id="weight-not-a-number"),
    pytest.param(_duplicate_container, ["containers", 2, "number"], "twice", id="duplicate-container"),
    pytest.param(_duplicate_container_with_spaces, ["containers", 2, "number"], "twice",
                 id="duplicate-container-padded"),
    pytest.param(_set(("nonsense",), 1), ["nonsense"], "Extra", id="unknown-field"),
    pytest.param(_set(("containers", 0, "seal"), "X1"), ["containers", 0, "seal"], "Extra",
                 id="unknown-nested-field"),
    pytest.param(_delete("consignee"), ["consignee"], "required for import", id="missing-consignee"),
    pytest.param(_set(("consignee",), None), ["consignee"], "required for import", id="null-consignee"),
    pytest.param(_delete("departure_country"), ["departure_country"], "required for import",
                 id="missing-departure-country"),
    pytest.param(_delete("port"), ["port"], "required", id="missing-port"),
    pytest.param(_set(("direction",), "transit"), ["direction"], "import", id="direction"),
    pytest.param(_set(("documents", 0, "kind"), "receipt"), ["documents", 0, "kind"], "invoice",
                 id="document-kind"),
    pytest.param(_set(("bill_of_lading",), "COSU 123"), ["bill_of_lading"], "pattern", id="bill-of-lading"),
]


@pytest.mark.parametrize(("mutate", "loc", "msg"), SINGLE_FIELD_CASES)
def test_one_bad_field_is_named_by_its_path(client, world, mutate, loc, msg):
    raw = entry()
    mutate(raw)
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    if loc is None:
        assert answer.status_code == 201, answer.text
        return
    error = assert_error_shape(answer)
    assert [d["loc"] for d in error["details"]] == [loc], error
    assert msg.lower() in error["details"][0]["msg"].lower(), error
    assert total(client, world) == 0


def test_every_bad_field_is_named_in_one_answer(client, world):
    raw = entry()
    raw["containers"][0]["number"] = "CSQU3054384"
    raw["containers"].append(dict(raw["containers"][1]))
    raw["consignee"]["uscc"] = "91210200MA0QK1P3AG"
    raw["items"][0]["hs_code"] = "9999999999"
    raw["items"][1]["unit"] = "999"
    raw["items"][2]["total_price"] += 100
    raw["currency"] = "XXX"
    raw["trade_country"] = "XYZ"
    raw["port"] = "CNXXX"
    raw["trade_mode"] = "9999"
    raw["gross_weight_kg"], raw["net_weight_kg"] = 100.0, 200.0  # net above gross, and the kg lines above net
    raw["nonsense"] = True
    del raw["departure_country"]
    answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    error = assert_error_shape(answer)
    assert sorted(map(str, locs(error))) == sorted(map(str, [
        ("containers", 0, "number"), ("containers", 2, "number"), ("consignee", "uscc"),
        ("items", 0, "hs_code"), ("items", 1, "unit"), ("items", 2, "total_price"), ("currency",),
        ("trade_country",), ("port",), ("trade_mode",), ("net_weight_kg",), ("items",), ("nonsense",),
        ("departure_country",),
    ]))
    assert "14" in error["message"]
    assert total(client, world) == 0


def test_missing_consignee_and_bad_weights_are_both_named(client, world):
    raw = entry()
    del raw["consignee"]
    raw["net_weight_kg"] = raw["gross_weight_kg"] + 10
    error = assert_error_shape(client.post(FILINGS, json=raw, headers=world.headers(ENT)))
    assert sorted(locs(error)) == [("consignee",), ("net_weight_kg",)]


# --- routing to offices ------------------------------------------------------------------------------------------


def test_ciq_office_is_required_when_goods_need_inspection(client, world):
    raw = entry()
    del raw["ciq_office"]
    error = assert_error_shape(client.post(FILINGS, json=raw, headers=world.headers(ENT)))
    assert locs(error) == [("ciq_office",)]
    assert "inspection" in error["details"][0]["msg"]
    assert total(client, world) == 0


@pytest.mark.parametrize(("field", "code"), [("customs_office", "0101"), ("ciq_office", "219999")])
def test_an_office_that_is_not_registered_is_refused(client, world, field, code):
    raw = entry(**{field: code})
    error = assert_error_shape(client.post(FILINGS, json=raw, headers=world.headers(ENT)))
    assert locs(error) == [(field,)]
    assert code in error["details"][0]["msg"]
    assert total(client, world) == 0


def test_an_agency_of_the_wrong_kind_is_not_an_office(client, world):
    # "0916" is a customs office; 6-digit CIQ codes are looked up among CIQ offices only
    raw = entry(customs_office="0916", ciq_office="210600")
    raw["customs_office"] = "2106"  # right format, but no customs office has that code
    error = assert_error_shape(client.post(FILINGS, json=raw, headers=world.headers(ENT)))
    assert locs(error) == [("customs_office",)]


def test_both_unregistered_offices_are_named(client, world):
    raw = entry(customs_office="0101", ciq_office="219999")
    error = assert_error_shape(client.post(FILINGS, json=raw, headers=world.headers(ENT)))
    assert sorted(locs(error)) == [("ciq_office",), ("customs_office",)]


def test_unregistered_office_is_named_together_with_other_bad_fields(client, world):
    raw = entry(customs_office="0101")
    raw["currency"] = "XXX"
    error = assert_error_shape(client.post(FILINGS, json=raw, headers=world.headers(ENT)))
    assert sorted(locs(error)) == [("currency",), ("customs_office",)]


# --- bodies that are not an entry --------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [b"not json", b'{"direction": "import",', b"[1, 2]", b'"entry"', b"null"],
                         ids=["text", "truncated", "array", "string", "null"])
def test_a_body_that_is_not_a_json_object_is_refused(client, world, body):
    headers = {**world.headers(ENT), "Content-Type": "application/json"}
    answer = client.post(FILINGS, content=body, headers=headers)
    assert_error_shape(answer)
    assert total(client, world) == 0


def test_an_empty_object_names_every_required_field(client, world):
    error = assert_error_shape(client.post(FILINGS, json={}, headers=world.headers(ENT)))
    named = {loc[0] for loc in locs(error)}
    assert {"direction", "overseas_party", "trade_mode", "transport_mode", "transaction_mode", "customs_office",
            "port", "conveyance", "bill_of_lading", "trade_country", "currency", "packages", "package_type",
            "gross_weight_kg", "net_weight_kg", "items"} <= named


def test_a_direction_of_the_wrong_type_is_a_422_not_a_crash(app, world):
    raw = entry()
    raw["direction"] = ["import"]
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(FILINGS, json=raw, headers=world.headers(ENT))
        assert answer.status_code == 422, answer.text
        assert [d["loc"] for d in answer.json()["error"]["details"]] == [["direction"]]


def test_a_create_retried_with_its_idempotency_key_makes_one_filing(client, world):
    headers = {**world.headers(ENT), "Idempotency-Key": "entry-0001"}
    first = client.post(FILINGS, json=entry(), headers=headers)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    retry = client.post(FILINGS, json=entry(), headers=headers)
    assert retry.status_code == 201, retry.text
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert total(client, world) == 1
    other = entry()
    other["remarks"] = "a different entry"
    reused = client.post(FILINGS, json=other, headers=headers)
    error = assert_error_shape(reused)
    assert locs(error) == [("headers", "Idempotency-Key")]
    assert total(client, world) == 1


def test_a_refused_create_does_not_use_up_its_idempotency_key(client, world):
    headers = {**world.headers(ENT), "Idempotency-Key": "entry-0002"}
    bad = entry()
    bad["currency"] = "XXX"
    assert_error_shape(client.post(FILINGS, json=bad, headers=headers))
    answer = client.post(FILINGS, json=entry(), headers=headers)
    assert answer.status_code == 201, answer.text
    assert "Idempotent-Replayed" not in answer.headers


def test_the_stored_entry_is_a_copy_of_what_was_sent(client, world):
    raw = entry()
    sent = copy.deepcopy(raw)
    filing = client.post(FILINGS, json=raw, headers=world.headers(ENT)).json()
    versions = client.get(f"{FILINGS}/{filing['id']}/versions", headers=world.headers(ENT)).json()
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["data"] == sent
    assert set(versions[0]["changed_fields"]) == set(sent)
