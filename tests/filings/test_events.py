"""Events written by one declaration: each state change, its recipients, and nothing for a refused request."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from onewindow.models import Event, Organisation
from onewindow.samples import sample_entry

ENT = "91210200MA0QK1P3AF"
OTHER = "91210211MA0XY7L2XK"
FILINGS = "/api/v1/filings"
DECLARATIONS = "/api/v1/declarations"


def events(run) -> list[dict]:
    """Every event, oldest first, with recipients and actor as organisation codes."""
    def query(ctx):
        codes = {o.id: o.code for o in ctx.session.scalars(select(Organisation))}
        rows = ctx.session.scalars(select(Event).options(selectinload(Event.recipients)).order_by(Event.seq))
        return [{"type": e.type, "subject_type": e.subject_type, "subject": str(e.subject_id),
                 "filing": str(e.filing_id) if e.filing_id else None,
                 "recipients": {codes[r.organisation_id] for r in e.recipients},
                 "actor": codes.get(e.actor_organisation_id), "data": e.data, "at": e.occurred_at,
                 "id": e.id} for e in rows]
    return run(query)


def create(client, world, raw=None) -> dict:
    answer = client.post(FILINGS, json=raw or sample_entry(seed=131, items=3), headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    return answer.json()


def ids(filing) -> dict[str, str]:
    return {d["agency"]: d["id"] for d in filing["declarations"]}


def submit(client, world, filing_id, agencies=None):
    body = {"agencies": agencies} if agencies else None
    answer = client.post(f"{FILINGS}/{filing_id}/submit", json=body, headers=world.headers(ENT))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_creating_a_filing_tells_only_the_enterprise(client, world, run):
    filing = create(client, world)
    [event] = events(run)
    assert event["type"] == "filing.created"
    assert (event["subject_type"], event["subject"], event["filing"]) == ("filing", filing["id"], filing["id"])
    assert event["recipients"] == {ENT}
    assert event["actor"] == ENT
    assert event["data"]["status"] == "draft"
    assert event["data"]["version"] == 1
    assert event["data"]["bill_of_lading"] == filing["bill_of_lading"]
    assert event["at"] == datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_staging_edits_tell_only_the_enterprise(client, world, run, clock):
    filing = create(client, world)
    old_ids = ids(filing)
    clock.advance(60)
    client.patch(f"{FILINGS}/{filing['id']}", json={"customs_office": "0900"}, headers=world.headers(ENT))
    updated = events(run)[-1]
    assert updated["type"] == "filing.updated"
    assert updated["recipients"] == {ENT}
    assert updated["data"]["changed"] == ["customs_office"]
    assert updated["data"]["version"] == 2
    assert updated["at"] == datetime(2026, 3, 2, 1, 1, tzinfo=UTC)

    # dropping the only good that needs CIQ discards the CIQ draft
    items = filing["data"]["items"][1:]
    client.patch(f"{FILINGS}/{filing['id']}", json={"items": items}, headers=world.headers(ENT))
    types = [(e["type"], e["subject"], e["recipients"]) for e in events(run)]
    assert types == [
        ("filing.created", filing["id"], {ENT}),
        ("filing.updated", filing["id"], {ENT}),
        ("declaration.discarded", old_ids["ciq"], {ENT}),
        ("filing.updated", filing["id"], {ENT}),
    ]
    discarded = next(e for e in events(run) if e["type"] == "declaration.discarded")
    assert discarded["subject_type"] == "declaration"
    assert discarded["filing"] == filing["id"]
    assert discarded["data"]["agency"] == "ciq"
    assert discarded["data"]["office"] == "210600"
    # no routed office heard of any draft
    assert all(e["recipients"] == {ENT} for e in events(run))


def test_a_draft_made_again_by_an_edit_is_staged_for_the_enterprise_only(client, world, run):
    filing = create(client, world)
    items = filing["data"]["items"]
    client.patch(f"{FILINGS}/{filing['id']}", json={"items": items[1:]}, headers=world.headers(ENT))
    answer = client.patch(f"{FILINGS}/{filing['id']}", json={"items": items}, headers=world.headers(ENT))
    assert answer.status_code == 200, answer.text
    new_ciq = ids(answer.json())["ciq"]
    assert new_ciq != ids(filing)["ciq"]
    staged = [e for e in events(run) if e["type"] == "declaration.staged"]
    assert [(e["subject"], e["recipients"]) for e in staged] == [(new_ciq, {ENT})]
    assert staged[0]["data"]["status"] == "draft"
    assert staged[0]["data"]["office"] == "210600"


def test_filing_tells_the_enterprise_and_the_routed_office(client, world, run):
    filing = create(client, world)
    client.patch(f"{FILINGS}/{filing['id']}", json={"customs_office": "0900"}, headers=world.headers(ENT))
    before = len(events(run))
    submit(client, world, filing["id"])
    submitted = events(run)[before:]
    assert sorted((e["type"], e["subject"]) for e in submitted) == sorted(
        ("declaration.submitted", d) for d in ids(filing).values())
    by_subject = {e["subject"]: e for e in submitted}
    assert by_subject[ids(filing)["customs"]]["recipients"] == {ENT, "0900"}
    assert by_subject[ids(filing)["ciq"]]["recipients"] == {ENT, "210600"}
    for e in submitted:
        assert e["actor"] == ENT
        assert e["data"]["status"] == "submitted"
        assert e["filing"] == filing["id"]


def test_receipts_tell_the_enterprise_and_the_office(client, world, run, clock):
    filing = create(client, world)
    submit(client, world, filing["id"])
    clock.advance(3600)
    number = client.post(f"{DECLARATIONS}/{ids(filing)['customs']}/accept",
                         headers=world.headers("0916")).json()["number"]
    client.post(f"{DECLARATIONS}/{ids(filing)['ciq']}/reject", json={"reason": "no health certificate"},
                headers=world.headers("210600"))
    accepted, rejected = events(run)[-2:]
    assert (accepted["type"], accepted["subject"], accepted["recipients"], accepted["actor"]) == (
        "declaration.accepted", ids(filing)["customs"], {ENT, "0916"}, "0916")
    assert accepted["data"]["number"] == number
    assert accepted["data"]["status"] == "accepted"
    assert accepted["at"] == datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert (rejected["type"], rejected["subject"], rejected["recipients"], rejected["actor"]) == (
        "declaration.rejected", ids(filing)["ciq"], {ENT, "210600"}, "210600")
    assert rejected["data"]["reason"] == "no health certificate"
    assert rejected["data"]["status"] == "rejected"


def test_an_amendment_tells_every_party_of_the_filing(client, world, run):
    filing = create(client, world)
    submit(client, world, filing["id"])
    items = copy.deepcopy(filing["data"]["items"])
    items[1]["unit_price"] *= 2
    items[1]["total_price"] = round(items[1]["quantity"] * items[1]["unit_price"], 2)
    answer = client.post(f"{DECLARATIONS}/{ids(filing)['customs']}/amendments",
                         json={"changes": {"items": items}, "reason": "price"}, headers=world.headers(ENT))
    assert answer.status_code == 201, answer.text
    amended = events(run)[-1]
    assert (amended["type"], amended["subject"], amended["filing"]) == (
        "declaration.amended", ids(filing)["customs"], filing["id"])
    assert amended["recipients"] == {ENT, "0916", "210600"}
    assert amended["data"]["changed"] == ["items"]
    assert amended["data"]["version"] == 2


def test_the_whole_flow_writes_one_event_per_change_in_order(client, world, run):
    filing = create(client, world)
    client.patch(f"{FILINGS}/{filing['id']}", json={"remarks": "x"}, headers=world.headers(ENT))
    client.patch(f"{FILINGS}/{filing['id']}", json={"remarks": "x"}, headers=world.headers(ENT))  # no change
    submit(client, world, filing["id"], ["customs"])
    submit(client, world, filing["id"], ["ciq"])
    client.post(f"{DECLARATIONS}/{ids(filing)['customs']}/accept", headers=world.headers("0916"))
    client.post(f"{DECLARATIONS}/{ids(filing)['ciq']}/accept", headers=world.headers("210600"))
    client.post(f"{DECLARATIONS}/{ids(filing)['ciq']}/amendments",
                json={"changes": {"remarks": "y"}, "reason": "r"}, headers=world.headers("210600"))
    assert [(e["type"], e["subject"]) for e in events(run)] == [
        ("filing.created", filing["id"]),
        ("filing.updated", filing["id"]),
        ("declaration.submitted", ids(filing)["customs"]),
        ("declaration.submitted", ids(filing)["ciq"]),
        ("declaration.accepted", ids(filing)["customs"]),
        ("declaration.accepted", ids(filing)["ciq"]),
        ("declaration.amended", ids(filing)["ciq"]),
    ]
    assert len({e["id"] for e in events(run)}) == 7


# --- refused requests write nothing ------------------------------------------------------------------------------
# Each case may first make valid changes of its own, then returns the refused request and its status.


def _bad_create(client, world, f):
    raw = sample_entry(seed=132)
    raw["currency"] = "XXX"
    return lambda: client.post(FILINGS, json=raw, headers=world.headers(ENT)), 422


def _unregistered_office(client, world, f):
    raw = sample_entry(seed=133, customs_office="0101")
    return lambda: client.post(FILINGS, json=raw, headers=world.headers(ENT)), 422


def _viewer_create(client, world, f):
    viewer = world.token_with_role(ENT, "auditor", "viewer")
    return lambda: client.post(FILINGS, json=sample_entry(seed=134), headers=viewer), 403


def _bad_patch(client, world, f):
    return lambda: client.patch(f"{FILINGS}/{f['staged']['id']}", json={"port": "CNXXX"},
                                headers=world.headers(ENT)), 422


def _stale_patch(client, world, f):
    client.patch(f"{FILINGS}/{f['staged']['id']}", json={"remarks": "a"}, headers=world.headers(ENT))
    return lambda: client.patch(f"{FILINGS}/{f['staged']['id']}", json={"remarks": "b"},
                                headers={**world.headers(ENT), "If-Match": "1"}), 409


def _patch_filed(client, world, f):
    return lambda: client.patch(f"{FILINGS}/{f['filed']['id']}", json={"remarks": "late"},
                                headers=world.headers(ENT)), 409


def _patch_filed_field(client, world, f):
    client.post(f"{FILINGS}/{f['staged']['id']}/submit", json={"agencies": ["customs"]}, headers=world.headers(ENT))
    return lambda: client.patch(f"{FILINGS}/{f['staged']['id']}", json={"items": f["staged"]["data"]["items"][1:]},
                                headers=world.headers(ENT)), 409


def _other_enterprise_patch(client, world, f):
    return lambda: client.patch(f"{FILINGS}/{f['staged']['id']}", json={"remarks": "x"},
                                headers=world.headers(OTHER)), 404


def _submit_unknown_agency(client, world, f):
    return lambda: client.post(f"{FILINGS}/{f['staged']['id']}/submit", json={"agencies": ["customs", "border"]},
                               headers=world.headers(ENT)), 422


def _submit_nothing_staged(client, world, f):
    return lambda: client.post(f"{FILINGS}/{f['filed']['id']}/submit", headers=world.headers(ENT)), 409


def _submit_idempotency_key_reused(client, world, f):
    client.post(f"{FILINGS}/{f['staged']['id']}/submit", json={"agencies": ["ciq"]},
                headers={**world.headers(ENT), "Idempotency-Key": "k"})
    return lambda: client.post(f"{FILINGS}/{f['staged']['id']}/submit", json={"agencies": ["customs"]},
                               headers={**world.headers(ENT), "Idempotency-Key": "k"}), 422


def _accept_twice(client, world, f):
    declaration = ids(f["filed"])["customs"]
    client.post(f"{DECLARATIONS}/{declaration}/accept", headers=world.headers("0916"))
    return lambda: client.post(f"{DECLARATIONS}/{declaration}/accept", headers=world.headers("0916")), 409


def _accept_by_enterprise(client, world, f):
    return lambda: client.post(f"{DECLARATIONS}/{ids(f['filed'])['customs']}/accept",
                               headers=world.headers(ENT)), 403


def _reject_without_reason(client, world, f):
    return lambda: client.post(f"{DECLARATIONS}/{ids(f['filed'])['customs']}/reject", json={"reason": " "},
                               headers=world.headers("0916")), 422


def _amend(f, which, agency, changes, org=ENT):
    return lambda client, world: client.post(f"{DECLARATIONS}/{ids(f[which])[agency]}/amendments",
                                             json={"changes": changes, "reason": "x"}, headers=world.headers(org))


def _amend_draft(client, world, f):
    return lambda: _amend(f, "staged", "customs", {"remarks": "x"})(client, world), 409


def _amend_bad_value(client, world, f):
    return lambda: _amend(f, "filed", "customs", {"currency": "XXX"})(client, world), 422


def _amend_no_change(client, world, f):
    return lambda: _amend(f, "filed", "customs", {"currency": "USD"})(client, world), 409


def _amend_other_office(client, world, f):
    return lambda: _amend(f, "filed", "customs", {"customs_office": "0900"})(client, world), 422


def _amend_by_other_agency(client, world, f):
    return lambda: _amend(f, "filed", "customs", {"remarks": "x"}, org="210600")(client, world), 404


REFUSED = [_bad_create, _unregistered_office, _viewer_create, _bad_patch, _stale_patch, _patch_filed,
           _patch_filed_field, _other_enterprise_patch, _submit_unknown_agency, _submit_nothing_staged,
           _submit_idempotency_key_reused, _accept_twice, _accept_by_enterprise, _reject_without_reason,
           _amend_draft, _amend_bad_value, _amend_no_change, _amend_other_office, _amend_by_other_agency]


@pytest.mark.parametrize("refused", REFUSED, ids=[f.__name__.strip("_") for f in REFUSED])
def test_a_refused_request_writes_no_event(client, world, run, refused):
    filed = create(client, world, sample_entry(seed=135, items=3))
    submit(client, world, filed["id"])
    staged = create(client, world, sample_entry(seed=136, items=3))
    request, status = refused(client, world, {"filed": filed, "staged": staged})
    before = events(run)
    answer = request()
    assert answer.status_code == status, answer.text
    assert events(run) == before
