"""Agencies deciding or recording results at once (PostgreSQL, where requests really overlap)."""

from __future__ import annotations

import random
import uuid

from sqlalchemy import func, select

from onewindow.inspections import repository, service, terminal, visits
from onewindow.models import ContainerVisit, Event, InspectionDecision
from onewindow.samples import container_number
from tests.concurrency import first_call_holds, first_holds, one_after_the_other, require_postgresql
from tests.flows import API, ENT, OFFICES, TERMINAL, accepted_filing, discharge, error, ok


def _decide(client, world, ids: dict[str, str], agency: str) -> dict:
    return ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                          headers=world.headers(OFFICES[agency])), 201)


def test_two_decisions_reaching_each_other_s_containers_take_them_in_one_order(
        client, world, run, db, monkeypatch, caplog):
    """Consignment 2 holds A and C, consignments 1 and 3 one each, and customs has decided on consignment 2.
    CIQ's decision on 1 will match from A, find consignment 2's decision and lock C too; CIQ's decision on 3
    from C, on to A. Each locks all it will reach at once, in number order: the second waits for the first
    and then matches what the first left. Taken one group after another (A, then C; C, then A), they waited
    for each other, and PostgreSQL broke that deadlock after a second by aborting one, which was run again.
    Both answer 201, and each decision is recorded once."""
    require_postgresql(db)
    rng = random.Random(7)
    a, c = sorted(container_number(rng) for _ in range(2))
    discharge(client, world, [a, c])
    consignments = [accepted_filing(client, world, seed=seed, numbers=numbers, arrive=False)[1]
                    for seed, numbers in ((1, [a]), (2, [a, c]), (3, [c]))]
    _decide(client, world, consignments[1], "customs")
    first_call_holds(monkeypatch, service, "open_visits")  # the first decision's lock
    caplog.set_level("INFO", logger="onewindow")
    one_after_the_other(lambda: _decide(client, world, consignments[0], "ciq"),
                        lambda: _decide(client, world, consignments[2], "ciq"))
    assert [r.getMessage() for r in caplog.records if "run again" in r.getMessage()] == []
    monkeypatch.undo()
    for i, agency in ((0, "customs"), (2, "customs"), (1, "ciq")):
        _decide(client, world, consignments[i], agency)
    statuses = run(lambda ctx: ctx.session.execute(select(InspectionDecision.status)).scalars().all())
    decided = run(lambda ctx: ctx.session.scalar(select(func.count()).where(Event.type == "inspection.decided")))
    assert (sorted(statuses), decided) == (["cleared"] * 6, 6)


def _under_way(client, world, clock, seed: int) -> str:
    """A joint inspection of a consignment's container both agencies have checked in to: its id."""
    _, ids, numbers = accepted_filing(client, world, seed=seed, containers=1)
    for agency, office in OFFICES.items():
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", headers=world.headers(office),
                       json={"inspect": True, "containers": numbers, "kind": "physical", "reason": "R-17"}), 201)
    terminal = world.headers(TERMINAL)
    (task,) = ok(client.get(f"{API}/terminal/tasks", headers=terminal))
    ok(client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"}, headers=terminal))
    inspection = task["inspection_id"]
    ok(client.post(f"{API}/inspections/{inspection}/appointment", json={"at": clock.now().isoformat()},
                   headers=world.headers(ENT)))
    for office in OFFICES.values():
        ok(client.post(f"{API}/inspections/{inspection}/check-in", headers=world.headers(office)))
    return inspection


def test_results_recorded_at_once_complete_the_inspection(client, world, db, clock, monkeypatch):
    """Customs records its result while CIQ's waits for customs' lock on the inspection: CIQ's then sees
    customs' result, and the inspection is completed (before, it saw the results as they were before customs'
    and the inspection stayed under way with both results recorded, holding both releases up)."""
    require_postgresql(db)
    inspection = _under_way(client, world, clock, seed=330)
    first_holds(monkeypatch, repository, "get_inspection", lambda ctx: ctx.actor.kind.value == "customs")
    result = {agency: (lambda office=office: client.post(f"{API}/inspections/{inspection}/results",
                                                         json={"outcome": "conforming"},
                                                         headers=world.headers(office)))
              for agency, office in OFFICES.items()}
    answers = one_after_the_other(result["customs"], result["ciq"])
    assert [ok(a)["status"] for a in answers] == ["in_progress", "completed"]
    seen = ok(client.get(f"{API}/inspections/{inspection}", headers=world.headers(ENT)))
    assert (seen["status"], sorted(r["outcome"] for r in seen["results"])) == (
        "completed", ["conforming", "conforming"])


def test_a_relocation_that_waited_for_a_join_comes_after_it_in_the_log(client, world, run, db, clock, monkeypatch,
                                                                        caplog):
    """Customs' decision to inspect was matched alone once the window passed; the terminal completes the
    relocation (it locks the task: its transaction has its id) while CIQ decides late and joins the inspection,
    not started yet (a later id; it commits first). The relocation then takes the inspection. In the log,
    which PostgreSQL orders by the transactions' ids, ``inspection.relocated`` would have come before
    ``inspection.joined``; the relocation is run again instead, and its event comes after."""
    require_postgresql(db)
    _, ids, numbers = accepted_filing(client, world, seed=360, containers=1)
    decision = {"inspect": True, "containers": numbers, "kind": "physical", "reason": "R-21"}
    ok(client.post(f"{API}/declarations/{ids['customs']}/decision", json=decision,
                   headers=world.headers(OFFICES["customs"])), 201)
    clock.advance(seconds=3 * 3600)  # past the match window: customs' decision is matched alone
    run(service.run_due)
    (task,) = ok(client.get(f"{API}/terminal/tasks?status=open", headers=world.headers(TERMINAL)))
    first_call_holds(monkeypatch, repository, "get_task")
    caplog.set_level("INFO", logger="onewindow")
    relocated, joined = one_after_the_other(
        lambda: client.post(f"{API}/terminal/tasks/{task['id']}/complete", json={"location": "B3"},
                            headers=world.headers(TERMINAL)),
        lambda: client.post(f"{API}/declarations/{ids['ciq']}/decision", json=decision,
                            headers=world.headers(OFFICES["ciq"])))
    assert (relocated.status_code, joined.status_code) == (200, 201), (relocated.text, joined.text)
    in_the_log = run(lambda ctx: ctx.session.execute(
        select(Event.type).where(Event.subject_id == uuid.UUID(task["inspection_id"]))
        .order_by(Event.tx, Event.seq)).scalars().all())
    assert in_the_log == ["inspection.matched", "inspection.joined", "inspection.relocated"]
    assert any("run again" in r.getMessage() for r in caplog.records)


def _open_visits(run, number: str) -> int:
    return run(lambda ctx: ctx.session.scalar(select(func.count()).select_from(ContainerVisit).where(
        ContainerVisit.number == number, ContainerVisit.gated_out_at.is_(None))))


def test_two_arrivals_of_a_container_at_once_record_one_visit(client, world, run, db, monkeypatch):
    """Neither finds a visit to lock: the first writes one and holds on; the second's insert waits for it, is
    refused by the one open visit a container may have, and is run again: it finds the first's arrival."""
    require_postgresql(db)
    number = container_number(random.Random(21))
    first_call_holds(monkeypatch, terminal, "new_visits")

    def arrive():
        return client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=world.headers(TERMINAL))

    first, second = one_after_the_other(arrive, arrive)
    assert first.status_code == 201, first.text
    assert (second.status_code, second.json()["error"]["code"]) == (409, "already_arrived"), second.text
    assert _open_visits(run, number) == 1
    arrived = run(lambda ctx: ctx.session.scalar(select(func.count()).where(Event.type == "container.arrived")))
    assert arrived == 1


def test_two_agencies_accepting_a_consignment_not_yet_arrived_at_once_open_one_visit(client, world, run, db,
                                                                                    monkeypatch):
    require_postgresql(db)
    filing_id, ids, (number,) = accepted_filing(client, world, seed=22, containers=1, arrive=False, accept=())
    first_call_holds(monkeypatch, visits, "new_visits")

    def accept(agency):
        return lambda: ok(client.post(f"{API}/declarations/{ids[agency]}/accept",
                                      headers=world.headers(OFFICES[agency])))

    one_after_the_other(accept("customs"), accept("ciq"))
    assert _open_visits(run, number) == 1
    monkeypatch.undo()
    ok(client.post(f"{API}/terminal/arrivals", json={"containers": [number]}, headers=world.headers(TERMINAL)), 201)
    for agency, office in OFFICES.items():
        ok(client.post(f"{API}/declarations/{ids[agency]}/decision", json={"inspect": False},
                       headers=world.headers(office)), 201)
        ok(client.post(f"{API}/declarations/{ids[agency]}/release", headers=world.headers(office)))
    ok(client.post(f"{API}/containers/{number}/gate-out", headers=world.headers(TERMINAL)))
    assert client.get(f"{API}/containers/{number}/release", headers=world.headers(TERMINAL)).status_code == 404
    again = error(client.post(f"{API}/containers/{number}/gate-out", headers=world.headers(TERMINAL)), 409)
    assert again["code"] == "already_gated_out"
    assert _open_visits(run, number) == 0
