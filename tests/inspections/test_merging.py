"""One consignment's containers wanted by the same agencies are opened in one inspection,
even when one agency has two declarations covering a container."""

from __future__ import annotations

from onewindow.samples import sample_entry
from tests.flows import API, ENT, OTHER, file_entry, ok


def accepted(client, world, enterprise, entry):
    """``entry`` as ``enterprise``'s consignment (its containers not discharged), submitted and accepted."""
    entry = {**entry, "consignee": {"uscc": enterprise, "name": "x"}}
    filing_id, ids, _ = file_entry(client, world, entry, enterprise=enterprise, arrive=False)
    return filing_id, ids


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
