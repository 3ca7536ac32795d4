"""Inspection decisions over HTTP: who may decide, what is refused, and how decisions are matched."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select


from onewindow.inspections import service
from onewindow.models import Event, EventRecipient, InspectionDecision, Organisation
from onewindow.samples import sample_entry
from tests.flows import API, ENT, OTHER, accepted_filing, error, ok

NOT_ON_ANY_DECLARATION = "MSKU9070323"


def decide(client, world, declaration_id, office, status=201, **body):
    return ok(client.post(f"{API}/declarations/{declaration_id}/decision", json=body, headers=world.headers(office)),
              status)


def inspections(client, world, filing_id, who=ENT):
    return ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(who)))


def shapes(seen):
    return sorted((tuple(i["containers"]), tuple(i["agencies"]), i["joint"], i["late"]) for i in seen)


def declaration_status(client, world, declaration_id, office):
    return ok(client.get(f"{API}/declarations/{declaration_id}", headers=world.headers(office)))["status"]


def decision_statuses(run):
    def query(ctx):
        return {(d.agency, tuple(d.containers)): d.status
                for d in ctx.session.scalars(select(InspectionDecision))}
    return run(query)


def events(run, type_):
    """[(data, confidential, recipient codes)] of the events of ``type_``, oldest first."""
    def query(ctx):
        out = []
        for e in ctx.session.scalars(select(Event).where(Event.type == type_).order_by(Event.seq)):
            codes = set(ctx.session.scalars(
                select(Organisation.code).join(EventRecipient, EventRecipient.organisation_id == Organisation.id)
                .where(EventRecipient.event_seq == e.seq)))
            out.append((e.data, e.confidential, codes))
        return out
    return run(query)


# --- who may decide, and when -------------------------------------------------------------------------------------


def test_a_decision_is_recorded_and_waits_for_the_other_agency(client, world):
    _, ids, (a, b, c) = accepted_filing(client, world, seed=11)
    body = decide(client, world, ids["customs"], "0916", inspect=True, containers=[b, a, a], kind="physical",
                  reason="risk rule R-17")
    assert body["declaration_id"] == ids["customs"] and body["agency"] == "customs"
    assert body["inspect"] is True and body["containers"] == sorted([a, b]) and body["kind"] == "physical"
    assert body["reason"] == "risk rule R-17" and body["status"] == "pending"
    no = decide(client, world, ids["ciq"], "210600", inspect=False, containers=[a], kind="physical", reason="x")
    assert no["inspect"] is False and no["containers"] == [] and no["kind"] is None and no["reason"] is None


def test_only_accepted_declarations_take_a_decision(client, world):
    _, ids, (a, _b, _c) = accepted_filing(client, world, seed=12, accept=())
    refused = error(client.post(f"{API}/declarations/{ids['customs']}/decision", json={"inspect": False},
                                headers=world.headers("0916")), 409)
    assert refused["code"] == "not_accepted"
    ok(client.post(f"{API}/declarations/{ids['ciq']}/reject", json={"reason": "certificate missing"},
                   headers=world.headers("210600")))
    refused = error(client.post(f"{API}/declarations/{ids['ciq']}/decision",
                                json={"inspect": True, "containers": [a], "kind": "sampling"},
                                headers=world.headers("210600")), 409)
    assert refused["code"] == "not_accepted"


def test_a_declaration_is_decided_once(client, world):
    _, ids, (a, _b, _c) = accepted_filing(client, world, seed=13)
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a], kind="physical")
    for body in ({"inspect": False}, {"inspect": True, "containers": [a], "kind": "physical"}):
        again = error(client.post(f"{API}/declarations/{ids['customs']}/decision", json=body,
                                  headers=world.headers("0916")), 409)
        assert again["code"] == "already_decided"


def test_invalid_decisions_name_the_bad_field(client, world):
    _, ids, (a, b, _c) = accepted_filing(client, world, seed=14)
    url, customs = f"{API}/declarations/{ids['customs']}/decision", world.headers("0916")
    cases = [
        ({"inspect": True, "containers": [a, NOT_ON_ANY_DECLARATION], "kind": "physical"}, [["containers", 1]]),
        ({"inspect": True, "containers": [NOT_ON_ANY_DECLARATION, b, "nonsense"], "kind": "physical"},
         [["containers", 0], ["containers", 2]]),
        ({"inspect": True, "containers": [a], "kind": "x_ray"}, [["kind"]]),
        ({"inspect": True, "containers": [a]}, [["kind"]]),
        ({"inspect": "yes", "containers": [a], "kind": "physical"}, [["inspect"]]),
        ({"inspect": 1, "containers": [a], "kind": "physical"}, [["inspect"]]),
        ({"containers": [a], "kind": "physical"}, [["inspect"]]),
        ({"inspect": True, "containers": [], "kind": "physical"}, [["containers"]]),
        ({"inspect": True, "kind": "physical"}, [["containers"]]),
    ]
    for body, locs in cases:
        err = error(client.post(url, json=body, headers=customs), 422)
        assert err["code"] == "validation_failed"
        assert [d["loc"] for d in err["details"]] == locs, body
    # nothing was recorded: the agency still decides
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a], kind="physical")


def test_another_office_does_not_see_the_declaration(client, world):
    _, ids, (a, _b, _c) = accepted_filing(client, world, seed=15)
    body = {"inspect": True, "containers": [a], "kind": "physical"}
    for office, declaration in (("0900", "customs"), ("210000", "ciq"), ("210600", "customs"), ("0916", "ciq")):
        err = error(client.post(f"{API}/declarations/{ids[declaration]}/decision", json=body,
                                headers=world.headers(office)), 404)
        assert err["code"] == "not_found"
    assert decision_statuses(world._run) == {}


def test_a_viewer_may_not_decide(client, world):
    _, ids, (a, _b, _c) = accepted_filing(client, world, seed=16)
    viewer = world.token_with_role("0916", "v", "viewer")
    err = error(client.post(f"{API}/declarations/{ids['customs']}/decision",
                            json={"inspect": True, "containers": [a], "kind": "physical"}, headers=viewer), 403)
    assert err["code"] == "forbidden"
    err = error(client.post(f"{API}/declarations/{ids['customs']}/decision", json={"inspect": False},
                            headers=world.headers(ENT)), 403)
    assert err["code"] == "forbidden"


# --- matching through the API ---------------------------------------------------------------------------------------


def test_full_overlap_is_one_joint_inspection_and_the_declarations_are_inspecting(client, world, run):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=21)
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a, b], kind="physical", reason="R-17")
    assert inspections(client, world, filing_id) == []
    assert declaration_status(client, world, ids["customs"], "0916") == "accepted"
    decide(client, world, ids["ciq"], "210600", inspect=True, containers=[b, a], kind="quarantine_treatment",
           reason="fish")
    seen = inspections(client, world, filing_id)
    assert shapes(seen) == [(tuple(sorted([a, b])), ("ciq", "customs"), True, False)]
    assert seen[0]["status"] == "awaiting_relocation"
    assert declaration_status(client, world, ids["customs"], "0916") == "inspecting"
    assert declaration_status(client, world, ids["ciq"], "210600") == "inspecting"
    assert set(decision_statuses(run).values()) == {"matched"}
    as_customs = ok(client.get(f"{API}/inspections/{seen[0]['id']}", headers=world.headers("0916")))
    assert {r["agency"]: (r["kinds"], r["reasons"]) for r in as_customs["results"]} == {
        "ciq": (["quarantine_treatment"], ["fish"]), "customs": (["physical"], ["R-17"])}


def test_partial_overlap_splits_into_joint_and_single_inspections(client, world):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=22)
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a, b], kind="physical")
    decide(client, world, ids["ciq"], "210600", inspect=True, containers=[b, c], kind="sampling")
    assert shapes(inspections(client, world, filing_id)) == sorted([
        ((b,), ("ciq", "customs"), True, False), ((a,), ("customs",), False, False),
        ((c,), ("ciq",), False, False)])
    # each agency sees the inspections it takes part in
    assert shapes(inspections(client, world, filing_id, "0916")) == sorted([
        ((b,), ("ciq", "customs"), True, False), ((a,), ("customs",), False, False)])
    assert shapes(inspections(client, world, filing_id, "210600")) == sorted([
        ((b,), ("ciq", "customs"), True, False), ((c,), ("ciq",), False, False)])


def test_both_no_inspection_clears_the_consignment(client, world, run):
    filing_id, ids, _ = accepted_filing(client, world, seed=23)
    decide(client, world, ids["customs"], "0916", inspect=False)
    assert decision_statuses(run) == {("customs", ()): "pending"}
    decide(client, world, ids["ciq"], "210600", inspect=False)
    assert inspections(client, world, filing_id) == []
    assert decision_statuses(run) == {("customs", ()): "cleared", ("ciq", ()): "cleared"}
    assert declaration_status(client, world, ids["customs"], "0916") == "accepted"
    assert events(run, "inspection.matched") == []
    assert ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT"))) == []


def test_one_inspects_and_the_other_not_is_a_single_inspection(client, world, run):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=24)
    decide(client, world, ids["ciq"], "210600", inspect=True, containers=[c], kind="quarantine_treatment")
    decide(client, world, ids["customs"], "0916", inspect=False)
    assert shapes(inspections(client, world, filing_id)) == [((c,), ("ciq",), False, False)]
    assert decision_statuses(run) == {("ciq", (c,)): "matched", ("customs", ()): "cleared"}
    assert declaration_status(client, world, ids["ciq"], "210600") == "inspecting"
    assert declaration_status(client, world, ids["customs"], "0916") == "accepted"


def test_a_lone_decision_waits_for_the_match_window(client, world, run, clock):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=25)
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a], kind="physical")
    clock.advance(seconds=7199)
    assert run(service.run_due) == 0
    assert inspections(client, world, filing_id) == []
    assert decision_statuses(run) == {("customs", (a,)): "pending"}
    clock.advance(seconds=2)
    assert run(service.run_due) == 1
    assert shapes(inspections(client, world, filing_id)) == [((a,), ("customs",), False, False)]
    assert decision_statuses(run) == {("customs", (a,)): "matched"}
    assert run(service.run_due) == 0  # nothing left to match
    # the late-comer's "no inspection" changes nothing
    decide(client, world, ids["ciq"], "210600", inspect=False)
    assert len(inspections(client, world, filing_id)) == 1
    assert decision_statuses(run)[("ciq", ())] == "cleared"


def test_decisions_are_matched_across_filings_by_container_number(client, world):
    # filing 1: plain goods, customs only; filing 2 (another enterprise): goods needing CIQ in the same container
    f1, ids1, (shared,) = accepted_filing(client, world, seed=26, containers=1, inspected=False)
    assert set(ids1) == {"customs"}
    extra = sample_entry(seed=27, containers=1)["containers"][0]["number"]
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [extra], "conveyance": {"name": "X", "voyage": "1"}},
                   headers=world.headers("DCT")), 201)
    f2, ids2, _ = accepted_filing(client, world, seed=28, enterprise=OTHER, numbers=[shared, extra], arrive=False)
    assert set(ids2) == {"customs", "ciq"}
    decide(client, world, ids2["customs"], "0916", inspect=False)
    decide(client, world, ids1["customs"], "0916", inspect=True, containers=[shared], kind="physical")
    # customs has decided on both declarations, but CIQ covers the shared container through filing 2
    assert inspections(client, world, f1) == [] and inspections(client, world, f2, OTHER) == []
    decide(client, world, ids2["ciq"], "210600", inspect=True, containers=[shared], kind="sampling")
    expected = [((shared,), ("ciq", "customs"), True, False)]
    seen1, seen2 = inspections(client, world, f1), inspections(client, world, f2, OTHER)
    assert shapes(seen1) == expected and shapes(seen2) == expected
    assert seen1[0]["id"] == seen2[0]["id"]
    # filing 2's own parts stay its own: filing 1's enterprise does not see filing 2
    assert client.get(f"{API}/filings/{f2}", headers=world.headers(ENT)).status_code == 404


def test_an_inspection_serving_two_consignments_names_neither_and_is_in_both_timelines(client, world, run):
    """One enterprise's feed never carries the other's filing id; each consignment's timeline still shows the
    inspection they share."""
    import uuid

    from onewindow.models import Filing
    from onewindow.web.timeline import consignment_timeline

    f1, ids1, (shared,) = accepted_filing(client, world, seed=36, containers=1)
    f2, ids2, _ = accepted_filing(client, world, seed=37, enterprise=OTHER, numbers=[shared], arrive=False)
    for ids in (ids1, ids2):
        decide(client, world, ids["customs"], "0916", inspect=True, containers=[shared], kind="physical")
        decide(client, world, ids["ciq"], "210600", inspect=False)
    (inspection,) = inspections(client, world, f1)
    assert inspections(client, world, f2, OTHER) == [inspection]
    # neither learns by the filter which inspection serves the other's filing
    assert inspections(client, world, f2, ENT) == inspections(client, world, f1, OTHER) == []
    assert [i["id"] for i in inspections(client, world, f1, "DCT")] == [inspection["id"]]
    assert [i["id"] for i in inspections(client, world, f2, "0916")] == [inspection["id"]]
    for who, own, other in ((ENT, f1, f2), (OTHER, f2, f1)):
        feed = ok(client.get(f"{API}/events", params={"limit": 1000}, headers=world.headers(who)))["events"]
        about = [e for e in feed if e["subject"]["id"] == inspection["id"]]
        assert about and all(e["filing_id"] is None for e in about), about
        assert other not in json.dumps(feed) and own in {e["filing_id"] for e in feed}
        timeline = run(lambda ctx, own=own: consignment_timeline(ctx, ctx.session.get(Filing, uuid.UUID(own))),
                       as_org=who)
        assert [e["id"] for e in timeline if e["subject"]["id"] == inspection["id"]] == [e["id"] for e in about]


def test_a_decision_after_the_inspection_started_gets_its_own_late_inspection(client, world, run, clock):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=29)
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a], kind="physical")
    clock.advance(seconds=7201)
    run(service.run_due)
    (first,) = inspections(client, world, filing_id)
    (task,) = ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))
    ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"},
                   headers=world.headers("DCT")))
    ok(client.post(f"{API}/inspections/{first['id']}/appointment", json={"at": clock.now().isoformat()},
                   headers=world.headers(ENT)))
    ok(client.post(f"{API}/inspections/{first['id']}/check-in", headers=world.headers("0916")))
    decide(client, world, ids["ciq"], "210600", inspect=True, containers=[a, b], kind="sampling", reason="late lab")
    seen = inspections(client, world, filing_id)
    assert shapes(seen) == sorted([((a,), ("customs",), False, False), ((a,), ("ciq",), False, True),
                                   ((b,), ("ciq",), False, False)])
    late = next(i for i in seen if i["late"])
    assert late["status"] == "awaiting_relocation"
    assert ok(client.get(f"{API}/inspections/{first['id']}", headers=world.headers("0916")))["status"] == "in_progress"
    assert len(ok(client.get(f"{API}/terminal/tasks?status=open", headers=world.headers("DCT")))) == 2


def test_the_match_is_announced_to_every_party_with_reasons_kept_confidential(client, world, run):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=30)
    decide(client, world, ids["customs"], "0916", inspect=True, containers=[a, b], kind="physical",
           reason="risk rule R-17")
    assert events(run, "inspection.matched") == []
    decide(client, world, ids["ciq"], "210600", inspect=True, containers=[a, b], kind="sampling",
           reason="fish from a listed area")
    (joint,) = inspections(client, world, filing_id)
    (matched,) = events(run, "inspection.matched")
    data, confidential, recipients = matched
    assert recipients == {"0916", "210600", "DCT", ENT}
    assert data["inspection_id"] == joint["id"] and data["containers"] == sorted([a, b])
    assert data["agencies"] == ["ciq", "customs"] and data["joint"] is True
    assert "R-17" not in json.dumps(data, ensure_ascii=False) and "listed area" not in json.dumps(data)
    assert confidential == {"reasons": {"customs": ["risk rule R-17"], "ciq": ["fish from a listed area"]}}
    # the decision itself went to the deciding agency only
    decided = events(run, "inspection.decided")
    assert [codes for _, _, codes in decided] == [{"0916"}, {"210600"}]
    assert all("reason" not in d for d, _, _ in decided)


def test_a_container_is_opened_once_when_one_agency_has_two_declarations_covering_it(client, world):
    f1, ids1, (shared,) = accepted_filing(client, world, seed=31, containers=1, inspected=False)
    f2, ids2, _ = accepted_filing(client, world, seed=32, enterprise=OTHER, numbers=[shared], arrive=False)
    decide(client, world, ids2["customs"], "0916", inspect=False)
    decide(client, world, ids2["ciq"], "210600", inspect=True, containers=[shared], kind="sampling")
    decide(client, world, ids1["customs"], "0916", inspect=True, containers=[shared], kind="physical")
    # customs (filing 1) and CIQ (filing 2) both want the container: one joint inspection, nothing started before
    expected = [((shared,), ("ciq", "customs"), True, False)]
    assert shapes(inspections(client, world, f1)) == expected
    assert shapes(inspections(client, world, f2, OTHER)) == expected


@pytest.mark.parametrize("bad", [
    {"containers": [["CSQU3054383"]]},
    {"containers": [{"number": "CSQU3054383"}]},
    {"kind": ["physical"]},
    {"reason": ["risk rule R-17"]},
    {"reason": "r" * 1001},
], ids=["container-list", "container-object", "kind-list", "reason-list", "reason-too-long"])
def test_malformed_decision_fields_are_invalid_payloads(app, world, bad):
    with TestClient(app, raise_server_exceptions=False) as client:
        _, ids, (a, _b, _c) = accepted_filing(client, world, seed=33)
        body = {"inspect": True, "containers": [a], "kind": "physical", **bad}
        answer = client.post(f"{API}/declarations/{ids['customs']}/decision", json=body, headers=world.headers("0916"))
        assert answer.status_code == 422, (answer.status_code, answer.text[:200])
        assert [d["loc"][0] for d in answer.json()["error"]["details"]] == list(bad)
