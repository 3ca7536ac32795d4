"""The whole life of a consignment over HTTP: arrival, filing, decisions, match, relocation,
appointment, joint inspection with a no-show, results, releases, gate-out."""

from __future__ import annotations

from datetime import timedelta

from onewindow.inspections import attendance
from tests.flows import API, ENT, accepted_filing, ok


def test_whole_life_with_joint_inspection_and_no_show(client, world, run, clock):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=1)
    customs, ciq, terminal, ent = (world.headers(x) for x in ("0916", "210600", "DCT", ENT))
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision",
                   json={"inspect": True, "containers": [a, b], "kind": "physical", "reason": "risk rule R-17"},
                   headers=customs), 201)
    assert ok(client.get(f"{API}/inspections?filing={filing_id}", headers=ent)) == []  # waits for CIQ
    ok(client.post(f"{API}/declarations/{ids['ciq']}/decision",
                   json={"inspect": True, "containers": [b], "kind": "quarantine_treatment", "reason": "fish"},
                   headers=ciq), 201)
    seen = ok(client.get(f"{API}/inspections?filing={filing_id}", headers=ent))
    by_containers = {tuple(i["containers"]): i for i in seen}
    assert set(by_containers) == {(b,), (a,)}
    joint, single = by_containers[(b,)], by_containers[(a,)]
    assert joint["joint"] and joint["agencies"] == ["ciq", "customs"] and not single["joint"]
    assert all(r["reasons"] is None for r in joint["results"])  # the enterprise never sees reasons
    assert ok(client.get(f"{API}/inspections/{joint['id']}", headers=customs))["results"][1]["reasons"] == [
        "risk rule R-17"]
    tasks = ok(client.get(f"{API}/terminal/tasks", headers=terminal))
    assert len(tasks) == 2
    for task in tasks:
        ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "inspection area B3"},
                       headers=terminal))
    at = clock.now() + timedelta(hours=2)
    assert ok(client.post(f"{API}/inspections/{joint['id']}/appointment", json={"at": at.isoformat()},
                          headers=ent))["status"] == "scheduled"
    # customs may not release while its inspections are open
    assert client.post(f"{API}/declarations/{ids['customs']}/release", headers=customs).status_code == 409
    clock.advance(hours=2)
    assert ok(client.post(f"{API}/inspections/{joint['id']}/check-in", headers=customs))["status"] == "in_progress"
    clock.advance(seconds=1801)
    assert run(attendance.run_due) == 1  # CIQ did not come: recorded absent
    late = client.post(f"{API}/inspections/{joint['id']}/check-in", headers=ciq)
    assert late.status_code == 409 and late.json()["error"]["code"] == "absent"
    done = ok(client.post(f"{API}/inspections/{joint['id']}/results",
                          json={"outcome": "conforming", "findings": "as declared"}, headers=customs))
    assert done["status"] == "completed"
    ok(client.post(f"{API}/inspections/{joint['id']}/adopt", headers=ciq))
    # the single customs inspection of A
    ok(client.post(f"{API}/inspections/{single['id']}/appointment", json={"at": clock.now().isoformat()},
                   headers=ent))
    ok(client.post(f"{API}/inspections/{single['id']}/check-in", headers=customs))
    ok(client.post(f"{API}/inspections/{single['id']}/results", json={"outcome": "conforming"}, headers=customs))
    refused = client.post(f"{API}/containers/{b}/gate-out", headers=terminal)
    assert refused.status_code == 409 and "ciq" in refused.json()["error"]["message"]
    ok(client.post(f"{API}/declarations/{ids['customs']}/release", headers=customs))
    assert ok(client.get(f"{API}/containers/{b}/release", headers=ent)) | {"released_at": None} == {
        "container": b, "released": False, "released_at": None, "agencies": ["customs"], "pending": ["ciq"]}
    ok(client.post(f"{API}/declarations/{ids['ciq']}/release", headers=ciq))
    assert ok(client.get(f"{API}/containers/{b}/release", headers=terminal))["released"] is True
    assert ok(client.post(f"{API}/containers/{b}/gate-out", headers=terminal))["container"] == b
    again = client.post(f"{API}/containers/{b}/gate-out", headers=terminal)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_gated_out"
    # a hold after gate-out is refused
    held = client.post(f"{API}/declarations/{ids['ciq']}/revoke-release", json={"reason": "lab"}, headers=ciq)
    assert held.status_code == 409 and held.json()["error"]["code"] == "gated_out"


def test_a_hold_before_gate_out_unreleases_the_containers(client, world):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=2)
    customs, ciq, terminal = (world.headers(x) for x in ("0916", "210600", "DCT"))
    for agency, headers in (("customs", customs), ("ciq", ciq)):
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False}, headers=headers), 201)
        ok(client.post(f"{API}/declarations/{ids[agency]}/release", headers=headers))
    assert ok(client.get(f"{API}/containers/{a}/release", headers=terminal))["released"] is True
    ok(client.post(f"{API}/declarations/{ids['ciq']}/revoke-release", json={"reason": "lab result"}, headers=ciq))
    status = ok(client.get(f"{API}/containers/{a}/release", headers=terminal))
    assert status["released"] is False and status["pending"] == ["ciq"]
    refused = client.post(f"{API}/containers/{a}/gate-out", headers=terminal)
    assert refused.status_code == 409 and refused.json()["error"]["details"] == [{"pending": ["ciq"]}]


def test_the_filing_shows_its_inspections_releases_and_gate_outs(client, world):
    filing_id, ids, (a, b, c) = accepted_filing(client, world, seed=3)
    customs, ciq, terminal, ent = (world.headers(x) for x in ("0916", "210600", "DCT", ENT))
    ok(client.post(f"{API}/declarations/{ids['ciq']}/decision", json={"inspect": False}, headers=ciq), 201)
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision",
                   json={"inspect": True, "containers": [c], "kind": "machine_scan", "reason": "secret"},
                   headers=customs), 201)
    ok(client.post(f"{API}/declarations/{ids['ciq']}/release", headers=ciq))
    filing = ok(client.get(f"{API}/filings/{filing_id}", headers=ent))
    [inspection] = filing["inspections"]
    assert inspection["containers"] == [c] and inspection["status"] == "awaiting_relocation"
    assert "secret" not in str(filing)
    assert [(r["agency"], r["revoked_at"]) for r in filing["releases"]] == [("ciq", None)]
    assert filing["gate_outs"] == []
