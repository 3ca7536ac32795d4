"""One consignment's containers wanted by the same agencies are opened in one inspection,
even when one agency has two declarations covering a container."""

from __future__ import annotations

import pytest

from onewindow.samples import sample_entry
from tests.flows import API, ENT, OFFICES, OTHER, file_entry, ok


def accepted(client, world, enterprise, entry):
    """``entry`` as ``enterprise``'s consignment (its containers not discharged), submitted and accepted."""
    entry = {**entry, "consignee": {"uscc": enterprise, "name": "x"}}
    filing_id, ids, _ = file_entry(client, world, entry, enterprise=enterprise, arrive=False)
    return filing_id, ids


def short_shipped(client, world, entry, ids):
    """``amend(agency, office, keep)``: the agency's office amends its declaration of ``entry`` to cover the
    container ``keep`` alone (the others short-shipped)."""
    def amend(agency: str, office: str, keep: str) -> None:
        ok(client.post(f"{API}/declarations/{ids[agency]}/amendments", headers=world.headers(office), json={
            "changes": {"containers": [c for c in entry["containers"] if c["number"] == keep]},
            "reason": "short-shipped"}), 201)
    return amend


def test_two_customs_declarations_on_a_container_give_one_joint_inspection(client, world):
    both = sample_entry(seed=61, containers=2)
    a, b = (c["number"] for c in both["containers"])
    plain = sample_entry(seed=62, containers=1, inspected=False)
    plain["containers"] = [both["containers"][0]]
    _, plain_ids = accepted(client, world, ENT, plain)
    filing_id, ids = accepted(client, world, OTHER, both)
    for declaration, office, kind in ((ids["customs"], "0916", "physical"), (ids["ciq"], "210600", "sampling"),
                                      (plain_ids["customs"], "0916", "physical")):
        ok(client.post(f"{API}/declarations/{declaration}/decision", headers=world.headers(office),
                       json={"inspect": True, "containers": [a] if declaration == plain_ids["customs"] else [a, b],
                             "kind": kind}), 201)
    [inspection] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(OTHER)))
    assert inspection["containers"] == sorted([a, b])
    assert inspection["agencies"] == ["ciq", "customs"] and inspection["joint"]


def test_a_decision_after_the_match_but_before_the_start_joins_the_inspection(client, world, run, clock):
    from onewindow.inspections.service import run_due

    entry = sample_entry(seed=63, containers=1)
    number = entry["containers"][0]["number"]
    filing_id, ids = accepted(client, world, ENT, entry)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [number], "kind": "physical"}), 201)
    clock.advance(seconds=7201)
    run(run_due)  # the window closed: customs inspects alone
    [single] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    assert single["agencies"] == ["customs"] and not single["joint"]
    ok(client.post(f"{API}/declarations/{ids['ciq']}/decision", headers=world.headers("210600"),
                   json={"inspect": True, "containers": [number], "kind": "sampling"}), 201)
    [joined] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    assert joined["id"] == single["id"] and joined["agencies"] == ["ciq", "customs"] and joined["joint"]
    tasks = ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))
    assert len(tasks) == 1  # the container is still moved once


def test_a_later_decision_joins_the_unstarted_inspection_for_its_containers_and_gets_one_for_the_others(
        client, world, run, clock):
    from onewindow.inspections.service import run_due

    entry = sample_entry(seed=64, containers=3)
    a, b, c = (x["number"] for x in entry["containers"])
    filing_id, ids = accepted(client, world, ENT, entry)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [a, b], "kind": "physical", "reason": "R-1"}), 201)
    clock.advance(seconds=7201)
    run(run_due)  # customs inspects A and B alone; not started yet
    [first] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/decision", headers=world.headers("210600"),
                   json={"inspect": True, "containers": [b, c], "kind": "sampling", "reason": "Q-2"}), 201)
    seen = {tuple(i["containers"]): i for i in ok(client.get(f"{API}/inspections?filing={filing_id}",
                                                             headers=world.headers("210600")))}
    assert set(seen) == {tuple(sorted([a, b])), (c,)}  # B is not opened a second time
    joint, single = seen[tuple(sorted([a, b]))], seen[(c,)]
    assert joint["id"] == first["id"] and joint["agencies"] == ["ciq", "customs"] and joint["joint"]
    assert {p["agency"]: p["kinds"] for p in joint["results"]} == {"ciq": ["sampling"], "customs": ["physical"]}
    assert single["agencies"] == ["ciq"] and not single["joint"] and not single["late"]
    assert len(ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))) == 2  # one per inspection
    events = ok(client.get(f"{API}/events?limit=1000", headers=world.headers("210600")))["events"]
    [joined] = [e for e in events if e["type"] == "inspection.joined"]
    assert joined["data"]["inspection_id"] == first["id"] and joined["data"]["joining"] == ["ciq"]
    assert joined["data"]["agencies"] == ["ciq", "customs"]


def test_an_agency_s_decision_on_a_second_consignment_joins_its_own_unstarted_inspection(client, world):
    first_entry = sample_entry(seed=65, containers=1, inspected=False)
    number = first_entry["containers"][0]["number"]
    first_filing, first_ids = accepted(client, world, ENT, first_entry)
    ok(client.post(f"{API}/declarations/{first_ids['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [number], "kind": "physical"}), 201)
    [inspection] = ok(client.get(f"{API}/inspections?filing={first_filing}", headers=world.headers(ENT)))
    second_entry = sample_entry(seed=66, containers=1, inspected=False)
    second_entry["containers"] = first_entry["containers"]  # the other enterprise's goods in the same container
    second_filing, second_ids = accepted(client, world, OTHER, second_entry)
    ok(client.post(f"{API}/declarations/{second_ids['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [number], "kind": "machine_scan"}), 201)
    [same] = ok(client.get(f"{API}/inspections?filing={second_filing}", headers=world.headers(OTHER)))
    assert same["id"] == inspection["id"] and same["agencies"] == ["customs"] and not same["joint"]
    assert same["results"][0]["kinds"] == ["machine_scan", "physical"]
    assert len(ok(client.get(f"{API}/terminal/tasks", headers=world.headers("DCT")))) == 1
    # the second consignment's release waits for that inspection too
    refused = client.post(f"{API}/declarations/{second_ids['customs']}/release", headers=world.headers("0916"))
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "inspection_open"


def test_a_release_without_a_decision_matches_the_decisions_that_waited_for_it(client, world):
    entry = sample_entry(seed=67, containers=2)
    a, b = (x["number"] for x in entry["containers"])
    filing_id, ids = accepted(client, world, ENT, entry)
    decided = ok(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                             json={"inspect": True, "containers": [a], "kind": "physical"}), 201)
    assert decided["status"] == "pending"  # waits for CIQ
    ok(client.post(f"{API}/declarations/{ids['ciq']}/release", headers=world.headers("210600")))
    [inspection] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    assert inspection["containers"] == [a] and inspection["agencies"] == ["customs"]
    refused = client.post(f"{API}/declarations/{ids['customs']}/release", headers=world.headers("0916"))
    assert refused.json()["error"]["code"] == "inspection_open"  # no longer decision_pending


@pytest.mark.parametrize("decider", ["ciq", "customs"])
def test_an_amendment_that_drops_a_container_matches_the_decisions_that_waited_for_it(client, world, decider):
    """CIQ's goods are all in A; customs' in A turn out short-shipped. Once customs' declaration covers B alone,
    nothing waits: CIQ's decision on A (waiting for customs, which covered A) or customs' own on B (waiting,
    through A, for CIQ's) is matched in the amendment's transaction."""
    entry = sample_entry(seed=68 if decider == "ciq" else 83, containers=2)
    a, b = (x["number"] for x in entry["containers"])
    filing_id, ids = accepted(client, world, ENT, entry)
    amend = short_shipped(client, world, entry, ids)
    amend("ciq", "210600", keep=a)
    wanted = a if decider == "ciq" else b
    decided = ok(client.post(f"{API}/declarations/{ids[decider]}/decision", headers=world.headers(OFFICES[decider]),
                             json={"inspect": True, "containers": [wanted], "kind": "sampling"}), 201)
    assert decided["status"] == "pending"  # A, covered by both, waits for the other agency
    amend("customs", "0916", keep=b)
    [inspection] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    assert inspection["containers"] == [wanted] and inspection["agencies"] == [decider]


def test_a_container_named_in_a_decision_not_matched_yet_stays_in_the_declaration(client, world):
    entry = sample_entry(seed=69, containers=2)
    a, b = (x["number"] for x in entry["containers"])
    filing_id, ids = accepted(client, world, ENT, entry)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                   json={"inspect": True, "containers": [a], "kind": "physical"}), 201)  # waits for CIQ
    for party in (ENT, "0916"):  # neither the enterprise nor the office takes A out before the match
        refused = client.post(f"{API}/declarations/{ids['customs']}/amendments", headers=world.headers(party),
                              json={"changes": {"containers": [entry["containers"][1]]}, "reason": "short-shipped"})
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "named_for_inspection", refused.text
        assert a in refused.json()["error"]["message"]
    declaration = ok(client.get(f"{API}/declarations/{ids['customs']}", headers=world.headers("0916")))
    assert declaration["version"] == 1 and [c["number"] for c in declaration["data"]["containers"]] == [a, b]
    # a container the decision does not name may go
    ok(client.post(f"{API}/declarations/{ids['customs']}/amendments", headers=world.headers("0916"),
                   json={"changes": {"containers": [entry["containers"][0]]}, "reason": "short-shipped"}), 201)
    ok(client.post(f"{API}/declarations/{ids['ciq']}/decision", headers=world.headers("210600"),
                   json={"inspect": False}), 201)
    [inspection] = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))
    assert inspection["containers"] == [a] and inspection["agencies"] == ["customs"]


def test_two_consignments_linked_by_a_shared_container_are_one_opening_whatever_their_numbers(client, world):
    """Customs wants each consignment's own container and the one they share: the three are one inspection,
    whatever the order of the containers' numbers (the shared one's plan, which links the other two, may come
    last)."""
    for seed, shared_at in ((69, 2), (75, 0)):
        numbers = sorted(sample_entry(seed=seed + i, containers=1)["containers"][0]["number"] for i in range(3))
        shared = numbers.pop(shared_at)
        filings = []
        for i, (party, own) in enumerate(zip((ENT, OTHER), numbers, strict=True)):
            entry = sample_entry(seed=seed + 3 + i, containers=2, inspected=False)
            entry["containers"] = [{"number": shared, "size_type": "45R1"}, {"number": own, "size_type": "45R1"}]
            filings.append((*accepted(client, world, party, entry), own))
        for _, ids, own in filings:  # the first waits for the second, which covers the shared container too
            ok(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                           json={"inspect": True, "containers": [shared, own], "kind": "physical"}), 201)
        [inspection] = ok(client.get(f"{API}/inspections?filing={filings[0][0]}", headers=world.headers(ENT)))
        assert inspection["containers"] == sorted([shared, *numbers]) and inspection["agencies"] == ["customs"]
        assert ok(client.get(f"{API}/inspections?filing={filings[1][0]}", headers=world.headers(OTHER))) == [
            inspection]


def test_the_part_of_a_merged_plan_left_after_a_join_serves_only_the_declarations_wanting_it(client, world):
    """CIQ inspects the first consignment's containers X and A alone; customs then wants X through that
    consignment and X and B through the second one. X joins CIQ's inspection for both customs declarations;
    B gets an inspection of its own, the second consignment's alone: the first enterprise does not see it."""
    first = sample_entry(seed=81, containers=2)
    x, a = (c["number"] for c in first["containers"])
    second = sample_entry(seed=82, containers=2, inspected=False)
    b = second["containers"][1]["number"]
    second["containers"][0] = first["containers"][0]
    first_filing, first_ids, _ = file_entry(client, world, {**first, "consignee": {"uscc": ENT, "name": "x"}},
                                            enterprise=ENT, arrive=False, accept=("ciq",))
    ok(client.post(f"{API}/declarations/{first_ids['ciq']}/decision", headers=world.headers("210600"),
                   json={"inspect": True, "containers": [x, a], "kind": "sampling"}), 201)  # matched at once
    second_filing, second_ids = accepted(client, world, OTHER, second)
    ok(client.post(f"{API}/declarations/{first_ids['customs']}/accept", headers=world.headers("0916")))
    for ids, wanted in ((first_ids, [x]), (second_ids, [x, b])):
        ok(client.post(f"{API}/declarations/{ids['customs']}/decision", headers=world.headers("0916"),
                       json={"inspect": True, "containers": wanted, "kind": "physical"}), 201)
    [joined] = ok(client.get(f"{API}/inspections?filing={first_filing}", headers=world.headers(ENT)))
    assert (joined["containers"], joined["agencies"]) == (sorted([x, a]), ["ciq", "customs"])
    seen = ok(client.get(f"{API}/inspections?filing={second_filing}", headers=world.headers(OTHER)))
    assert sorted((i["containers"], i["agencies"]) for i in seen) == sorted([(sorted([x, a]), ["ciq", "customs"]),
                                                                             ([b], ["customs"])])
