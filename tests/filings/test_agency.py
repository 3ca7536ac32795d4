"""The agencies' side: queues scoped by office, accept (receipt numbers) and reject."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
FILINGS = "/api/v1/filings"
DECLARATIONS = "/api/v1/declarations"
CHINA = ZoneInfo("Asia/Shanghai")


def filed(client, world, seed, agencies=None, **entry) -> dict[str, str]:
    """Create a filing from ``sample_entry(seed=..., **entry)``, file it; agency → declaration id (+ 'filing')."""
    raw = sample_entry(seed=seed, **entry)
    created = client.post(FILINGS, json=raw, headers=world.headers(ENT))
    assert created.status_code == 201, created.text
    filing = created.json()
    body = {"agencies": agencies} if agencies else None
    answer = client.post(f"{FILINGS}/{filing['id']}/submit", json=body, headers=world.headers(ENT))
    assert answer.status_code == 200, answer.text
    return {"filing": filing["id"], **{d["agency"]: d["id"] for d in filing["declarations"]}}


def export_entry(seed: int) -> dict:
    raw = sample_entry(seed=seed)
    raw.update(direction="export", consignor={"uscc": ENT, "name": "大连远洋食品贸易有限公司"},
               destination_country="KOR")
    del raw["consignee"], raw["departure_country"]
    return raw


def queue(client, world, office, **params) -> list[dict]:
    answer = client.get(DECLARATIONS, params=params, headers=world.headers(office))
    assert answer.status_code == 200, answer.text
    return answer.json()


def accept(client, world, declaration_id, office):
    return client.post(f"{DECLARATIONS}/{declaration_id}/accept", headers=world.headers(office))


def reject(client, world, declaration_id, office, body):
    return client.post(f"{DECLARATIONS}/{declaration_id}/reject", json=body, headers=world.headers(office))


def accepted_number(client, world, declaration_id, office) -> str:
    answer = accept(client, world, declaration_id, office)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "accepted"
    return answer.json()["number"]


# --- queues ------------------------------------------------------------------------------------------------------


def test_each_office_sees_only_declarations_routed_to_it(client, world):
    one = filed(client, world, 71)
    assert [d["id"] for d in queue(client, world, "0916")] == [one["customs"]]
    assert [d["id"] for d in queue(client, world, "210600")] == [one["ciq"]]
    assert queue(client, world, "0900") == []
    assert queue(client, world, "210000") == []
    assert queue(client, world, "DCT") == []
    seen = queue(client, world, "0916")[0]
    assert (seen["agency"], seen["office"], seen["status"], seen["filing_id"]) == (
        "customs", "0916", "submitted", one["filing"])


def test_drafts_are_never_in_a_queue(client, world):
    created = client.post(FILINGS, json=sample_entry(seed=72), headers=world.headers(ENT)).json()
    for office in ("0916", "210600"):
        assert queue(client, world, office) == []
        assert queue(client, world, office, status="draft") == []
    for d in created["declarations"]:
        office = "0916" if d["agency"] == "customs" else "210600"
        assert client.get(f"{DECLARATIONS}/{d['id']}", headers=world.headers(office)).status_code == 404
        assert accept(client, world, d["id"], office).status_code == 404
    # filing one part puts only that part in its office's queue
    client.post(f"{FILINGS}/{created['id']}/submit", json={"agencies": ["customs"]}, headers=world.headers(ENT))
    assert len(queue(client, world, "0916")) == 1
    assert queue(client, world, "210600") == []


def test_queues_filter_by_status_oldest_filed_first(client, world, clock):
    first = filed(client, world, 73)
    clock.advance(60)
    second = filed(client, world, 74)
    clock.advance(60)
    third = filed(client, world, 75)
    assert [d["id"] for d in queue(client, world, "0916")] == [first["customs"], second["customs"],
                                                               third["customs"]]
    accepted_number(client, world, second["customs"], "0916")
    assert reject(client, world, third["customs"], "0916", {"reason": "wrong invoice"}).status_code == 200
    assert [d["id"] for d in queue(client, world, "0916", status="submitted")] == [first["customs"]]
    assert [d["id"] for d in queue(client, world, "0916", status="accepted")] == [second["customs"]]
    assert [d["id"] for d in queue(client, world, "0916", status="rejected")] == [third["customs"]]
    assert [d["id"] for d in queue(client, world, "0916", limit=1, offset=1)] == [second["customs"]]


def test_an_unknown_status_filter_is_refused(client, world):
    answer = client.get(DECLARATIONS, params={"status": "pending"}, headers=world.headers("0916"))
    assert answer.status_code == 422, answer.text
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["query", "status"]]


def test_an_agency_reads_its_declaration_with_the_data_of_its_part(client, world):
    one = filed(client, world, 76)
    answer = client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers("0916"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["agency"], body["office"], body["status"], body["direction"], body["version"]) == (
        "customs", "0916", "submitted", "import", 1)
    assert body["filing_id"] == one["filing"]
    assert body["notices"] == []
    assert body["data"]["customs_office"] == "0916"
    assert "ciq_office" not in body["data"]
    ciq = client.get(f"{DECLARATIONS}/{one['ciq']}", headers=world.headers("210600")).json()
    assert ciq["data"]["ciq_office"] == "210600"
    assert "transaction_mode" not in ciq["data"]


# --- accept: receipt numbers -------------------------------------------------------------------------------------


def test_accepting_gives_numbers_in_each_agencys_format(client, world):
    one = filed(client, world, 77)
    customs = accepted_number(client, world, one["customs"], "0916")
    assert re.fullmatch(r"\d{18}", customs)
    assert (customs[:4], customs[4:8], customs[8], customs[9:]) == ("0916", "2026", "1", "000000001")
    ciq = accepted_number(client, world, one["ciq"], "210600")
    assert re.fullmatch(r"\d{15}", ciq)
    assert (ciq[0], ciq[1:7], ciq[7:9], ciq[9:]) == ("1", "210600", "26", "000001")


def test_export_numbers_carry_the_export_flag(client, world):
    created = client.post(FILINGS, json=export_entry(78), headers=world.headers(ENT))
    assert created.status_code == 201, created.text
    ids = {d["agency"]: d["id"] for d in created.json()["declarations"]}
    client.post(f"{FILINGS}/{created.json()['id']}/submit", headers=world.headers(ENT))
    assert accepted_number(client, world, ids["customs"], "0916") == "091620260000000001"
    assert accepted_number(client, world, ids["ciq"], "210600") == "221060026000001"


def test_numbers_are_sequential_per_office_and_year(client, world):
    filings = [filed(client, world, seed) for seed in (81, 82, 83)]
    assert [accepted_number(client, world, f["customs"], "0916") for f in filings] == [
        "091620261000000001", "091620261000000002", "091620261000000003"]
    assert [accepted_number(client, world, f["ciq"], "210600") for f in filings] == [
        "121060026000001", "121060026000002", "121060026000003"]
    # other offices count from 1
    elsewhere = filed(client, world, 84, customs_office="0900", ciq_office="210000")
    assert accepted_number(client, world, elsewhere["customs"], "0900") == "090020261000000001"
    assert accepted_number(client, world, elsewhere["ciq"], "210000") == "121000026000001"
    # and the first offices go on where they were
    later = filed(client, world, 85)
    assert accepted_number(client, world, later["customs"], "0916") == "091620261000000004"


def test_numbers_follow_the_order_of_acceptance_not_of_filing(client, world):
    a, b = filed(client, world, 86), filed(client, world, 87)
    assert accepted_number(client, world, b["customs"], "0916").endswith("000000001")
    assert accepted_number(client, world, a["customs"], "0916").endswith("000000002")


def test_the_year_is_the_year_in_china(client, world, clock):
    first = filed(client, world, 88)
    assert accepted_number(client, world, first["customs"], "0916") == "091620261000000001"
    # 23:59 on New Year's Eve in China is still 2026
    clock.set(datetime(2026, 12, 31, 15, 59, tzinfo=UTC))
    second = filed(client, world, 89)
    assert accepted_number(client, world, second["customs"], "0916") == "091620261000000002"
    assert accepted_number(client, world, second["ciq"], "210600") == "121060026000001"
    # 2026-12-31T16:30Z is 00:30 on 1 January 2027 in China: the sequences start again
    clock.set(datetime(2027, 1, 1, 0, 30, tzinfo=CHINA))
    assert clock.now() == datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    third = filed(client, world, 90)
    assert accepted_number(client, world, third["customs"], "0916") == "091620271000000001"
    assert accepted_number(client, world, third["ciq"], "210600") == "121060027000001"
    fourth = filed(client, world, 91)
    assert accepted_number(client, world, fourth["customs"], "0916") == "091620271000000002"


def test_the_year_is_taken_when_accepting_not_when_filing(client, world, clock):
    clock.set(datetime(2026, 12, 31, 23, 0, tzinfo=CHINA))
    one = filed(client, world, 92)
    clock.advance(3600)  # 00:00 on 1 January 2027 in China
    assert accepted_number(client, world, one["customs"], "0916") == "091620271000000001"


def test_numbers_are_unique(client, world):
    numbers = []
    for seed in range(93, 97):
        f = filed(client, world, seed)
        numbers += [accepted_number(client, world, f["customs"], "0916"),
                    accepted_number(client, world, f["ciq"], "210600")]
    assert len(set(numbers)) == len(numbers) == 8


def test_accepting_twice_is_a_conflict(client, world):
    one = filed(client, world, 97)
    number = accepted_number(client, world, one["customs"], "0916")
    again = accept(client, world, one["customs"], "0916")
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "not_submitted"
    seen = client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers("0916")).json()
    assert (seen["status"], seen["number"]) == ("accepted", number)
    # the failed second acceptance used no number
    other = filed(client, world, 98)
    assert accepted_number(client, world, other["customs"], "0916") == "091620261000000002"


# --- reject ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": None}, {"reason": "x" * 1001}],
                         ids=["missing", "empty", "blank", "null", "too-long"])
def test_a_rejection_needs_a_reason(client, world, body):
    one = filed(client, world, 99)
    answer = reject(client, world, one["customs"], "0916", body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["code"] == "validation_failed"
    assert [d["loc"] for d in answer.json()["error"]["details"]] == [["reason"]]
    seen = client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers("0916")).json()
    assert seen["status"] == "submitted"
    assert seen["receipt"] is None


def test_a_rejection_is_a_receipt_the_enterprise_sees(client, world, clock):
    one = filed(client, world, 100)
    clock.advance(300)
    answer = reject(client, world, one["customs"], "0916", {"reason": "  invoice INV-1 does not match  "})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "rejected"
    assert body["number"] is None
    assert body["receipt"] == {"outcome": "rejected", "number": None,
                               "reason": "invoice INV-1 does not match", "at": "2026-03-02T01:05:00Z"}

    filing = client.get(f"{FILINGS}/{one['filing']}", headers=world.headers(ENT)).json()
    customs = next(d for d in filing["declarations"] if d["agency"] == "customs")
    assert customs["status"] == "rejected"
    assert customs["receipt"]["outcome"] == "rejected"
    assert customs["receipt"]["reason"] == "invoice INV-1 does not match"
    mine = client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers(ENT)).json()
    assert mine["receipt"]["reason"] == "invoice INV-1 does not match"


def test_a_rejected_declaration_cannot_be_answered_again(client, world):
    one = filed(client, world, 101)
    assert reject(client, world, one["customs"], "0916", {"reason": "missing licence"}).status_code == 200
    assert accept(client, world, one["customs"], "0916").status_code == 409
    again = reject(client, world, one["customs"], "0916", {"reason": "again"})
    assert again.status_code == 409
    seen = client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers("0916")).json()
    assert seen["receipt"]["reason"] == "missing licence"
    assert seen["number"] is None


def test_an_accepted_declaration_cannot_be_rejected(client, world):
    one = filed(client, world, 102)
    accepted_number(client, world, one["customs"], "0916")
    answer = reject(client, world, one["customs"], "0916", {"reason": "changed my mind"})
    assert answer.status_code == 409, answer.text
    assert client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers("0916")).json()["status"] == \
        "accepted"


def test_the_enterprise_sees_each_receipt_on_its_filing(client, world, clock):
    one = filed(client, world, 103)
    filing = client.get(f"{FILINGS}/{one['filing']}", headers=world.headers(ENT)).json()
    assert [d["receipt"] for d in filing["declarations"]] == [None, None]

    clock.advance(60)
    number = accepted_number(client, world, one["customs"], "0916")
    filing = client.get(f"{FILINGS}/{one['filing']}", headers=world.headers(ENT)).json()
    receipts = {d["agency"]: d["receipt"] for d in filing["declarations"]}
    assert receipts["customs"] == {"outcome": "accepted", "number": number, "reason": None,
                                   "at": "2026-03-02T01:01:00Z"}
    assert receipts["ciq"] is None

    clock.advance(60)
    assert reject(client, world, one["ciq"], "210600", {"reason": "no health certificate"}).status_code == 200
    filing = client.get(f"{FILINGS}/{one['filing']}", headers=world.headers(ENT)).json()
    by_agency = {d["agency"]: d for d in filing["declarations"]}
    assert by_agency["customs"]["number"] == number
    assert by_agency["customs"]["status"] == "accepted"
    assert by_agency["ciq"]["status"] == "rejected"
    assert by_agency["ciq"]["receipt"] == {"outcome": "rejected", "number": None,
                                           "reason": "no health certificate", "at": "2026-03-02T01:02:00Z"}
    # the enterprise's own list of declarations shows the same receipts
    mine = {d["id"]: d for d in queue(client, world, ENT)}
    assert mine[one["customs"]]["receipt"]["number"] == number
    assert mine[one["ciq"]]["receipt"]["outcome"] == "rejected"


# --- after a rejection: corrected through the filing and filed again ---------------------------------------------


def test_a_rejected_declaration_is_corrected_and_filed_again(client, world, clock):
    one = filed(client, world, 104)
    assert reject(client, world, one["customs"], "0916", {"reason": "wrong transaction mode"}).status_code == 200
    filing = client.get(f"{FILINGS}/{one['filing']}", headers=world.headers(ENT)).json()
    assert filing["status"] == "draft"

    # a field only the rejected customs declaration carries can be corrected; one CIQ (filed) carries cannot
    fixed = client.patch(f"{FILINGS}/{one['filing']}", json={"transaction_mode": "3"}, headers=world.headers(ENT))
    assert fixed.status_code == 200, fixed.text
    shared = client.patch(f"{FILINGS}/{one['filing']}", json={"remarks": "x"}, headers=world.headers(ENT))
    assert shared.status_code == 409, shared.text

    clock.advance(600)
    again = client.post(f"{FILINGS}/{one['filing']}/submit", headers=world.headers(ENT))
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "filed"
    customs = next(d for d in again.json()["declarations"] if d["agency"] == "customs")
    assert (customs["status"], customs["version"], customs["receipt"]) == ("submitted", 2, None)
    assert customs["submitted_at"] == "2026-03-02T01:10:00Z"
    assert [d["id"] for d in queue(client, world, "0916", status="submitted")] == [one["customs"]]
    seen = client.get(f"{DECLARATIONS}/{one['customs']}", headers=world.headers("0916")).json()
    assert seen["data"]["transaction_mode"] == "3"
    assert accepted_number(client, world, one["customs"], "0916") == "091620261000000001"


def test_a_rejected_declaration_refiled_after_an_edit_carries_the_edited_goods(client, world):
    raw = sample_entry(seed=105, items=3)
    one = filed(client, world, 105, items=3)
    assert reject(client, world, one["customs"], "0916", {"reason": "x"}).status_code == 200
    assert reject(client, world, one["ciq"], "210600", {"reason": "y"}).status_code == 200
    # the only good that needed CIQ is taken out of the consignment
    edit = client.patch(f"{FILINGS}/{one['filing']}", json={"items": raw["items"][1:]}, headers=world.headers(ENT))
    assert edit.status_code == 200, edit.text
    answer = client.post(f"{FILINGS}/{one['filing']}/submit", headers=world.headers(ENT))
    assert answer.status_code == 200, answer.text
    goods = {item["hs_code"] for item in answer.json()["data"]["items"]}
    for d in answer.json()["declarations"]:
        if d["status"] == "submitted":
            seen = client.get(f"{DECLARATIONS}/{d['id']}", headers=world.headers(ENT)).json()
            assert {item["hs_code"] for item in seen["data"]["items"]} <= goods, d["agency"]


def test_a_rejected_declaration_the_corrected_filing_no_longer_makes_is_withdrawn(client, world, run):
    from sqlalchemy import select

    from onewindow.models import Event

    raw = sample_entry(seed=106, items=3)
    one = filed(client, world, 106, items=3)
    assert reject(client, world, one["customs"], "0916", {"reason": "wrong value"}).status_code == 200
    assert reject(client, world, one["ciq"], "210600", {"reason": "no health certificate"}).status_code == 200
    edit = client.patch(f"{FILINGS}/{one['filing']}", json={"items": raw["items"][1:]}, headers=world.headers(ENT))
    assert edit.status_code == 200, edit.text
    assert {d["agency"]: d["status"] for d in edit.json()["declarations"]} == {
        "ciq": "withdrawn", "customs": "rejected"}
    seen = client.get(f"{DECLARATIONS}/{one['ciq']}", headers=world.headers("210600")).json()
    assert seen["status"] == "withdrawn"
    subject = uuid.UUID(seen["id"])
    types = run(lambda ctx: list(ctx.session.scalars(select(Event.type).where(Event.subject_id == subject))))
    assert "declaration.withdrawn" in types
    # the goods needing CIQ come back: a new CIQ draft; the withdrawn one stays on record
    again = client.patch(f"{FILINGS}/{one['filing']}", json={"items": raw["items"]}, headers=world.headers(ENT))
    assert again.status_code == 200, again.text
    assert sorted((d["agency"], d["status"]) for d in again.json()["declarations"]) == [
        ("ciq", "draft"), ("ciq", "withdrawn"), ("customs", "rejected")]
    refiled = client.post(f"{FILINGS}/{one['filing']}/submit", headers=world.headers(ENT))
    assert refiled.status_code == 200, refiled.text
    assert refiled.json()["status"] == "filed"
    assert sorted((d["agency"], d["status"]) for d in refiled.json()["declarations"]) == [
        ("ciq", "submitted"), ("ciq", "withdrawn"), ("customs", "submitted")]
