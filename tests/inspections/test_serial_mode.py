"""``ONEWINDOW_JOINT_INSPECTION``: decisions matched into one joint inspection, or (off) the old serial way,
one single inspection per agency's decision, the container opened once per agency."""

from __future__ import annotations

from datetime import timedelta

import pytest

from onewindow.config import Settings
from tests.flows import API, ENT, OFFICES, accepted_filing, ok


@pytest.fixture(params=[True, False], ids=["joint", "serial"])
def joint(request) -> bool:
    return request.param


@pytest.fixture
def settings(database_url, joint) -> Settings:
    return Settings(database_url=database_url, embedded_scheduler=False, joint_inspection=joint)


def inspect(client, world, ids, agency, numbers):
    kind = "physical" if agency == "customs" else "sampling"
    ok(client.post(f"{API}/declarations/{ids[agency]}/decision", headers=world.headers(OFFICES[agency]),
                   json={"inspect": True, "containers": numbers, "kind": kind, "reason": "rule"}), 201)


def inspections_of(client, world, filing_id):
    return ok(client.get(f"{API}/inspections?filing={filing_id}", headers=world.headers(ENT)))


def test_two_agencies_on_one_container(client, world, joint):
    """On: one joint inspection of both agencies. Off: two single inspections, one per agency."""
    filing_id, ids, numbers = accepted_filing(client, world, seed=11, containers=2)
    inspect(client, world, ids, "customs", numbers)
    first = inspections_of(client, world, filing_id)
    if joint:
        assert first == []  # waits for CIQ
    else:
        assert [(i["agencies"], i["joint"]) for i in first] == [(["customs"], False)]  # matched at once
    inspect(client, world, ids, "ciq", numbers)
    seen = sorted((tuple(i["agencies"]), tuple(i["containers"]), i["joint"], i["late"])
                  for i in inspections_of(client, world, filing_id))
    if joint:
        assert seen == [(("ciq", "customs"), tuple(sorted(numbers)), True, False)]
    else:
        assert seen == [(("ciq",), tuple(sorted(numbers)), False, False),
                        (("customs",), tuple(sorted(numbers)), False, False)]
    assert ok(client.get("/healthz"))["joint_inspection"] is joint


def _hold(client, world, clock, inspection):
    """Relocate and book the inspection; every agency of it checks in and records a conforming result."""
    tasks = ok(client.get(f"{API}/terminal/tasks?status=open", headers=world.headers("DCT")))
    task = next(t for t in tasks if t["inspection_id"] == inspection["id"])
    ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"},
                   headers=world.headers("DCT")))
    at = clock.now() + timedelta(hours=1)
    ok(client.post(f"{API}/inspections/{inspection['id']}/appointment", json={"at": at.isoformat()},
                   headers=world.headers(ENT)))
    clock.set(at)
    for agency in inspection["agencies"]:
        ok(client.post(f"{API}/inspections/{inspection['id']}/check-in", headers=world.headers(OFFICES[agency])))
    for agency in inspection["agencies"]:
        done = ok(client.post(f"{API}/inspections/{inspection['id']}/results", json={"outcome": "conforming"},
                              headers=world.headers(OFFICES[agency])))
    assert done["status"] == "completed"


def test_serial_consignment_is_released_and_gated_out(client, world, clock, joint):
    """Either way the consignment goes through: inspected (once or once per agency), released, gated out."""
    filing_id, ids, numbers = accepted_filing(client, world, seed=12, containers=1)
    for agency in ("customs", "ciq"):
        inspect(client, world, ids, agency, numbers)
    held = inspections_of(client, world, filing_id)
    assert len(held) == (1 if joint else 2)
    for inspection in held:
        _hold(client, world, clock, inspection)
    for agency, declaration_id in ids.items():
        ok(client.post(f"{API}/declarations/{declaration_id}/release", headers=world.headers(OFFICES[agency])))
    ok(client.post(f"{API}/containers/{numbers[0]}/gate-out", headers=world.headers("DCT")))
    detail = ok(client.get(f"{API}/filings/{filing_id}", headers=world.headers(ENT)))
    assert [g["container"] for g in detail["gate_outs"]] == numbers
    checked_in = [r for i in detail["inspections"] for r in i["results"] if r["checked_in_at"]]
    assert len(checked_in) == 2  # two agency visits either way; the container opened once or twice
    assert sum(len(i["containers"]) for i in detail["inspections"]) == (1 if joint else 2)


def test_engine_in_serial_mode():
    """The pure engine: with ``joint=False`` nothing waits and every decision that inspects gets its own."""
    from datetime import datetime, timezone

    from onewindow.inspections import matching

    now = datetime(2026, 3, 2, tzinfo=timezone.utc)
    decisions = [matching.Decision(agency="customs", declaration_id="c", containers={"A", "B"}, decided_at=now,
                                   inspect={"A", "B"}, kind="physical"),
                 matching.Decision(agency="ciq", declaration_id="q", containers={"A", "B"}, decided_at=now,
                                   inspect={"B"}, kind="sampling"),
                 matching.Decision(agency="customs", declaration_id="x", containers={"C"}, decided_at=now)]
    coverage = {"A": {"customs", "ciq", "border"}, "B": {"customs", "ciq"}, "C": {"customs", "ciq"}}
    serial = matching.match(decisions, coverage, now=now, window=timedelta(hours=2), joint=False)
    assert [(p.containers, p.agencies, p.joint, p.late) for p in serial.inspections] == [
        (("A", "B"), ("customs",), False, False), (("B",), ("ciq",), False, False)]
    assert serial.matched == {"c", "q", "x"} and serial.waiting == frozenset() and serial.next_deadline is None
    assert serial.cleared == {"C"}
    joint = matching.match(decisions, coverage, now=now, window=timedelta(hours=2))
    assert joint.inspections == () and joint.waiting == {"c", "q", "x"}  # waits for border on A, CIQ on C
