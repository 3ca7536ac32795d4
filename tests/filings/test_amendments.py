"""POST /api/v1/declarations/{id}/amendments: changing a filed declaration, with notices to the other agencies."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from onewindow.models import Event, Organisation
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"
FILINGS = "/api/v1/filings"
DECLARATIONS = "/api/v1/declarations"
FISH = {"hs_code": "0303899090", "name": "冻鱼 Frozen fish", "quantity": 100.0, "unit": "035",
        "unit_price": 2.5, "total_price": 250.0, "origin_country": "JPN"}


class Filed:
    """A filing of ``sample_entry(seed=111, items=3)`` with ids of its declarations."""

    def __init__(self, client, world, agencies=None, raw=None):
        self.raw = raw or sample_entry(seed=111, items=3)
        created = client.post(FILINGS, json=self.raw, headers=world.headers(ENT))
        assert created.status_code == 201, created.text
        self.id = created.json()["id"]
        self.ids = {d["agency"]: d["id"] for d in created.json()["declarations"]}
        if agencies != []:
            body = {"agencies": agencies} if agencies else None
            answer = client.post(f"{FILINGS}/{self.id}/submit", json=body, headers=world.headers(ENT))
            assert answer.status_code == 200, answer.text

    @property
    def customs(self) -> str:
        return self.ids["customs"]

    @property
    def ciq(self) -> str:
        return self.ids["ciq"]

    def repriced_items(self) -> list[dict]:
        """The goods lines with line 1 at twice its unit price."""
        items = copy.deepcopy(self.raw["items"])
        items[1]["unit_price"] *= 2
        items[1]["total_price"] = round(items[1]["quantity"] * items[1]["unit_price"], 2)
        return items


def amend(client, world, declaration_id, changes, reason="corrected invoice", org=ENT):
    return client.post(f"{DECLARATIONS}/{declaration_id}/amendments", json={"changes": changes, "reason": reason},
                       headers=world.headers(org))


def get_declaration(client, world, declaration_id, org) -> dict:
    answer = client.get(f"{DECLARATIONS}/{declaration_id}", headers=world.headers(org))
    assert answer.status_code == 200, answer.text
    return answer.json()


def declaration_versions(client, world, declaration_id, org=ENT) -> list[dict]:
    answer = client.get(f"{DECLARATIONS}/{declaration_id}/versions", headers=world.headers(org))
    assert answer.status_code == 200, answer.text
    return answer.json()


def org_ids(run) -> dict[str, str]:
    return run(lambda ctx: {o.code: str(o.id) for o in ctx.session.scalars(select(Organisation))})


def amended_events(run) -> list[tuple[str, set[str], dict]]:
    def query(ctx):
        codes = {o.id: o.code for o in ctx.session.scalars(select(Organisation))}
        rows = ctx.session.scalars(select(Event).where(Event.type == "declaration.amended")
                                   .options(selectinload(Event.recipients)).order_by(Event.seq))
        return [(str(e.subject_id), {codes[r.organisation_id] for r in e.recipients}, e.data) for e in rows]
    return run(query)


# --- amending ----------------------------------------------------------------------------------------------------


def test_the_enterprise_amends_a_filed_declaration(client, world, run, clock):
    filed = Filed(client, world)
    as_filed = get_declaration(client, world, filed.customs, "0916")
    items = filed.repriced_items()
    clock.advance(600)
    answer = amend(client, world, filed.customs, {"items": items}, "unit price of line 1 was wrong")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"] == filed.customs
    assert body["version"] == 2
    assert body["status"] == "submitted"
    assert body["data"]["items"] == items

    kept = declaration_versions(client, world, filed.customs)
    assert [v["version"] for v in kept] == [1, 2]
    assert kept[0]["changes"] == {} and kept[0]["reason"] is None
    assert kept[0]["data"] == as_filed["data"]
    assert kept[1]["changes"] == {"items": items}
    assert kept[1]["reason"] == "unit price of line 1 was wrong"
    assert kept[1]["data"] == body["data"]
    assert kept[1]["created_at"] == "2026-03-02T01:10:00Z"
    assert kept[1]["author_organisation_id"] == org_ids(run)[ENT]
    # the agency sees the same history
    assert declaration_versions(client, world, filed.customs, "0916") == kept

    filing = client.get(f"{FILINGS}/{filed.id}", headers=world.headers(ENT)).json()
    assert filing["version"] == 2
    assert filing["data"]["items"] == items
    assert filing["status"] == "filed"
    filing_versions = client.get(f"{FILINGS}/{filed.id}/versions", headers=world.headers(ENT)).json()
    assert filing_versions[-1]["version"] == 2
    assert filing_versions[-1]["changed_fields"] == ["items"]


def test_the_other_agency_of_the_filing_gets_a_notice(client, world):
    filed = Filed(client, world)
    assert amend(client, world, filed.customs, {"items": filed.repriced_items()}, "price").status_code == 201
    ciq = get_declaration(client, world, filed.ciq, "210600")
    assert len(ciq["notices"]) == 1
    notice = ciq["notices"][0]
    assert notice["source_declaration_id"] == filed.customs
    assert notice["source_agency"] == "customs"
    assert notice["source_version"] == 2
    assert notice["changed_fields"] == ["items"]
    assert notice["reason"] == "price"
    # the notified declaration itself is not changed: its agency amends it if it must
    assert ciq["version"] == 1
    assert ciq["data"]["items"][1]["unit_price"] == filed.raw["items"][1]["unit_price"]
    assert get_declaration(client, world, filed.customs, "0916")["notices"] == []
    # the enterprise sees the notice too
    assert len(get_declaration(client, world, filed.ciq, ENT)["notices"]) == 1


def test_the_declarations_agency_amends_it_after_accepting(client, world, run):
    filed = Filed(client, world)
    number = client.post(f"{DECLARATIONS}/{filed.customs}/accept", headers=world.headers("0916")).json()["number"]
    answer = amend(client, world, filed.customs, {"remarks": "goods description corrected by officer"},
                   "officer correction", org="0916")
    assert answer.status_code == 201, answer.text
    assert (answer.json()["version"], answer.json()["status"], answer.json()["number"]) == (2, "accepted", number)
    assert answer.json()["data"]["remarks"] == "goods description corrected by officer"
    v2 = declaration_versions(client, world, filed.customs, "0916")[1]
    assert v2["author_organisation_id"] == org_ids(run)["0916"]
    assert v2["reason"] == "officer correction"
    notice = get_declaration(client, world, filed.ciq, "210600")["notices"][0]
    assert (notice["source_agency"], notice["source_version"], notice["changed_fields"]) == (
        "customs", 2, ["remarks"])
    [(subject, recipients, data)] = amended_events(run)
    assert subject == filed.customs
    assert data["by"] == "customs"


def test_the_ciq_agency_amends_its_declaration_and_customs_is_told(client, world, run):
    filed = Filed(client, world)
    answer = amend(client, world, filed.ciq, {"items": filed.repriced_items()}, "checked at the quay",
                   org="210600")
    assert answer.status_code == 201, answer.text
    assert answer.json()["version"] == 2
    assert answer.json()["data"]["items"][1]["unit_price"] == filed.repriced_items()[1]["unit_price"]
    assert answer.json()["data"]["items"][0]["ciq_category"] is not None
    notice = get_declaration(client, world, filed.customs, "0916")["notices"][0]
    assert (notice["source_agency"], notice["source_declaration_id"], notice["source_version"]) == (
        "ciq", filed.ciq, 2)
    assert notice["changed_fields"] == ["items"]
    [(subject, recipients, data)] = amended_events(run)
    assert subject == filed.ciq
    assert recipients == {ENT, "0916", "210600"}
    assert data["by"] == "ciq"


def test_a_field_another_amendment_added_does_not_come_into_a_declaration_filed_without_it(client, world):
    filed = Filed(client, world)
    assert "remarks" not in filed.raw
    assert amend(client, world, filed.ciq, {"remarks": "reefer at -18 °C"}).status_code == 201
    # customs received no remarks: an amendment of customs that changes nothing of its own is no change
    same = amend(client, world, filed.customs, {"transaction_mode": filed.raw["transaction_mode"]})
    assert same.status_code == 409 and same.json()["error"]["code"] == "no_change", same.text
    other = "3" if filed.raw["transaction_mode"] != "3" else "1"
    changed = amend(client, world, filed.customs, {"transaction_mode": other})
    assert changed.status_code == 201, changed.text
    assert changed.json()["data"]["transaction_mode"] == other and "remarks" not in changed.json()["data"]
    assert [v["changes"] for v in declaration_versions(client, world, filed.customs)][1:] == [
        {"transaction_mode": other}]


def test_a_rejected_declaration_keeps_what_it_was_amended_with_when_another_is_amended(client, world):
    """A staged declaration follows the filing, not the declaration amended: CIQ's remarks, amended in before
    its rejection, stay when customs amends something else, and go out with CIQ's next filing."""
    filed = Filed(client, world)
    assert amend(client, world, filed.ciq, {"remarks": "reefer at -18 °C"}).status_code == 201
    rejected = client.post(f"{DECLARATIONS}/{filed.ciq}/reject", json={"reason": "wrong port of loading"},
                           headers=world.headers("210600"))
    assert rejected.status_code == 200, rejected.text
    other = "3" if filed.raw["transaction_mode"] != "3" else "1"
    assert amend(client, world, filed.customs, {"transaction_mode": other}).status_code == 201
    assert get_declaration(client, world, filed.ciq, "210600")["data"]["remarks"] == "reefer at -18 °C"
    answer = client.post(f"{FILINGS}/{filed.id}/submit", json={"agencies": ["ciq"]}, headers=world.headers(ENT))
    assert answer.status_code == 200, answer.text
    again = get_declaration(client, world, filed.ciq, "210600")
    assert (again["status"], again["version"], again["data"]["remarks"]) == ("submitted", 3, "reefer at -18 °C")


def test_an_amendment_is_kept_when_the_declarations_amended_apart_no_longer_add_up(client, world):
    """Customs lowers the net weight to its goods lines' weight; CIQ, which still declares the heavier net
    weight, adds weight to a line: each declaration adds up, their mix in the filing does not. CIQ's amendment
    is kept all the same."""
    filed = Filed(client, world)
    kg = sum(i["quantity"] for i in filed.raw["items"] if i["unit"] == "035")
    assert kg < filed.raw["net_weight_kg"]
    assert amend(client, world, filed.customs, {"net_weight_kg": kg}).status_code == 201
    items = copy.deepcopy(filed.raw["items"])
    items[0]["quantity"] += filed.raw["net_weight_kg"] - kg
    items[0]["total_price"] = round(items[0]["quantity"] * items[0]["unit_price"], 2)
    answer = amend(client, world, filed.ciq, {"items": items})
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["net_weight_kg"] == filed.raw["net_weight_kg"]
    filing = client.get(f"{FILINGS}/{filed.id}", headers=world.headers(ENT)).json()
    assert (filing["version"], filing["data"]["net_weight_kg"], filing["data"]["items"][0]["quantity"]) == (
        3, kg, items[0]["quantity"])


def test_the_amended_event_goes_to_the_enterprise_and_every_agency_of_the_filing(client, world, run):
    filed = Filed(client, world)
    amend(client, world, filed.customs, {"items": filed.repriced_items()}, "price")
    [(subject, recipients, data)] = amended_events(run)
    assert subject == filed.customs
    assert recipients == {ENT, "0916", "210600"}
    assert data["changed"] == ["items"]
    assert data["reason"] == "price"
    assert data["version"] == 2
    assert data["by"] == "enterprise"


def test_successive_amendments_make_successive_versions_and_notices(client, world, clock):
    filed = Filed(client, world)
    assert amend(client, world, filed.customs, {"remarks": "one"}, "first").status_code == 201
    clock.advance(60)
    assert amend(client, world, filed.customs, {"remarks": "two", "packages": 81}, "second").status_code == 201
    kept = declaration_versions(client, world, filed.customs)
    assert [(v["version"], v["reason"]) for v in kept] == [(1, None), (2, "first"), (3, "second")]
    assert kept[2]["changes"] == {"remarks": "two", "packages": 81}
    notices = get_declaration(client, world, filed.ciq, "210600")["notices"]
    assert [(n["source_version"], n["changed_fields"]) for n in notices] == [
        (2, ["remarks"]), (3, ["packages", "remarks"])]


def test_notices_of_amendments_made_at_one_instant_come_in_their_order(client, world):
    """On a clock that does not move between them (a simulated one), eight amendments still list in the
    order they were made, whatever their notices' ids."""
    filed = Filed(client, world)
    for n in range(8):
        assert amend(client, world, filed.customs, {"remarks": f"check {n}"}).status_code == 201
    notices = get_declaration(client, world, filed.ciq, "210600")["notices"]
    assert [n["source_version"] for n in notices] == list(range(2, 10))


def test_the_office_may_be_named_if_it_does_not_change(client, world):
    filed = Filed(client, world)
    answer = amend(client, world, filed.customs, {"customs_office": "0916", "remarks": "same office"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["office"] == "0916"


def test_a_staged_declaration_follows_an_amendment_without_a_notice(client, world, run):
    filed = Filed(client, world, agencies=["customs"])
    answer = amend(client, world, filed.customs, {"items": filed.repriced_items()})
    assert answer.status_code == 201, answer.text
    ciq = get_declaration(client, world, filed.ciq, ENT)
    assert ciq["status"] == "draft"
    assert ciq["notices"] == []
    assert ciq["data"]["items"][1]["unit_price"] == filed.repriced_items()[1]["unit_price"]
    [(_, recipients, _)] = amended_events(run)
    assert recipients == {ENT, "0916"}


def test_only_declarations_carrying_a_changed_field_get_a_notice(client, world, run):
    filed = Filed(client, world)
    answer = amend(client, world, filed.customs, {"transaction_mode": "3"}, "CIF, not FOB", org="0916")
    assert answer.status_code == 201, answer.text
    assert answer.json()["data"]["transaction_mode"] == "3"
    # transaction_mode is not part of the CIQ declaration: nothing to tell CIQ
    assert get_declaration(client, world, filed.ciq, "210600")["notices"] == []
    [(_, recipients, data)] = amended_events(run)
    assert recipients == {ENT, "0916"}
    assert data["changed"] == ["transaction_mode"]


# --- refused amendments ------------------------------------------------------------------------------------------


def test_a_draft_cannot_be_amended(client, world):
    filed = Filed(client, world, agencies=[])
    answer = amend(client, world, filed.customs, {"remarks": "too early"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "not_amendable"
    assert declaration_versions(client, world, filed.customs) == []


def test_the_staged_part_of_a_partly_filed_filing_cannot_be_amended(client, world):
    filed = Filed(client, world, agencies=["customs"])
    answer = amend(client, world, filed.ciq, {"remarks": "too early"})
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "not_amendable"


def test_a_rejected_declaration_cannot_be_amended(client, world):
    filed = Filed(client, world)
    client.post(f"{DECLARATIONS}/{filed.customs}/reject", json={"reason": "bad"}, headers=world.headers("0916"))
    answer = amend(client, world, filed.customs, {"remarks": "fixed"})
    assert answer.status_code == 409, answer.text


@pytest.mark.parametrize(("make_changes", "locs"), [
    (lambda raw: {"currency": "XXX"}, [["changes", "currency"]]),
    (lambda raw: {"items": [{**raw["items"][0], "hs_code": "9999999999"}, *raw["items"][1:]]},
     [["changes", "items", 0, "hs_code"]]),
    (lambda raw: {"containers": [{"number": "CSQU3054384", "size_type": "45G1"}]},
     [["changes", "containers", 0, "number"]]),
    (lambda raw: {"net_weight_kg": raw["gross_weight_kg"] + 1}, [["changes", "net_weight_kg"]]),
    (lambda raw: {"items": []}, [["changes", "items"]]),
    (lambda raw: {"port": None}, [["changes", "port"]]),
    (lambda raw: {"currency": "XXX", "trade_country": "XYZ"}, [["changes", "currency"], ["changes", "trade_country"]]),
], ids=["currency", "hs-code", "container", "net-above-gross", "no-items", "remove-port", "two-fields"])
def test_a_bad_value_is_named_under_changes(client, world, run, make_changes, locs):
    filed = Filed(client, world)
    answer = amend(client, world, filed.customs, make_changes(filed.raw))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"
    assert sorted(d["loc"] for d in answer.json()["error"]["details"]) == sorted(locs)
    assert get_declaration(client, world, filed.customs, "0916")["version"] == 1
    assert get_declaration(client, world, filed.ciq, "210600")["notices"] == []
    assert client.get(f"{FILINGS}/{filed.id}", headers=world.headers(ENT)).json()["version"] == 1
    assert amended_events(run) == []


@pytest.mark.parametrize(("agency", "field", "value"), [
    ("ciq", "transaction_mode", "3"),
    ("ciq", "customs_office", "0916"),
    ("customs", "ciq_office", "210600"),
    ("customs", "nonsense", 1),
    ("ciq", "nonsense", 1),
])
def test_a_field_that_is_not_part_of_the_declaration_is_refused(client, world, agency, field, value):
    filed = Filed(client, world)
    answer = amend(client, world, filed.ids[agency], {field: value, "remarks": "and a good change"})
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["changes", field]]
    assert get_declaration(client, world, filed.ids[agency], ENT)["version"] == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_one_answer_names_every_bad_field_of_an_amendment(client, world, run, reason):
    filed = Filed(client, world)
    answer = amend(client, world, filed.ciq, {"packages": -1, "currency": "XYZ", "foo": 1, "direction": "export"},
                   reason=reason, org="210600")
    assert answer.status_code == 422, answer.text
    details = answer.json()["error"]["details"]
    assert sorted(d["loc"] for d in details) == sorted([["reason"], ["changes", "foo"], ["changes", "direction"],
                                                       ["changes", "packages"], ["changes", "currency"]])
    assert [d["msg"] for d in details if d["loc"] == ["reason"]] == ["give the reason for the amendment"]
    assert get_declaration(client, world, filed.ciq, ENT)["version"] == 1
    assert amended_events(run) == []


@pytest.mark.parametrize("agency", ["customs", "ciq"])
def test_the_direction_of_a_filed_declaration_cannot_change(client, world, agency):
    filed = Filed(client, world)
    answer = amend(client, world, filed.ids[agency], {"direction": "export"})
    assert answer.status_code == 422, answer.text
    assert ["changes", "direction"] in [d["loc"] for d in answer.json()["error"]["details"]]
    assert get_declaration(client, world, filed.ids[agency], ENT)["direction"] == "import"


@pytest.mark.parametrize("agency", ["customs", "ciq"])
def test_the_port_of_a_filed_declaration_cannot_change(client, world, agency):
    """Goods declared at Dalian are not Qingdao's: the port would move the consignment's containers, releases
    and inspections to another port's stays."""
    filed = Filed(client, world)
    answer = amend(client, world, filed.ids[agency], {"port": "CNQDG"})
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["changes", "port"]]
    assert get_declaration(client, world, filed.ids[agency], ENT)["data"]["port"] == "CNDAG"
    assert client.get(f"{FILINGS}/{filed.id}", headers=world.headers(ENT)).json()["port"] == "CNDAG"


@pytest.mark.parametrize(("agency", "field", "office", "org"), [
    ("customs", "customs_office", "0900", ENT),
    ("customs", "customs_office", "0900", "0916"),
    ("ciq", "ciq_office", "210000", ENT),
])
def test_a_filed_declaration_cannot_move_to_another_office(client, world, agency, field, office, org):
    filed = Filed(client, world)
    answer = amend(client, world, filed.ids[agency], {field: office}, org=org)
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["changes", field]]
    assert get_declaration(client, world, filed.ids[agency], ENT)["office"] != office


@pytest.mark.parametrize("changes", [{"currency": "USD"}, {"remarks": None}, {"port": " CNDAG "}],
                         ids=["same-value", "remove-absent", "same-padded"])
def test_changes_that_change_nothing_are_a_conflict(client, world, run, changes):
    filed = Filed(client, world)
    answer = amend(client, world, filed.customs, changes)
    assert answer.status_code == 409, answer.text
    assert answer.json()["error"]["code"] == "no_change"
    assert [v["version"] for v in declaration_versions(client, world, filed.customs)] == [1]
    assert amended_events(run) == []


@pytest.mark.parametrize("body", [
    {"changes": {}, "reason": "nothing"},
    {"changes": {"remarks": "x"}},
    {"changes": {"remarks": "x"}, "reason": ""},
    {"changes": ["remarks"], "reason": "x"},
    {"reason": "x"},
    {"changes": {"remarks": "x"}, "reason": "x", "extra": True},
], ids=["empty-changes", "no-reason", "empty-reason", "changes-array", "no-changes", "extra-field"])
def test_a_malformed_amendment_request_is_refused(client, world, body):
    filed = Filed(client, world)
    answer = client.post(f"{DECLARATIONS}/{filed.customs}/amendments", json=body, headers=world.headers(ENT))
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"


@pytest.mark.parametrize(("target", "org"), [
    ("customs", OTHER),
    ("ciq", OTHER),
    ("customs", "210600"),
    ("customs", "210000"),
    ("customs", "0900"),
    ("ciq", "0916"),
    ("ciq", "210000"),
    ("customs", "DCT"),
    ("customs", "PORTOFFICE"),
], ids=["other-enterprise-customs", "other-enterprise-ciq", "ciq-agency-on-customs", "other-ciq-office",
        "other-customs-office", "customs-agency-on-ciq", "other-ciq-on-ciq", "terminal", "admin"])
def test_who_cannot_see_a_declaration_cannot_amend_it(client, world, run, target, org):
    filed = Filed(client, world)
    answer = amend(client, world, filed.ids[target], {"remarks": "not mine"}, org=org)
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"]["code"] == "not_found"
    assert get_declaration(client, world, filed.ids[target], ENT)["version"] == 1
    assert amended_events(run) == []


# --- the filing's status follows the drafts an amendment discards or makes ----------------------------------------


def test_a_filing_whose_last_draft_is_discarded_by_an_amendment_is_filed(client, world):
    filed = Filed(client, world, agencies=["customs"])
    answer = amend(client, world, filed.customs, {"items": filed.raw["items"][1:]}, "no beef after all")
    assert answer.status_code == 201, answer.text
    filing = client.get(f"{FILINGS}/{filed.id}", headers=world.headers(ENT)).json()
    assert [(d["agency"], d["status"]) for d in filing["declarations"]] == [("customs", "submitted")]
    assert filing["status"] == "filed"


def test_a_filing_with_a_new_draft_from_an_amendment_can_be_staged(client, world):
    raw = sample_entry(seed=112, items=3, inspected=False)
    filed = Filed(client, world, raw=raw)
    answer = amend(client, world, filed.customs, {"items": [FISH, *raw["items"]]}, "fish added")
    assert answer.status_code == 201, answer.text
    filing = client.get(f"{FILINGS}/{filed.id}", headers=world.headers(ENT)).json()
    assert {d["agency"]: d["status"] for d in filing["declarations"]} == {"ciq": "draft", "customs": "submitted"}
    assert filing["status"] == "draft"
    edit = client.patch(f"{FILINGS}/{filed.id}", json={"ciq_office": "210000"}, headers=world.headers(ENT))
    assert edit.status_code == 200, edit.text


def test_an_amendment_adding_an_inspected_good_can_name_the_ciq_office(client, world):
    raw = sample_entry(seed=113, items=3, inspected=False)
    del raw["ciq_office"]
    filed = Filed(client, world, raw=raw)
    without = amend(client, world, filed.customs, {"items": [FISH, *raw["items"]]}, "fish added")
    assert [d["loc"] for d in without.json()["error"]["details"]] == [["changes", "ciq_office"]]
    answer = amend(client, world, filed.customs, {"items": [FISH, *raw["items"]], "ciq_office": "210600"},
                   "fish added")
    assert answer.status_code == 201, answer.text


def test_an_amendment_made_against_an_older_version_is_refused_with_if_match(client, world, run):
    """Two parties amending from what they read: the second, sent with the version it read, is refused and
    undoes nothing of the first."""
    filed = Filed(client, world)
    version = get_declaration(client, world, filed.customs, ENT)["version"]
    first = client.post(f"{DECLARATIONS}/{filed.customs}/amendments", headers={**world.headers("0916"),
                        "If-Match": str(version)}, json={"changes": {"remarks": "office note"}, "reason": "r1"})
    assert first.status_code == 201, first.text
    stale = client.post(f"{DECLARATIONS}/{filed.customs}/amendments", headers={**world.headers(ENT),
                        "If-Match": str(version)}, json={"changes": {"remarks": "mine"}, "reason": "r2"})
    assert (stale.status_code, stale.json()["error"]["code"]) == (409, "version_conflict"), stale.text
    seen = get_declaration(client, world, filed.customs, ENT)
    assert (seen["version"], seen["data"]["remarks"]) == (version + 1, "office note")
    current = client.post(f"{DECLARATIONS}/{filed.customs}/amendments", headers={**world.headers(ENT),
                          "If-Match": str(version + 1)}, json={"changes": {"remarks": "mine"}, "reason": "r2"})
    assert current.status_code == 201, current.text
    for garbled in ("two", "3.0", "+3", "3_0", "1e0", ""):  # digits only, never read as another number
        bad = client.post(f"{DECLARATIONS}/{filed.customs}/amendments", headers={**world.headers(ENT),
                          "If-Match": garbled}, json={"changes": {"remarks": "x"}, "reason": "r3"})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == ["header", "if-match"], garbled
