"""The answers of the lifecycle's writing requests are made once their unit of work has ended (committed and its
session closed: on SQLite the write lock is no longer held), from what the unit of work loaded, and are the
same as what a read of the same records answers afterwards."""

from __future__ import annotations

from datetime import timedelta

import pytest

from onewindow import http
from onewindow.filings import api as filings_api
from onewindow.inspections import api as inspections_api
from onewindow.releases import api as releases_api
from onewindow.samples import sample_entry
from tests.flows import API, ENT, ok


ANSWERS = [(filings_api, "_filing_json"), (filings_api, "declaration_answer"), (inspections_api, "decision_out"),
           (inspections_api, "_arrivals_answer"), (inspections_api, "task_out"), (inspections_api, "inspection_out"),
           (releases_api, "declaration_answer"), (releases_api, "GateOut")]
"""What makes the answers of the routes below from what their units of work return (module, name)."""


@pytest.fixture
def made(monkeypatch) -> dict[str, list[bool]]:
    """For each of :data:`ANSWERS`, whether each of its calls ran inside a request's unit of work (commit and
    the session's close included)."""
    inside = [False]
    calls: dict[str, list[bool]] = {}
    in_unit_of_work = http.in_unit_of_work

    def watched(*args, **kwargs):
        inside[0] = True
        try:
            return in_unit_of_work(*args, **kwargs)
        finally:
            inside[0] = False

    def recorded(name: str, fn):
        def answer(*args, **kwargs):
            calls.setdefault(name, []).append(inside[0])
            return fn(*args, **kwargs)
        return answer

    monkeypatch.setattr(http, "in_unit_of_work", watched)
    for module, name in ANSWERS:
        monkeypatch.setattr(module, name, recorded(f"{module.__name__.rsplit('.', 2)[1]}.{name}",
                                                   getattr(module, name)))
    return calls


def test_lifecycle_answers_are_made_after_the_commit_and_match_later_reads(client, world, clock, made):
    customs, ciq, terminal, ent = (world.headers(x) for x in ("0916", "210600", "DCT", ENT))
    entry = sample_entry(seed=3, containers=2)
    numbers = [c["number"] for c in entry["containers"]]
    arrived = ok(client.post(f"{API}/terminal/arrivals", json={"containers": numbers,
                                                               "conveyance": entry["conveyance"]}, headers=terminal),
                 201)
    assert [c["number"] for c in arrived["containers"]] == sorted(numbers)
    assert all(c["port"] == "CNDAG" and c["arrived_at"] for c in arrived["containers"])
    filing = ok(client.post(f"{API}/filings", json=entry, headers=ent), 201)
    submitted = ok(client.post(f"{API}/filings/{filing['id']}/submit", headers=ent))
    detail = ok(client.get(f"{API}/filings/{filing['id']}", headers=ent))
    assert submitted == {k: detail[k] for k in submitted} and submitted["status"] != filing["status"]
    ids = {d["agency"]: d["id"] for d in filing["declarations"]}
    accepted = ok(client.post(f"{API}/declarations/{ids['customs']}/accept", headers=customs))
    assert accepted == ok(client.get(f"{API}/declarations/{ids['customs']}", headers=customs))
    assert accepted["status"] == "accepted" and accepted["receipt"]["number"] == accepted["number"]
    ok(client.post(f"{API}/declarations/{ids['ciq']}/accept", headers=ciq))
    decided = ok(client.post(f"{API}/declarations/{ids['customs']}/decision", json={
        "inspect": True, "containers": numbers[:1], "kind": "physical", "reason": "risk"}, headers=customs), 201)
    assert decided | {"id": None, "decided_at": None} == {
        "id": None, "declaration_id": ids["customs"], "agency": "customs", "inspect": True,
        "containers": numbers[:1], "kind": "physical", "reason": "risk", "status": "pending", "decided_at": None}
    matched = ok(client.post(f"{API}/declarations/{ids['ciq']}/decision", json={
        "inspect": True, "containers": numbers[:1], "kind": "sampling"}, headers=ciq), 201)
    assert matched["status"] == "matched"
    [inspection] = ok(client.get(f"{API}/inspections?filing={filing['id']}", headers=ent))
    [task] = ok(client.get(f"{API}/terminal/tasks?status=open", headers=terminal))
    done = ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"},
                          headers=terminal))
    assert done == next(t for t in ok(client.get(f"{API}/terminal/tasks", headers=terminal)) if t["id"] == task["id"])
    assert done["status"] == "done" and done["containers"] == numbers[:1]
    at = clock.now() + timedelta(minutes=5)
    booked = ok(client.post(f"{API}/inspections/{inspection['id']}/appointment", json={"at": at.isoformat()},
                            headers=ent))
    assert booked == ok(client.get(f"{API}/inspections/{inspection['id']}", headers=ent))
    assert booked["status"] == "scheduled" and all(r["reasons"] is None for r in booked["results"])
    clock.advance(minutes=5)
    for agency in (customs, ciq):
        checked_in = ok(client.post(f"{API}/inspections/{inspection['id']}/check-in", headers=agency))
        assert checked_in == ok(client.get(f"{API}/inspections/{inspection['id']}", headers=agency))
    assert checked_in["status"] == "in_progress" and checked_in["results"][1]["reasons"] == ["risk"]
    for agency in (customs, ciq):
        result = ok(client.post(f"{API}/inspections/{inspection['id']}/results", json={"outcome": "conforming"},
                                headers=agency))
        assert result == ok(client.get(f"{API}/inspections/{inspection['id']}", headers=agency))
    assert result["status"] == "completed"
    for agency, headers in (("customs", customs), ("ciq", ciq)):
        released = ok(client.post(f"{API}/declarations/{ids[agency]}/release", headers=headers))
        assert released == ok(client.get(f"{API}/declarations/{ids[agency]}", headers=headers))
        assert released["status"] == "released"
    for number in numbers:
        gone = ok(client.post(f"{API}/containers/{number}/gate-out", headers=terminal))
        assert gone["container"] == number and gone["gated_out_at"]

    # (inside a unit of work, after it): the reads (GET) make their answers in their units of work, the writes
    # after their commits
    assert {name: (calls.count(True), calls.count(False)) for name, calls in made.items()} == {
        "filings._filing_json": (0, 2), "filings.declaration_answer": (0, 2), "inspections.decision_out": (0, 2),
        "inspections._arrivals_answer": (0, 1), "inspections.task_out": (0, 1),
        "inspections.inspection_out": (6, 5), "releases.declaration_answer": (0, 2), "releases.GateOut": (0, 2)}
