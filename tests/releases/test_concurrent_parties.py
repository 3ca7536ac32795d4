"""Every party of a port acting at once on consignments that share containers (PostgreSQL, where requests really
overlap): the offices decide, release, hold and amend, and inspect; the terminal relocates and lets containers
out; the enterprises book inspections; time goes by and the deadlines pass (the match window, the check-in
grace: an agency late is absent, and relies on the others' results or is inspected anew). Whatever the
interleaving, no request fails unexpectedly and what the platform ends with holds together: each container's
release events alternate and end as its combined release, each filing's and declaration's events come in the
order of their versions, a container leaves at most once and only released,
every decision to inspect is carried out by an inspection serving it, an inspection whose agencies have all
recorded their results is completed, and once the match window has passed no decision waits.

``ONEWINDOW_CONCURRENT_ROUNDS`` sets how many rounds are played (2 by default); each round is new consignments
over new containers, with its own seed; ``ONEWINDOW_CONCURRENT_FROM=K`` starts from the K-th seed (other rounds
than the suite's)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from onewindow.context import Context
from onewindow.db import in_unit_of_work, make_session_factory
from onewindow.inspections import attendance, service
from onewindow.inspections.visits import declaration_numbers
from onewindow.models import Declaration, Event, Inspection, InspectionDecision
from onewindow.samples import container_number
from tests.concurrency import all_at_once, out_of_version_order, require_postgresql, rounds
from tests.flows import API, ENT, OFFICES, OTHER, TERMINAL, accepted_filing, discharge, ok

STEPS = 30
"""Steps each party takes per round."""
POOL, CONSIGNMENTS = 5, 4
"""Containers at the port per round, and consignments over them (each covering one to three)."""
EXPECTED = {
    200: None, 201: None,
    409: {"already_decided", "not_releasable", "inspection_open", "decision_pending", "not_released", "gated_out",
          "not_amendable", "no_change", "named_for_inspection", "not_ready", "not_scheduled", "already_checked_in",
          "not_checked_in", "result_recorded", "already_gated_out", "task_completed", "not_a_participant",
          "absent", "not_accepted", "not_absent", "not_completed", "already_adopted", "already_reinspected"},
    422: {"containers",  # a decision naming a container its declaration was just amended not to cover
          "at"},  # a booking for the time read, which has passed meanwhile
}
"""The answers a party may get, and the refusals' codes (for 422, the first part of each detail's ``loc``)."""


@dataclass
class Round:
    """One round's consignments: per consignment its declarations (agency → id), enterprise and containers;
    the containers, and each consignment's filing."""

    declarations: list[dict[str, str]]
    enterprises: list[str]
    containers: list[list[dict]]
    numbers: list[str]
    filings: list[str]
    answers: list[tuple[str, str, int, str]] = field(default_factory=list)
    gated_out: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, who: str, what: str, answer) -> None:
        code = ""
        if answer.status_code >= 400:
            error = answer.json().get("error", {})
            code = error.get("code", "") if answer.status_code != 422 else ",".join(
                sorted({str(d["loc"][0]) for d in error.get("details", [])}))
        with self.lock:
            self.answers.append((who, what, answer.status_code, code))


def _round(client, world, seed: int) -> Round:
    rng = random.Random(seed)
    numbers = sorted({container_number(rng) for _ in range(POOL)})
    discharge(client, world, numbers)
    declarations, enterprises, containers, filings = [], [], [], []
    for i in range(CONSIGNMENTS):
        mine = sorted(rng.sample(numbers, rng.randint(1, 3)))
        enterprise = (ENT, OTHER)[i % 2]
        filing, ids, _ = accepted_filing(client, world, seed=seed * 10 + i, numbers=mine, enterprise=enterprise,
                                         arrive=False)
        filings.append(filing)
        declarations.append(ids)
        enterprises.append(enterprise)
        containers.append([{"number": n, "size_type": "45R1"} for n in mine])
    return Round(declarations, enterprises, containers, numbers, filings)


def _office(client, world, game: Round, agency: str, rng: random.Random) -> Callable[[], None]:
    office = OFFICES[agency]
    headers = world.headers(office)

    def post(what: str, path: str, body: dict | None = None) -> None:
        game.record(agency, what, client.post(f"{API}/{path}", json=body, headers=headers))

    def step() -> None:
        i = rng.randrange(CONSIGNMENTS)
        declaration, entry = game.declarations[i][agency], game.containers[i]
        action = rng.choices(["decide", "release", "hold", "amend", "inspect"], [4, 4, 1, 1, 4])[0]
        if action == "decide":
            inspect = rng.random() < 0.4
            wanted = sorted(c["number"] for c in rng.sample(entry, rng.randint(1, len(entry))))
            post(action, f"declarations/{declaration}/decision",
                 {"inspect": True, "containers": wanted, "kind": "physical", "reason": f"{agency} risk"}
                 if inspect else {"inspect": False})
        elif action == "release":
            post(action, f"declarations/{declaration}/release")
        elif action == "hold":
            post(action, f"declarations/{declaration}/revoke-release", {"reason": "lab re-test"})
        elif action == "amend":
            kept = rng.sample(entry, rng.randint(1, len(entry)))
            post(action, f"declarations/{declaration}/amendments",
                 {"changes": {"containers": sorted(kept, key=lambda c: c["number"])}, "reason": "short-shipped"})
        else:
            inspections = ok(client.get(f"{API}/inspections", headers=headers))
            missed = [x for x in inspections if x["status"] == "completed" and any(
                r["agency"] == agency and r["absent"] and not (r["adopted_at"] or r["reinspected_at"])
                for r in x["results"])]
            if open_ := [x for x in inspections if x["status"] in ("scheduled", "in_progress")] + missed:
                picked = rng.choice(open_)
                if picked["status"] == "completed":  # absent: rely on the others' results, or be inspected anew
                    action = rng.choice(["adopt", "reinspect"])
                    post(action, f"inspections/{picked['id']}/{action}")
                elif picked["status"] == "scheduled":
                    post("check-in", f"inspections/{picked['id']}/check-in")
                else:
                    post("results", f"inspections/{picked['id']}/results", {"outcome": "conforming"})

    return step


def _terminal(client, world, game: Round, rng: random.Random) -> Callable[[], None]:
    headers = world.headers(TERMINAL)

    def step() -> None:
        if rng.random() < 0.5:
            tasks = ok(client.get(f"{API}/terminal/tasks?status=open", headers=headers))
            if tasks:
                task = rng.choice(tasks)
                game.record("terminal", "relocate", client.post(f"{API}/terminal/tasks/{task['id']}/complete",
                                                                json={"location": "B3"}, headers=headers))
        else:
            number = rng.choice(game.numbers)
            answer = client.post(f"{API}/containers/{number}/gate-out", headers=headers)
            game.record("terminal", "gate-out", answer)
            if answer.status_code == 200:
                with game.lock:
                    game.gated_out[number] += 1

    return step


def _enterprise(client, world, game: Round, enterprise: str, clock) -> Callable[[], None]:
    headers = world.headers(enterprise)

    def step() -> None:
        ready = [x for x in ok(client.get(f"{API}/inspections", headers=headers)) if x["status"] == "ready"]
        for inspection in ready[:1]:
            game.record(enterprise, "book", client.post(f"{API}/inspections/{inspection['id']}/appointment",
                                                        json={"at": clock.now().isoformat()}, headers=headers))

    return step


def _deadlines(db, clock, settings, rng: random.Random) -> Callable[[], None]:
    """Time goes by (10 to 40 minutes a step) and the scheduler closes the match windows and the check-in grace
    that passed, as its round does (:func:`onewindow.scheduler.tick`), beside the parties' requests."""
    factory = make_session_factory(db)

    def step() -> None:
        clock.advance(seconds=rng.choice([600, 1200, 2400]))
        in_unit_of_work(factory, lambda session: service.run_due(Context(session, clock, settings)))
        in_unit_of_work(factory, lambda session: attendance.run_due(Context(session, clock, settings)))
        time.sleep(0.05)

    return step


def _unexpected(game: Round) -> list:
    return [a for a in game.answers if a[2] not in EXPECTED or (EXPECTED[a[2]] is not None and not set(
        a[3].split(",")) <= EXPECTED[a[2]])]


def _container_events(run, numbers: list[str]) -> dict[str, list[str]]:
    def query(ctx):
        found = ctx.session.execute(select(Event.type, Event.data).where(Event.type.like("container.%"))
                                    .order_by(Event.tx, Event.seq)).all()
        events = defaultdict(list)
        for type_, data in found:
            if data.get("container") in numbers and type_ != "container.arrived":
                events[data["container"]].append(type_.removeprefix("container."))
        return events
    return run(query)


def _in_order(events: list[str]) -> bool:
    """Released and held again in turn, from not released; gone only when released, and nothing after."""
    released = gone = False
    for event in events:
        if gone or (event == "released") == released or (event == "gated_out" and not released):
            return False
        released, gone = {"released": True, "release_revoked": False}.get(event, released), event == "gated_out"
    return True


def _state(run, game: Round):
    """Each container's covering declarations (id → agency, status); each decision (declaration id, inspect,
    containers, status); the containers of the inspections serving each declaration with its agency taking
    part (declaration id → numbers); the inspections still under way though every agency present has its
    result."""
    ids = {d for declarations in game.declarations for d in declarations.values()}

    def query(ctx):
        declarations = ctx.session.scalars(select(Declaration).where(Declaration.id.in_(ids))).all()
        agency_of = {d.id: d.agency for d in declarations}
        covering = defaultdict(dict)
        for d in declarations:
            for n in declaration_numbers(d):
                covering[n][str(d.id)] = (d.agency, d.status)
        decisions = [(str(d.declaration_id), d.inspect, set(d.containers), d.status) for d in ctx.session.scalars(
            select(InspectionDecision).where(InspectionDecision.declaration_id.in_(ids)))]
        served, finished_under_way = defaultdict(set), []
        for inspection in ctx.session.scalars(select(Inspection)):
            agencies = {p.agency for p in inspection.participants}
            present = [p for p in inspection.participants if not p.absent]
            if inspection.status == "in_progress" and all(p.result_at for p in present):
                finished_under_way.append(str(inspection.id))
            for link in inspection.declarations:
                if agency_of.get(link.declaration_id) in agencies:
                    served[str(link.declaration_id)] |= {c.number for c in inspection.containers}
        return covering, decisions, served, finished_under_way

    return run(query)


def test_parties_acting_at_once_leave_a_consistent_port(client, world, run, db, clock, settings):
    require_postgresql(db)
    for seed, rng in rounds(7000):
        game = _round(client, world, seed)
        all_at_once([_office(client, world, game, "customs", random.Random(rng.random())),
                     _office(client, world, game, "ciq", random.Random(rng.random())),
                     _terminal(client, world, game, random.Random(rng.random())),
                     _enterprise(client, world, game, ENT, clock), _enterprise(client, world, game, OTHER, clock),
                     _deadlines(db, clock, settings, random.Random(rng.random()))], STEPS)
        assert _unexpected(game) == [], (seed, Counter((a[1], a[2], a[3]) for a in game.answers))

        events = _container_events(run, game.numbers)
        assert {n: e for n, e in events.items() if not _in_order(e)} == {}, seed
        assert {n: events[n].count("gated_out") for n in game.numbers} == {n: game.gated_out[n]
                                                                             for n in game.numbers}, seed
        assert max(game.gated_out.values(), default=0) <= 1, seed
        assert out_of_version_order(run, game.filings) == [], seed

        covering, decisions, served, finished_under_way = _state(run, game)
        assert finished_under_way == [], seed
        for n in game.numbers:
            if game.gated_out[n]:
                continue
            pending = {agency for agency, status in covering[n].values()
                       if status in ("accepted", "inspecting")}
            seen = ok(client.get(f"{API}/containers/{n}/release", headers=world.headers(TERMINAL)))
            as_published = bool(events[n]) and events[n][-1] == "released"
            # one no declaration covers any more keeps its state
            as_covered = not pending if covering[n] else as_published
            assert (seen["released"], set(seen["pending"])) == (as_published, pending), (seed, n, covering[n])
            assert as_covered == as_published, (seed, n, covering[n], events[n])
        for declaration_id, inspect, wanted, status in decisions:
            if inspect and status == "matched":
                left = wanted - {n for n in game.numbers if game.gated_out[n]}
                assert left <= served[declaration_id], (seed, declaration_id, wanted, served[declaration_id])

        clock.advance(seconds=3 * 3600)  # past every match window
        run(service.run_due)
        run(attendance.run_due)
        decisions = _state(run, game)[1]
        assert [d for d in decisions if d[3] == "pending"] == [], seed
